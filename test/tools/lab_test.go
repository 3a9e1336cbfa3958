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

	"github.com/gonut/gonut/internal/nuttest"
	"github.com/gonut/gonut/sdk/sockproto"
)

func TestMain(m *testing.M) { nuttest.Main(m) }

// nssBanner is what Debian's NSS-built NUT clients print on stderr on
// every connection; gonut does not (tools/upsc/README.md), so it is
// removed from NUT's output before comparing.
const nssBanner = "Init SSL without certificate database\n"

// users grants every kind of right the tools need, and some they lack.
const users = `[admin]
	password = s3cret
	actions = SET
	actions = FSD
	instcmds = all
[cmdonly]
	password = pw
	instcmds = load.off
	instcmds = test.battery.start
[setonly]
	password = pw
	actions = SET
[nobody]
	password = pw
[monuser]
	password = pw
	upsmon primary
`

// The lab's UPSes: NUT's dummy-ups on a device dump, the fake driver with
// the types dummy-ups lacks, and a section whose driver never runs.
const (
	dummyUPS = "dummy"
	fakeUPS  = "rw"
	goneUPS  = "gone"
)

// lab is one set of drivers served by two upsds, NUT's and gonut's.
type lab struct {
	drivers    *nuttest.Dir // ups.conf, the device dump, the drivers' sockets
	nut, gonut *nuttest.Server
	fake       *fakeDriver
	env        []string // for the tools: C locale, no NUT_* paths needed
}

// upsd is one of the lab's servers, as the tests name it.
type upsd struct {
	name string
	srv  *nuttest.Server
}

func (l *lab) servers() []upsd {
	return []upsd{{"NUT upsd", l.nut}, {"gonut upsd", l.gonut}}
}

// startLab starts the drivers in one directory, and each upsd in a
// directory of its own that reads the drivers' sockets (STATEPATH).
func startLab(t *testing.T) *lab {
	t.Helper()
	nuttest.RequireNUT(t)
	for _, p := range []string{nuttest.NUTUpscmd, nuttest.NUTUpsrw} {
		if _, err := os.Stat(p); err != nil {
			nuttest.Missing(t, "NUT 2.8.0's %s is missing (apt-get install nut-client)", p)
		}
	}
	drv := nuttest.NewDir(t)
	drv.CopyFile(t, nuttest.DDL(t, "APC__Back-UPS_CS_500__usbhid-ups__2.8.0__01.dev"), "ups.dev")
	// NUT 2.8.0's dummy-ups in its default synchronous = auto mode drops a
	// client whose socket is full, and may then abort ("bit out of range
	// 0 - FD_SETSIZE on fd_set"); blocking writes keep it up.
	drv.WriteUPSConf(t, []string{"synchronous = yes"}, labSections...)
	nuttest.StartNUTDriver(t, drv, labSections[0])
	l := &lab{drivers: drv, fake: startFakeDriver(t, drv.Socket(labSections[1]))}
	l.nut, l.gonut = l.startUpsd(t, false, ""), l.startUpsd(t, true, "")
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "LC_") && !strings.HasPrefix(e, "LANG") {
			l.env = append(l.env, e)
		}
	}
	l.env = append(l.env, "LC_ALL=C")
	return l
}

// labSections are the lab's ups.conf.
var labSections = []nuttest.Section{
	{Name: dummyUPS, Driver: "dummy-ups", Port: "ups.dev"},
	{Name: fakeUPS, Driver: "fakedrv", Port: "none", Options: []string{`desc = "gonut test driver"`}},
	{Name: goneUPS, Driver: "fakedrv", Port: "none"},
}

// startUpsd starts one more upsd, NUT's or gonut's, on the lab's drivers,
// with conf added to its upsd.conf, and waits until it serves them.
func (l *lab) startUpsd(t *testing.T, gonut bool, conf string) *nuttest.Server {
	t.Helper()
	d := nuttest.NewDir(t)
	d.WriteUPSConf(t, []string{"synchronous = yes"}, labSections...)
	cfg := nuttest.UpsdConfig{Users: users, StatePath: l.drivers.Path, Conf: conf}
	var s *nuttest.Server
	if gonut {
		s = nuttest.StartUpsd(t, d, cfg)
	} else {
		s = nuttest.StartNUTUpsd(t, d, cfg)
	}
	s.WaitUPS(t, dummyUPS)
	s.WaitUPS(t, fakeUPS)
	return s
}

