package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gonut/gonut/sdk/nutconf"
)

// How the client retries, as NUT's: MAX_TRIES attempts, 250 ms apart
// while another upssched holds LOCKFN.
const (
	maxTries   = 30
	retryPause = 250 * time.Millisecond
	// startTimeout bounds how long a new daemon may take to listen.
	startTimeout = 10 * time.Second
)

// Environment of the timer daemon process: upssched re-executes itself
// with these set (Go cannot fork as NUT does).
const (
	envDaemon    = "GONUT_UPSSCHED_DAEMON" // PIPEFN
	envCmdScript = "GONUT_UPSSCHED_CMDSCRIPT"
	envDebug     = "GONUT_UPSSCHED_DEBUG"
)

// readyFD is the descriptor on which a new daemon reports that it listens
// ("OK") or why it cannot.
const readyFD = 3

// Client sends requests to the timer daemon, starting one when none runs.
type Client struct {
	Cfg *Config
	Log *Logger
	// StartDaemon starts a daemon and returns once it listens on PIPEFN
	// (or failed to). StartProcess when nil.
	StartDaemon func(cfg *Config) error
}

// encode builds a request line, every argument quoted as NUT's client
// quotes them.
func encode(cmd string, args ...string) string {
	var b strings.Builder
	b.WriteString(cmd)
	for _, a := range args {
		b.WriteString(` "`)
		b.WriteString(nutconf.Quote(a))
		b.WriteString(`"`)
	}
	b.WriteString("\n")
	return b.String()
}

// Send delivers one request and returns the daemon's answer (its last
// line, "OK", and any lines before). cancel says that the request only
// cancels: when no daemon runs there is nothing to cancel and no daemon is
// started (NUT's PARENT_UNNECESSARY).
func (c *Client) Send(line string, cancelOnly bool) ([]string, error) {
	var lastErr error
	for try := 0; try < maxTries; try++ {
		conn, err := net.Dial("unix", c.Cfg.PipeFn)
		if err != nil {
			if cancelOnly {
				return nil, nil
			}
			if err := c.startOrWait(); err != nil {
				return nil, err
			}
			continue
		}
		lines, err := exchange(conn, line)
		conn.Close()
		if err != nil {
			// The daemon may be leaving just now: try again, which
			// starts a new one if it is gone.
			lastErr = err
			c.Log.Debugf("request to %s: %v; trying again", c.Cfg.PipeFn, err)
			time.Sleep(retryPause / 5)
			continue
		}
		last := lines[len(lines)-1]
		if strings.HasPrefix(last, "OK") {
			return lines, nil
		}
		return lines, fmt.Errorf("timer daemon on %s answered %q to %q", c.Cfg.PipeFn, last, strings.TrimSpace(line))
	}
	return nil, fmt.Errorf("unable to reach the timer daemon on %s and unable to start one (after %d tries): %v", c.Cfg.PipeFn, maxTries, lastErr)
}

// exchange writes a request and reads the answer up to its OK or ERR line.
func exchange(conn net.Conn, line string) ([]string, error) {
	if _, err := io.WriteString(conn, line); err != nil {
		return nil, err
	}
	// No deadline: like NUT's client, wait for the daemon even while it
	// runs a long CANCEL command; it answers once that is done.
	br := bufio.NewReader(conn)
	var lines []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("reading the answer: %w", err)
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if strings.HasPrefix(l, "OK") || strings.HasPrefix(l, "ERR") {
			return lines, nil
		}
	}
}

// startOrWait starts the daemon if this process gets LOCKFN; otherwise
// another upssched is starting one, and it waits a little, as NUT's does.
// A lock older than a daemon may take to start was left by a caller that
// died: it is removed, and the next try takes it. (NUT removes any lock it
// could not take at once, so a third caller can start a second daemon
// while the first is still starting; the second then takes PIPEFN over
// and the first one's timers are lost.)
func (c *Client) startOrWait() error {
	f, err := os.OpenFile(c.Cfg.LockFn, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0)
	if err != nil {
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("cannot create LOCKFN %s: %w", c.Cfg.LockFn, err)
		}
		if st, err := os.Stat(c.Cfg.LockFn); err == nil && time.Since(st.ModTime()) > startTimeout {
			c.Log.Errorf("removing stale LOCKFN %s (from %s)", c.Cfg.LockFn, st.ModTime().Format(time.RFC3339))
			os.Remove(c.Cfg.LockFn)
		}
		time.Sleep(retryPause)
		return nil
	}
	f.Close()
	defer os.Remove(c.Cfg.LockFn)
	start := c.StartDaemon
	if start == nil {
		start = StartProcess
	}
	return start(c.Cfg)
}

