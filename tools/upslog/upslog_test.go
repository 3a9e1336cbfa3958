package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/client/clienttest"
)

var devices = []clienttest.Device{
	{Name: "apc", Vars: [][2]string{
		{"battery.charge", "100"},
		{"device.model", `Back-UPS "ES" \ 750`},
		{"input.voltage", "230.0"},
		{"ups.load", "12"},
		{"ups.status", "OL CHRG"},
	}},
	{Name: "eaton", Vars: [][2]string{{"ups.status", "OB LB"}, {"battery.charge", "9"}}},
	{Name: "gone", Err: "DRIVER-NOT-CONNECTED"},
	{Name: "stale", Err: "DATA-STALE"},
}

const banner = "Network UPS Tools upslog 2.8.0\n"

func me(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func TestRun(t *testing.T) {
	s := clienttest.NewServer(t, clienttest.Fake(devices...))
	H := s.Addr
	dir := t.TempDir()
	pidf := filepath.Join(dir, "upslog.pid")
	u := me(t)
	// common makes a run terminate after one poll and keeps its pid file
	// and user out of the way.
	common := []string{"-u", u, "-p", pidf, "-d", "1"}
	help := func() string {
		var b bytes.Buffer
		usage(&b, "upslog")
		return b.String()
	}()
	refused := closedAddr(t)
	const badUPS = "Error: invalid UPS definition.  Required format: upsname[@hostname[:port]]\n\n"

	tests := []struct {
		name           string
		args           []string
		stdout, stderr string
		code           int
	}{
		{name: "help", args: []string{"-h"}, stdout: banner + help},
		{name: "help first wins", args: []string{"-h", "-x"}, stdout: banner + help},
		{name: "version", args: []string{"-V", "-s", "x"}, stdout: banner},
		{name: "bad option then help", args: []string{"-x", "-h"}, stdout: banner + help, stderr: "upslog: invalid option -- 'x'\n"},
		{name: "no arguments", stdout: banner, stderr: "No UPS defined for monitoring - use -s <system>\n", code: 1},
		{name: "bad option is ignored", args: []string{"-x"}, stdout: banner,
			stderr: "upslog: invalid option -- 'x'\nNo UPS defined for monitoring - use -s <system>\n", code: 1},
		{name: "missing argument", args: []string{"-i"}, stdout: banner,
			stderr: "upslog: option requires an argument -- 'i'\nNo UPS defined for monitoring - use -s <system>\n", code: 1},
		{name: "no log file", args: []string{"-s", "apc@" + H}, stdout: banner, stderr: "No filename defined for logging - use -l <file>\n", code: 1},
		{name: "no ups", args: []string{"-l", "-"}, stdout: banner, stderr: "No UPS defined for monitoring - use -s <system>\n", code: 1},
		{name: "one operand", args: []string{"apc@" + H}, stdout: banner + help},
		{name: "two operands", args: []string{"apc@" + H, "-"}, stdout: banner + help},
		{name: "tuple without file", args: []string{"-m", "apc@" + H}, stdout: banner,
			stderr: "Argument '-m upsspec,logfile' requires exactly 2 components in the tuple\n", code: 1},
		{name: "tuple with three parts", args: []string{"-m", "apc@" + H + ",-,x"}, stdout: banner,
			stderr: "Argument '-m upsspec,logfile' requires exactly 2 components in the tuple\n", code: 1},
		{name: "tuple and -l alone", args: []string{"-m", "apc@" + H + ",-", "-l", "-"}, stdout: banner,
			stderr: "No UPS defined for monitoring - use -s <system> when using -l <file>, or use -m <ups,logfile>\n", code: 1},
		{name: "tuple and -s alone", args: []string{"-m", "apc@" + H + ",-", "-s", "apc"}, stdout: banner,
			stderr: "No filename defined for logging - use -l <file> when using -s <system>, or use -m <ups,logfile>\n", code: 1},
		{name: "interval zero", args: []string{"-s", "apc@" + H, "-l", "-", "-i", "abc"}, stdout: banner,
			stderr: "Error: invalid interval 'abc': it must be a whole number of seconds, 1 or more\n", code: 1},
		{name: "bad count", args: []string{"-s", "apc@" + H, "-l", "-", "-d", "x"}, stdout: banner,
			stderr: "Error: invalid count for -d: 'x' (a number of polls, 0 for no limit)\n", code: 1},
		{name: "bad ups name", args: append([]string{"-s", "apc@127.0.0.1:x", "-l", "-"}, common...),
			stdout: banner + "logging status of apc@127.0.0.1:x to - (30s intervals)\n",
			stderr: "upscli_splitaddr: no port specified after ':' separator\n" + badUPS, code: 1},
		{name: "empty ups name", args: append([]string{"-s", "", "-l", "-"}, common...),
			stdout: banner + "logging status of  to - (30s intervals)\n",
			stderr: "upscli_splitname: can't parse empty string\n" + badUPS, code: 1},
		{name: "log file cannot be opened", args: append([]string{"-s", "apc@" + H, "-l", "/nonexistent/x.log", "-F"}, common...),
			stdout: banner + "logging status of apc@" + H + " to /nonexistent/x.log (30s intervals)\n",
			stderr: "could not open logfile /nonexistent/x.log: No such file or directory\n", code: 1},
		{name: "unknown user", args: []string{"-s", "apc@" + H, "-l", "-", "-u", "no-such-user-here", "-d", "1"},
			stdout: banner + "logging status of apc@" + H + " to - (30s intervals)\n",
			stderr: "user no-such-user-here not found\n", code: 1},
		{name: "connection refused", args: append([]string{"-s", "apc@" + refused, "-l", "-", "-f", "[%VAR ups.status%]"}, common...),
			stdout: banner + "logging status of apc@" + refused + " to - (30s intervals)\n[NA]\n",
			stderr: "Warning: initial connect failed: Connection failure: Connection refused\n1 loops have elapsed\n"},
		{name: "one line", args: append([]string{"-s", "apc@" + H, "-l", "-", "-i", "5", "-f", "%VAR ups.status%|%VAR battery.charge%|%VAR ups.temperature%|%UPSHOST%"}, common...),
			stdout: banner + "logging status of apc@" + H + " to - (5s intervals)\nOL CHRG|100|NA|apc@" + H + "\n",
			stderr: "1 loops have elapsed\n"},
		{name: "escaped value", args: append([]string{"-s", "apc@" + H, "-l", "-", "-f", "%VAR device.model%"}, common...),
			stdout: banner + "logging status of apc@" + H + " to - (30s intervals)\nBack-UPS \"ES\" \\ 750\n",
			stderr: "1 loops have elapsed\n"},
		{name: "driver gone and stale", args: append([]string{"-m", "gone@" + H + ",-", "-m", "stale@" + H + ",-", "-f", "%UPSHOST% [%VAR ups.status%]"}, common...),
			stdout: banner + "logging status of gone@" + H + " to - (30s intervals)\nlogging status of stale@" + H + " to - (30s intervals)\n" +
				"gone@" + H + " [NA]\nstale@" + H + " [NA]\n",
			stderr: "1 loops have elapsed\n"},
		{name: "unknown ups", args: append([]string{"-s", "nope@" + H, "-l", "-", "-f", "[%VAR ups.status%]"}, common...),
			stdout: banner + "logging status of nope@" + H + " to - (30s intervals)\n[NA]\n",
			stderr: "1 loops have elapsed\n"},
		{name: "old form", args: append(common, "apc@"+H, "-", "7", "%VAR", "ups.load%", "[%VAR", "ups.status%]"),
			stdout: banner + "logging status of apc@" + H + " to - (7s intervals)\n12 [OL CHRG] \n",
			stderr: "1 loops have elapsed\n"},
		{name: "old form overrides -s -l -i", args: append([]string{"-s", "eaton@" + H, "-l", "/nonexistent", "-i", "1"}, append(common, "apc@"+H, "-", "7")...),
			stdout: banner + "logging status of apc@" + H + " to - (7s intervals)\n",
			stderr: "1 loops have elapsed\n"},
		{name: "-N and tuples", args: append([]string{"-N", "-m", "apc@" + H + ",-", "-s", "eaton@" + H, "-l", "-", "-f", "%VAR ups.status%"}, common...),
			stdout: banner + "logging status of apc@" + H + " to - (30s intervals)\nlogging status of eaton@" + H + " to - (30s intervals)\n" +
				"apc@" + H + "\tOL CHRG\neaton@" + H + "\tOB LB\n",
			stderr: "1 loops have elapsed\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"upslog"}, tc.args...), &stdout, &stderr)
			got := stdout.String()
			if tc.name == "old form overrides -s -l -i" {
				// The default format: only its shape is fixed.
				if strings.HasPrefix(got, tc.stdout) {
					line := strings.TrimPrefix(got, tc.stdout)
					if !strings.HasSuffix(line, " 100 230.0 12 [OL CHRG] NA NA\n") || len(line) != len("20261124 044145 100 230.0 12 [OL CHRG] NA NA\n") {
						t.Errorf("default format line %q", line)
					}
					got = tc.stdout
				}
			}
			if code != tc.code || got != tc.stdout || stderr.String() != tc.stderr {
				t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d, stdout:\n%s\nstderr:\n%s",
					code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
			if _, err := os.Stat(pidf); err == nil {
				t.Errorf("pid file %s left behind", pidf)
			}
		})
	}
}

// TestRunLogFileAndPid: lines are appended to the log file (two -m tuples
// share it, opened once), and the pid file is written while running and
// removed at the end.
func TestRunLogFileAndPid(t *testing.T) {
	s := clienttest.NewServer(t, clienttest.Fake(devices...))
	dir := t.TempDir()
	logf := filepath.Join(dir, "ups.log")
	if err := os.WriteFile(logf, []byte("earlier line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NUT_PIDPATH", dir)
	var stdout, stderr bytes.Buffer
	code := run([]string{"/usr/local/bin/upslog", "-F", "-u", me(t), "-i", "1", "-d", "2",
		"-m", "apc@" + s.Addr + "," + logf, "-m", "eaton@" + s.Addr + "," + logf,
		"-f", "%UPSHOST% %VAR ups.status% %PID%"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(logf)
	if err != nil {
		t.Fatal(err)
	}
	p := strconv.Itoa(os.Getpid())
	a, e := "apc@"+s.Addr+" OL CHRG "+p+"\n", "eaton@"+s.Addr+" OB LB "+p+"\n"
	if want := "earlier line\n" + a + e + a + e; string(b) != want {
		t.Errorf("log file:\n%s\nwant:\n%s", b, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "upslog.pid")); err == nil {
		t.Errorf("pid file left behind")
	}
	if want := banner + "logging status of apc@" + s.Addr + " to " + logf + " (1s intervals)\n" +
		"logging status of eaton@" + s.Addr + " to " + logf + " (1s intervals)\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
}

func TestPidPath(t *testing.T) {
	tests := []struct {
		pidpath, altpidpath, statepath, base, want string
	}{
		{"/p", "/a", "/s", "upslog", "/p/upslog.pid"},
		{"", "/a", "/s", "mylog", "/a/mylog.pid"},
		{"", "", "/s", "upslog", "/s/upslog.pid"},
		{"/p", "/a", "/s", "/run/x", "/run/x"},
	}
	for _, tc := range tests {
		t.Setenv("NUT_PIDPATH", tc.pidpath)
		t.Setenv("NUT_ALTPIDPATH", tc.altpidpath)
		t.Setenv("NUT_STATEPATH", tc.statepath)
		if got := pidPath(tc.base); got != tc.want {
			t.Errorf("pidPath(%q) with %+v = %q, want %q", tc.base, tc, got, tc.want)
		}
	}
}

// syncBuffer is a writer safe for the logger's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func lineCount(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

// newTestLogger logs ups on s to path with format, polling every interval.
func newTestLogger(t *testing.T, s *clienttest.Server, ups, path, format string, interval time.Duration, msgs *syncBuffer) *logger {
	t.Helper()
	tg, err := openTarget(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &entry{raw: ups + "@" + s.Addr, dial: dialer, target: tg, debugf: func(string, ...any) {}}
	e.name.Name, e.name.Host = ups, "127.0.0.1"
	_, port, _ := net.SplitHostPort(s.Addr)
	e.name.Port, _ = strconv.Atoi(port)
	return &logger{
		items:    compileFormat(format),
		entries:  []*entry{e},
		targets:  []*target{tg},
		interval: interval,
		env:      fixedEnv,
		logf:     func(f string, a ...any) { fmt.Fprintf(msgs, f+"\n", a...) },
	}
}

// TestSignals: SIGUSR1 logs at once, SIGHUP reopens the log file (after
// rotation the new file gets the next line, at once) and SIGTERM logs a
// last line and ends the loop, with NUT's messages.
func TestSignals(t *testing.T) {
	s := clienttest.NewServer(t, clienttest.Fake(devices...))
	dir := t.TempDir()
	logf := filepath.Join(dir, "ups.log")
	var msgs syncBuffer
	l := newTestLogger(t, s, "apc", logf, "%VAR ups.status%", time.Hour, &msgs)
	sigs := make(chan os.Signal, 1)
	done := make(chan int, 1)
	go func() { done <- l.run(context.Background(), sigs) }()

	waitFor(t, "the first line", func() bool { return lineCount(logf) == 1 })
	sigs <- syscall.SIGUSR1
	waitFor(t, "the line SIGUSR1 asks for", func() bool { return lineCount(logf) == 2 })

	rotated := logf + ".1"
	if err := os.Rename(logf, rotated); err != nil {
		t.Fatal(err)
	}
	sigs <- syscall.SIGHUP
	waitFor(t, "a line in the reopened file", func() bool { return lineCount(logf) == 1 })
	if n := lineCount(rotated); n != 2 {
		t.Errorf("rotated file has %d lines, want 2", n)
	}

	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not end the loop")
	}
	if b, _ := os.ReadFile(logf); string(b) != "OL CHRG\nOL CHRG\n" {
		t.Errorf("after SIGTERM the log is %q, want the last line added", b)
	}
	if want := "Signal 1: reopening log file\nSignal 15: exiting\n"; msgs.String() != want {
		t.Errorf("messages %q, want %q", msgs.String(), want)
	}
}

// TestHupOnStdout: NUT says it keeps logging to stdout.
func TestHupOnStdout(t *testing.T) {
	s := clienttest.NewServer(t, clienttest.Fake(devices...))
	var msgs, out syncBuffer
	l := newTestLogger(t, s, "apc", "-", "%VAR ups.load%", time.Hour, &msgs)
	l.targets[0].w = &out
	sigs := make(chan os.Signal, 2)
	sigs <- syscall.SIGHUP
	sigs <- syscall.SIGINT
	if code := l.run(context.Background(), sigs); code != 0 {
		t.Errorf("exit %d", code)
	}
	// Both signals were waiting at the first poll: one line, then exit.
	if out.String() != "12\n" {
		t.Errorf("output %q", out.String())
	}
	if want := "Signal 1: reopening log file\nlogging to stdout\nSignal 2: exiting\n"; msgs.String() != want {
		t.Errorf("messages %q, want %q", msgs.String(), want)
	}
}

// TestReconnect: a upsd that hangs up makes the rest of that line NA;
// the next poll connects again.
func TestReconnect(t *testing.T) {
	fake := clienttest.Fake(devices...)
	var mu sync.Mutex
	hangups := 1
	s := clienttest.NewServer(t, func(w []string) clienttest.Reply {
		mu.Lock()
		defer mu.Unlock()
		if len(w) > 0 && w[0] == "GET" && hangups > 0 {
			hangups--
			return clienttest.Reply{HangUp: true}
		}
		return fake(w)
	})
	dir := t.TempDir()
	logf := filepath.Join(dir, "ups.log")
	var msgs syncBuffer
	l := newTestLogger(t, s, "apc", logf, "%VAR ups.status% %VAR ups.load%", 20*time.Millisecond, &msgs)
	l.count = 2
	if code := l.run(context.Background(), nil); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if b, _ := os.ReadFile(logf); string(b) != "NA NA\nOL CHRG 12\n" {
		t.Errorf("log %q", b)
	}
}

// TestLongIntervalDisconnects: with an interval over 30 s upslog does not
// hold the connection between polls, as NUT.
func TestLongIntervalDisconnects(t *testing.T) {
	s := clienttest.NewServer(t, clienttest.Fake(devices...))
	var msgs syncBuffer
	l := newTestLogger(t, s, "apc", filepath.Join(t.TempDir(), "log"), "%VAR ups.load%", 31*time.Second, &msgs)
	l.count = 1
	if code := l.run(context.Background(), nil); code != 0 {
		t.Fatalf("exit %d", code)
	}
	waitFor(t, "LOGOUT", func() bool {
		r := s.Requests()
		// STARTTLS first, as NUT's upslog; the fake server refuses it.
		return len(r) == 3 && r[0] == "STARTTLS" && r[1] == "GET VAR apc ups.load" && r[2] == "LOGOUT"
	})
	if l.entries[0].conn != nil {
		t.Error("connection still open")
	}
}

// TestWriteErrorReported: a failing log target is reported once, and
// again when it recovers.
func TestWriteErrorReported(t *testing.T) {
	var msgs syncBuffer
	logf := func(f string, a ...any) { fmt.Fprintf(&msgs, f+"\n", a...) }
	w := &flakyWriter{}
	tg := &target{path: "/x.log", w: w}
	w.fail = true
	tg.write("a", logf)
	tg.write("b", logf)
	w.fail = false
	tg.write("c", logf)
	if want := "cannot write to logfile /x.log: No space left on device\nwriting to logfile /x.log again\n"; msgs.String() != want {
		t.Errorf("messages %q, want %q", msgs.String(), want)
	}
	if w.b.String() != "c\n" {
		t.Errorf("written %q", w.b.String())
	}
}

type flakyWriter struct {
	fail bool
	b    bytes.Buffer
}

func (f *flakyWriter) Write(p []byte) (int, error) {
	if f.fail {
		return 0, &os.PathError{Op: "write", Path: "/x.log", Err: syscall.ENOSPC}
	}
	return f.b.Write(p)
}