// result is what one run of a tool printed.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// runTool runs bin as argv0 with stdin, in a session of its own, so that
// it has no controlling terminal: NUT's getpass then prompts on stderr
// and reads stdin, which is what a script that pipes answers gets.
func runTool(t *testing.T, env []string, bin, argv0, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Args[0] = argv0
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %q did not finish in 60 s", bin, args)
	case errors.As(err, &exit):
		if exit.ExitCode() < 0 {
			t.Fatalf("%s %q: %v\n%s", bin, args, err, stderr.String())
		}
	case err != nil:
		t.Fatalf("run %s: %v", bin, err)
	}
	return result{
		stdout: stdout.String(),
		stderr: strings.ReplaceAll(stderr.String(), nssBanner, ""),
		code:   cmd.ProcessState.ExitCode(),
	}
}

// tool is one NUT client in both implementations.
type tool struct {
	name       string // argv[0]
	nut, gonut string // executables
}

// withServer puts a server's address in place of "@UPSD" in args.
func withServer(args []string, s *nuttest.Server) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, "@UPSD", "@"+s.Addr())
	}
	return out
}

// compare runs NUT's tool against NUT's upsd, the reference, then gonut's
// tool against NUT's upsd, and both tools against gonut's upsd: all must
// print the same bytes and exit the same way.
func (l *lab) compare(t *testing.T, tl tool, stdin string, args ...string) {
	t.Helper()
	want := runTool(t, l.env, tl.nut, tl.name, stdin, withServer(args, l.nut)...)
	for _, v := range []struct {
		what string
		bin  string
		srv  *nuttest.Server
	}{
		{"gonut's " + tl.name + " against NUT's upsd", tl.gonut, l.nut},
		{"NUT's " + tl.name + " against gonut's upsd", tl.nut, l.gonut},
		{"gonut's " + tl.name + " against gonut's upsd", tl.gonut, l.gonut},
	} {
		got := runTool(t, l.env, v.bin, tl.name, stdin, withServer(args, v.srv)...)
		if got != want {
			t.Errorf("%s %q (stdin %q): %s differs from NUT's against NUT's upsd\n--- stdout diff:\n%s--- stderr diff:\n%s--- exit: %d, NUT's %d",
				tl.name, args, stdin, v.what, nuttest.Diff(want.stdout, got.stdout), nuttest.Diff(want.stderr, got.stderr), got.code, want.code)
		}
	}
}

// compareTools runs NUT's tool and gonut's against each upsd in turn:
// against the same server they must print the same bytes and exit the
// same way. It is compare for requests where NUT's and gonut's upsds
// answer differently on purpose.
func (l *lab) compareTools(t *testing.T, tl tool, stdin string, args ...string) {
	t.Helper()
	for _, s := range l.servers() {
		want := runTool(t, l.env, tl.nut, tl.name, stdin, withServer(args, s.srv)...)
		got := runTool(t, l.env, tl.gonut, tl.name, stdin, withServer(args, s.srv)...)
		if got != want {
			t.Errorf("%s %q (stdin %q) against %s: gonut's differs from NUT's\n--- stdout diff:\n%s--- stderr diff:\n%s--- exit: %d, NUT's %d",
				tl.name, args, stdin, s.name, nuttest.Diff(want.stdout, got.stdout), nuttest.Diff(want.stderr, got.stderr), got.code, want.code)
		}
		t.Logf("%s against %s:\n%v", tl.name, s.name, want)
	}
}

// fakeDriver serves the [rw] UPS's state socket with what dummy-ups does
// not have: ENUM, RANGE and STRING:n variables, and instant commands whose
// results the driver reports with TRACKING after a chosen delay, or never.
type fakeDriver struct {
	srv *sockproto.Server

	mu       sync.Mutex
	received []string // INSTCMD and SET requests, as the driver got them
}

// Instant commands of the fake driver and the status each reports (NUT's
// STAT_INSTCMD_*: 0 handled, 1 unknown, 2 invalid, 3 failed); slow answers
// after slowDelay, never not at all.
const (
	cmdOK      = "test.battery.start"
	cmdFailed  = "test.battery.stop"
	cmdInvalid = "test.panel.start"
	cmdUnknown = "calibrate.start"
	cmdSlow    = "beeper.enable"
	cmdNever   = "beeper.disable"
	cmdParam   = "load.off.delay"
	cmdNoDesc  = "x.custom.command"
	slowDelay  = 1500 * time.Millisecond
)

// refuse is a value the fake driver refuses for any variable (status 3).
const refuse = "refuse-me"

