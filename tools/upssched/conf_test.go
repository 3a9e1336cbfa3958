package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const head = "CMDSCRIPT /bin/cmd\nPIPEFN /run/p\nLOCKFN /run/l\n"

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig(strings.NewReader(head+`
DEBUG_MIN 2
AT ONBATT * START-TIMER onbatt 30
AT onbatt ups1@host START-TIMER-SHARED "early shutdown" 0
AT ONLINE * CANCEL-TIMER onbatt
AT ONLINE * CANCEL-TIMER onbatt online   # comment
AT ONLINE * CANCEL-TIMER-MATCHED "onbatt*" none
AT LOWBATT * EXECUTE "low battery"
`), "upssched.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := []At{
		{Line: 6, NotifyType: "ONBATT", UPS: "*", Action: StartTimer, Name: "onbatt", Seconds: 30},
		{Line: 7, NotifyType: "onbatt", UPS: "ups1@host", Action: StartTimerShared, Name: "early shutdown"},
		{Line: 8, NotifyType: "ONLINE", UPS: "*", Action: CancelTimer, Name: "onbatt"},
		{Line: 9, NotifyType: "ONLINE", UPS: "*", Action: CancelTimer, Name: "onbatt", Cmd: "online"},
		{Line: 10, NotifyType: "ONLINE", UPS: "*", Action: CancelTimerMatched, Name: "onbatt*", Cmd: "none"},
		{Line: 11, NotifyType: "LOWBATT", UPS: "*", Action: Execute, Cmd: "low battery"},
	}
	if !reflect.DeepEqual(c.ATs, want) {
		t.Errorf("ATs:\n got %+v\nwant %+v", c.ATs, want)
	}
	if c.CmdScript != "/bin/cmd" || c.PipeFn != "/run/p" || c.LockFn != "/run/l" || c.DebugMin != 2 {
		t.Errorf("got %+v", c)
	}
}

func TestAtMatches(t *testing.T) {
	for _, tc := range []struct {
		at       At
		nt, ups  string
		expected bool
	}{
		{At{NotifyType: "ONBATT", UPS: "*"}, "ONBATT", "a@h", true},
		{At{NotifyType: "onbatt", UPS: "*"}, "ONBATT", "a@h", true}, // NUT: strcasecmp
		{At{NotifyType: "ONBATT", UPS: "a@h"}, "ONBATT", "a@h", true},
		{At{NotifyType: "ONBATT", UPS: "A@h"}, "ONBATT", "a@h", false}, // NUT: strcmp
		{At{NotifyType: "ONBATT", UPS: "a"}, "ONBATT", "a@h", false},
		{At{NotifyType: "ONLINE", UPS: "*"}, "ONBATT", "a@h", false},
	} {
		if got := tc.at.Matches(tc.nt, tc.ups); got != tc.expected {
			t.Errorf("%+v.Matches(%s, %s) = %v", tc.at, tc.nt, tc.ups, got)
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		fatal      bool
		want       []string // each error, in order
		usable     int      // AT lines kept
	}{
		{"unknown directive", head + "FOO bar\nAT ONBATT * EXECUTE x\n", false,
			[]string{`f:4: unknown directive "FOO"`}, 1},
		{"AT before CMDSCRIPT", "PIPEFN /p\nLOCKFN /l\nAT ONBATT * EXECUTE x\nCMDSCRIPT /c\n", true,
			[]string{"f:3: CMDSCRIPT must be set before any AT"}, 0},
		{"AT with nothing set", "AT ONBATT * EXECUTE x\n", true,
			[]string{"f:1: CMDSCRIPT, PIPEFN, LOCKFN must be set before any AT"}, 0},
		{"short AT", head + "AT ONBATT *\n", false, []string{"f:4: AT needs a notify type"}, 0},
		{"unknown notify type", head + "AT ONBAT * EXECUTE x\n", false, []string{`f:4: unknown notify type "ONBAT"`}, 0},
		{"unknown command", head + "AT ONBATT * START x 1\n", false, []string{`f:4: unknown command "START"`}, 0},
		{"timer without seconds", head + "AT ONBATT * START-TIMER x\n", false,
			[]string{"f:4: START-TIMER takes a timer name and a number of seconds"}, 0},
		{"negative seconds", head + "AT ONBATT * START-TIMER x -1\n", false,
			[]string{`f:4: START-TIMER: "-1" is not a number of seconds`}, 0},
		{"words for seconds", head + "AT ONBATT * START-TIMER-SHARED x soon\n", false,
			[]string{`f:4: START-TIMER-SHARED: "soon" is not a number of seconds`}, 0},
		{"cancel too many", head + "AT ONLINE * CANCEL-TIMER x y z\n", false,
			[]string{"f:4: CANCEL-TIMER takes a timer name and an optional command"}, 0},
		{"bad pattern", head + "AT ONLINE * CANCEL-TIMER-MATCHED [x\n", false,
			[]string{`f:4: CANCEL-TIMER-MATCHED: bad pattern "[x"`}, 0},
		{"empty execute", head + "AT ONLINE * EXECUTE \"\"\n", false, []string{"f:4: EXECUTE takes one non-empty command"}, 0},
		{"execute two words", head + "AT ONLINE * EXECUTE a b\n", false, []string{"f:4: EXECUTE takes one non-empty command"}, 0},
		{"CMDSCRIPT two words", "CMDSCRIPT /bin/logger -t x\n", false, []string{"f:1: CMDSCRIPT takes one value"}, 0},
		{"DEBUG_MIN words", "DEBUG_MIN lots\n", false, []string{"f:1: DEBUG_MIN takes a number"}, 0},
		{"several", head + "\n\nAT ONBATT * EXECUTE ok\nX\nAT ONBATT * EXECUTE\n", false,
			[]string{`f:7: unknown directive "X"`, "f:8: EXECUTE takes one"}, 1},
		{"hash in quotes", head + "AT ONBATT * EXECUTE \"a#b\"\n", true, []string{"f:4: unbalanced word"}, 0},
		{"unterminated quote", head + "AT ONBATT * EXECUTE \"ab\n", true, []string{"f:4: unterminated quoted string"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig(strings.NewReader(tc.conf), "f")
			var ce *ConfError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfError", err)
			}
			if ce.Fatal != tc.fatal {
				t.Errorf("Fatal = %v, want %v", ce.Fatal, tc.fatal)
			}
			if len(ce.Errs) != len(tc.want) {
				t.Fatalf("errors:\n%v\nwant %d: %q", err, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(ce.Errs[i].Error(), w) {
					t.Errorf("error %d = %q, want prefix %q", i, ce.Errs[i], w)
				}
			}
			if c != nil && len(c.ATs) != tc.usable {
				t.Errorf("%d usable ATs, want %d", len(c.ATs), tc.usable)
			}
		})
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, args := range [][]string{
		{"onbatt", "30", "ups1@localhost", "ONBATT"},
		{`a "quoted" name`, `back\slash`, "hash#", ""},
	} {
		line := encode("START", args...)
		got, err := splitLine(line)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, append([]string{"START"}, args...)) {
			t.Errorf("encode(%q) = %q, read back %q", args, line, got)
		}
	}
}
