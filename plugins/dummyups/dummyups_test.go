package dummyups

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/sdk/plugin"
)

// writeDev writes a file into dir and gives it a modification time of its
// own, so that dummy-once sees every rewrite as a change even within one
// clock tick of the file system.
func writeDev(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	var mtime time.Time
	if fi, err := os.Stat(p); err == nil {
		mtime = fi.ModTime().Add(time.Second)
	} else {
		mtime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func wantValue(t *testing.T, in *instance, name, want string) {
	t.Helper()
	got, ok := in.value(name)
	if !ok {
		t.Errorf("%s is missing, want %q", name, want)
	} else if got != want {
		t.Errorf("%s = %q, want %q", name, got, want)
	}
}

func wantAbsent(t *testing.T, in *instance, name string) {
	t.Helper()
	if got, ok := in.value(name); ok {
		t.Errorf("%s = %q, want it absent", name, got)
	}
}

func TestSetVar(t *testing.T) {
	dir := t.TempDir()
	writeDev(t, dir, "u.dev", "ups.load: 10\nbattery.charge: 50\ncustom.var: x\n")
	in := start(t, dir, "port = u.dev", "override.battery.charge.low = 30", "default.battery.runtime = 100")
	tests := []struct {
		name, value string
		status      int
		check       func(t *testing.T)
	}{
		{"ups.load", "77", plugin.StatHandled, func(t *testing.T) { wantValue(t, in, "ups.load", "77") }},
		// An empty value deletes the variable, as NUT 2.8.0 does.
		{"custom.var", "", plugin.StatHandled, func(t *testing.T) { wantAbsent(t, in, "custom.var") }},
		// ups.status goes through the status functions, flags untouched.
		{"ups.status", "OB LB", plugin.StatHandled, func(t *testing.T) { wantValue(t, in, "ups.status", "OB LB") }},
		// override.* fixes the value; the SET is accepted and ignored.
		{"battery.charge.low", "5", plugin.StatHandled, func(t *testing.T) { wantValue(t, in, "battery.charge.low", "30") }},
		{"battery.charge.low", "", plugin.StatHandled, func(t *testing.T) { wantValue(t, in, "battery.charge.low", "30") }},
		// A default.* variable takes the value and dummy-ups' flags.
		{"battery.runtime", "200", plugin.StatHandled, func(t *testing.T) {
			wantValue(t, in, "battery.runtime", "200")
			in.mu.Lock()
			v, _ := in.st.Var("battery.runtime")
			in.mu.Unlock()
			if v.Flags.String() != "RW" {
				t.Errorf("battery.runtime flags %q, want RW", v.Flags)
			}
		}},
		// Only existing variables can be set (upsd refuses others first).
		{"no.such.var", "1", plugin.StatUnknown, func(t *testing.T) { wantAbsent(t, in, "no.such.var") }},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			r, err := in.srv.SetVar(context.Background(), tt.name, tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status {
				t.Errorf("status %d (%s), want %d", r.Status, r.Message, tt.status)
			}
			tt.check(t)
		})
	}
	// device.* was copied from ups.* once, at start: a later SET of
	// ups.mfr leaves device.mfr alone, as NUT's main.c does.
	if _, err := in.srv.SetVar(context.Background(), "ups.mfr", "Other"); err != nil {
		t.Fatal(err)
	}
	wantValue(t, in, "ups.mfr", "Other")
	wantValue(t, in, "device.mfr", "Dummy Manufacturer")
}

func TestInstCmd(t *testing.T) {
	dir := t.TempDir()
	writeDev(t, dir, "u.dev", "ups.load: 10\n")
	in := start(t, dir, "port = u.dev")
	in.mu.Lock()
	cmds := in.st.Cmds()
	in.mu.Unlock()
	if strings.Join(cmds, " ") != "load.off" {
		t.Errorf("commands %q, want only load.off", cmds)
	}
	// NUT's dummy-ups announces load.off and answers every command as
	// unknown (upsd's tracking result: ERR UNKNOWN).
	for _, c := range []struct{ cmd, param string }{{"load.off", ""}, {"load.off", "5"}, {"load.on", ""}} {
		r, err := in.srv.InstCmd(context.Background(), c.cmd, c.param)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != plugin.StatUnknown {
			t.Errorf("INSTCMD %s %q: status %d, want %d (unknown)", c.cmd, c.param, r.Status, plugin.StatUnknown)
		}
	}
	if !strings.Contains(in.logs.String(), "instcmd: unknown command [load.off] [5]") {
		t.Errorf("log lacks NUT's instcmd notice:\n%s", in.logs)
	}
}

func TestOnceRereadsChangedFile(t *testing.T) {
	dir := t.TempDir()
	writeDev(t, dir, "u.dev", "ups.load: 1\nbattery.charge: 50\n")
	in := start(t, dir, "port = u.dev")
	wantValue(t, in, "driver.parameter.mode", "dummy-once")

	// A SET sticks while the file is unchanged.
	if _, err := in.srv.SetVar(context.Background(), "ups.load", "42"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := in.poll(); err != nil {
			t.Fatal(err)
		}
	}
	wantValue(t, in, "ups.load", "42")

	// A changed file is read again; variables it no longer has stay.
	writeDev(t, dir, "u.dev", "ups.load: 2\n")
	if err := in.poll(); err != nil {
		t.Fatal(err)
	}
	wantValue(t, in, "ups.load", "2")
	wantValue(t, in, "battery.charge", "50")

	// A file that disappears makes the data stale until it is back.
	if err := os.Remove(filepath.Join(dir, "u.dev")); err != nil {
		t.Fatal(err)
	}
	if err := in.poll(); err == nil || !strings.Contains(err.Error(), "can't open dummy-ups definition file") {
		t.Errorf("poll without the file: %v, want can't open", err)
	}
	if err := in.poll(); err == nil {
		t.Error("second poll without the file succeeded")
	}
	writeDev(t, dir, "u.dev", "ups.load: 3\n")
	if err := in.poll(); err != nil {
		t.Fatalf("poll with the file back: %v", err)
	}
	wantValue(t, in, "ups.load", "3")
	in.mu.Lock()
	ok := in.st.DataOK()
	in.mu.Unlock()
	if !ok {
		t.Error("data still stale with the file back")
	}
}

func TestLoopReplaysSequence(t *testing.T) {
	dir := t.TempDir()
	writeDev(t, dir, "u.seq", "ups.status: OL\nbattery.charge: 100\nTIMER 10\nups.status: OB\nbattery.charge: 90\nTIMER 10\nups.status: OB LB\nbattery.charge: 10\n")
	in := start(t, dir, "port = u.seq")
	wantValue(t, in, "driver.parameter.mode", "dummy-loop")
	step := func(advance time.Duration, status, charge string) {
		t.Helper()
		in.clock.Advance(advance)
		if err := in.poll(); err != nil {
			t.Fatal(err)
		}
		wantValue(t, in, "ups.status", status)
		wantValue(t, in, "battery.charge", charge)
	}
	wantValue(t, in, "ups.status", "OL")
	step(5*time.Second, "OL", "100")   // paused by the first TIMER
	step(5*time.Second, "OB", "90")    // 10 s: on to the second TIMER
	step(9*time.Second, "OB", "90")    // still paused
	step(1*time.Second, "OB LB", "10") // to the end of the file
	step(0, "OL", "100")               // and around again
	step(10*time.Second, "OB", "90")   // the same steps once more
	if _, err := in.srv.SetVar(context.Background(), "battery.charge", "55"); err != nil {
		t.Fatal(err)
	}
	wantValue(t, in, "battery.charge", "55")
	step(10*time.Second, "OB LB", "10") // a SET lasts until the file sets it again
}

func TestLoopRereadsWholeFileEachPoll(t *testing.T) {
	dir := t.TempDir()
	writeDev(t, dir, "u.dev", "ups.load: 1\n")
	in := start(t, dir, "port = u.dev", "mode = dummy-loop")
	wantValue(t, in, "driver.parameter.mode", "dummy-loop")
	if _, err := in.srv.SetVar(context.Background(), "ups.load", "9"); err != nil {
		t.Fatal(err)
	}
	if err := in.poll(); err != nil {
		t.Fatal(err)
	}
	wantValue(t, in, "ups.load", "1")
	// In loop mode, ups.mfr follows the file but device.mfr, copied once
	// at start, does not.
	writeDev(t, dir, "u.dev", "ups.load: 2\nups.mfr: Later\n")
	if err := in.poll(); err != nil {
		t.Fatal(err)
	}
	wantValue(t, in, "ups.load", "2")
	wantValue(t, in, "ups.mfr", "Later")
	wantValue(t, in, "device.mfr", "Dummy Manufacturer")
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	writeDev(t, dir, "u.dev", "ups.load: 1\n")
	tests := []struct {
		name    string
		options []string
		want    string
	}{
		{"missing file", []string{"port = missing.dev"}, "can't open dummy-ups definition file " + filepath.Join(dir, "missing.dev")},
		{"bogus mode", []string{"port = u.dev", "mode = bogus"}, `mode = "bogus" is not a dummy-ups mode`},
		{"credentials for a file", []string{"port = u.dev", "password = x"}, "password is for repeater mode (port = ups@host), not for mode dummy-once"},
		{"unknown option", []string{"port = u.dev", "speed = 5"}, "'speed' is not a valid variable name for driver dummy-ups"},
		{"bare port", []string{"port"}, "'port' is not a valid flag for driver dummy-ups"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := startErr(t, dir, tt.options...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestPortPaths(t *testing.T) {
	confDir, other := t.TempDir(), t.TempDir()
	writeDev(t, confDir, "sub.dev", "ups.load: 1\n")
	writeDev(t, other, "abs.dev", "ups.load: 2\n")
	if err := os.MkdirAll(filepath.Join(confDir, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeDev(t, filepath.Join(confDir, "dir"), "nested.dev", "ups.load: 3\n")
	// A port starting with a dot is relative to the working directory.
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(cwd, filepath.Join(other, "abs.dev"))
	if err != nil || !strings.HasPrefix(rel, ".") {
		t.Skipf("no ./ or ../ path from %s to %s", cwd, other)
	}
	for _, c := range []struct{ port, load string }{
		{"sub.dev", "1"},
		{filepath.Join(other, "abs.dev"), "2"},
		{"dir/nested.dev", "3"},
		{rel, "2"},
	} {
		t.Run(c.port, func(t *testing.T) {
			in := start(t, confDir, "port = "+c.port)
			wantValue(t, in, "ups.load", c.load)
			wantValue(t, in, "driver.parameter.port", c.port)
		})
	}
}

func TestIssuesAreLoggedWithFileAndLine(t *testing.T) {
	dir := t.TempDir()
	writeDev(t, dir, "u.dev", "ups.load: 1\nno colon\nTIMER x\n")
	in := start(t, dir, "port = u.dev")
	logs := in.logs.String()
	for _, want := range []string{
		filepath.Join(dir, "u.dev") + `:2: "no" is not followed by a colon`,
		filepath.Join(dir, "u.dev") + `:3: TIMER "x" is not a number of seconds`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	// Polling an unchanged file in loop mode does not repeat them.
	n := strings.Count(logs, "is not followed by a colon")
	in2 := start(t, dir, "port = u.dev", "mode = dummy-loop")
	for i := 0; i < 3; i++ {
		if err := in2.poll(); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(in2.logs.String(), "is not followed by a colon"); got != n {
		t.Errorf("issue logged %d times over 3 polls, want %d", got, n)
	}
}

// A TIMER of zero seconds (or one that is not a number) does not pause:
// NUT 2.8.0's dummy-ups serves the lines after it at once.
func TestZeroTimerDoesNotPause(t *testing.T) {
	dir := t.TempDir()
	writeDev(t, dir, "u.dev", "ups.status: OL\nTIMER 0\nTIMER abc\nTIMER\nbattery.charge: 42\n")
	in := start(t, dir, "port = u.dev")
	wantValue(t, in, "battery.charge", "42")
}
