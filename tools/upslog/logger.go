package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/gonut/gonut/client"
)

// requestTimeout bounds connecting to upsd and each request, as NUT's
// client gives up on a silent server after 5 seconds. A poll of a hung
// upsd thus costs at most one timeout: the connection is dropped after
// the first and the rest of the line is NA at once.
const requestTimeout = 5 * time.Second

// keepOpenLimit is the longest interval for which the connection to upsd
// stays open between polls; with longer intervals NUT's upslog connects
// for each poll, and so does this one.
const keepOpenLimit = 30 * time.Second

// target is one log file (or stdout), shared by the entries that log to it.
type target struct {
	path   string   // as given; "-" is stdout
	file   *os.File // nil for stdout
	w      io.Writer
	broken bool // the last write failed (reported once)
}

// entry is one monitored UPS.
type entry struct {
	raw    string // as given on the command line, for %UPSHOST%
	name   client.UPSName
	target *target
	dial   func(ctx context.Context, addr string) (*client.Client, error)
	conn   *client.Client // nil until connected, and after a failure
	debugf func(format string, args ...any)
}

func (e *entry) spec() string { return e.raw }

func (e *entry) getVar(ctx context.Context, name string) (string, error) {
	if e.conn == nil {
		return "", errors.New("not connected to upsd")
	}
	v, err := e.conn.GetVar(ctx, e.name.Name, name)
	if err != nil {
		e.debugf("%s: GET VAR %s %s: %v", e.raw, e.name.Name, name, err)
		var nerr *client.Error
		if !errors.As(err, &nerr) {
			// The connection is out of step or gone: reconnect at the
			// next poll, as NUT does.
			e.conn.Close()
			e.conn = nil
		}
	}
	return v, err
}

func (e *entry) connect(ctx context.Context) error {
	if e.conn != nil {
		return nil
	}
	c, err := e.dial(ctx, e.name.Addr())
	if err != nil {
		return err
	}
	e.conn = c
	return nil
}

func (e *entry) disconnect() {
	if e.conn != nil {
		e.conn.Close()
		e.conn = nil
	}
}

// logger is the polling loop: one line per entry per poll.
type logger struct {
	items    []item
	entries  []*entry
	targets  []*target
	interval time.Duration
	count    int // stop after this many polls; 0 for never
	env      env
	// logf reports what NUT reports through upslogx: on stderr in the
	// foreground, to syslog in the background.
	logf func(format string, args ...any)
}

// dialer connects to upsd with upslog's time limit.
func dialer(ctx context.Context, addr string) (*client.Client, error) {
	// As NUT 2.8.0's upslog (upscli_connect with UPSCLI_CONN_TRYSSL,
	// no certificate verification): STARTTLS first, then TLS without
	// checking upsd's certificate when offered, plain text when refused.
	return client.Dial(ctx, addr, client.WithTimeout(requestTimeout),
		client.WithTryStartTLS(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec // NUT's upslog does not verify either
}

// openTarget opens a log file for appending ("-" is stdout).
func openTarget(path string, stdout io.Writer) (*target, error) {
	if path == "-" {
		return &target{path: path, w: stdout}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	return &target{path: path, file: f, w: f}, nil
}

func (t *target) write(line string, logf func(string, ...any)) {
	_, err := io.WriteString(t.w, line+"\n")
	switch {
	case err != nil && !t.broken:
		t.broken = true
		logf("cannot write to logfile %s: %s", t.path, strerror(err))
	case err == nil && t.broken:
		t.broken = false
		logf("writing to logfile %s again", t.path)
	}
}

// reopen opens the file again under its name, for log rotation. On
// failure the old file stays in use (NUT exits instead).
func (t *target) reopen() error {
	if t.file == nil {
		return nil
	}
	f, err := os.OpenFile(t.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
	if err != nil {
		return err
	}
	old := t.file
	t.file, t.w, t.broken = f, f, false
	return old.Close()
}

// run polls until a signal ends it (SIGTERM, SIGINT, SIGQUIT) or the
// count of polls is reached, and returns the exit status. The first poll
// is at once. SIGUSR1 polls at once; SIGHUP reopens the log files and
// polls at once (NUT's sleep is interrupted by any signal); a signal that
// ends upslog lets it write one last line first, as NUT's does. Signals
// leave the schedule alone: the next regular poll is still due when it
// was.
func (l *logger) run(ctx context.Context, sigs <-chan os.Signal) int {
	defer l.close()
	var (
		next   time.Time // when the next regular poll is due
		polls  int
		exitBy os.Signal
		reopen bool
	)
	handle := func(sig os.Signal) {
		switch sig {
		case syscall.SIGHUP:
			reopen = true
		case syscall.SIGUSR1:
		default:
			exitBy = sig
		}
	}
	for exitBy == nil {
		now := time.Now()
		if next.After(now) {
			timer := time.NewTimer(next.Sub(now))
			select {
			case <-timer.C:
				next = next.Add(l.interval)
			case sig := <-sigs:
				timer.Stop()
				handle(sig)
			case <-ctx.Done():
				timer.Stop()
				return 0
			}
		} else {
			// The first poll, or polling took longer than the interval.
			next = now.Add(l.interval)
		}
		// Take every signal that is already waiting before polling.
	drain:
		for {
			select {
			case sig := <-sigs:
				handle(sig)
			default:
				break drain
			}
		}
		if reopen {
			reopen = false
			l.logf("Signal %d: reopening log file", signum(syscall.SIGHUP))
			l.reopen()
		}
		l.poll(ctx)
		polls++
		if l.count > 0 && polls >= l.count {
			l.logf("%d loops have elapsed", l.count)
			return 0
		}
	}
	l.logf("Signal %d: exiting", signum(exitBy))
	return 0
}

func (l *logger) reopen() {
	for _, t := range l.targets {
		if t.file == nil {
			l.logf("logging to stdout")
			continue
		}
		if err := t.reopen(); err != nil {
			l.logf("could not reopen logfile %s: %s (still writing to the file opened before)", t.path, strerror(err))
		}
	}
}

// poll writes one line for every entry.
func (l *logger) poll(ctx context.Context) {
	for _, e := range l.entries {
		if err := e.connect(ctx); err != nil {
			e.debugf("%s: %v", e.raw, err)
		}
		e.target.write(render(ctx, l.items, e, l.env), l.logf)
		if l.interval > keepOpenLimit {
			e.disconnect()
		}
	}
}

func (l *logger) close() {
	for _, e := range l.entries {
		e.disconnect()
	}
	for _, t := range l.targets {
		if t.file != nil {
			t.file.Close()
		}
	}
}

func signum(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return int(s)
	}
	return 0
}

// strerror is C's strerror text for an OS error ("No such file or
// directory"), which is how NUT words them; other errors are shown as Go
// words them.
func strerror(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		if s != "" && s[0] >= 'a' && s[0] <= 'z' {
			s = string(s[0]-'a'+'A') + s[1:]
		}
		return s
	}
	return fmt.Sprint(err)
}
