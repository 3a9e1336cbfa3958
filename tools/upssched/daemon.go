package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gonut/gonut/sdk/nutconf"
)

// DefaultIdle is how long the timer daemon stays with no timer left before
// it exits: NUT's EMPTY_WAIT, 15 passes of its one-second loop, so that a
// burst of events reuses one daemon.
const DefaultIdle = 15 * time.Second

// maxRequestLen bounds one request line on the socket; NUT's client builds
// its requests in 512 bytes (SMALLBUF).
const maxRequestLen = 4096

// Runner runs CMDSCRIPT with one argument and the given extra environment
// (UPSNAME=..., NOTIFYTYPE=...); it returns when the command has finished.
type Runner func(arg string, env []string)

// timer is one running timer of the daemon's queue.
type timer struct {
	name       string
	due        time.Time
	seq        uint64 // start order: breaks ties between equal deadlines
	ups        string // UPSNAME of the upssched call that started it
	notifyType string // NOTIFYTYPE of that call
}

// Daemon is upssched's timer process: it listens on PIPEFN, keeps the
// timers it is asked to start, runs CMDSCRIPT with a timer's name when it
// expires, and exits once no timer has been left for Idle.
//
// Requests are served one at a time, and a command run for a request (the
// command of a CANCEL that found nothing) finishes before the request is
// answered, as in NUT: the caller's actions then happen in the order of its
// configuration file.
type Daemon struct {
	PipeFn string
	Run    Runner
	Idle   time.Duration // DefaultIdle when 0
	Log    *Logger

	mu     sync.Mutex // serialises request handling and timer firing
	timers []timer
	seq    uint64
}

type request struct {
	words []string
	reply chan string
}

// Listen binds PIPEFN as NUT's upssched does: any stale socket file is
// removed first, and the socket is made 0660 so only the upsmon user and
// its group can start timers.
func Listen(pipefn string) (*net.UnixListener, error) {
	if err := os.Remove(pipefn); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale %s: %w", pipefn, err)
	}
	old := syscall.Umask(0o007)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: pipefn, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on PIPEFN %s: %w", pipefn, err)
	}
	// Close must not remove the file: by then another daemon may own it.
	l.SetUnlinkOnClose(false)
	if err := os.Chmod(pipefn, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod 0660 %s: %w", pipefn, err)
	}
	return l, nil
}

// Serve accepts requests on l until no timer has been left for Idle, then
// removes PIPEFN and returns.
func (d *Daemon) Serve(l *net.UnixListener) error {
	idle := d.Idle
	if idle <= 0 {
		idle = DefaultIdle
	}
	st, err := os.Stat(d.PipeFn)
	if err != nil {
		return fmt.Errorf("stat PIPEFN %s: %w", d.PipeFn, err)
	}
	reqs := make(chan request)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				select {
				case <-done:
					return
				default:
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				d.Log.Errorf("accept on %s: %v", d.PipeFn, err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.conn(c, reqs, done)
			}()
		}
	}()

	wake := time.NewTimer(0)
	defer wake.Stop()
	idleSince := time.Now()
	for {
		d.mu.Lock()
		d.fire(time.Now())
		next, any := d.next()
		d.mu.Unlock()
		now := time.Now()
		if any {
			idleSince = time.Time{}
		} else {
			if idleSince.IsZero() {
				idleSince = now
			}
			if now.Sub(idleSince) >= idle {
				break
			}
			next = idleSince.Add(idle)
		}
		wake.Reset(next.Sub(now))
		select {
		case r := <-reqs:
			d.mu.Lock()
			r.reply <- d.handle(r.words)
			d.mu.Unlock()
		case <-wake.C:
		}
	}
	d.Log.Infof("Timer queue empty, exiting")
	// Remove the socket file only if it is still ours: a daemon started
	// after a forced removal must keep its own.
	if cur, err := os.Stat(d.PipeFn); err == nil && os.SameFile(cur, st) {
		os.Remove(d.PipeFn)
	}
	close(done)
	l.Close()
	wg.Wait()
	return nil
}

// conn reads request lines from one client. Once the daemon is leaving,
// requests are no longer answered: the connection is closed and the
// client, getting no OK, starts a new daemon and asks again.
func (d *Daemon) conn(c *net.UnixConn, reqs chan<- request, done <-chan struct{}) {
	defer c.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-done:
			c.SetReadDeadline(time.Now())
		case <-stop:
		}
	}()
	br := bufio.NewReader(c)
	var sc nutconf.Scanner
	n := 0
	for {
		b, err := br.ReadByte()
		if err != nil {
			return
		}
		if n++; n > maxRequestLen {
			d.Log.Errorf("request on %s longer than %d bytes: dropping the connection", d.PipeFn, maxRequestLen)
			return
		}
		words, ok, perr := sc.Feed(b)
		if perr != nil {
			d.Log.Errorf("parse error on %s: %v", d.PipeFn, perr)
			n = 0
			continue
		}
		if !ok {
			continue
		}
		n = 0
		if len(words) == 0 {
			continue
		}
		r := request{words: words, reply: make(chan string, 1)}
		select {
		case reqs <- r:
		case <-done:
			return
		}
		if _, err := io.WriteString(c, <-r.reply); err != nil {
			return
		}
	}
}

