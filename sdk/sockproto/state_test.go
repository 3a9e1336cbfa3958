package sockproto

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/gonut/gonut/sdk/nutconf"
)

// msgs splits lines of driver messages the way a reader would.
func msgs(t testing.TB, text string) [][]string {
	t.Helper()
	var out [][]string
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		w, err := nutconf.Split(line)
		if err != nil {
			t.Fatalf("split %q: %v", line, err)
		}
		if len(w) > 0 {
			out = append(out, w)
		}
	}
	return out
}

func build(t testing.TB, text string) *State {
	t.Helper()
	s := NewState()
	for _, m := range msgs(t, text) {
		if err := s.Apply(m); err != nil {
			t.Fatalf("apply %q: %v", m, err)
		}
	}
	return s
}

func TestApplyErrors(t *testing.T) {
	base := `SETINFO ups.status "OL"`
	tests := []struct {
		msg  string
		want error
	}{
		{`PONG`, ErrUnknownMessage},
		{`DUMPDONE`, ErrUnknownMessage},
		{`TRACKING 1 0`, ErrUnknownMessage},
		{`BOGUS a b`, ErrUnknownMessage},
		{`SETINFO ups.status`, ErrMissingArgs},
		{`ADDRANGE ups.status 1`, ErrMissingArgs},
		{`DELINFO`, ErrMissingArgs},
		{`ADDCMD`, ErrMissingArgs},
		{`SETFLAGS`, ErrMissingArgs},
		{`ADDENUM nope "x"`, ErrNoSuchVar},
		{`SETAUX nope 3`, ErrNoSuchVar},
		{`SETFLAGS nope RW`, ErrNoSuchVar},
		{`ADDRANGE nope 1 2`, ErrNoSuchVar},
		{`ADDRANGE ups.status 5 2`, ErrBadRange},
		// Deleting what is not there is silently nothing, as in NUT.
		{`DELENUM nope "x"`, nil},
		{`DELRANGE nope 1 2`, nil},
		{`DELINFO nope`, nil},
		{`DELCMD nope`, nil},
		// Extra words are ignored; verbs match without case.
		{`setinfo ups.load "5" extra`, nil},
		{`DataOK now`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			s := build(t, base)
			before := s.Dump()
			err := s.Apply(msgs(t, tt.msg)[0])
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Apply(%s) = %v, want %v", tt.msg, err, tt.want)
			}
			if err != nil && !reflect.DeepEqual(before, s.Dump()) {
				t.Errorf("a failed Apply changed the state:\n%q\n%q", before, s.Dump())
			}
		})
	}
	if err := NewState().Apply(nil); !errors.Is(err, ErrUnknownMessage) {
		t.Errorf("Apply(nil) = %v", err)
	}
}

func TestStateRules(t *testing.T) {
	s := build(t, `
SETINFO Ups.Status "OL"
SETINFO ups.status "OB LB"
SETINFO battery.charge "100"
SETINFO ambient.temperature "25"
SETINFO _x "underscore sorts after letters in lower case"
SETINFO ZZ "upper"
SETINFO aa "lower"
SETFLAGS battery.charge RW NUMBER bogus
SETAUX battery.charge 3junk
ADDENUM battery.charge "10"
ADDENUM battery.charge "10"
ADDENUM battery.charge "20"
ADDENUM battery.charge "a\"b"
DELENUM battery.charge "A\"B"
ADDRANGE battery.charge 1 10
ADDRANGE battery.charge 1 20
ADDRANGE battery.charge 1 10
DELRANGE battery.charge 1 20
ADDCMD test.battery.start
ADDCMD Beeper.Off
ADDCMD beeper.off
ADDCMD load.off
DELCMD LOAD.OFF
DATAOK
`)
	var gotNames []string
	for _, v := range s.Vars() {
		gotNames = append(gotNames, v.Name)
	}
	// strcasecmp order; the first case of a name is kept.
	wantNames := []string{"_x", "aa", "ambient.temperature", "battery.charge", "Ups.Status", "ZZ"}
	if !reflect.DeepEqual(gotNames, wantNames) {
		t.Errorf("names = %q, want %q", gotNames, wantNames)
	}
	v, ok := s.Var("BATTERY.CHARGE")
	want := Var{Name: "battery.charge", Value: "100", Flags: FlagRW | FlagNumber, Aux: 3,
		Enums: []string{"10", "20"}, Ranges: []Range{{1, 10}}}
	if !ok || !reflect.DeepEqual(v, want) {
		t.Errorf("Var = %+v, want %+v", v, want)
	}
	if got, _ := s.Value("ups.status"); got != "OB LB" {
		t.Errorf("ups.status = %q", got)
	}
	if got := s.Cmds(); !reflect.DeepEqual(got, []string{"Beeper.Off", "test.battery.start"}) {
		t.Errorf("Cmds = %q", got)
	}
	if !s.HasCmd("BEEPER.OFF") || s.HasCmd("load.off") {
		t.Error("HasCmd does not match without case")
	}
	if !s.DataOK() || s.Len() != 6 {
		t.Errorf("DataOK=%v Len=%d", s.DataOK(), s.Len())
	}
	// A change of case alone is a change (NUT 2.8 ignores it: see
	// docs/COMPATIBILITY.md).
	if ch, _ := s.apply([]string{"SETINFO", "ups.status", "ob lb"}); !ch {
		t.Error("a change of case in a value was not applied")
	}
	// A bare SETFLAGS clears the flags.
	if ch, _ := s.apply([]string{"SETFLAGS", "battery.charge"}); !ch {
		t.Error("bare SETFLAGS did not clear flags")
	}
	if v, _ := s.Var("battery.charge"); v.Flags != 0 {
		t.Errorf("flags after bare SETFLAGS = %v", v.Flags)
	}
	// Copies returned by Var and Vars do not alias the state.
	v, _ = s.Var("battery.charge")
	v.Enums[0] = "changed"
	if w, _ := s.Var("battery.charge"); w.Enums[0] != "10" {
		t.Error("Var returned an aliased Enums slice")
	}
}

