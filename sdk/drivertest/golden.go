package drivertest

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/gonut/gonut/sdk/sockproto"
)

// DevVar is one "name: value" line of a .dev or .seq file.
type DevVar struct {
	Name, Value string
	Line        int // physical line, from 1
}

// Dev is the variables of a .dev file (NUT's device dump format, as
// upsc prints and dummy-ups reads it), later lines overriding earlier ones.
type Dev struct {
	Path string
	Vars []DevVar // sorted by name, one per name
}

// Value returns a variable of the dump.
func (d *Dev) Value(name string) (string, bool) {
	for _, v := range d.Vars {
		if v.Name == name {
			return v.Value, true
		}
	}
	return "", false
}

// Step is one step of a .seq file: the lines up to the next TIMER, and
// the pause that TIMER asks for before the next step.
type Step struct {
	Line  int      // line of the step's first statement
	Set   []DevVar // the step's own lines, in file order
	Want  *Dev     // every variable as it stands after the step
	Pause time.Duration
}

// ReadDev reads a .dev file. Words are split by NUT's parseconf rules; a
// line is "name: value words", the value being the words after the name
// joined by single spaces ("ups.status: OL CHRG"), as dummy-ups reads it.
// A line with a name and no value means an empty value (dummy-ups would
// reuse the previous line's value there; golden files written by FormatDev
// never rely on that). TIMER lines are refused: that is a .seq file.
func ReadDev(file string) (*Dev, error) {
	steps, err := readSteps(file)
	if err != nil {
		return nil, err
	}
	if len(steps) > 1 || steps[0].Pause > 0 {
		return nil, fmt.Errorf("%s:%d: TIMER in a .dev file: read it with ReadSeq", file, steps[0].timerLine)
	}
	return steps[0].Want, nil
}

// ReadSeq reads a .seq file into its steps: the lines between TIMERs, and
// for each step the whole state expected after it.
func ReadSeq(file string) ([]Step, error) {
	steps, err := readSteps(file)
	if err != nil {
		return nil, err
	}
	out := make([]Step, len(steps))
	for i, s := range steps {
		out[i] = s.Step
	}
	return out, nil
}

type rawStep struct {
	Step
	timerLine int
}

func readSteps(file string) ([]rawStep, error) {
	lines, err := nutconf.ParseFile(file)
	if err != nil {
		return nil, err
	}
	cur := map[string]DevVar{}
	var steps []rawStep
	step := rawStep{}
	finish := func() {
		step.Want = &Dev{Path: file, Vars: sortedVars(cur)}
		steps = append(steps, step)
		step = rawStep{}
	}
	for _, l := range lines {
		first := l.Words[0]
		if first == "TIMER" {
			if len(l.Words) != 2 {
				return nil, fmt.Errorf("%s:%d: want TIMER <seconds>", file, l.Num)
			}
			n, err := strconv.Atoi(l.Words[1])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%s:%d: TIMER %q: want a whole number of seconds", file, l.Num, l.Words[1])
			}
			step.Pause, step.timerLine = time.Duration(n)*time.Second, l.Num
			finish()
			continue
		}
		name, ok := strings.CutSuffix(first, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("%s:%d: %q: want \"name: value\"", file, l.Num, strings.Join(l.Words, " "))
		}
		v := DevVar{Name: name, Value: strings.Join(l.Words[1:], " "), Line: l.Num}
		if len(step.Set) == 0 {
			step.Line = l.Num
		}
		step.Set = append(step.Set, v)
		cur[name] = v
	}
	if len(step.Set) > 0 || len(steps) == 0 {
		finish()
	}
	return steps, nil
}

