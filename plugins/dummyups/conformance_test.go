package dummyups

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/drivertest"
	"github.com/gonut/gonut/sdk/sockproto"
)

// A small UPS as a .dev file and as a .seq file (dummy-once and
// dummy-loop modes).
const (
	conformDev = `device.mfr: Conformance
device.model: "Test UPS 1500"
device.type: ups
ups.status: OL CHRG
battery.charge: 100
battery.charge.low: 10
battery.runtime: 2700
input.voltage: 230.4
input.frequency: 50.0
ups.load: 12
`
	conformSeq = conformDev + `TIMER 1
ups.status: OB DISCHRG
battery.charge: 95
TIMER 1
`
)

// TestConformance runs the SDK's conformance suite against dummy-ups in
// each of its file modes, and against a real device dump from NUT's device
// dump library.
func TestConformance(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"conform.dev": conformDev, "conform.seq": conformSeq} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ddl := nuttest.DDL(t, "APC__Smart-UPS_1500__apcsmart__2.2.1__01.dev")
	for _, tt := range []struct {
		name    string
		options []string
	}{
		{"dummy-once", []string{"port = conform.dev"}},
		{"dummy-loop", []string{"port = conform.seq"}},
		{"dummy-loop of a .dev", []string{"port = conform.dev", "mode = dummy-loop"}},
		{"device dump library", []string{"port = " + ddl}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			drivertest.Conformance(t, Info, func() sdk.Driver { return New() }, drivertest.Config{
				UPS: "dummy", Options: tt.options, ConfPath: dir,
				// NUT 2.8.0's dummy-ups lists load.off and answers
				// STAT_INSTCMD_UNKNOWN to it; gonut's reproduces that.
				SkipCmds: []string{"load.off"},
			})
		})
	}
}

// TestSeqStepsWithDrivertest replays a .seq file in dummy-loop mode and
// waits for the state after each TIMER step, as read by drivertest.ReadSeq:
// the loop reaches every step, in order, and comes back to the first.
func TestSeqStepsWithDrivertest(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "conform.seq")
	if err := os.WriteFile(file, []byte(conformSeq), 0o644); err != nil {
		t.Fatal(err)
	}
	steps, err := drivertest.ReadSeq(file)
	if err != nil {
		t.Fatal(err)
	}
	h := drivertest.Start(t, Info, New(), drivertest.Config{
		UPS: "dummy", Options: []string{"port = conform.seq", "pollinterval = 1"}, ConfPath: dir, Timeout: 10 * time.Second,
	})
	// dummy-ups publishes its own driver.* variables, and ups.mfr and
	// ups.model of its own when the file has none (as NUT's does).
	opts := drivertest.CompareOptions{Ignore: []string{"driver.*", "ups.mfr", "ups.model"}}
	for i, s := range append(steps, steps[0]) {
		h.Wait(fmt.Sprintf("step %d (line %d)", i+1, s.Line), func(st *sockproto.State) bool {
			return len(drivertest.Diff(st, s.Want, opts)) == 0
		})
	}
}
