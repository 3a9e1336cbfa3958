package blazer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

// waitUpsc waits until upsc's output for the UPS satisfies cond.
func (s *stack) waitUpsc(t *testing.T, what string, limit time.Duration, cond func(out string) bool) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	var out string
	for time.Now().Before(deadline) {
		out = nuttest.UpscOutput(t, s.srv.Target("sim"))
		if cond(out) {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %s not within %s; upsc says:\n%s", s.impl, what, limit, out)
	return ""
}

func stale(out string) bool { return strings.Contains(out, "Data stale") }

func fresh(out string) bool {
	return strings.Contains(out, "\nups.status: OL\n") && !strings.Contains(out, "Error")
}

func (s *stack) apply(t *testing.T, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if err := s.line.Apply(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFaults runs gonut's blazer_ser under nut-driver-host and gonut's
// upsd against a simulated UPS that misbehaves: it stops answering (the
// data goes stale within MaxTries polls of a second plus their reply
// timeouts, and fresh again at the first answer), answers garbage, half
// replies or too late (the driver survives and recovers), and its pty
// disappears and comes back (the driver reopens it, logging the loss and
// the return once each rather than every attempt).
func TestFaults(t *testing.T) {
	t.Parallel() // mostly waiting: it overlaps the differential tests
	s := startStack(t, nuttest.Gonut, nuttest.NewDir(t).Join("ttyUPS"))
	host := nuttest.PluginPID(t, s.dir, "sim", 5*time.Second)
	// Stale after 4 failed polls (each waits out a 1 s reply timeout) at
	// 1 s intervals: well within 15 s.
	const limit = 15 * time.Second

	s.apply(t, "fault noreply")
	s.waitUpsc(t, "stale when the UPS stops answering", limit, stale)
	s.apply(t, "fault none")
	s.waitUpsc(t, "fresh when it answers again", limit, fresh)

	for _, f := range []string{"fault garbage", "fault partial"} {
		s.apply(t, f)
		s.waitUpsc(t, "stale with "+f, limit, stale)
		s.apply(t, "fault none")
		s.waitUpsc(t, "fresh after "+f, limit, fresh)
	}
	// Replies later than the 1 s timeout: each is read as the reply to
	// the next command (NUT does the same), so the data need not go
	// stale; the driver must survive and settle when replies are prompt.
	s.apply(t, "delay 1500ms")
	time.Sleep(3 * time.Second)
	s.apply(t, "delay 0")
	s.waitUpsc(t, "fresh after late replies", limit, fresh)
	// A reply a little late but within the timeout is fine.
	s.apply(t, "delay 300ms", "mains off")
	s.waitUpsc(t, "on battery with slow replies", limit, func(out string) bool { return strings.Contains(out, "\nups.status: OB\n") })
	s.apply(t, "delay 0", "mains on")
	s.waitUpsc(t, "fresh", limit, fresh)

	s.apply(t, "disconnect")
	s.waitUpsc(t, "stale when the pty is gone", limit, stale)
	time.Sleep(4 * time.Second) // several reopen attempts
	s.apply(t, "reconnect")
	s.waitUpsc(t, "fresh when the pty is back", 40*time.Second, fresh)

	if pid := nuttest.PluginPID(t, s.dir, "sim", 5*time.Second); pid != host {
		t.Errorf("the plugin was restarted (pid %d, then %d): faults must not crash it", host, pid)
	}
	log := s.drv.Output()
	if n := strings.Count(log, "serial line lost"); n != 1 {
		t.Errorf("%d log lines about the lost line, want 1:\n%s", n, log)
	}
	if n := strings.Count(log, "serial line back"); n != 1 {
		t.Errorf("%d log lines about the line coming back, want 1", n)
	}
	if n := strings.Count(log, "unable to open"); n > 1 {
		t.Errorf("%d log lines about failed reopen attempts, want at most 1:\n%s", n, log)
	}
}
