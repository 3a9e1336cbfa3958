package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

func TestMain(m *testing.M) { nuttest.Main(m) }

// nutUpslog is Debian's upslog 2.8.0 (package nut-client).
const nutUpslog = "/usr/bin/upslog"

// nssBanner is what Debian's NSS-built NUT clients print on stderr on
// every connection; gonut prints nothing of the kind.
const nssBanner = "Init SSL without certificate database\n"

// labDev is the device the lab's dummy-ups serves: values with blanks,
// quotes and backslashes, and no ups.temperature (the default format shows
// NA for it).
const labDev = `battery.charge: 95
input.voltage: 230.5
input.frequency: 50.0
ups.load: 23
ups.status: OL CHRG
ups.id: "quote \" and back\\slash"
`

// lab is NUT's upsd fed by NUT's dummy-ups: "ups" serves labDev, "dead"
// has lost its driver (DRIVER-NOT-CONNECTED) and "stale" has a frozen one
// (DATA-STALE).
type lab struct {
	dir  *nuttest.Dir
	upsd *nuttest.Server
}

func startLab(t *testing.T) *lab {
	t.Helper()
	nuttest.RequireNUT(t)
	if _, err := os.Stat(nutUpslog); err != nil {
		nuttest.Missing(t, "NUT's upslog is not installed: %v (apt-get install nut-client)", err)
	}
	d := nuttest.NewDir(t)
	d.WriteFile(t, "lab.dev", labDev)
	secs := []nuttest.Section{
		{Name: "ups", Driver: "dummy-ups", Port: "lab.dev"},
		{Name: "dead", Driver: "dummy-ups", Port: "lab.dev"},
		{Name: "stale", Driver: "dummy-ups", Port: "lab.dev"},
	}
	d.WriteUPSConf(t, nil, secs...)
	drivers := map[string]*nuttest.Proc{}
	for _, s := range secs {
		// Not nuttest.StartNUTDriver: its readiness probe leaves NUT's
		// dummy-ups a dead connection it may abort on when it next
		// broadcasts. upsd connects once the socket is there.
		drivers[s.Name] = d.Start(t, nuttest.NUTDummyUPS, "-a", s.Name, "-u", nuttest.RunAsUser(), "-F")
	}
	srv := nuttest.StartNUTUpsd(t, d, nuttest.UpsdConfig{Conf: "MAXAGE 2\n"})
	for _, s := range secs {
		srv.WaitUPS(t, s.Name)
	}
	drivers["dead"].Kill()
	if err := drivers["stale"].Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	c := srv.Dial(t)
	for ups, want := range map[string]string{"dead": "DRIVER-NOT-CONNECTED", "stale": "DATA-STALE"} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := c.GetVar(ups, "ups.status")
			if pe, ok := err.(*nuttest.ProtoError); ok && pe.Code == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("NUT upsd never said %s for [%s] (last: %v)", want, ups, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return &lab{dir: d, upsd: srv}
}

// outcome is what one upslog run showed, normalised for comparison.
type outcome struct {
	stdout, stderr string
	code           int
	logs           map[string]string // log file contents by base name
}

func (o outcome) String() string {
	s := fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", o.code, o.stdout, o.stderr)
	names := make([]string, 0, len(o.logs))
	for name := range o.logs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s += "--- " + name + ":\n" + o.logs[name]
	}
	return s
}

// upslogProc is one upslog run, started with argv[0] "upslog" (it shows
// in the banner, the help and getopt's messages).
type upslogProc struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
}

func startUpslog(t *testing.T, bin string, env []string, args ...string) *upslogProc {
	t.Helper()
	p := &upslogProc{done: make(chan struct{})}
	p.cmd = &exec.Cmd{Path: bin, Args: append([]string{"upslog"}, args...), Env: env,
		Stdout: &p.stdout, Stderr: &p.stderr, WaitDelay: 2 * time.Second}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	})
	return p
}

func (p *upslogProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(20 * time.Second):
		t.Fatalf("%s %q did not exit; stdout:\n%s\nstderr:\n%s", p.cmd.Path, p.cmd.Args, p.stdout.String(), p.stderr.String())
		return -1
	}
}

// signal sends sig once the process waits for its next poll. NUT's
// upslog loses a signal that arrives while it polls (the handler only
// interrupts the sleep that follows, or sets a flag checked after it), so
// for NUT the test first waits until it sleeps: its current system call
// (/proc/<pid>/syscall) is nanosleep or clock_nanosleep. gonut's queues
// signals and needs no such care.
func (p *upslogProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if p.cmd.Path == nutUpslog {
		deadline := time.Now().Add(10 * time.Second)
		for !sleeping(p.cmd.Process.Pid) && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, p.cmd.Path, err)
	}
}