func sortedVars(m map[string]DevVar) []DevVar {
	out := make([]DevVar, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// CompareOptions says what a golden comparison looks at.
type CompareOptions struct {
	// Ignore are variable names left out of the comparison; a name ending
	// in ".*" stands for everything below it ("driver.*"). The defaults
	// below are always ignored.
	Ignore []string
	// Update rewrites the golden file from the state instead of comparing
	// (wire it to a -update flag of the test).
	Update bool
}

// DefaultIgnore are left out of every comparison: version strings differ
// between builds, and driver.state is gonut's (NUT 2.8.0 has none).
var DefaultIgnore = []string{"driver.version", "driver.version.*", "driver.state"}

func (o CompareOptions) ignored(name string) bool {
	for _, pat := range append(o.Ignore, DefaultIgnore...) {
		if prefix, ok := strings.CutSuffix(pat, ".*"); ok {
			if strings.HasPrefix(name, prefix+".") {
				return true
			}
		} else if ok, _ := path.Match(pat, name); ok || pat == name {
			return true
		}
	}
	return false
}

// CompareDev compares a published state with a golden .dev file and
// reports every difference with the file's line. With opts.Update it
// writes the file from the state instead.
func CompareDev(t testing.TB, got *sockproto.State, golden string, opts CompareOptions) {
	t.Helper()
	if opts.Update {
		if err := os.WriteFile(golden, FormatDev(got, opts), 0o644); err != nil {
			t.Fatalf("[golden] update: %v", err)
		}
		t.Logf("[golden] %s updated", golden)
		return
	}
	want, err := ReadDev(golden)
	if err != nil {
		t.Fatalf("[golden] %v (run with the test's -update flag to create it)", err)
	}
	Compare(t, got, want, opts)
}

// Compare reports every difference between a published state and the
// variables of a .dev (or of a .seq step's Want).
func Compare(t testing.TB, got *sockproto.State, want *Dev, opts CompareOptions) {
	t.Helper()
	for _, d := range Diff(got, want, opts) {
		t.Error(d)
	}
}

// Diff returns the differences Compare reports, one line each, with the
// file's line; none when the state matches. With Harness.Wait it waits
// for a .seq step:
//
//	h.Wait("step 2", func(st *sockproto.State) bool { return len(drivertest.Diff(st, steps[1].Want, opts)) == 0 })
func Diff(got *sockproto.State, want *Dev, opts CompareOptions) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range want.Vars {
		if opts.ignored(w.Name) {
			continue
		}
		seen[strings.ToLower(w.Name)] = true
		g, ok := got.Value(w.Name)
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("[golden] %s:%d: variable %q = %q is missing", want.Path, w.Line, w.Name, w.Value))
		case g != w.Value:
			out = append(out, fmt.Sprintf("[golden] %s:%d: variable %q is %q, want %q", want.Path, w.Line, w.Name, g, w.Value))
		}
	}
	got.Each(func(v sockproto.Var) bool {
		if !seen[strings.ToLower(v.Name)] && !opts.ignored(v.Name) {
			out = append(out, fmt.Sprintf("[golden] %s: variable %q = %q is not in the golden file", want.Path, v.Name, v.Value))
		}
		return true
	})
	return out
}

// FormatDev renders a state as a .dev file that ReadDev reads back to the
// same variables: one "name: value" line per variable, sorted as upsc
// lists them, ignored names left out. Values that word splitting would
// change are quoted.
func FormatDev(st *sockproto.State, opts CompareOptions) []byte {
	var b bytes.Buffer
	st.Each(func(v sockproto.Var) bool {
		if opts.ignored(v.Name) {
			return true
		}
		b.WriteString(v.Name)
		b.WriteByte(':')
		if v.Value != "" {
			b.WriteByte(' ')
			if strings.Join(strings.Fields(v.Value), " ") == v.Value && !strings.ContainsAny(v.Value, "\"\\#'") {
				b.WriteString(v.Value)
			} else {
				b.WriteString(`"` + nutconf.Quote(v.Value) + `"`)
			}
		}
		b.WriteByte('\n')
		return true
	})
	return b.Bytes()
}
