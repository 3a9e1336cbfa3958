package host

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/gonut/gonut/sdk/nutconf"
)

// onceNUT runs a NUT driver (an executable that is not a gonut plugin) one
// time, as NUT's upsdrvctl would but in the foreground:
// `<exe> -a <ups> -F [-u user] [-D...]`, with NUT_CONFPATH and
// NUT_STATEPATH set. It serves its own socket STATEPATH/<driver>-<ups>.
//
// The host never connects to that socket to probe it: NUT 2.8.0 drivers
// keep a client that hung up and abort on their next write to it. Whether
// it listens is read from the kernel's table of unix sockets instead.
func (in *Instance) onceNUT(ctx context.Context) error {
	args := []string{"-a", in.name, "-F"}
	if in.h.cfg.User != "" {
		args = append(args, "-u", in.h.cfg.User)
	}
	for i := 0; i < in.h.cfg.Debug; i++ {
		args = append(args, "-D")
	}
	cmd := exec.Command(in.path, args...)
	env := append(os.Environ(), "NUT_CONFPATH="+in.h.cfg.ConfPath, "NUT_STATEPATH="+in.h.cfg.StatePath)
	if os.Getenv("NUT_ALTPIDPATH") == "" {
		env = append(env, "NUT_ALTPIDPATH="+in.h.cfg.StatePath)
	}
	cmd.Env = env
	// The driver dies with the host, as a plugin does through its
	// lifeline: a driver must not outlive its supervisor and keep the
	// device open. Pdeathsig follows the thread that forked, so that
	// thread stays locked (and alive) for as long as the driver runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		// Lines are logged as the driver writes them; the pipe ends when
		// the driver (and anything it forked) closes it.
		logLines(out, in)
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("starting NUT driver %s: %w", in.path, err)
	}
	pid := cmd.Process.Pid
	in.mu.Lock()
	in.pid, in.nutStatus = pid, ""
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		in.pid = 0
		if cmd.ProcessState != nil {
			in.exitStatus = cmd.ProcessState.String()
		}
		in.mu.Unlock()
	}()
	sock := SocketPath(in.h.cfg.StatePath, in.driver, in.name)
	deadline := time.Now().Add(in.maxStartDelay())
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	listening := false
	var hung <-chan time.Duration
	for {
		select {
		case <-ctx.Done():
			in.stopNUT(cmd, exited)
			return ctx.Err()
		case err := <-exited:
			if err == nil {
				err = fmt.Errorf("exited with status 0")
			}
			return fmt.Errorf("NUT driver %s (pid %d): %w", in.driver, pid, err)
		case d := <-hung:
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-exited
			return fmt.Errorf("NUT driver %s (pid %d) hung: no PONG for %s; killed it", in.driver, pid, d)
		case <-tick.C:
			if listening {
				continue
			}
			if Listening(sock) {
				listening = true
				tick.Reset(time.Second)
				// The heartbeat connection is closed (deferred) only
				// after the driver is gone on every path out of here.
				if conn, h, err := in.heartbeatNUT(sock); err != nil {
					in.log.Warn("no heartbeat connection to the NUT driver; hangs will go unnoticed", "error", err)
				} else {
					defer conn.Close()
					hung = h
				}
				in.setState(StateRunning, nil)
				in.startOnce.Do(func() { in.started <- nil })
				continue
			}
			if time.Now().After(deadline) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				<-exited
				return fmt.Errorf("NUT driver %s (pid %d) did not serve %s within maxstartdelay %s; killed it",
					in.driver, pid, sock, in.maxStartDelay())
			}
		}
	}
}

// heartbeatNUT keeps a connection to a NUT driver's socket and sends PING
// every poll interval; the driver answers PONG from its main loop. The
// returned channel gets the silence once no PONG came for the hang
// deadline (3 × pollinterval + HangGrace, at least HangMinimum). The
// connection stays open for the driver's whole life and is read all the
// time (the driver broadcasts its updates to it): NUT 2.8.0 drivers abort
// when they write to a client that hung up, so the caller closes it only
// once the driver has exited.
func (in *Instance) heartbeatNUT(sock string) (net.Conn, <-chan time.Duration, error) {
	conn, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return nil, nil, err
	}
	poll := in.section().PollInterval
	if poll <= 0 {
		poll = in.h.Conf().PollInterval
	}
	if poll <= 0 {
		poll = 2
	}
	interval := time.Duration(poll) * time.Second
	deadline := in.hangDeadline(int64(interval / time.Millisecond))
	var lastPong atomic.Int64
	lastPong.Store(time.Now().UnixNano())
	done := make(chan struct{})
	// DUMPALL first: the dump and the broadcasts after it keep ups.status
	// known for status listings.
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("DUMPALL\n")); err != nil {
		conn.Close()
		return nil, nil, err
	}
	go func() {
		defer close(done)
		sc := bufio.NewScanner(conn)
		sc.Buffer(make([]byte, 4096), 1<<20)
		for sc.Scan() {
			l := sc.Text()
			switch {
			case l == "PONG":
				lastPong.Store(time.Now().UnixNano())
			case strings.HasPrefix(l, "SETINFO ups.status "):
				if w, err := nutconf.Split(l); err == nil && len(w) == 3 {
					in.mu.Lock()
					in.nutStatus = w[2]
					in.mu.Unlock()
				}
			}
		}
	}()
	hung := make(chan time.Duration, 1)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done: // the connection is closed or the driver closed it
				return
			case <-t.C:
			}
			if silent := time.Since(time.Unix(0, lastPong.Load())); silent > deadline {
				hung <- silent.Round(time.Second)
				return
			}
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := conn.Write([]byte("PING\n")); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
		}
	}()
	return conn, hung, nil
}

