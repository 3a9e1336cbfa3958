package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// closedLoop runs n connections, each sending its next request as soon as
// the previous reply is in (as monitoring clients do: one request in
// flight per connection, no pipelining), for warmup, then measures for
// dur.
//
// The generator shares the machine's CPUs with the server it measures, so
// it is kept as cheap per request as it can be: the connections are spread
// over one epoll loop per CPU on raw non-blocking sockets, and a request
// costs the client one write and one read plus a share of an epoll_wait,
// with no goroutine switch. (A goroutine per connection on Go's netpoller
// costs a read that finds nothing, a park and a wake-up more per request:
// CPU taken from the server, more for a fast server than for a slow one.)
func closedLoop(ctx context.Context, s *server, n int, ex exchange, warmup, dur time.Duration) (result, error) {
	conns, err := dialAll(ctx, s.addr, n)
	if err != nil {
		return result{}, err
	}
	defer closeAll(conns)
	var (
		phase   atomic.Int32
		peak    atomic.Int64
		wg      sync.WaitGroup
		mu      sync.Mutex
		res     result
		stopRSS = make(chan struct{})
	)
	go sampleRSS(s, stopRSS, &peak)
	workers := min(runtime.GOMAXPROCS(0), n)
	for w := 0; w < workers; w++ {
		var mine []net.Conn
		for i := w; i < len(conns); i += workers {
			mine = append(mine, conns[i])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, errs, first := loadWorker(mine, ex, &phase)
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

// loadConn is one connection of a loadWorker.
type loadConn struct {
	fd    int
	got   []byte    // the reply so far
	sent  time.Time // when the request in flight was written
	phase int32     // the phase it was written in
}

// loadWorker drives its connections until the phase is phaseStop and
// returns the latencies measured (requests both sent and answered in
// phaseMeasure), the error count and the first error.
func loadWorker(conns []net.Conn, ex exchange, phase *atomic.Int32) (lat []time.Duration, errs int, first error) {
	fail := func(err error) {
		if phase.Load() == phaseStop {
			return
		}
		errs++
		if first == nil {
			first = err
		}
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		fail(fmt.Errorf("epoll_create1: %w", err))
		return nil, errs, first
	}
	defer unix.Close(ep)
	byFD := make(map[int]*loadConn, len(conns))
	defer func() {
		for fd := range byFD {
			unix.Close(fd)
		}
	}()
	drop := func(lc *loadConn) {
		delete(byFD, lc.fd)
		unix.Close(lc.fd) // also leaves the epoll set
	}
	send := func(lc *loadConn) bool {
		lc.got = lc.got[:0]
		lc.phase = phase.Load()
		lc.sent = time.Now()
		if _, err := unix.Write(lc.fd, ex.req); err != nil {
			fail(fmt.Errorf("write: %w", err))
			drop(lc)
			return false
		}
		return true
	}
	for _, c := range conns {
		// A descriptor of our own, off Go's netpoller: the net.Conn is
		// closed at once, the socket stays open through the duplicate.
		fd, err := dupConn(c)
		c.Close()
		if err != nil {
			fail(err)
			continue
		}
		lc := &loadConn{fd: fd, got: make([]byte, 0, 512)}
		byFD[fd] = lc
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			fail(fmt.Errorf("epoll_ctl: %w", err))
			drop(lc)
			continue
		}
		send(lc)
	}
	lat = make([]time.Duration, 0, 1<<16)
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for phase.Load() != phaseStop && len(byFD) > 0 {
		k, err := unix.EpollWait(ep, events, 50)
		if err != nil && !errors.Is(err, unix.EINTR) {
			fail(fmt.Errorf("epoll_wait: %w", err))
			return lat, errs, first
		}
		for _, ev := range events[:max(k, 0)] {
			lc := byFD[int(ev.Fd)]
			if lc == nil {
				continue
			}
			m, err := unix.Read(lc.fd, buf)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || m == 0 {
				if err == nil {
					err = errors.New("server closed the connection")
				}
				fail(err)
				drop(lc)
				continue
			}
			lc.got = append(lc.got, buf[:m]...)
			done, cerr := ex.check(lc.got)
			if cerr != nil {
				fail(cerr)
				drop(lc)
				continue
			}
			if !done {
				continue
			}
			d := time.Since(lc.sent)
			if lc.phase == phaseMeasure && phase.Load() == phaseMeasure {
				lat = append(lat, d)
			}
			send(lc)
		}
	}
	return lat, errs, first
}

// dupConn returns a non-blocking duplicate of a TCP connection's socket.
func dupConn(c net.Conn) (int, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return -1, fmt.Errorf("%T is not a TCP connection", c)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(p uintptr) { fd, derr = unix.Dup(int(p)) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("dup: %w", derr)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("non-blocking: %w", err)
	}
	return fd, nil
}