func TestDump(t *testing.T) {
	s := build(t, `
SETINFO ups.status "OL"
SETINFO input.transfer.low "95"
ADDENUM input.transfer.low "95"
ADDENUM input.transfer.low "100"
ADDRANGE input.transfer.low 90 110
SETAUX input.transfer.low 4
SETFLAGS input.transfer.low RW STRING NUMBER
SETINFO device.model "a \"quoted\" \# value \\ here"
ADDCMD test.panel.start
ADDCMD load.off
`)
	want := []string{
		"DATASTALE\n",
		"SETINFO device.model \"a \\\"quoted\\\" \\# value \\\\ here\"\n",
		"SETINFO input.transfer.low \"95\"\n",
		"ADDENUM input.transfer.low \"95\"\n",
		"ADDENUM input.transfer.low \"100\"\n",
		"ADDRANGE input.transfer.low 90 110\n",
		"SETAUX input.transfer.low 4\n",
		"SETFLAGS input.transfer.low RW STRING NUMBER\n",
		"SETINFO ups.status \"OL\"\n",
		"ADDCMD load.off\n",
		"ADDCMD test.panel.start\n",
	}
	if got := s.Dump(); !reflect.DeepEqual(got, want) {
		t.Errorf("Dump (stale) =\n%q\nwant\n%q", got, want)
	}
	_ = s.Apply([]string{"DATAOK"})
	want = append(want[1:], "DATAOK\n")
	got := s.Dump()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Dump (ok) =\n%q\nwant\n%q", got, want)
	}
	// A dump read back gives the same state.
	back := build(t, strings.Join(got, ""))
	if !reflect.DeepEqual(back.Dump(), got) {
		t.Errorf("dump does not read back:\n%q\n%q", back.Dump(), got)
	}
}

