// Package apcsmart_test holds the integration tests of the apcsmart
// driver: differential tests that run NUT 2.8.0's apcsmart and upsd and
// gonut's (nut-driver-host with the apcsmart plugin, and upsd) in turn on
// the same simulated UPS (tools/apcsmart-sim) and compare what NUT's
// clients show and what reached the UPS, and fault tests of gonut's stack.
package apcsmart_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
	"github.com/gonut/gonut/tools/apcsmart-sim/sim"
)

const pkgAPCSmart = "./plugins/apcsmart/cmd/apcsmart"

func TestMain(m *testing.M) { nuttest.Main(m) }

const (
	upsName = "apc"
	users   = "[admin]\n\tpassword = secret\n\tinstcmds = all\n\tactions = SET\n"
)

// stack is one implementation's driver and upsd on a simulated UPS.
type stack struct {
	impl nuttest.Impl
	dir  *nuttest.Dir
	sim  *sim.Sim
	srv  *nuttest.Server
	host *nuttest.Proc // gonut only
}

// requireNUTAPCSmart checks for NUT 2.8.0 and its apcsmart driver: a
// failure in CI, a skip elsewhere.
func requireNUTAPCSmart(t *testing.T) {
	t.Helper()
	nuttest.RequireNUT(t)
	if _, err := os.Stat(nuttest.NUTDriverDir + "/apcsmart"); err != nil {
		nuttest.Missing(t, "NUT's apcsmart driver is missing (%v): apt-get install nut-server", err)
	}
}

