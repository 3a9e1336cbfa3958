package recorder_test

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/client"
	"github.com/gonut/gonut/internal/nuttest"
	"github.com/gonut/gonut/plugins/dummyups"
)

func TestMain(m *testing.M) { nuttest.Main(m) }

const pkgRecorder = "./tools/nut-recorder"

// srcDev is the UPS before the power event. The model's double space
// must survive the round trip (the recorder quotes it).
const srcDev = `ups.mfr: ACME
ups.model: "Smart  UPS 1500"
ups.status: OL
battery.charge: 100
battery.runtime: 3600
input.voltage: 230.0
`

// step is one point of the scripted power event: the variables set with
// SET VAR, ups.status last.
type step []struct{ name, value string }

var steps = []step{
	{{"input.voltage", "0.0"}, {"battery.charge", "80"}, {"battery.runtime", "2400"}, {"ups.status", "OB"}},
	{{"battery.charge", "15"}, {"battery.runtime", "300"}, {"ups.status", "OB LB"}},
	{{"input.voltage", "229.0"}, {"battery.charge", "20"}, {"battery.runtime", "600"}, {"ups.status", "OL"}},
}

const users = "[admin]\n\tpassword = pw\n\tactions = SET\n"

// state is what Debian's upsc prints for the UPS, without the driver.*
// lines: those describe the driver serving the data (a replay is served by
// dummy-ups whatever recorded it), not the UPS.
func state(t *testing.T, target string) string {
	t.Helper()
	var keep []string
	for _, l := range strings.SplitAfter(nuttest.UpscOutput(t, target), "\n") {
		if l != "" && !strings.HasPrefix(l, "driver.") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

// seqState is the state a .seq file leaves once dummy-ups has applied all
// of it.
func seqState(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	df, err := dummyups.ParseDev(f)
	if err != nil {
		t.Fatal(err)
	}
	st := map[string]string{}
	for _, s := range df.Stmts {
		switch s.Kind {
		case dummyups.StmtStatus:
			st["ups.status"] = strings.Join(s.Tokens, " ")
		case dummyups.StmtSet:
			st[s.Name] = s.Value
		}
	}
	return st
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// record runs the scripted event on a dummy-ups served by impl (driver and
// upsd), records it with nut-recorder through that upsd, and returns the
// upsc state before the event and after each step, and the .seq file.
func record(t *testing.T, impl nuttest.Impl) (states []string, seq string) {
	d := nuttest.NewDir(t)
	d.WriteFile(t, "src.dev", srcDev)
	d.WriteUPSConf(t, nil, nuttest.Section{Name: "src", Driver: "dummy-ups", Port: "src.dev",
		Options: []string{"mode = dummy-once", "pollinterval = 1"}})
	srv := nuttest.StartStack(t, d, impl, impl, nuttest.UpsdConfig{Users: users})
	target := srv.Target("src")

	seq = d.Join("recorded.seq")
	rec := d.Start(t, nuttest.Program(t, pkgRecorder), target, seq, "1")
	waitFor(t, "the recorder's first snapshot", func() bool { return strings.Contains(rec.Stdout(), "Initial data:") })
	states = append(states, state(t, target))

	ctx := context.Background()
	c, err := client.Dial(ctx, srv.Addr(), client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, "admin", "pw"); err != nil {
		t.Fatal(err)
	}
	for i, st := range steps {
		for _, v := range st {
			if err := c.SetVar(ctx, "src", v.name, v.value); err != nil {
				t.Fatalf("step %d: SET VAR %s %q: %v", i+1, v.name, v.value, err)
			}
		}
		done := func(vals map[string]string) bool {
			for _, v := range st {
				if vals[v.name] != v.value {
					return false
				}
			}
			return true
		}
		waitFor(t, "upsd to serve step "+string(rune('1'+i)), func() bool {
			vals := map[string]string{}
			for _, v := range st {
				vals[v.name], _ = c.GetVar(ctx, "src", v.name)
			}
			return done(vals)
		})
		states = append(states, state(t, target))
		// The next step starts once the recorder has the whole of this
		// one, so every step is a state of the recording.
		waitFor(t, "the recorder to record step "+string(rune('1'+i)), func() bool { return done(seqState(t, seq)) })
		// Hold the state a little, as a real event would, so that the
		// replay shows it long enough for upsc to be sure to see it.
		time.Sleep(time.Second)
	}
	if err := rec.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, ok := rec.Wait(10 * time.Second); !ok || code != 0 {
		t.Fatalf("nut-recorder after SIGTERM: exit %d (exited: %v)\n%s", code, ok, rec.Output())
	}
	b, err := os.ReadFile(seq)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); !strings.HasPrefix(lines[len(lines)-1], "TIMER ") {
		t.Errorf("the recording does not end with a TIMER holding the last state:\n%s", b)
	}
	t.Logf("recorded through %s's upsd:\n%s", impl, b)
	return states, seq
}

// replay serves the .seq with gonut's dummy-ups and upsd and samples
// Debian's upsc until it has seen every recorded step in order; it
// returns the distinct states seen, in order.
func replay(t *testing.T, seq string, want []string) []string {
	r := nuttest.NewDir(t)
	r.CopyFile(t, seq, "replay.seq")
	r.WriteUPSConf(t, nil, nuttest.Section{Name: "rep", Driver: "dummy-ups", Port: "replay.seq",
		Options: []string{"pollinterval = 1"}})
	srv := nuttest.StartStack(t, r, nuttest.Gonut, nuttest.Gonut, nuttest.UpsdConfig{})
	var seen []string
	deadline := time.Now().Add(40 * time.Second)
	for !containsRun(stepStates(seen, want), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the replay never went through the recorded steps in order; seen:\n%s", strings.Join(seen, "----\n"))
		}
		s := state(t, srv.Target("rep"))
		if len(seen) == 0 || seen[len(seen)-1] != s {
			seen = append(seen, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return seen
}

// stepStates keeps the states that are one of want's, as indexes into
// want, consecutive repeats collapsed.
func stepStates(seen, want []string) []int {
	var out []int
	for _, s := range seen {
		for i, w := range want {
			if s == w && (len(out) == 0 || out[len(out)-1] != i) {
				out = append(out, i)
			}
		}
	}
	return out
}

// containsRun reports whether idx holds every step once, in order, in a
// row: 0, 1, ..., n-1, or a rotation of it (the replay loops, so sampling
// may begin in the middle of the event and see its start on the next
// round).
func containsRun(idx []int, want []string) bool {
	n := len(want)
	for start := range idx {
		if len(idx)-start < n {
			return false
		}
		ok := true
		for k := 0; k < n; k++ {
			if idx[start+k] != (idx[start]+k)%n {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func parseState(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok {
			m[k] = v
		}
	}
	return m
}

// isTransition reports whether s is a mix of two consecutive steps: each
// variable as in one or the other. The recorder polls while the steps'
// SET VARs land one by one (NUT's dummy-ups takes a second for each), so
// it may catch such a state, and the replay then shows it too.
func isTransition(s string, want []string) bool {
	m := parseState(s)
	for i := range want {
		a, b := parseState(want[i]), parseState(want[(i+1)%len(want)])
		ok := len(m) > 0
		for k, v := range m {
			if a[k] != v && b[k] != v {
				ok = false
			}
		}
		for k := range a {
			if _, has := m[k]; !has {
				if _, inB := b[k]; inB {
					ok = false
				}
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// TestRecordAndReplay records an OL -> OB -> OB LB -> OL event through
// gonut's upsd and through NUT's upsd (each serving its own dummy-ups,
// driven with SET VAR), replays each recording with gonut's dummy-ups, and
// checks that upsc shows the same states in the same order.
func TestRecordAndReplay(t *testing.T) {
	t.Parallel()
	for _, impl := range []nuttest.Impl{nuttest.Gonut, nuttest.NUT} {
		t.Run(impl.String(), func(t *testing.T) {
			t.Parallel()
			if impl == nuttest.NUT {
				nuttest.RequireNUT(t)
			}
			want, seq := record(t, impl)
			for i := 1; i < len(want); i++ {
				if want[i] == want[i-1] {
					t.Fatalf("step %d did not change what upsc shows:\n%s", i, want[i])
				}
			}
			seen := replay(t, seq, want)
			for _, s := range seen {
				if stepStates([]string{s}, want) == nil && !isTransition(s, want) {
					t.Errorf("the replay showed a state that is neither a recorded step nor a mix of two consecutive ones:\n%s\nsteps:\n%s",
						s, strings.Join(want, "----\n"))
				}
			}
		})
	}
}