// handle answers one request; d.mu is held.
//
//	START "name" "secs" ["ups" "notifytype"]           NUT's, extended
//	START-SHARED "name" "secs" ["ups" "notifytype"]    gonut's
//	CANCEL "name" ["cmd" ["ups" "notifytype"]]         NUT's, extended
//	CANCEL-MATCHED "pattern" ["cmd" ["ups" "notifytype"]]  gonut's
//	LIST                                               gonut's
//
// NUT's daemon ignores arguments past the ones it knows, so gonut's client
// can send the extended forms to it; START and CANCEL without them (from
// NUT's client) take the daemon's own UPSNAME and NOTIFYTYPE.
func (d *Daemon) handle(w []string) string {
	arg := func(i int) string {
		if i < len(w) {
			return w[i]
		}
		return ""
	}
	switch {
	case (w[0] == "START" || w[0] == "START-SHARED") && len(w) >= 3:
		secs, err := strconv.ParseInt(w[2], 10, 64)
		if err != nil || secs < 0 {
			d.Log.Errorf("bogus offset %q for timer %s, ignoring", w[2], w[1])
			return "OK\n"
		}
		ups, nt := d.callerEnv(arg(3), arg(4))
		if w[0] == "START-SHARED" {
			for _, t := range d.timers {
				if t.name == w[1] {
					d.Log.Debugf("Timer %s already running, not started again", w[1])
					return "OK\n"
				}
			}
		}
		d.Log.Infof("New timer: %s (%d seconds)", w[1], secs)
		d.seq++
		d.timers = append(d.timers, timer{name: w[1], due: time.Now().Add(time.Duration(secs) * time.Second),
			seq: d.seq, ups: ups, notifyType: nt})
		return "OK\n"
	case (w[0] == "CANCEL" || w[0] == "CANCEL-MATCHED") && len(w) >= 2:
		n := 0
		for i := 0; i < len(d.timers); {
			t := d.timers[i]
			hit := t.name == w[1]
			if w[0] == "CANCEL-MATCHED" {
				hit, _ = path.Match(w[1], t.name)
			}
			if !hit {
				i++
				continue
			}
			d.Log.Infof("Cancelling timer: %s", t.name)
			d.timers = append(d.timers[:i], d.timers[i+1:]...)
			if n++; w[0] == "CANCEL" {
				break // NUT cancels only the first timer of that name
			}
		}
		if n == 0 && arg(2) != "" {
			d.Log.Infof("Cancel %s, event: %s", w[1], arg(2))
			ups, nt := d.callerEnv(arg(3), arg(4))
			d.Run(arg(2), cmdEnv(ups, nt))
		}
		return "OK\n"
	case w[0] == "LIST" && len(w) == 1:
		var b strings.Builder
		now := time.Now()
		for _, t := range d.sorted() {
			left := t.due.Sub(now)
			if left < 0 {
				left = 0
			}
			fmt.Fprintf(&b, "TIMER \"%s\" %d \"%s\" \"%s\"\n", nutconf.Quote(t.name), left.Milliseconds(),
				nutconf.Quote(t.ups), nutconf.Quote(t.notifyType))
		}
		b.WriteString("OK\n")
		return b.String()
	}
	d.Log.Errorf("Unknown command on socket %s: %s", d.PipeFn, strings.Join(w, " "))
	return "ERR UNKNOWN\n"
}

// callerEnv picks the UPSNAME and NOTIFYTYPE to run a command with: the
// caller's when it sent them, else the daemon's own (those of the call that
// started it, which is all NUT 2.8.0 ever gives).
func (d *Daemon) callerEnv(ups, nt string) (string, string) {
	if ups == "" && nt == "" {
		return os.Getenv("UPSNAME"), os.Getenv("NOTIFYTYPE")
	}
	return ups, nt
}

func cmdEnv(ups, nt string) []string {
	return []string{"UPSNAME=" + ups, "NOTIFYTYPE=" + nt}
}

// sorted returns the timers by deadline, then start order; d.mu is held.
func (d *Daemon) sorted() []timer {
	ts := append([]timer(nil), d.timers...)
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && before(ts[j], ts[j-1]); j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
	return ts
}

func before(a, b timer) bool {
	if !a.due.Equal(b.due) {
		return a.due.Before(b.due)
	}
	return a.seq < b.seq
}

// fire runs, in deadline order, every timer due by now; d.mu is held.
func (d *Daemon) fire(now time.Time) {
	for {
		idx := -1
		for i, t := range d.timers {
			if !t.due.After(now) && (idx < 0 || before(t, d.timers[idx])) {
				idx = i
			}
		}
		if idx < 0 {
			return
		}
		t := d.timers[idx]
		d.timers = append(d.timers[:idx], d.timers[idx+1:]...)
		d.Log.Infof("Event: %s", t.name)
		d.Run(t.name, cmdEnv(t.ups, t.notifyType))
	}
}

// next returns the earliest deadline; d.mu is held.
func (d *Daemon) next() (time.Time, bool) {
	if len(d.timers) == 0 {
		return time.Time{}, false
	}
	ts := d.sorted()
	return ts[0].due, true
}