// waitOutput waits until cond holds for what the process has written.
func (p *upslogProc) waitOutput(t *testing.T, what string, cond func(stdout string) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond(p.stdout.String()) {
		select {
		case <-p.done:
			t.Fatalf("%s exited while waiting for %s; stdout:\n%s\nstderr:\n%s", p.cmd.Path, what, p.stdout.String(), p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out waiting for %s; stdout:\n%s\nstderr:\n%s", p.cmd.Path, what, p.stdout.String(), p.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sleeping reports whether pid is in C's sleep(): its kernel wait channel
// is hrtimer_nanosleep, or its current system call is nanosleep or
// clock_nanosleep (numbers for amd64 and arm64).
func sleeping(pid int) bool {
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

var (
	defaultTime = regexp.MustCompile(`(?m)^\d{8} \d{6} `)
	headerLines = 2 // the banner and "logging status of ..."
)

// normalise removes what legitimately differs between two runs: NUT's NSS
// line, the process id, the time of day in the default format, and the
// run's own directory.
func normalise(s string, pid int, dir string) string {
	s = strings.ReplaceAll(s, nssBanner, "")
	s = strings.ReplaceAll(s, dir, "DIR")
	if pid > 0 {
		s = regexp.MustCompile(`\b`+strconv.Itoa(pid)+`\b`).ReplaceAllString(s, "PID")
	}
	return defaultTime.ReplaceAllString(s, "YYYYMMDD HHMMSS ")
}

// scenario is one way of running upslog, done the same way with NUT's and
// gonut's.
type scenario struct {
	name string
	args []string // {{H}} is the upsd address, {{DIR}} the run's directory
	// signals: after each line on stdout beyond the header, the next
	// signal is sent; nil means the program ends by itself.
	signals []syscall.Signal
	logs    []string // log files (in DIR) to compare
}

func (sc scenario) run(t *testing.T, bin string, l *lab, refused string) outcome {
	t.Helper()
	dir := t.TempDir()
	args := make([]string, len(sc.args))
	for i, a := range sc.args {
		a = strings.ReplaceAll(a, "{{H}}", l.upsd.Addr())
		a = strings.ReplaceAll(a, "{{REFUSED}}", refused)
		args[i] = strings.ReplaceAll(a, "{{DIR}}", dir)
	}
	p := startUpslog(t, bin, append(l.dir.Env(), "LC_ALL=C"), args...)
	for i, sig := range sc.signals {
		want := headerLines + i + 1
		p.waitOutput(t, fmt.Sprintf("log line %d", i+1), func(out string) bool { return strings.Count(out, "\n") >= want })
		p.signal(t, sig)
	}
	code := p.wait(t)
	o := outcome{
		stdout: normalise(p.stdout.String(), p.cmd.Process.Pid, dir),
		stderr: normalise(p.stderr.String(), p.cmd.Process.Pid, dir),
		code:   code,
		logs:   map[string]string{},
	}
	for _, name := range sc.logs {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			o.logs[name] = "(" + err.Error() + ")\n"
			continue
		}
		o.logs[name] = normalise(string(b), p.cmd.Process.Pid, dir)
	}
	return o
}

// TestDifferentialUpslog runs NUT 2.8.0's upslog and gonut's the same way
// against NUT's upsd and compares stdout, stderr, exit status and log
// files: every format escape, missing variables (NA), a dead and a stale
// driver, an unknown UPS, a refused connection, the old positional form,
// SIGUSR1, SIGHUP log rotation, SIGTERM, and every error exit.
func TestDifferentialUpslog(t *testing.T) {
	l := startLab(t)
	gonut := nuttest.Program(t, "./tools/upslog")
	refused := fmt.Sprintf("127.0.0.1:%d", nuttest.FreePort(t))
	u := nuttest.RunAsUser()
	// Every run logging: its own user, and a pid file in its directory
	// (NUT's default is /run/nut).
	base := []string{"-u", u, "-p", "{{DIR}}/upslog.pid"}
	logTo := func(ups string, more ...string) []string {
		return append(append([]string{"-s", ups + "@{{H}}", "-l", "-", "-i", "30"}, base...), more...)
	}
	every := "%VAR ups.status%|%VAR battery.charge%|%VAR ups.id%|%VAR no.such.var%|%VAR nodot%|%VAR%|%BOGUS%|%%|%UPSHOST%|%HOST%|%PID%"
	usr1Term := []syscall.Signal{syscall.SIGUSR1, syscall.SIGTERM}
	term := []syscall.Signal{syscall.SIGTERM}

	scenarios := []scenario{
		{name: "default format", args: logTo("ups"), signals: usr1Term},
		{name: "every escape", args: logTo("ups", "-f", every), signals: usr1Term},
		{name: "unterminated and odd escapes", args: logTo("ups", "-f", "[%VAR ups.status] 100%% a%"), signals: term},
		{name: "escape spelling", args: logTo("ups", "-f", "%var ups.load% %VARx ups.load% %VAR  ups.load% %VAR ups.load extra% %Upshost% %hostname%"), signals: term},
		{name: "empty time and skipped text", args: logTo("ups", "-f", "%TIME %VAR ups.load%|%TIME %|%ETIME junk%|%VAR ups.status%"), signals: term},
		{name: "empty format", args: logTo("ups", "-f", ""), signals: usr1Term},
		{name: "dead driver", args: logTo("dead", "-f", every), signals: term},
		{name: "stale driver", args: logTo("stale", "-f", every), signals: term},
		{name: "unknown ups", args: logTo("nosuch", "-f", every), signals: term},
		{name: "connection refused", args: append([]string{"-s", "ups@{{REFUSED}}", "-l", "-", "-f", every}, base...), signals: term},
		{name: "unknown option ignored", args: append([]string{"-x"}, logTo("ups", "-f", "%VAR ups.load%")...), signals: term},
		{name: "old positional form", args: append(base, "ups@{{H}}", "-", "30", "%VAR", "ups.status%", "[%VAR", "ups.load%]"), signals: usr1Term},
		{name: "SIGINT", args: logTo("ups", "-f", "%VAR ups.load%"), signals: []syscall.Signal{syscall.SIGINT}},
		{name: "SIGQUIT", args: logTo("ups", "-f", "%VAR ups.load%"), signals: []syscall.Signal{syscall.SIGQUIT}},
		{name: "SIGHUP on stdout", args: logTo("ups", "-f", "%VAR ups.load%"), signals: []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM}},

		{name: "help", args: []string{"-h"}},
		{name: "help from operands", args: []string{"ups@{{H}}", "-"}},
		{name: "version", args: []string{"-V"}},
		{name: "no arguments"},
		{name: "missing argument", args: []string{"-s", "ups@{{H}}", "-l"}},
		{name: "no log file", args: []string{"-s", "ups@{{H}}"}},
		{name: "no ups", args: []string{"-l", "-"}},
		{name: "bad ups name", args: append([]string{"-s", "ups@127.0.0.1:x", "-l", "-"}, base...)},
		{name: "empty ups name", args: append([]string{"-s", "", "-l", "-"}, base...)},
		{name: "log file cannot be opened", args: append([]string{"-s", "ups@{{H}}", "-l", "/nonexistent/ups.log", "-F"}, base...)},
		{name: "unknown user", args: []string{"-s", "ups@{{H}}", "-l", "-", "-u", "no-such-user-here", "-p", "{{DIR}}/upslog.pid"}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			want := sc.run(t, nutUpslog, l, refused)
			got := sc.run(t, gonut, l, refused)
			if got.String() != want.String() {
				t.Errorf("gonut's upslog differs from NUT's (- NUT, + gonut):\n%s", nuttest.Diff(want.String(), got.String()))
			}
			if testing.Verbose() {
				t.Logf("both:\n%s", got)
			}
		})
	}
	t.Run("rotation", func(t *testing.T) { testRotation(t, l, gonut) })
	t.Run("background", func(t *testing.T) { testBackground(t, l, gonut) })
}

// testRotation: with a log file, SIGHUP after the file was
// renamed makes both write the next line to a new file of that name, and
// SIGTERM writes a last line; the renamed file keeps what was written
// before.
func testRotation(t *testing.T, l *lab, gonut string) {
	var outs []outcome
	for _, bin := range []string{nutUpslog, gonut} {
		dir := t.TempDir()
		logf := filepath.Join(dir, "ups.log")
		p := startUpslog(t, bin, l.dir.Env(), "-F", "-u", nuttest.RunAsUser(), "-p", filepath.Join(dir, "upslog.pid"),
			"-s", "ups@"+l.upsd.Addr(), "-l", logf, "-i", "30", "-f", "%VAR ups.status% %VAR ups.load%")
		waitLines := func(path string, n int) {
			deadline := time.Now().Add(20 * time.Second)
			for lineCount(path) < n {
				if time.Now().After(deadline) {
					t.Fatalf("%s: %s never had %d lines; stderr:\n%s", bin, path, n, p.stderr.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		waitLines(logf, 1)
		p.signal(t, syscall.SIGUSR1)
		waitLines(logf, 2)
		if err := os.Rename(logf, logf+".1"); err != nil {
			t.Fatal(err)
		}
		p.signal(t, syscall.SIGHUP)
		waitLines(logf, 1)
		p.signal(t, syscall.SIGTERM)
		code := p.wait(t)
		o := outcome{stdout: normalise(p.stdout.String(), 0, dir), stderr: normalise(p.stderr.String(), 0, dir), code: code, logs: map[string]string{}}
		for _, name := range []string{"ups.log", "ups.log.1"} {
			b, _ := os.ReadFile(filepath.Join(dir, name))
			o.logs[name] = string(b)
		}
		outs = append(outs, o)
	}
	if outs[0].String() != outs[1].String() {
		t.Errorf("gonut's upslog differs from NUT's (- NUT, + gonut):\n%s", nuttest.Diff(outs[0].String(), outs[1].String()))
	}
	if outs[1].logs["ups.log.1"] != "OL CHRG 23\nOL CHRG 23\n" || outs[1].logs["ups.log"] != "OL CHRG 23\nOL CHRG 23\n" {
		t.Errorf("gonut's log files: %v", outs[1].logs)
	}
}

// testBackground: logging to a file without -F, both go to
// the background at once (exit 0 after the banner), keep logging, and
// write their pid file; SIGTERM through that pid ends them.
func testBackground(t *testing.T, l *lab, gonut string) {
	for _, bin := range []string{nutUpslog, gonut} {
		dir := t.TempDir()
		logf, pidf := filepath.Join(dir, "ups.log"), filepath.Join(dir, "upslog.pid")
		// The background process is not our child: whatever happens, stop
		// it through its pid file (only while that pid is still an upslog).
		t.Cleanup(func() { stopBackground(pidf, bin) })
		p := startUpslog(t, bin, l.dir.Env(), "-u", nuttest.RunAsUser(), "-p", pidf,
			"-s", "ups@"+l.upsd.Addr(), "-l", logf, "-i", "1", "-f", "%VAR ups.status%")
		if code := p.wait(t); code != 0 {
			t.Fatalf("%s: exit %d\n%s", bin, code, p.stderr.String())
		}
		// NUT's lines sit in its stdio buffer when stdout is a pipe and
		// are lost when the parent leaves with _exit; on a terminal they
		// show, as gonut's always do.
		want := "Network UPS Tools upslog 2.8.0\nlogging status of ups@" + l.upsd.Addr() + " to " + logf + " (1s intervals)\n"
		if bin == gonut && p.stdout.String() != want {
			t.Errorf("%s: stdout %q, want %q", bin, p.stdout.String(), want)
		}
		var pid int
		deadline := time.Now().Add(20 * time.Second)
		for {
			b, err := os.ReadFile(pidf)
			if err == nil {
				pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			}
			if pid > 0 && lineCount(logf) >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no pid file %s or no lines in %s", bin, pidf, logf)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if pid == p.cmd.Process.Pid {
			t.Errorf("%s: the pid file names the process that was started, not the background one", bin)
		}
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			t.Fatalf("%s: SIGTERM to background pid %d: %v", bin, pid, err)
		}
		if !nuttest.WaitGone(pid, 10*time.Second) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("%s: background pid %d did not stop on SIGTERM", bin, pid)
		}
		b, _ := os.ReadFile(logf)
		if strings.Trim(strings.ReplaceAll(string(b), "OL CHRG\n", ""), "\n") != "" {
			t.Errorf("%s: log %q", bin, b)
		}
	}
}

// stopBackground ends the background upslog named by a pid file, if that
// pid still runs the executable bin.
func stopBackground(pidf, bin string) {
	b, err := os.ReadFile(pidf)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || !nuttest.Alive(pid) {
		return
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || filepath.Base(strings.TrimSuffix(exe, " (deleted)")) != filepath.Base(bin) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if !nuttest.WaitGone(pid, 5*time.Second) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
