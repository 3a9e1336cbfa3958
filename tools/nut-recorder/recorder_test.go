package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonut/gonut/plugins/dummyups"
)

// replay applies a parsed .seq the way dummy-ups does and returns the
// state after each block (the first one, then one per TIMER).
func replay(t *testing.T, seq string) []Snapshot {
	t.Helper()
	f, err := dummyups.ParseDev(strings.NewReader(seq))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Issues) > 0 {
		t.Errorf("dummy-ups would complain about the file: %+v\n%s", f.Issues, seq)
	}
	cur := Snapshot{}
	var states []Snapshot
	snap := func() {
		c := Snapshot{}
		for k, v := range cur {
			c[k] = v
		}
		states = append(states, c)
	}
	for _, s := range f.Stmts {
		switch s.Kind {
		case dummyups.StmtTimer:
			snap()
		case dummyups.StmtStatus:
			cur["ups.status"] = strings.Join(s.Tokens, " ")
		case dummyups.StmtSet:
			if s.Value == "" {
				delete(cur, s.Name)
			} else {
				cur[s.Name] = s.Value
			}
		}
	}
	snap()
	return states
}

func withoutDriver(s Snapshot) Snapshot {
	c := Snapshot{}
	for k, v := range s {
		if !isDriverVar(k) {
			c[k] = v
		}
	}
	return c
}