func TestDiff(t *testing.T) {
	states := []string{
		``,
		`SETINFO a "1"
DATAOK`,
		`SETINFO a "2"
SETINFO B "x"
ADDENUM B "e1"
ADDENUM B "e2"
ADDRANGE B 1 5
SETAUX B 9
SETFLAGS B RW STRING
ADDCMD c1
ADDCMD c2`,
		`SETINFO A "2"
SETINFO b "x"
ADDENUM b "e2"
ADDENUM b "e1"
ADDRANGE b 1 6
SETFLAGS b RW
ADDCMD C1
DATAOK`,
		`SETINFO z "only"
ADDCMD c3
DATASTALE`,
	}
	for i, from := range states {
		for j, to := range states {
			a, b := build(t, from), build(t, to)
			c := a.Clone()
			for _, m := range a.Diff(b) {
				if err := c.Apply(m); err != nil {
					t.Fatalf("%d->%d: diff message %q: %v", i, j, m, err)
				}
			}
			if !reflect.DeepEqual(c.Dump(), b.Dump()) {
				t.Errorf("%d->%d: diff gives\n%q\nwant\n%q", i, j, c.Dump(), b.Dump())
			}
			if i == j && len(a.Diff(b)) != 0 {
				t.Errorf("%d->%d: diff of equal states = %q", i, j, a.Diff(b))
			}
		}
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		words []string
		want  string
	}{
		{nil, ""},
		{[]string{"DATAOK"}, "DATAOK\n"},
		{[]string{"SETINFO", "ups.status", "OB LB"}, "SETINFO ups.status \"OB LB\"\n"},
		{[]string{"SETINFO", "x", ""}, "SETINFO x \"\"\n"},
		{[]string{"setinfo", "x", "1"}, "setinfo x \"1\"\n"},
		{[]string{"SETINFO", "x", `a"b\c#d`}, `SETINFO x "a\"b\\c\#d"` + "\n"},
		{[]string{"ADDENUM", "x", "95"}, "ADDENUM x \"95\"\n"},
		{[]string{"DELENUM", "x", "95"}, "DELENUM x \"95\"\n"},
		{[]string{"ADDRANGE", "x", "1", "2"}, "ADDRANGE x 1 2\n"},
		{[]string{"SETFLAGS", "x", "RW", "STRING"}, "SETFLAGS x RW STRING\n"},
		{[]string{"SET", "ups.id", "Data room", "TRACKING", "abc"}, "SET ups.id \"Data room\" TRACKING abc\n"},
		{[]string{"INSTCMD", "load.off", "10"}, "INSTCMD load.off 10\n"},
		{[]string{"INSTCMD", "load.off", "a b"}, "INSTCMD load.off \"a b\"\n"},
		{[]string{"ADDCMD", "x=y"}, "ADDCMD \"x=y\"\n"},
		{[]string{"TRACKING", "id", "0"}, "TRACKING id 0\n"},
		{[]string{"DELINFO", ""}, "DELINFO \"\"\n"},
	}
	for _, tt := range tests {
		got := Encode(tt.words...)
		if got != tt.want {
			t.Errorf("Encode(%q) = %q, want %q", tt.words, got, tt.want)
		}
		if len(tt.words) == 0 {
			continue
		}
		back, err := nutconf.Split(got)
		if err != nil || !reflect.DeepEqual(back, tt.words) {
			t.Errorf("Encode(%q) reads back as %q (%v)", tt.words, back, err)
		}
	}
}

func TestStrtolAtoi(t *testing.T) {
	tests := []struct {
		in     string
		strtol int
		atoi   int
	}{
		{"", 0, 0},
		{"42", 42, 42},
		{"  -7x", -7, -7},
		{"+3", 3, 3},
		{"abc", 0, 0},
		{"3000000000", 3000000000, -1294967296},
		{"99999999999999999999", math.MaxInt64, -1},
		{"-99999999999999999999", math.MinInt64, 0},
	}
	for _, tt := range tests {
		if got := strtol(tt.in); got != tt.strtol {
			t.Errorf("strtol(%q) = %d, want %d", tt.in, got, tt.strtol)
		}
		if got := atoi(tt.in); got != tt.atoi {
			t.Errorf("atoi(%q) = %d, want %d", tt.in, got, tt.atoi)
		}
	}
}

func TestFlagsString(t *testing.T) {
	if got := (FlagRW | FlagString | FlagNumber).String(); got != "RW STRING NUMBER" {
		t.Errorf("String = %q", got)
	}
	if got := Flags(0).String(); got != "" {
		t.Errorf("String of 0 = %q", got)
	}
}

// FuzzStateApply feeds arbitrary lines to a State: it must never panic,
// and whatever state results must survive a Dump read back, and a Diff
// from the empty state.
func FuzzStateApply(f *testing.F) {
	f.Add("SETINFO ups.status \"OL\"\nADDENUM ups.status \"x\"\nADDRANGE ups.status 1 2\nSETAUX ups.status 5\nSETFLAGS ups.status RW STRING\nADDCMD a\nDATAOK\n")
	f.Add("SETINFO a\\ b \"c\\\"d\"\nDELINFO A\\ B\nDELCMD x\nDATASTALE\n")
	f.Add("SETINFO x =\nADDRANGE x -5 99999999999\nDELRANGE x -5 99999999999\n")
	f.Fuzz(func(t *testing.T, input string) {
		s := NewState()
		sc := newScanner()
		for i := 0; i < len(input); i++ {
			words, done, _ := sc.Feed(input[i])
			if done && len(words) > 0 {
				_ = s.Apply(words)
			}
		}
		dump := s.Dump()
		back := NewState()
		for _, line := range dump {
			w, err := nutconf.Split(line)
			if err != nil {
				t.Fatalf("dump line %q does not split: %v", line, err)
			}
			if err := back.Apply(w); err != nil {
				t.Fatalf("dump line %q does not apply: %v", line, err)
			}
		}
		if !reflect.DeepEqual(back.Dump(), dump) {
			t.Fatalf("dump does not read back:\n%q\n%q", back.Dump(), dump)
		}
		c := NewState()
		for _, m := range c.Diff(s) {
			if err := c.Apply(m); err != nil {
				t.Fatalf("diff message %q: %v", m, err)
			}
		}
		if !reflect.DeepEqual(c.Dump(), dump) {
			t.Fatalf("diff from empty:\n%q\nwant\n%q", c.Dump(), dump)
		}
	})
}
