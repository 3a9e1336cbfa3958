package tools

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/gonut/gonut/internal/nuttest"
)

// openPTY opens a pseudo-terminal pair; the test is skipped where there
// are none.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Skipf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Skipf("ptsname: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pts: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// ttyResult is a run on a terminal: what the terminal showed, besides
// the tool's stdout (a pipe) and stderr.
type ttyResult struct {
	result
	screen string
}

// typing is one answer typed on the terminal once the screen shows after.
type typing struct{ after, input string }

// runOnTTY runs a tool whose stdin and controlling terminal are a
// pseudo-terminal, as when a user runs it by hand, and types each input
// once the screen shows what it waits for: getpass discards what is
// typed before it has turned echo off.
func runOnTTY(t *testing.T, env []string, bin, argv0 string, typed []typing, args ...string) ttyResult {
	t.Helper()
	master, slave := openPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Args[0] = argv0
	cmd.Env = env
	cmd.Stdin = slave
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	var (
		mu     sync.Mutex
		screen []byte
	)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 256)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			screen = append(screen, buf[:n]...)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	shows := func(s string) bool {
		mu.Lock()
		defer mu.Unlock()
		return bytes.Contains(screen, []byte(s))
	}
	for _, ty := range typed {
		deadline := time.Now().Add(10 * time.Second)
		for !shows(ty.after) {
			if time.Now().After(deadline) {
				mu.Lock()
				t.Fatalf("%s %q: the terminal never showed %q; it shows %q", argv0, args, ty.after, screen)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if ty.after != "" {
			// Let the tool get to its read: getpass restores the terminal
			// with TCSAFLUSH just after echoing its newline, and that
			// discards what was typed in between.
			time.Sleep(200 * time.Millisecond)
		}
		if _, err := master.Write([]byte(ty.input)); err != nil {
			t.Fatal(err)
		}
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s %q: %v", argv0, args, err)
	}
	// Everything the tool wrote to the terminal is in the master by now;
	// closing our end of the slave ends the reader.
	slave.Close()
	select {
	case <-readDone:
	case <-time.After(2 * time.Second):
		master.Close()
		<-readDone
	}
	mu.Lock()
	defer mu.Unlock()
	return ttyResult{
		result: result{stdout: stdout.String(), stderr: strings.ReplaceAll(stderr.String(), nssBanner, ""), code: cmd.ProcessState.ExitCode()},
		screen: string(screen),
	}
}

// TestPromptsOnTerminal: run by hand without -u and -p, upscmd and upsrw
// ask for the username on stdout (here the terminal is stdin, and the
// echo of the answer shows on it) and for the password on the terminal
// with echo off. gonut's tools must show the same screen, print the same
// and behave the same as NUT's.
func TestPromptsOnTerminal(t *testing.T) {
	l := startLab(t)
	cmdTool, rwTool := upscmdTool(t), upsrwTool(t)
	cases := []struct {
		tl    tool
		typed []typing
		args  []string
	}{
		{cmdTool, []typing{{"", "admin\n"}, {"Password: ", "s3cret\n"}}, []string{"rw@UPSD", cmdOK}},
		{cmdTool, []typing{{"", "admin\n"}, {"Password: ", "wrong\n"}}, []string{"rw@UPSD", cmdOK}},
		{cmdTool, []typing{{"", "\n"}, {"Password: ", "s3cret\n"}}, []string{"rw@UPSD", cmdOK}},
		{cmdTool, []typing{{"Password: ", "s3cret\n"}}, []string{"-u", "admin", "-w", "rw@UPSD", cmdOK}},
		{rwTool, []typing{{"", "admin\n"}, {"Password: ", "s3cret\n"}}, []string{"-s", "ups.id=from a tty", "rw@UPSD"}},
		{rwTool, []typing{{"Password: ", "s3cret\n"}, {"Password: \r\n", "typed\n"}}, []string{"-u", "admin", "-s", "ups.id", "rw@UPSD"}},
	}
	for _, c := range cases {
		t.Run(c.tl.name+" "+strings.Join(c.args, " "), func(t *testing.T) {
			for _, s := range l.servers() {
				args := withServer(c.args, s.srv)
				want := runOnTTY(t, l.env, c.tl.nut, c.tl.name, c.typed, args...)
				got := runOnTTY(t, l.env, c.tl.gonut, c.tl.name, c.typed, args...)
				if got != want {
					t.Errorf("against %s: gonut's %s differs from NUT's\n--- screen: %q, NUT's %q\n--- stdout diff:\n%s--- stderr diff:\n%s--- exit %d, NUT's %d",
						s.name, c.tl.name, got.screen, want.screen, nuttest.Diff(want.stdout, got.stdout), nuttest.Diff(want.stderr, got.stderr), got.code, want.code)
				}
				for _, ty := range c.typed {
					if ty.after == "Password: " && strings.Contains(want.screen, strings.TrimSuffix(ty.input, "\n")) {
						t.Errorf("NUT's %s echoed the password: %q", c.tl.name, want.screen)
					}
				}
			}
		})
	}
}
