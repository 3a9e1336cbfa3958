package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// result is one phase's measurement.
type result struct {
	ops      int
	errors   int
	elapsed  time.Duration
	lat      []time.Duration // sorted
	peakRSS  int             // KiB, sampled during the phase
	cpu      time.Duration   // the server's CPU time during the measured window
	gen      time.Duration   // the load tool's own CPU time in that window
	firstErr error
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// pct returns the p-th percentile latency (0 < p <= 100).
func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*p/100+0.5) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

// perOp divides a time measured over the phase by its operations.
func (r result) perOp(d time.Duration) time.Duration {
	if r.ops == 0 {
		return 0
	}
	return d / time.Duration(r.ops)
}

// cpuPerOp is the server's CPU time per operation.
func (r result) cpuPerOp() time.Duration { return r.perOp(r.cpu) }

// genPerOp is the load tool's own CPU time per operation.
func (r result) genPerOp() time.Duration { return r.perOp(r.gen) }

// ceiling is the throughput ratio against this result that a server
// costing no CPU at all could reach on this machine, when the load tool
// and the server share its CPUs and keep them busy: the tool still needs
// its own CPU per request, so the rate can grow at most by
// (tool + server) / tool. 0 when unknown.
// Only a run that kept the CPUs busy (three quarters or more) has a
// ceiling: otherwise something else than CPU limited it.
func (r result) ceiling() float64 {
	if r.gen <= 0 || r.elapsed <= 0 {
		return 0
	}
	if busy := float64(r.gen+r.cpu) / float64(r.elapsed) / float64(runtime.NumCPU()); busy < 0.75 {
		return 0
	}
	return float64(r.gen+r.cpu) / float64(r.gen)
}

// selfCPU is the load tool's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Phases of a run, read by the workers.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// exchange is one request and how to tell its whole reply.
type exchange struct {
	req []byte
	// check looks at the reply bytes received so far: complete reports
	// that they are the whole reply, err that they are not the expected
	// one.
	check func(b []byte) (complete bool, err error)
}

// getVar is GET VAR <ups> <name>: one line back.
func getVar(name string) exchange {
	prefix := []byte(fmt.Sprintf("VAR %s %s \"", upsName, name))
	return exchange{
		req: []byte(fmt.Sprintf("GET VAR %s %s\n", upsName, name)),
		check: func(b []byte) (bool, error) {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				return false, nil
			}
			if i != len(b)-1 || !bytes.HasPrefix(b, prefix) {
				return true, fmt.Errorf("GET VAR answered %q", b)
			}
			return true, nil
		},
	}
}

// listVar is LIST VAR <ups>: BEGIN, one line per variable, END.
func listVar(want int) exchange {
	begin, end := []byte("BEGIN LIST VAR "+upsName+"\n"), []byte("END LIST VAR "+upsName+"\n")
	return exchange{
		req: []byte("LIST VAR " + upsName + "\n"),
		check: func(b []byte) (bool, error) {
			if len(b) >= len(begin) && !bytes.HasPrefix(b, begin) {
				return true, fmt.Errorf("LIST VAR answered %q", b)
			}
			if !bytes.HasSuffix(b, end) {
				return false, nil
			}
			if n := bytes.Count(b, []byte("\n")) - 2; n != want {
				return true, fmt.Errorf("LIST VAR gave %d variables, want %d", n, want)
			}
			return true, nil
		},
	}
}

// do runs the exchange on a connection, blocking.
func (ex exchange) do(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(ex.req); err != nil {
		return err
	}
	var got []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if done, cerr := ex.check(got); done || cerr != nil {
			return cerr
		}
		if err != nil {
			return err
		}
	}
}

// dialAll opens n connections, a few at a time: NUT's upsd listens with a
// backlog of 16, and a burst past it costs SYN retransmissions (a second
// each) that would be measured as the server's latency.
func dialAll(ctx context.Context, addr string, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var d net.Dialer
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			c, err := d.DialContext(dctx, "tcp", addr)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if firstErr != nil {
		closeAll(conns)
		return nil, fmt.Errorf("connecting %d clients to %s: %w", n, addr, firstErr)
	}
	return conns, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// sampleRSS records the server's peak resident size until stop is closed.
func sampleRSS(s *server, stop <-chan struct{}, peak *atomic.Int64) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if v := int64(s.rssKiB()); v > peak.Load() {
			peak.Store(v)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// churn runs w clients that each connect, ask one GET VAR, say LOGOUT
// (as NUT's upsclient does when it disconnects) and hang up, over and
// over; a latency is one whole visit.
func churn(ctx context.Context, s *server, w int, warmup, dur time.Duration) (result, error) {
	var (
		phase   atomic.Int32
		peak    atomic.Int64
		wg      sync.WaitGroup
		mu      sync.Mutex
		res     result
		stopRSS = make(chan struct{})
	)
	go sampleRSS(s, stopRSS, &peak)
	req := []byte(fmt.Sprintf("GET VAR %s ups.status\nLOGOUT\n", upsName))
	visit := func() error {
		c, err := net.DialTimeout("tcp", s.addr, 30*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(req); err != nil {
			return err
		}
		r := bufio.NewReader(c)
		l, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(l, "VAR ") {
			return fmt.Errorf("GET VAR answered %q", l)
		}
		if l, err = r.ReadString('\n'); err != nil || l != "OK Goodbye\n" {
			return fmt.Errorf("LOGOUT answered %q (%v)", l, err)
		}
		return nil
	}
	for i := 0; i < w; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			var errs int
			var first error
			for {
				p := phase.Load()
				if p == phaseStop {
					break
				}
				t0 := time.Now()
				err := visit()
				d := time.Since(t0)
				if err != nil && !errors.Is(err, io.EOF) {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				if p == phaseMeasure && phase.Load() == phaseMeasure {
					lat = append(lat, d)
				}
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errors += errs
			if res.firstErr == nil {
				res.firstErr = first
			}
			mu.Unlock()
		}()
	}
	if !sleepCtx(ctx, warmup) {
		phase.Store(phaseStop)
	}
	cpu0, gen0 := s.cpuTime(), selfCPU()
	t0 := time.Now()
	phase.CompareAndSwap(phaseWarmup, phaseMeasure)
	sleepCtx(ctx, dur)
	phase.Store(phaseStop)
	res.elapsed = time.Since(t0)
	res.cpu, res.gen = s.cpuTime()-cpu0, selfCPU()-gen0
	wg.Wait()
	close(stopRSS)
	res.peakRSS = int(peak.Load())
	res.ops = len(res.lat)
	slices.Sort(res.lat)
	return res, ctx.Err()
}

// idleConns holds n idle connections for a moment and returns the
// server's resident size with them open.
func idleConns(ctx context.Context, s *server, n int) (int, error) {
	conns, err := dialAll(ctx, s.addr, n)
	if err != nil {
		return 0, err
	}
	defer closeAll(conns)
	// Every connection answered once, so the server has seen them all.
	for _, c := range conns {
		if err := getVar("ups.status").do(c); err != nil {
			return 0, err
		}
	}
	sleepCtx(ctx, 500*time.Millisecond)
	return s.rssKiB(), ctx.Err()
}

// sleepCtx sleeps for d or until ctx is done; false means ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