// StartProcess starts the timer daemon as a new session of this program,
// detached from the caller's terminal and output, and waits until it
// listens on PIPEFN.
func StartProcess(cfg *Config) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start the timer daemon: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start the timer daemon: %w", err)
	}
	defer r.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		return fmt.Errorf("start the timer daemon: %w", err)
	}
	defer null.Close()
	cmd := exec.Command(exe)
	cmd.Args = []string{"upssched"}
	cmd.Env = append(os.Environ(), envDaemon+"="+cfg.PipeFn, envCmdScript+"="+cfg.CmdScript,
		envDebug+"="+strconv.Itoa(cfg.DebugMin))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.ExtraFiles = []*os.File{w} // readyFD
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("start the timer daemon %s: %w", exe, err)
	}
	go cmd.Wait() // reaps it should it die while this process still runs
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		ch <- result{b, err}
	}()
	select {
	case res := <-ch:
		msg := strings.TrimSpace(string(res.b))
		if msg == "OK" {
			return nil
		}
		if msg == "" {
			msg = "it exited without a word"
		}
		return fmt.Errorf("the timer daemon did not start: %s", msg)
	case <-time.After(startTimeout):
		cmd.Process.Kill()
		return fmt.Errorf("the timer daemon did not listen on %s within %s", cfg.PipeFn, startTimeout)
	}
}

// runDaemon is the daemon process's main: listen, report readiness on
// readyFD, serve until idle.
func runDaemon(log *Logger) int {
	ready := os.NewFile(readyFD, "ready")
	pipefn, cmdscript := os.Getenv(envDaemon), os.Getenv(envCmdScript)
	debug, _ := strconv.Atoi(os.Getenv(envDebug))
	log.Debug = debug
	// Keep this plumbing out of CMDSCRIPT's environment.
	for _, k := range []string{envDaemon, envCmdScript, envDebug} {
		os.Unsetenv(k)
	}
	// A daemon that answers already serves PIPEFN (its starter's lock went
	// stale, say): leave it in charge rather than take the socket over.
	if conn, err := net.Dial("unix", pipefn); err == nil {
		conn.Close()
		if ready != nil {
			io.WriteString(ready, "OK\n")
			ready.Close()
		}
		return 0
	}
	l, err := Listen(pipefn)
	if err != nil {
		log.Errorf("%v", err)
		if ready != nil {
			fmt.Fprintln(ready, err)
			ready.Close()
		}
		return 1
	}
	d := &Daemon{PipeFn: pipefn, Log: log, Run: ShellRunner(cmdscript, log, nil, nil)}
	log.Infof("Timer daemon started")
	if ready != nil {
		io.WriteString(ready, "OK\n")
		ready.Close()
	}
	if err := d.Serve(l); err != nil {
		log.Errorf("%v", err)
		return 1
	}
	return 0
}

// TimerInfo is one running timer as -l lists it.
type TimerInfo struct {
	Name       string
	Left       time.Duration
	UPS        string
	NotifyType string
}

// List asks the daemon for its timers. No daemon means no timers.
func (c *Client) List() ([]TimerInfo, error) {
	conn, err := net.Dial("unix", c.Cfg.PipeFn)
	if err != nil {
		return nil, nil
	}
	defer conn.Close()
	lines, err := exchange(conn, "LIST\n")
	if err != nil {
		return nil, fmt.Errorf("timer daemon on %s: %w", c.Cfg.PipeFn, err)
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "OK") {
		return nil, fmt.Errorf("timer daemon on %s cannot list its timers (answered %q): NUT's upssched has no LIST", c.Cfg.PipeFn, last)
	}
	var out []TimerInfo
	for _, l := range lines[:len(lines)-1] {
		w, err := nutconf.Split(l)
		if err != nil || len(w) != 5 || w[0] != "TIMER" {
			return nil, fmt.Errorf("timer daemon on %s: unexpected line %q", c.Cfg.PipeFn, l)
		}
		ms, err := strconv.ParseInt(w[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("timer daemon on %s: unexpected line %q", c.Cfg.PipeFn, l)
		}
		out = append(out, TimerInfo{Name: w[1], Left: time.Duration(ms) * time.Millisecond, UPS: w[3], NotifyType: w[4]})
	}
	return out, nil
}
