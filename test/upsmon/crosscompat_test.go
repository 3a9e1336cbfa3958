package upsmon

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

// outcome is what one upsmon showed in a scenario, comparable across
// implementations: its notifications with the upsd address replaced by
// ADDR, whether SHUTDOWNCMD ran (and how often), POWERDOWNFLAG, the exit.
type outcome struct {
	notes     []string
	shutdowns int
	killpower bool
	exit      int
}

func (o outcome) String() string {
	return fmt.Sprintf("exit %d, SHUTDOWNCMD ran %d time(s), POWERDOWNFLAG %v\n  %s", o.exit, o.shutdowns, o.killpower, strings.Join(o.notes, "\n  "))
}

func result(t *testing.T, m *mon, s *stack) outcome {
	t.Helper()
	m.waitShutdown(30 * time.Second)
	m.waitNote("SHUTDOWN", 10*time.Second) // NOTIFYCMDs run in the background
	o := outcome{exit: m.waitExit(15 * time.Second), killpower: m.killpower()}
	ts, _ := m.shutdowns()
	o.shutdowns = len(ts)
	for _, n := range m.notes() {
		o.notes = append(o.notes, strings.ReplaceAll(n, s.srv.Addr(), "ADDR"))
	}
	return o
}

func startAny(t *testing.T, impl nuttest.Impl, c monConf) *mon {
	t.Helper()
	c.types = nut280Types
	if impl == nuttest.NUT {
		return startNUTMon(t, c)
	}
	return startMon(t, c, "-p")
}

type combo struct{ upsmon, upsd nuttest.Impl }

func (c combo) String() string { return c.upsmon.String() + " upsmon, " + c.upsd.String() + " upsd" }

// The reference first: NUT's upsmon against NUT's upsd.
var combos = []combo{{nuttest.NUT, nuttest.NUT}, {nuttest.NUT, nuttest.Gonut}, {nuttest.Gonut, nuttest.NUT}, {nuttest.Gonut, nuttest.Gonut}}

func requireNUTUpsmon(t *testing.T) {
	t.Helper()
	nuttest.RequireNUT(t)
	if st, err := os.Stat(nutUpsmon); err != nil || st.Mode()&0o111 == 0 {
		nuttest.Missing(t, "NUT 2.8.0's upsmon is not installed: %s (apt-get install nut-client)", nutUpsmon)
	}
	if err := os.MkdirAll("/run/nut", 0o755); err != nil {
		nuttest.Missing(t, "NUT's upsmon needs /run/nut for its pid file: %v", err)
	}
}

// TestCrossCompatSimple: the .seq power failure, watched by one primary:
// NUT's upsmon and gonut's, against NUT's upsd and gonut's, give the same
// notifications and the same shutdown.
func TestCrossCompatSimple(t *testing.T) {
	t.Parallel()
	requireNUTUpsmon(t)
	results := make([]outcome, len(combos))
	t.Run("combos", func(t *testing.T) {
		for i, c := range combos {
			t.Run(c.String(), func(t *testing.T) {
				t.Parallel()
				// NUT's dummy-ups serves every combination: only upsmon and
				// upsd vary.
				s := startStackWith(t, nuttest.NUT, c.upsd, "", dev{"ups", powerFails})
				m := startAny(t, c.upsmon, monConf{monitors: []string{primary(s, "ups", 1)}})
				results[i] = result(t, m, s)
				s.waitVar(t, "ups", "ups.status", "FSD OB DISCHRG LB")
			})
		}
	})
	if t.Failed() {
		return
	}
	want := results[0]
	if want.shutdowns != 1 || !want.killpower || len(want.notes) != 3 {
		t.Errorf("NUT's reference run: %s", want)
	}
	for i, c := range combos[1:] {
		if got := results[i+1]; got.String() != want.String() {
			t.Errorf("%s differs from NUT's upsmon on NUT's upsd (- NUT, + this):\n%s", c, nuttest.Diff(want.String(), got.String()))
		}
	}
}

// TestCrossCompatPrimarySecondary: a primary and a secondary on one UPS
// that goes OB LB: the same notifications, FSD and shutdowns from NUT's
// upsmon and gonut's, on either upsd, and with one of each.
func TestCrossCompatPrimarySecondary(t *testing.T) {
	t.Parallel()
	requireNUTUpsmon(t)
	type pair struct{ primary, secondary outcome }
	// Besides the four combinations, a mixed site: one implementation's
	// primary with the other's secondary, on gonut's upsd.
	type trio struct{ primary, secondary, upsd nuttest.Impl }
	var runs []trio
	for _, c := range combos {
		runs = append(runs, trio{c.upsmon, c.upsmon, c.upsd})
	}
	runs = append(runs, trio{nuttest.NUT, nuttest.Gonut, nuttest.Gonut}, trio{nuttest.Gonut, nuttest.NUT, nuttest.Gonut})
	name := func(r trio) string {
		return fmt.Sprintf("%s primary, %s secondary, %s upsd", r.primary, r.secondary, r.upsd)
	}
	results := make([]pair, len(runs))
	t.Run("combos", func(t *testing.T) {
		for i, c := range runs {
			t.Run(name(c), func(t *testing.T) {
				t.Parallel()
				s := startStackWith(t, nuttest.NUT, c.upsd, "", dev{"ups", ol})
				p := startAny(t, c.primary, monConf{monitors: []string{primary(s, "ups", 1)}})
				sec := startAny(t, c.secondary, monConf{monitors: []string{secondary(s, "ups")}})
				waitFor(t, 20*time.Second, "two logins", func() bool { return s.numLogins(t, "ups") == 2 })
				time.Sleep(1500 * time.Millisecond) // both have polled OL
				s.set(t, "ups", "ups.status", "OB LB")
				results[i] = pair{primary: result(t, p, s), secondary: result(t, sec, s)}
				ps, _ := p.shutdowns()
				ss, _ := sec.shutdowns()
				if len(ps) > 0 && len(ss) > 0 && ss[0] > ps[0] {
					t.Errorf("%s: the secondary shut down %.2f s after the primary", name(c), ss[0]-ps[0])
				}
				if n := s.numLogins(t, "ups"); n != 0 {
					t.Errorf("%s: NUMLOGINS %d at the end", name(c), n)
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	show := func(p pair) string { return "primary: " + p.primary.String() + "\nsecondary: " + p.secondary.String() }
	want := show(results[0])
	for i, c := range runs[1:] {
		if got := show(results[i+1]); got != want {
			t.Errorf("%s differs from NUT's upsmon on NUT's upsd (- NUT, + this):\n%s", name(c), nuttest.Diff(want, got))
		}
	}
	if testing.Verbose() {
		t.Logf("NUT reference:\n%s", want)
	}
}