func startFakeDriver(t *testing.T, path string) *fakeDriver {
	t.Helper()
	d := &fakeDriver{}
	srv, err := sockproto.Listen(path, d, nil)
	if err != nil {
		t.Fatalf("fake driver: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	d.srv = srv
	msgs := [][]string{
		{"SETINFO", "driver.name", "fakedrv"},
		{"SETINFO", "device.mfr", `Fake "Power" \ Inc`},
		{"SETINFO", "ups.status", "OL"},
		// ENUM of strings, a value with quotes and a backslash among them.
		{"SETINFO", "input.sensitivity", "medium"},
		{"SETFLAGS", "input.sensitivity", "RW", "STRING"},
		{"SETAUX", "input.sensitivity", "12"},
		{"ADDENUM", "input.sensitivity", "low"},
		{"ADDENUM", "input.sensitivity", "medium"},
		{"ADDENUM", "input.sensitivity", "high"},
		{"ADDENUM", "input.sensitivity", `say "hi" \o/`},
		// ENUM of numbers, whose value is none of them.
		{"SETINFO", "outlet.1.delay.shutdown", "45"},
		{"SETFLAGS", "outlet.1.delay.shutdown", "RW", "NUMBER"},
		{"ADDENUM", "outlet.1.delay.shutdown", "0"},
		{"ADDENUM", "outlet.1.delay.shutdown", "30"},
		{"ADDENUM", "outlet.1.delay.shutdown", "60"},
		// RANGEs: the value in the second of two, or in none.
		{"SETINFO", "input.transfer.low", "97"},
		{"SETFLAGS", "input.transfer.low", "RW", "NUMBER"},
		{"ADDRANGE", "input.transfer.low", "88", "92"},
		{"ADDRANGE", "input.transfer.low", "95", "100"},
		{"SETINFO", "input.transfer.high", "not a number"},
		{"SETFLAGS", "input.transfer.high", "RW", "NUMBER"},
		{"ADDRANGE", "input.transfer.high", "-5", "280"},
		// STRING:n, NUMBER, RW with no type (upsd calls it a NUMBER), and
		// a string with no valid length (SET-FAILED).
		{"SETINFO", "ups.id", "rack 4"},
		{"SETFLAGS", "ups.id", "RW", "STRING"},
		{"SETAUX", "ups.id", "16"},
		{"SETINFO", "battery.runtime.low", "120"},
		{"SETFLAGS", "battery.runtime.low", "RW", "NUMBER"},
		{"SETINFO", "ups.delay.start", "60"},
		{"SETFLAGS", "ups.delay.start", "RW"},
		{"SETINFO", "ups.beeper.status", "enabled"},
		{"SETFLAGS", "ups.beeper.status", "RW", "STRING"},
		{"ADDCMD", cmdOK}, {"ADDCMD", cmdFailed}, {"ADDCMD", cmdInvalid}, {"ADDCMD", cmdUnknown},
		{"ADDCMD", cmdSlow}, {"ADDCMD", cmdNever}, {"ADDCMD", cmdParam}, {"ADDCMD", cmdNoDesc},
		{"DATAOK"},
	}
	if err := srv.Update(msgs...); err != nil {
		t.Fatalf("fake driver state: %v", err)
	}
	return d
}

func (d *fakeDriver) record(s string) {
	d.mu.Lock()
	d.received = append(d.received, s)
	d.mu.Unlock()
}

// Received returns the requests received since the last call.
func (d *fakeDriver) Received() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.received
	d.received = nil
	return r
}

func (d *fakeDriver) InstCmd(cmd, param, id string) {
	if param != "" {
		d.record("INSTCMD " + cmd + " " + param)
	} else {
		d.record("INSTCMD " + cmd)
	}
	if id == "" {
		return
	}
	switch cmd {
	case cmdFailed:
		d.srv.Tracking(id, 3)
	case cmdInvalid:
		d.srv.Tracking(id, 2)
	case cmdUnknown:
		d.srv.Tracking(id, 1)
	case cmdSlow:
		time.AfterFunc(slowDelay, func() { d.srv.Tracking(id, 0) })
	case cmdNever:
	default:
		d.srv.Tracking(id, 0)
	}
}

func (d *fakeDriver) SetVar(name, value, id string) {
	d.record("SET " + name + " " + value)
	status := 0
	if value == refuse {
		status = 3
	} else if err := d.srv.Update([]string{"SETINFO", name, value}); err != nil {
		status = 1
	}
	if id != "" {
		d.srv.Tracking(id, status)
	}
}

// ReceivedAtLeast is Received after waiting, up to 3 s, until at least n
// requests have arrived. A tool without -w returns as soon as upsd says OK,
// and upsd hands the request to the driver afterwards, so reading at once
// could miss it and count it for the next run.
func (d *fakeDriver) ReceivedAtLeast(n int) []string {
	deadline := time.Now().Add(3 * time.Second)
	for {
		d.mu.Lock()
		got := len(d.received)
		d.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			return d.Received()
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ReceivedSettled is Received once no new request has arrived for 150 ms
// (3 s at most), for runs whose number of requests is not known ahead.
func (d *fakeDriver) ReceivedSettled() []string {
	deadline := time.Now().Add(3 * time.Second)
	last, since := -1, time.Now()
	for time.Now().Before(deadline) {
		d.mu.Lock()
		n := len(d.received)
		d.mu.Unlock()
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= 150*time.Millisecond {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return d.Received()
}
