package main

import (
	"testing"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args []string
		want options
		err  bool
	}{
		{nil, options{foreground: 0}, false},
		{[]string{"-D"}, options{debug: 1, foreground: 1}, false},
		{[]string{"-DDB"}, options{debug: 2, foreground: 0}, false},
		{[]string{"-F", "-p", "-uroot"}, options{foreground: 1, privileged: true, user: "root"}, false},
		{[]string{"-u", "nut", "-K"}, options{foreground: 0, user: "nut", checkFlag: true}, false},
		{[]string{"-c", "fsd"}, options{command: "fsd", foreground: 0}, false},
		{[]string{"-creload", "-P", "42"}, options{command: "reload", pid: 42, foreground: 0}, false},
		{[]string{"-c", "stop"}, options{command: "stop", foreground: 0}, false},
		{[]string{"--dry-run", "-F"}, options{dryRun: true, foreground: 1}, false},
		{[]string{"-h"}, options{help: true, foreground: 0}, false},
		{[]string{"-c", "bogus"}, options{}, true},
		{[]string{"-P", "x"}, options{}, true},
		{[]string{"-x"}, options{}, true},
		{[]string{"-u"}, options{}, true},
		{[]string{"extra"}, options{}, true},
	}
	for _, tc := range tests {
		got, err := parseArgs(tc.args)
		if (err != nil) != tc.err {
			t.Errorf("%q: error %v", tc.args, err)
			continue
		}
		if !tc.err && got != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.args, got, tc.want)
		}
	}
}