// startStack starts a simulator and, on it, NUT's apcsmart and upsd or
// gonut's nut-driver-host (with its apcsmart) and upsd.
func startStack(t *testing.T, impl nuttest.Impl, profile *sim.Profile, options ...string) *stack {
	t.Helper()
	if impl == nuttest.NUT {
		requireNUTAPCSmart(t)
	}
	d := nuttest.NewDir(t)
	s, err := sim.Start(sim.Options{Link: d.Join("tty"), Profile: profile, Logf: func(f string, a ...any) {
		if testing.Verbose() && os.Getenv("APCSMART_SIM_LOG") != "" {
			t.Logf(f, a...)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d.WriteUPSConf(t, nil, nuttest.Section{Name: upsName, Driver: "apcsmart", Port: s.Path(),
		Options: append([]string{"pollinterval = 1"}, options...)})
	st := &stack{impl: impl, dir: d, sim: s}
	if impl == nuttest.NUT {
		st.srv = nuttest.StartStack(t, d, impl, impl, nuttest.UpsdConfig{Users: users})
		return st
	}
	// gonut's stack by hand, to keep the host's output (the plugin's log).
	nuttest.Build(t, nuttest.PkgHost, pkgAPCSmart, nuttest.PkgUpsd)
	st.host = nuttest.StartHost(t, d)
	st.srv = nuttest.StartUpsd(t, d, nuttest.UpsdConfig{Users: users})
	st.srv.WaitUPS(t, upsName)
	return st
}

// settle waits until the driver has completed a poll that began after
// now, and has started the next one, so that what the UPS says now is
// what upsd serves: a poll starts with 'Q', and a driver publishes what
// it read before it starts the next poll; the next poll's first reads
// give upsd time to take in the update.
func (s *stack) settle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.sim.WaitCount(ctx, 'Q', s.sim.Count('Q')+2); err != nil {
		t.Fatalf("%s: the driver stopped polling: %v", s.impl, err)
	}
	if err := s.sim.WaitCount(ctx, 'P', s.sim.Count('P')+1); err != nil {
		t.Fatalf("%s: the driver stopped polling: %v", s.impl, err)
	}
}

func (s *stack) upsc(t *testing.T) string {
	t.Helper()
	return nuttest.DropVersionLines(nuttest.UpscOutput(t, s.srv.Target(upsName)))
}

// client runs one of NUT's clients and returns what it said (without
// the NSS banner) and its exit status.
func (s *stack) client(t *testing.T, prog string, args ...string) string {
	t.Helper()
	r := nuttest.Run(t, s.dir.Env(), prog, args...)
	var keep []string
	for _, l := range strings.SplitAfter(r.Stdout+r.Stderr, "\n") {
		if l != "" && strings.TrimSpace(l) != "Init SSL without certificate database" {
			keep = append(keep, l)
		}
	}
	return fmt.Sprintf("%s[exit %d]\n", strings.Join(keep, ""), r.Code)
}

func (s *stack) upscmd(t *testing.T, cmd ...string) string {
	t.Helper()
	args := append([]string{"-u", "admin", "-p", "secret", "-w", s.srv.Target(upsName)}, cmd...)
	return s.client(t, nuttest.NUTUpscmd, args...)
}

func (s *stack) upsrw(t *testing.T, args ...string) string {
	t.Helper()
	return s.client(t, nuttest.NUTUpsrw, append(args, s.srv.Target(upsName))...)
}

// waitActions waits until the UPS has done n actions in all.
func (s *stack) waitActions(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.sim.WaitAction(ctx, n); err != nil {
		t.Fatalf("%s: %v", s.impl, err)
	}
}

// waitUpsc polls upsc until its output satisfies ok.
func (s *stack) waitUpsc(t *testing.T, what string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out := s.upsc(t)
		if ok(out) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: upsc never showed %s; last output:\n%s", s.impl, what, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// polled are the characters a driver sends on its own while polling; what
// is left of the bytes a UPS received once they are removed is what
// commands and settings sent.
const polled = "QCPXLF9GMNOfBjTY\x1b"

func commandBytes(b []byte) string {
	var out []byte
	for _, c := range b {
		if strings.IndexByte(polled, c) < 0 {
			out = append(out, c)
		}
	}
	return fmt.Sprintf("%q", out)
}

// step is what one implementation showed after one step of the scenario.
type step struct {
	name, out string
}

// scenario runs the whole script against one implementation: start-up,
// mains failure, low battery, mains back, every instant command, SETs,
// and a UPS that stops answering and comes back.
func scenario(t *testing.T, impl nuttest.Impl) []step {
	s := startStack(t, impl, nil)
	var steps []step
	// The simulator's link lives in the test's own directory.
	rec := func(name, out string) { steps = append(steps, step{name, strings.ReplaceAll(out, s.dir.Path, "$DIR")}) }

	s.settle(t)
	rec("start: upsc", s.upsc(t))
	rec("start: upsrw", s.upsrw(t))
	rec("start: upscmd -l", s.client(t, nuttest.NUTUpscmd, "-l", s.srv.Target(upsName)))

	for _, ev := range []struct {
		name string
		do   func()
	}{
		{"mains failure", s.sim.PowerFail},
		{"low battery", s.sim.LowBattery},
		{"mains back", func() { s.sim.PowerRestore(); s.sim.BatteryCharged() }},
		{"overload alert", func() { s.sim.Alert('?') }},
		{"replace battery", func() { s.sim.SetStatus(sim.StatOL | sim.StatRB); s.sim.Alert('#') }},
		{"all clear", func() { s.sim.SetStatus(sim.StatOL) }},
		// A variable the UPS now answers NA to is removed.
		{"temperature gone", func() { s.sim.Set('C', "NA") }},
	} {
		ev.do()
		s.settle(t)
		rec(ev.name+": upsc", s.upsc(t))
	}

	rx := len(s.sim.Received())
	actions := len(s.sim.Actions())
	for _, c := range []struct {
		args    []string
		actions int  // how many actions the UPS takes
		status  bool // whether ups.status changes
	}{
		{[]string{"test.battery.start"}, 1, true},
		{[]string{"test.battery.stop"}, 1, true},
		{[]string{"calibrate.start"}, 1, true},
		{[]string{"calibrate.stop"}, 1, true},
		{[]string{"test.panel.start"}, 1, false},
		{[]string{"test.failure.start"}, 1, false},
		{[]string{"bypass.start"}, 1, false}, // the UPS answers BYP, not OK: the command fails
		{[]string{"bypass.stop"}, 1, false},
		{[]string{"calibrate.stop"}, 0, false}, // not calibrating: nothing is sent after Q
	} {
		out := s.upscmd(t, c.args...)
		actions += c.actions
		s.waitActions(t, actions)
		if c.status {
			s.settle(t)
			out += s.upsc(t)
		}
		rec("upscmd "+strings.Join(c.args, " "), out)
	}
	// Nasty commands run when repeated 3 to 15 s after the previous one;
	// any nasty command confirms the window, as in NUT.
	rec("shutdown.return at:5 (arm)", s.upscmd(t, "shutdown.return", "at:5"))
	time.Sleep(3500 * time.Millisecond)
	rec("shutdown.return at:5 (run)", s.upscmd(t, "shutdown.return", "at:5"))
	actions++
	s.waitActions(t, actions)
	time.Sleep(3500 * time.Millisecond)
	rec("load.off (run in the window)", s.upscmd(t, "load.off"))
	actions++
	s.waitActions(t, actions)
	s.settle(t)
	rec("load.off: upsc", s.upsc(t))
	rec("bytes of commands", commandBytes(s.sim.Received()[rx:]))

	// load.on is ^N twice, 1.5 s apart, and the UPS does not answer.
	// NUT's apcsmart polls right after it, and the tcflush(TCIOFLUSH)
	// before the poll throws away the second ^N before it leaves the
	// tty, so the load usually stays off; gonut does not flush output.
	rec("load.on", s.upscmd(t, "load.on"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := s.sim.WaitAction(ctx, actions+1)
	cancel()
	switch {
	case err == nil:
		actions++
	case impl == nuttest.Gonut:
		t.Errorf("gonut: load.on did not reach the UPS: %v", err)
	default:
		t.Logf("NUT: load.on did not reach the UPS (its second ^N was flushed): %v", err)
		s.sim.SetStatus(sim.StatOL) // turn the load on by hand, as a user would
	}
	s.settle(t)
	rec("load.on: upsc", s.upsc(t))

	rx = len(s.sim.Received())
	for _, set := range []string{"input.transfer.high=136", "ups.id=NEWID", "ups.test.interval=604800", "battery.date=12/24/26"} {
		rec("upsrw -s "+set, s.upsrw(t, "-u", "admin", "-p", "secret", "-w", "-s", set))
	}
	s.settle(t)
	rec("after SET: upsrw", s.upsrw(t))
	rec("after SET: upsc", s.upsc(t))
	rec("bytes of SETs", commandBytes(s.sim.Received()[rx:]))
	// load.on is left out: whether NUT's reached the UPS is luck (see above).
	acts := slices.DeleteFunc(s.sim.Actions(), func(a string) bool { return a == "load.on ^N" })
	rec("actions", strings.Join(acts, "\n"))

	s.sim.SetMode(sim.NoReply)
	rec("no reply: upsc", s.waitUpsc(t, "stale data", func(o string) bool { return strings.Contains(o, "Data stale") }))
	s.sim.SetMode(sim.Normal)
	s.waitUpsc(t, "fresh data", func(o string) bool { return strings.Contains(o, "ups.status: OL") })
	s.settle(t)
	rec("answers again: upsc", s.upsc(t))
	return steps
}

// TestDifferential runs the same scenario against NUT 2.8.0's apcsmart
// and upsd and against gonut's, each on its own simulated UPS, and
// compares what NUT's clients show after every step and what reached
// the UPS.
func TestDifferential(t *testing.T) {
	t.Parallel()
	nuttest.RequireNUT(t)
	var mu sync.Mutex
	got := map[nuttest.Impl][]step{}
	t.Run("run", func(t *testing.T) {
		for _, impl := range []nuttest.Impl{nuttest.NUT, nuttest.Gonut} {
			t.Run(impl.String(), func(t *testing.T) {
				t.Parallel()
				steps := scenario(t, impl)
				mu.Lock()
				got[impl] = steps
				mu.Unlock()
			})
		}
	})
	nut, gonut := got[nuttest.NUT], got[nuttest.Gonut]
	if t.Failed() || nut == nil || gonut == nil {
		return
	}
	if len(nut) != len(gonut) {
		t.Fatalf("NUT ran %d steps, gonut %d", len(nut), len(gonut))
	}
	for i := range nut {
		if d := nuttest.Diff(nut[i].out, gonut[i].out); d != "" {
			t.Errorf("%s: gonut differs from NUT (- NUT, + gonut):\n%s", nut[i].name, d)
		}
	}
	if testing.Verbose() {
		for _, s := range gonut {
			t.Logf("%s:\n%s", s.name, s.out)
		}
	}
}

// TestDifferentialModels compares what NUT and gonut make of older
// models at start-up: one whose command set comes from the table of old
// firmware (it does not know 'a'), and one that answers neither 'a' nor
// its firmware.
func TestDifferentialModels(t *testing.T) {
	t.Parallel()
	nuttest.RequireNUT(t)
	for _, name := range []string{"smart-ups-1250", "smart-ups-old", "measure-ups"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			got := map[nuttest.Impl]string{}
			t.Run("run", func(t *testing.T) {
				for _, impl := range []nuttest.Impl{nuttest.NUT, nuttest.Gonut} {
					t.Run(impl.String(), func(t *testing.T) {
						t.Parallel()
						p := sim.Profiles[name]()
						s := startStack(t, impl, &p, "sdtype = 2", "cable = 940-0024C")
						s.settle(t)
						out := s.upsc(t) + s.upsrw(t) + s.client(t, nuttest.NUTUpscmd, "-l", s.srv.Target(upsName))
						mu.Lock()
						got[impl] = strings.ReplaceAll(out, s.dir.Path, "$DIR")
						mu.Unlock()
					})
				}
			})
			if !t.Failed() {
				if d := nuttest.Diff(got[nuttest.NUT], got[nuttest.Gonut]); d != "" {
					t.Errorf("gonut differs from NUT (- NUT, + gonut):\n%s", d)
				} else if testing.Verbose() {
					t.Logf("both:\n%s", got[nuttest.Gonut])
				}
			}
		})
	}
}
