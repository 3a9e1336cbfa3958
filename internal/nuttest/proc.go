package nuttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
const StopTimeout = 5 * time.Second

// RunTimeout bounds a program run by Run.
const RunTimeout = 60 * time.Second

// buffer is a bytes.Buffer safe for a writer goroutine and test readers.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Proc is a process started by StartProc. It is stopped (SIGTERM, then
// SIGKILL after StopTimeout) when the test ends, and its output is logged
// if the test failed.
type Proc struct {
	Name string // the program's base name and arguments, for messages

	cmd            *exec.Cmd
	stdout, stderr buffer
	done           chan struct{}
	state          *os.ProcessState
	waitErr        error
	stopOnce       sync.Once
}

// StartProc starts a program with env and returns at once. The process is
// stopped when the test ends.
func StartProc(tb testing.TB, env []string, name string, args ...string) *Proc {
	tb.Helper()
	p := &Proc{Name: strings.Join(append([]string{filepath.Base(name)}, args...), " "), done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	// A background grandchild may inherit the output pipes; do not wait
	// for it to close them.
	p.cmd.WaitDelay = 2 * time.Second
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("nuttest: start %s: %v", p.Name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		p.state = p.cmd.ProcessState
		close(p.done)
	}()
	// Cleanups run last-in first-out: the process is stopped first, then
	// its complete output is logged.
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("nuttest: output of %s (pid %d, %s):\n%s", p.Name, p.PID(), p.exitString(), tail(p.Output(), 16<<10))
		}
	})
	tb.Cleanup(func() { p.Stop() })
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[...]\n" + s[len(s)-n:]
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// code (-1 when a signal ended it). ok is false on timeout.
func (p *Proc) Wait(timeout time.Duration) (code int, ok bool) {
	if p.Exited() {
		return p.state.ExitCode(), true
	}
	select {
	case <-p.done:
		return p.state.ExitCode(), true
	case <-time.After(timeout):
		return 0, false
	}
}

func (p *Proc) exitString() string {
	if !p.Exited() {
		return "running"
	}
	return p.state.String()
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return os.ErrProcessDone
	}
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL and waits for the process to be reaped.
func (p *Proc) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop ends the process: SIGCONT (in case a test stopped it), SIGTERM,
// then SIGKILL after StopTimeout. It is safe to call more than once.
func (p *Proc) Stop() {
	p.stopOnce.Do(func() {
		if p.Exited() {
			return
		}
		_ = p.Signal(syscall.SIGCONT)
		_ = p.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(StopTimeout):
			p.Kill()
		}
	})
}

// Stdout is what the process wrote to stdout so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr is what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Output is stdout followed by stderr.
func (p *Proc) Output() string { return p.Stdout() + p.Stderr() }

// Result is the outcome of a program run to completion.
type Result struct {
	Stdout, Stderr string
	Code           int // exit code; -1 when a signal ended the program
}

// String shows a result in a failure message.
func (r Result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// Run runs a program to completion with env and returns its output and
// exit code. A non-zero exit is not an error here; not being able to
// start the program, or it running past RunTimeout, fails the test.
func Run(tb testing.TB, env []string, name string, args ...string) Result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		tb.Fatalf("nuttest: %s %s ran longer than %s\n%s", name, strings.Join(args, " "), RunTimeout, r)
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		tb.Fatalf("nuttest: run %s: %v", name, err)
	}
	return r
}

// Alive reports whether pid is a running process. A zombie counts as
// gone: in a container nobody may reap an orphan.
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// WaitGone waits up to timeout for pid to stop running.
func WaitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for Alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// Children lists the pids whose parent is ppid, from /proc.
func Children(ppid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		var state string
		var parent int
		if _, err := fmt.Sscan(s[i+1:], &state, &parent); err == nil && parent == ppid && state != "Z" {
			out = append(out, pid)
		}
	}
	return out
}

// stopPID ends a process this test caused to start but is not the parent
// of (a driver NUT's upsdrvctl put in the background): SIGTERM, then
// SIGKILL. exe guards against pid reuse: the process is only signalled
// while /proc/<pid>/exe still names it.
func stopPID(pid int, exe string) {
	same := func() bool { return isProgram(pid, exe) }
	if !Alive(pid) || !same() {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGCONT)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if WaitGone(pid, StopTimeout) {
		return
	}
	if same() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		WaitGone(pid, time.Second)
	}
}

// isProgram reports whether pid is a live process running the executable
// exe (compared by base name, as /proc shows it).
func isProgram(pid int, exe string) bool {
	if !Alive(pid) {
		return false
	}
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && filepath.Base(strings.TrimSuffix(l, " (deleted)")) == filepath.Base(exe)
}
