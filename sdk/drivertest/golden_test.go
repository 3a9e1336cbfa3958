package drivertest

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/sdk/sockproto"
)

func TestReadDev(t *testing.T) {
	d, err := ReadDev("testdata/small.dev")
	if err != nil {
		t.Fatal(err)
	}
	want := []DevVar{
		{"battery.charge", "100", 6},
		{"device.mfr", "Example", 2},
		{"device.model", "Example   UPS", 3},
		{"driver.version", "2.8.0", 7},
		{"ups.status", "OL CHRG", 4},
	}
	if !reflect.DeepEqual(d.Vars, want) {
		t.Errorf("vars = %+v\nwant %+v", d.Vars, want)
	}
	if v, ok := d.Value("ups.status"); !ok || v != "OL CHRG" {
		t.Errorf("Value(ups.status) = %q, %v", v, ok)
	}
	if _, err := ReadDev("testdata/steps.seq"); err == nil || !strings.Contains(err.Error(), "testdata/steps.seq:3: TIMER in a .dev file") {
		t.Errorf("ReadDev of a .seq: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.dev")
	os.WriteFile(bad, []byte("ups.status: OL\nbattery.charge 100\n"), 0o644)
	if _, err := ReadDev(bad); err == nil || !strings.Contains(err.Error(), `bad.dev:2: "battery.charge 100": want "name: value"`) {
		t.Errorf("ReadDev of a line without colon: %v", err)
	}
}

func TestReadSeq(t *testing.T) {
	steps, err := ReadSeq("testdata/steps.seq")
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 3 {
		t.Fatalf("%d steps, want 3: %+v", len(steps), steps)
	}
	for i, w := range []struct {
		line   int
		pause  time.Duration
		status string
		charge string
	}{
		{1, 5 * time.Second, "OL", "100"},
		{4, 10 * time.Second, "OB DISCHRG", "80"},
		{7, 0, "OB DISCHRG LB", "80"},
	} {
		s := steps[i]
		st, _ := s.Want.Value("ups.status")
		ch, _ := s.Want.Value("battery.charge")
		if s.Line != w.line || s.Pause != w.pause || st != w.status || ch != w.charge {
			t.Errorf("step %d: line %d pause %v status %q charge %q; want %+v", i, s.Line, s.Pause, st, ch, w)
		}
	}
	if len(steps[2].Set) != 1 || steps[2].Set[0].Name != "ups.status" {
		t.Errorf("step 3 sets %+v, want only ups.status", steps[2].Set)
	}
}

func TestCompareReportsEachDifference(t *testing.T) {
	want, err := ReadDev("testdata/small.dev")
	if err != nil {
		t.Fatal(err)
	}
	got := state(t,
		[]string{"SETINFO", "device.mfr", "Example"},
		[]string{"SETINFO", "device.model", "Example UPS"},
		[]string{"SETINFO", "ups.status", "OL CHRG"},
		[]string{"SETINFO", "ups.load", "7"},
		[]string{"SETINFO", "driver.version", "2.8.0-gonut0.1"},
		[]string{"SETINFO", "driver.state", "updateinfo"},
	)
	rec := &recorder{TB: t}
	Compare(rec, got, want, CompareOptions{})
	wantErrs := []string{
		`[golden] testdata/small.dev:6: variable "battery.charge" = "100" is missing`,
		`[golden] testdata/small.dev:3: variable "device.model" is "Example UPS", want "Example   UPS"`,
		`[golden] testdata/small.dev: variable "ups.load" = "7" is not in the golden file`,
	}
	if errs := rec.errors(); !reflect.DeepEqual(errs, wantErrs) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(wantErrs, "\n"))
	}
	rec = &recorder{TB: t}
	Compare(rec, got, want, CompareOptions{Ignore: []string{"battery.*", "device.model", "ups.load"}})
	if errs := rec.errors(); len(errs) != 0 {
		t.Errorf("with Ignore: %q", errs)
	}
}

func TestFormatDevRoundTrip(t *testing.T) {
	st := state(t,
		[]string{"SETINFO", "device.model", "Smart-UPS 1500"},
		[]string{"SETINFO", "ups.id", "  padded  "},
		[]string{"SETINFO", "ups.contacts", `say "hi" # not a comment \ ok`},
		[]string{"SETINFO", "ups.empty", ""},
		[]string{"SETINFO", "driver.version", "x"},
	)
	file := filepath.Join(t.TempDir(), "golden.dev")
	rec := &recorder{TB: t}
	CompareDev(rec, st, file, CompareOptions{Update: true})
	if errs := rec.errors(); len(errs) != 0 {
		t.Fatal(errs)
	}
	b, _ := os.ReadFile(file)
	wantText := "device.model: Smart-UPS 1500\n" +
		`ups.contacts: "say \"hi\" \# not a comment \\ ok"` + "\n" +
		"ups.empty:\n" +
		`ups.id: "  padded  "` + "\n"
	if string(b) != wantText {
		t.Errorf("file:\n%s\nwant:\n%s", b, wantText)
	}
	rec = &recorder{TB: t}
	CompareDev(rec, st, file, CompareOptions{})
	if errs := rec.errors(); len(errs) != 0 {
		t.Errorf("the written file does not compare equal: %q", errs)
	}
}

// Every dump of NUT's device dump library reads, and reads back the same
// after FormatDev.
func TestReadDevDDL(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "ddl")
	files, _ := filepath.Glob(filepath.Join(dir, "*.dev"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no device dumps in %s", dir)
		}
		t.Skipf("no device dumps in %s", dir)
	}
	for _, f := range files {
		d, err := ReadDev(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		st := sockproto.NewState()
		for _, v := range d.Vars {
			st.Apply([]string{"SETINFO", v.Name, v.Value})
		}
		tmp := filepath.Join(t.TempDir(), "x.dev")
		os.WriteFile(tmp, FormatDev(st, CompareOptions{}), 0o644)
		back, err := ReadDev(tmp)
		if err != nil {
			t.Errorf("%s: written back: %v", f, err)
			continue
		}
		got := sockproto.NewState()
		for _, v := range back.Vars {
			got.Apply([]string{"SETINFO", v.Name, v.Value})
		}
		if diffs := Diff(got, d, CompareOptions{}); len(diffs) > 0 {
			t.Errorf("%s: round trip: %s", f, strings.Join(diffs, "\n"))
		}
	}
}

// Dumps that NUT 2.8 drivers published pass the static rules: the rules
// fail what NUT's own drivers do not do.
func TestNUT28DumpsPassCheck(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "ddl", "*__2.8.*.dev"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("no NUT 2.8 device dumps in ../shared/ddl")
		}
		t.Skip("no NUT 2.8 device dumps in ../shared/ddl")
	}
	for _, f := range files {
		d, err := ReadDev(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		st := sockproto.NewState()
		for _, v := range d.Vars {
			st.Apply([]string{"SETINFO", v.Name, v.Value})
		}
		problems, _ := Check(st)
		for _, p := range problems {
			t.Errorf("%s: %s", filepath.Base(f), p)
		}
	}
	t.Logf("%d dumps of NUT 2.8 drivers checked", len(files))
}