// stopNUT stops a NUT driver as upsdrvctl stop does (SIGTERM), then
// SIGKILL after StopTimeout.
func (in *Instance) stopNUT(cmd *exec.Cmd, exited <-chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(in.h.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		in.log.Warn("NUT driver did not stop in time; killing it", "pid", cmd.Process.Pid, "timeout", in.h.cfg.StopTimeout)
		_ = cmd.Process.Kill()
		<-exited
	}
}

// logLines logs a driver's output line by line under the instance's name.
func logLines(r io.Reader, in *Instance) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		if l := strings.TrimRight(sc.Text(), "\r"); l != "" {
			in.log.Info(l, "stream", "driver")
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// Listening reports whether a process listens on the unix socket at path,
// from /proc/net/unix, without connecting to it.
func Listening(path string) bool {
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		// Num RefCount Protocol Flags Type St Inode Path
		if len(f) < 8 || f[7] != path {
			continue
		}
		flags, err := strconv.ParseUint(f[3], 16, 32)
		if err == nil && flags&0x10000 != 0 { // __SO_ACCEPTCON: listening
			return true
		}
	}
	return false
}

// shutdownNUT runs NUT's shutdown sequence for a NUT driver as NUT's
// upsdrvctl does: the supervised driver is stopped first (`driver -k`
// assumes none runs and needs the device), then `<exe> -a <ups> -k` runs
// to its end.
func (in *Instance) shutdownNUT(ctx context.Context) error {
	in.h.log.Info("stopping the NUT driver for its shutdown sequence", "ups", in.name)
	if err := in.h.Stop(in.name); err != nil {
		return err
	}
	args := []string{"-a", in.name, "-k"}
	if in.h.cfg.User != "" {
		args = append(args, "-u", in.h.cfg.User)
	}
	cmd := exec.CommandContext(ctx, in.path, args...)
	cmd.Env = append(os.Environ(), "NUT_CONFPATH="+in.h.cfg.ConfPath, "NUT_STATEPATH="+in.h.cfg.StatePath)
	out, err := cmd.CombinedOutput()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			in.log.Info(l, "stream", "driver -k")
		}
	}
	if err != nil {
		return fmt.Errorf("UPS %s: %s -a %s -k: %w", in.name, in.path, in.name, err)
	}
	return nil
}

// stderrLines receives a plugin's raw stderr from go-plugin and logs the
// plain lines at INFO under the instance's name. go-plugin itself logs
// them only at DEBUG; it handles the rest (hclog JSON lines at their own
// level, "[LEVEL]" prefixes, panics at ERROR), which are skipped here so
// that nothing is logged twice.
type stderrLines struct {
	in      *Instance
	buf     []byte
	inPanic bool
}

func (w *stderrLines) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > 64<<10 { // a line that never ends
				w.line(string(w.buf))
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

func (w *stderrLines) line(l string) {
	l = strings.TrimRight(l, "\r")
	switch {
	case l == "", w.inPanic, strings.HasPrefix(l, "{"), strings.HasPrefix(l, "["):
	case strings.HasPrefix(l, "panic: "), strings.HasPrefix(l, "fatal error: "):
		w.inPanic = true
	default:
		w.in.log.Info(l, "stream", "stderr")
	}
}

// quietExit is the logger handed to go-plugin: go-plugin logs every
// plugin exit ("plugin process exited", at ERROR when killed), which in a
// crash loop would be a line per retry. The host logs the exit once, as
// the state change, with the exit status; the rest passes through.
type quietExit struct{ hclog.Logger }

const goPluginExitMsg = "plugin process exited"

func (q quietExit) Info(msg string, args ...interface{}) {
	if msg != goPluginExitMsg {
		q.Logger.Info(msg, args...)
	}
}

func (q quietExit) Error(msg string, args ...interface{}) {
	if msg != goPluginExitMsg {
		q.Logger.Error(msg, args...)
	}
}
