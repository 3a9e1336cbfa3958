package apcsmart_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
	"github.com/gonut/gonut/tools/apcsmart-sim/sim"
)

// TestFaults runs gonut's apcsmart under nut-driver-host and gonut's
// upsd on a simulated UPS that stops answering, answers garbage, and
// disappears: upsd serves "Data stale" while the UPS is away and fresh
// data once it is back, the plugin process survives all of it (the port
// is reopened in the same process), and the reopening is logged once,
// not on every attempt.
func TestFaults(t *testing.T) {
	t.Parallel()
	s := startStack(t, nuttest.Gonut, nil)
	pid := nuttest.PluginPID(t, s.dir, upsName, 10*time.Second)
	stale := func(o string) bool { return strings.Contains(o, "Data stale") }
	fresh := func(load string) func(string) bool {
		return func(o string) bool { return strings.Contains(o, "ups.load: "+load+"\n") }
	}

	s.sim.SetMode(sim.NoReply)
	s.waitUpsc(t, "stale data while the UPS does not answer", stale)
	s.sim.Set('P', "031.0")
	s.sim.SetMode(sim.Normal)
	s.waitUpsc(t, "fresh data once it answers", fresh("031.0"))

	for _, c := range []struct {
		mode sim.Mode
		load string
	}{{sim.Garbage, "032.0"}, {sim.Partial, "033.0"}} {
		s.sim.SetMode(c.mode)
		// A few polls' worth of nonsense (a driver that gets no sensible
		// answer sends only 'Y' and ESC, so no poll count to wait for).
		time.Sleep(3 * time.Second)
		s.sim.SetMode(sim.Normal)
		s.sim.Set('P', c.load)
		s.waitUpsc(t, "fresh data after "+c.mode.String(), fresh(c.load))
	}

	if err := s.sim.Disconnect(); err != nil {
		t.Fatal(err)
	}
	s.waitUpsc(t, "stale data while the port is gone", stale)
	time.Sleep(4 * time.Second) // several attempts to reopen it fail meanwhile
	s.sim.Set('P', "034.0")
	if err := s.sim.Reconnect(); err != nil {
		t.Fatal(err)
	}
	s.waitUpsc(t, "fresh data once the port is back", fresh("034.0"))

	if got := nuttest.PluginPID(t, s.dir, upsName, 10*time.Second); got != pid {
		t.Errorf("the plugin was restarted (pid %d, then %d): faults should be handled inside it", pid, got)
	}
	host := hostOutput(t, s)
	for _, msg := range []string{"lost the serial port", "serial port reopened"} {
		if n := strings.Count(host, msg); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", msg, n, host)
		}
	}
	if n := strings.Count(host, "poll failed"); n > 4 {
		t.Errorf("\"poll failed\" logged %d times for 4 faults: a line per attempt?\n%s", n, host)
	}
}

// hostOutput is what nut-driver-host (and the plugins through it) logged.
func hostOutput(t *testing.T, s *stack) string {
	t.Helper()
	if s.host == nil {
		t.Fatal("no nut-driver-host in this stack")
	}
	return s.host.Output()
}
