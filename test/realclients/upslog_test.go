package realclients

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

// lockedBuffer is a buffer a process writes to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// inSleep reports whether pid is in C's sleep(): NUT's upslog loses a
// signal that arrives while it polls, so signals are sent only then. Its
// kernel wait channel says so, or its current system call (nanosleep or
// clock_nanosleep; amd64 and arm64 numbers).
func inSleep(pid int) bool {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid)); err == nil && strings.Contains(string(b), "nanosleep") {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
	if err != nil {
		return false
	}
	nr, _, _ := strings.Cut(string(b), " ")
	switch runtime.GOARCH {
	case "amd64":
		return nr == "35" || nr == "230"
	case "arm64":
		return nr == "101" || nr == "115"
	}
	return false
}

var defaultTime = regexp.MustCompile(`(?m)^\d{8} \d{6} `)

// runUpslog runs Debian's upslog logging to stdout, makes it log a second
// line with SIGUSR1 and a last one with SIGTERM, and returns all it said,
// normalised: NSS's line, the server address, its pid and the time of
// the default format replaced.
func runUpslog(t *testing.T, s *stack, ups, format string) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"upslog", "-s", ups + "@" + s.upsd.Addr(), "-l", "-", "-i", "30",
		"-u", nuttest.RunAsUser(), "-p", filepath.Join(dir, "upslog.pid")}
	if format != "" {
		args = append(args, "-f", format)
	}
	var stdout, stderr lockedBuffer
	cmd := &exec.Cmd{Path: nutUpslog, Args: args, Env: append(os.Environ(), "LC_ALL=C"),
		Stdout: &stdout, Stderr: &stderr, WaitDelay: 2 * time.Second}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start upslog: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
	})
	pid := cmd.Process.Pid
	for i, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGTERM} {
		lines := 3 + i // the banner, "logging status of ...", then log lines
		waitFor(t, 20*time.Second, fmt.Sprintf("upslog's line %d", i+1), func() bool {
			return strings.Count(stdout.String(), "\n") >= lines && inSleep(pid)
		})
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("upslog did not exit on SIGTERM:\n%s%s", stdout.String(), stderr.String())
	}
	out := fmt.Sprintf("exit %d\n%s%s", cmd.ProcessState.ExitCode(), stdout.String(), strings.ReplaceAll(stderr.String(), nssBanner, ""))
	out = strings.ReplaceAll(out, s.upsd.Addr(), "ADDR")
	out = regexp.MustCompile(`\b`+strconv.Itoa(pid)+`\b`).ReplaceAllString(out, "PID")
	return defaultTime.ReplaceAllString(out, "YYYYMMDD HHMMSS ")
}

// TestUpslog: Debian's upslog logs the same lines from gonut's upsd as
// from NUT's: variables with blanks, quotes and backslashes, a missing
// variable (NA), the default format, a UPS without its driver and an
// unknown UPS (NA throughout), and NUT's INVALID for bad escapes.
func TestUpslog(t *testing.T) {
	t.Parallel()
	requireClients(t, nutUpslog)
	every := "%VAR ups.status%|%VAR battery.charge%|%VAR ups.id%|%VAR no.such.var%|%VAR nodot%|%BOGUS%|%%|%UPSHOST%|%PID%"
	cases := []struct{ name, ups, format string }{
		{"every escape", "ups", every},
		{"default format", "ups", ""},
		{"no driver", "dead", every},
		{"unknown ups", "nosuch", every},
	}
	results := make([][]string, 3)
	t.Run("stacks", func(t *testing.T) {
		for _, k := range []kind{nutStack, gonutUpsd, gonutStack} {
			t.Run(k.String(), func(t *testing.T) {
				t.Parallel()
				s := startStack(t, k)
				for _, c := range cases {
					results[k] = append(results[k], runUpslog(t, s, c.ups, c.format))
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	want := `exit 0
Network UPS Tools upslog 2.8.0
logging status of ups@ADDR to - (30s intervals)
OL|95|quote " and back\slash|NA|INVALID|INVALID|%|ups@ADDR|PID
OL|95|quote " and back\slash|NA|INVALID|INVALID|%|ups@ADDR|PID
OL|95|quote " and back\slash|NA|INVALID|INVALID|%|ups@ADDR|PID
Signal 15: exiting
`
	if results[nutStack][0] != want {
		t.Errorf("NUT's upslog against NUT's upsd:\n%s\nwant:\n%s", results[nutStack][0], want)
	}
	for _, k := range []kind{gonutUpsd, gonutStack} {
		for i, c := range cases {
			if results[k][i] != results[nutStack][i] {
				t.Errorf("%s: against %s (- NUT upsd, + %s):\n%s", c.name, k, k, nuttest.Diff(results[nutStack][i], results[k][i]))
			}
		}
	}
	if testing.Verbose() {
		for i, c := range cases {
			t.Logf("%s:\n%s", c.name, results[nutStack][i])
		}
	}
}
