package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/drivertest"
	"github.com/gonut/gonut/sdk/plugin"
	"github.com/gonut/gonut/sdk/sockproto"
)

var update = flag.Bool("update", false, "rewrite testdata/*.dev from what the driver publishes")

// statusFile copies the sample status file into a fresh directory, which
// serves as the configuration directory (port is relative to it).
func statusFile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/powerbox.status")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "status"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestConformance(t *testing.T) {
	dir := statusFile(t)
	drivertest.Conformance(t, Info, func() sdk.Driver { return New() }, drivertest.Config{
		Options: []string{"port = status", "maxage = 60"}, ConfPath: dir,
	})
}

// What the driver publishes for the sample file, against a golden .dev.
func TestPublishes(t *testing.T) {
	dir := statusFile(t)
	h := drivertest.Start(t, Info, New(), drivertest.Config{Options: []string{"port = status"}, ConfPath: dir})
	drivertest.CompareDev(t, h.State(), "testdata/powerbox.dev", drivertest.CompareOptions{
		Update: *update,
		Ignore: []string{"driver.parameter.port"}, // a temporary directory
	})
}

func TestInstCmdAndSet(t *testing.T) {
	dir := statusFile(t)
	h := drivertest.Start(t, Info, New(), drivertest.Config{Options: []string{"port = status"}, ConfPath: dir})
	for _, tt := range []struct {
		cmd, param string
		want       int
	}{
		{"test.battery.start", "", plugin.StatHandled},
		{"beeper.mute", "now", plugin.StatInvalid},
		{"load.off", "", plugin.StatUnknown}, // not announced
	} {
		if r, err := h.InstCmd(tt.cmd, tt.param); err != nil || r.Status != tt.want {
			t.Errorf("InstCmd(%s, %q) = %+v, %v; want %s", tt.cmd, tt.param, r, err, drivertest.StatName(tt.want))
		}
	}
	for _, tt := range []struct {
		value string
		want  int
	}{
		{"45", plugin.StatHandled},
		{"soon", plugin.StatConversion},
		{"900", plugin.StatInvalid},
	} {
		if r, err := h.SetVar("ups.delay.shutdown", tt.value); err != nil || r.Status != tt.want {
			t.Errorf("SetVar(ups.delay.shutdown, %q) = %+v, %v; want %s", tt.value, r, err, drivertest.StatName(tt.want))
		}
	}
	h.Wait("the new delay", func(st *sockproto.State) bool { v, _ := st.Value("ups.delay.shutdown"); return v == "45" })
	if r, err := h.Shutdown(); err != nil || r.Status != plugin.StatHandled {
		t.Errorf("Shutdown = %+v, %v", r, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "status.cmd"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "test.battery.start\nset delay.shutdown=45\nshutdown.return delay=45\n"; string(b) != want {
		t.Errorf("command file:\n%s\nwant:\n%s", b, want)
	}
}

// A status file the daemon stopped writing makes the data stale; a fresh
// one makes it good again, with the new values.
func TestStaleFile(t *testing.T) {
	dir := statusFile(t)
	file := filepath.Join(dir, "status")
	h := drivertest.Start(t, Info, New(), drivertest.Config{
		Options: []string{"port = status", "maxage = 5", "pollinterval = 1"}, ConfPath: dir,
	})
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(file, old, old); err != nil {
		t.Fatal(err)
	}
	h.Wait("stale data", func(st *sockproto.State) bool { return !st.DataOK() })
	b, _ := os.ReadFile(file)
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), "online charging", "onbattery discharging", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	st := h.Wait("fresh data on battery", func(st *sockproto.State) bool {
		v, _ := st.Value("ups.status")
		return st.DataOK() && v == "OB DISCHRG"
	})
	drivertest.CheckState(t, st)
}

func TestInitErrors(t *testing.T) {
	dir := statusFile(t)
	for _, tt := range []struct {
		options []string
		want    string
	}{
		{[]string{"port = missing"}, "status file: stat " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{[]string{"port = status", "maxage = soon"}, `maxage = "soon": want a whole number of seconds, at least 1`},
		{[]string{"port = status", "speed = 9600"}, "'speed' is not a valid variable name for driver statusfile"},
	} {
		_, err := drivertest.StartErr(t, Info, New(), drivertest.Config{Options: tt.options, ConfPath: dir})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("options %q: error %v, want %q", tt.options, err, tt.want)
		}
	}
}

func TestParseNumber(t *testing.T) {
	for in, want := range map[string]string{"229,8": "229.8", "230": "230", " 1e3 ": "1000", "0.50": "0.5"} {
		if got, err := parseNumber(in); err != nil || got != want {
			t.Errorf("parseNumber(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := parseNumber("n/a"); err == nil {
		t.Error("parseNumber(n/a): no error")
	}
}
