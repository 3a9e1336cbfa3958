package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		servers int
		conns   []int
		err     bool
	}{
		{nil, 2, []int{1, 64, 1024}, false},
		{[]string{"-nut", "", "-conns", "2, 8"}, 1, []int{2, 8}, false},
		{[]string{"-nut", "", "-gonut", ""}, 0, nil, true},
		{[]string{"-conns", "1,x"}, 0, nil, true},
		{[]string{"-conns", "0"}, 0, nil, true},
		{[]string{"-duration", "0s"}, 0, nil, true},
		{[]string{"extra"}, 0, nil, true},
	} {
		o, err := parseFlags(tt.args, &bytes.Buffer{})
		if (err != nil) != tt.err {
			t.Errorf("%q: error %v, want error %v", tt.args, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if len(o.servers) != tt.servers || !equal(o.conns, tt.conns) {
			t.Errorf("%q: %d servers, conns %v", tt.args, len(o.servers), o.conns)
		}
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPercentile(t *testing.T) {
	r := result{lat: []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, ops: 10, elapsed: time.Second}
	for p, want := range map[float64]time.Duration{50: 5, 99: 10, 100: 10, 10: 1} {
		if got := r.pct(p); got != want {
			t.Errorf("pct(%v) = %v, want %v", p, got, want)
		}
	}
	if r.rate() != 10 {
		t.Errorf("rate %v", r.rate())
	}
	if (result{}).pct(99) != 0 || (result{}).rate() != 0 {
		t.Error("empty result")
	}
}

func TestDriverState(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "x.dev")
	if err := os.WriteFile(dev, []byte("# a dump\n\nbattery.charge: 100\ndevice.model: Smart UPS 1500\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	msgs, err := driverState(dev)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range msgs {
		if m[0] == "SETINFO" {
			got[m[1]] = m[2]
		}
	}
	if got["device.model"] != "Smart UPS 1500" || got["battery.charge"] != "100" || got["ups.status"] != "OL" || len(got) != 3 {
		t.Errorf("state %v", got)
	}
	if err := os.WriteFile(dev, []byte("not a variable line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := driverState(dev); err == nil || !strings.Contains(err.Error(), "x.dev:1") {
		t.Errorf("bad dump: %v", err)
	}
}

// TestRun measures gonut's upsd (built here) briefly and checks the report
// has every row; the figures themselves are not judged.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs upsd")
	}
	bin := filepath.Join(t.TempDir(), "upsd")
	build := exec.Command("go", "build", "-o", bin, "./upsd/cmd/upsd")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var out, log bytes.Buffer
	code := run([]string{"-nut", "", "-gonut", bin, "-conns", "1,8", "-duration", "200ms", "-warmup", "50ms", "-churn-workers", "2"}, &out, &log)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, log.String())
	}
	for _, want := range []string{"| GET VAR | 1 |", "| LIST VAR | 8 |", "| churn | 2 |", "holding 8 idle connections", "idle, after start-up"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "failed") {
		t.Errorf("requests failed:\n%s\n%s", out.String(), log.String())
	}
}

// TestCeiling checks the bound a zero-cost server could reach: with the
// tool at 15 µs and the server at 10 µs per request on CPUs kept busy, a
// free server gets at most 25/15 of the rate; an idle machine has none.
func TestCeiling(t *testing.T) {
	ncpu := time.Duration(runtime.NumCPU())
	busy := result{ops: 1000, elapsed: 25 * time.Millisecond / ncpu, cpu: 10 * time.Millisecond, gen: 15 * time.Millisecond}
	if c := busy.ceiling(); c < 1.666 || c > 1.667 {
		t.Errorf("ceiling %v, want 25/15", c)
	}
	if g := busy.genPerOp(); g != 15*time.Microsecond {
		t.Errorf("tool CPU per op %v", g)
	}
	idle := busy
	idle.elapsed = 10 * busy.elapsed // 10 % busy: not limited by CPU
	if c := idle.ceiling(); c != 0 {
		t.Errorf("ceiling of an idle run %v, want none", c)
	}
	if c := (result{ops: 1, elapsed: time.Second, cpu: time.Second}).ceiling(); c != 0 {
		t.Errorf("ceiling without the tool's CPU %v, want none", c)
	}
}