func TestRecorder(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)
	polls := []struct {
		at time.Duration
		s  Snapshot
	}{
		{0, Snapshot{"driver.name": "usbhid-ups", "ups.status": "OL", "battery.charge": "100", "ups.model": "Smart  UPS 1500"}},
		{5 * time.Second, Snapshot{"driver.name": "usbhid-ups", "ups.status": "OL", "battery.charge": "100", "ups.model": "Smart  UPS 1500"}},
		{10 * time.Second, Snapshot{"driver.name": "other", "ups.status": "OB DISCHRG", "battery.charge": "95", "ups.model": "Smart  UPS 1500"}},
		{15 * time.Second, Snapshot{"driver.name": "other", "ups.status": "OB DISCHRG LB", "battery.charge": "10", "ups.model": "Smart  UPS 1500", "ups.alarm": `say "hi" #1 a=b \`}},
		{20 * time.Second, Snapshot{"driver.name": "other", "ups.status": "OL CHRG", "battery.charge": "10", "ups.model": "Smart  UPS 1500"}},
	}
	var out, echo strings.Builder
	r := &Recorder{Out: &out, Echo: &echo}
	if err := r.First(polls[0].s, t0); err != nil {
		t.Fatal(err)
	}
	for _, p := range polls[1:] {
		if err := r.Next(p.s, t0.Add(p.at)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Finish(t0.Add(27 * time.Second)); err != nil {
		t.Fatal(err)
	}
	want := `battery.charge: 100
# driver.name: usbhid-ups
ups.model: "Smart  UPS 1500"
ups.status: OL
TIMER 10
battery.charge: 95
ups.status: OB DISCHRG
TIMER 5
battery.charge: 10
ups.alarm: "say \"hi\" \#1 a=b \\"
ups.status: OB DISCHRG LB
TIMER 5
ups.status: OL CHRG
ups.alarm: ""
TIMER 7
`
	if out.String() != want {
		t.Errorf("sequence file:\n%s\nwant:\n%s", out.String(), want)
	}
	if !strings.HasPrefix(echo.String(), "Initial data:\n") || !strings.HasSuffix(echo.String(), "TIMER 7\n") {
		t.Errorf("echo:\n%s", echo.String())
	}
	// Replayed by dummy-ups' parser, each block gives back the state
	// recorded (the unchanged second poll has no block of its own).
	states := replay(t, out.String())
	wantStates := []Snapshot{withoutDriver(polls[0].s), withoutDriver(polls[2].s), withoutDriver(polls[3].s), withoutDriver(polls[4].s), withoutDriver(polls[4].s)}
	if !reflect.DeepEqual(states, wantStates) {
		t.Errorf("replayed states:\n%v\nwant\n%v", states, wantStates)
	}
}

func TestVarLineRoundTrip(t *testing.T) {
	for _, v := range []string{
		"OL", "OB LB", "230.0", "Smart  UPS", " lead", "trail ", "", `q"uote`, `back\slash`, "hash#", "a=b",
		"APC", "x:y", strings.Repeat("w ", 40) + "end", "'single'",
	} {
		states := replay(t, varLine("ups.mfr", v))
		got, ok := states[0]["ups.mfr"]
		if v == "" {
			if ok {
				t.Errorf("empty value: got %q, want the variable deleted", got)
			}
			continue
		}
		if got != v {
			t.Errorf("varLine(%q) = %q, dummy-ups reads back %q", v, varLine("ups.mfr", v), got)
		}
	}
}

func TestNoChangeNoBlock(t *testing.T) {
	var out strings.Builder
	r := &Recorder{Out: &out}
	s := Snapshot{"ups.status": "OL", "driver.state": "running"}
	r.First(s, time.Now())
	before := out.String()
	// A change of the driver's own variables alone is not a change of
	// the UPS: dummy-ups would skip it anyway.
	r.Next(Snapshot{"ups.status": "OL", "driver.state": "reconnecting"}, time.Now().Add(time.Second))
	if out.String() != before {
		t.Errorf("wrote %q for no change", strings.TrimPrefix(out.String(), before))
	}
}

// fakeSource serves scripted snapshots, then errors, then the last one.
type fakeSource struct {
	mu    sync.Mutex
	snaps []Snapshot
	errAt int // the poll (from 0) that fails, -1 for none
	n     int
}

func (f *fakeSource) Vars(context.Context) (Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer func() { f.n++ }()
	if f.n == f.errAt {
		return nil, errors.New("ERR DATA-STALE")
	}
	if f.n < len(f.snaps) {
		return f.snaps[f.n], nil
	}
	return f.snaps[len(f.snaps)-1], nil
}

func TestRecordLoop(t *testing.T) {
	src := &fakeSource{errAt: 2, snaps: []Snapshot{
		{"ups.status": "OL"}, {"ups.status": "OL"}, nil, {"ups.status": "OB"},
	}}
	out := filepath.Join(t.TempDir(), "out.seq")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr strings.Builder
	done := make(chan error, 1)
	go func() { done <- record(ctx, src, "ups@host:3493", out, 10*time.Millisecond, &stdout, &stderr) }()
	for {
		b, _ := os.ReadFile(out)
		if strings.Contains(string(b), "ups.status: OB") {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "# dummy-ups sequence recorded with nut-recorder from ups@host:3493") ||
		lines[1] != "ups.status: OL" || lines[2] != "TIMER 1" || lines[3] != "ups.status: OB" || lines[4] != "TIMER 1" {
		t.Errorf("file:\n%s", b)
	}
	if !strings.Contains(stderr.String(), "ups@host:3493: ERR DATA-STALE (still trying") || !strings.Contains(stderr.String(), "reading again") {
		t.Errorf("stderr: %q", stderr.String())
	}
}

func TestArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"nut-recorder"}, 1, "Usage: nut-recorder <device-name> [output-file] [interval]"},
		{[]string{"nut-recorder", "ups", "f", "0"}, 1, `interval "0": want a whole number of seconds`},
		{[]string{"nut-recorder", "ups", "f", "1.5"}, 1, `interval "1.5"`},
		{[]string{"nut-recorder", "@host", "f"}, 1, "no UPS name before '@'"},
		{[]string{"nut-recorder", "ups@127.0.0.1:1", filepath.Join(t.TempDir(), "f")}, 1, "ups@127.0.0.1:1: connect to upsd 127.0.0.1:1"},
		{[]string{"nut-recorder", "a", "b", "1", "extra"}, 1, "Usage:"},
	} {
		var stdout, stderr strings.Builder
		code := run(context.Background(), tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.err) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr.String(), tc.code, tc.err)
		}
	}
}
