package main

import (
	"bytes"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/client/clienttest"
	"github.com/gonut/gonut/client/nutcli"
)

const help = `Network UPS Tools upsrw 2.8.0

usage: upsrw [-h]
       upsrw [-s <variable>] [-u <username>] [-p <password>] [-w] [-t <timeout>] <ups>

Demo program to set variables within UPS hardware.

  -h            display this help text
  -s <variable>	specify variable to be changed
		use -s VAR=VALUE to avoid prompting for value
  -l            show all possible read/write variables.
  -u <username> set username for command authentication
  -p <password> set password for command authentication
  -w            wait for the completion of setting by the driver
                and return its actual result from the device
  -t <timeout>	set a timeout when using -w (in seconds, default: 10)

  <ups>         UPS identifier - <upsname>[@<hostname>[:<port>]]

Call without -s to show all possible read/write variables (same as -l).
`

// noTTY makes the prompts read stdin, as without a controlling terminal.
func noTTY(t *testing.T, in string) {
	t.Helper()
	oldIn, oldTTY, oldPoll := stdin, openTTY, pollEvery
	stdin = strings.NewReader(in)
	openTTY = func() (*os.File, error) { return nil, errors.New("no terminal") }
	pollEvery = time.Millisecond
	t.Cleanup(func() { stdin, openTTY, pollEvery = oldIn, oldTTY, oldPoll })
}

// listing is what NUT's upsrw prints for the fake device (its format was
// checked against NUT 2.8.0 by test/tools).
const listing = `[input.sensitivity]
Description unavailable
Type: ENUM STRING
Maximum length: 12
Option: "low"
Option: "medium" SELECTED
Option: "say "hi" \o/"

[input.transfer.low]
Description unavailable
Type: RANGE NUMBER
Option: "88-92"
Option: "95-100" SELECTED

[outlet.1.delay.shutdown]
Description unavailable
Type: ENUM NUMBER
Option: "0"
Option: "30"

[ups.id]
Description unavailable
Type: STRING
Maximum length: 16
Value: rack "4" \ A

[battery.runtime.low]
Description unavailable
Type: NUMBER
Value: 120

[odd.type]
Description unavailable
Type: FANCY (unrecognized)
Type: NUMBER
Value: 1

`

func fakeUPSD(t *testing.T) (*clienttest.UPSD, string) {
	t.Helper()
	u := clienttest.NewUPSD(
		clienttest.Device{
			Name: "ups",
			Vars: [][2]string{
				{"input.sensitivity", "medium"},
				{"input.transfer.low", "97"},
				{"outlet.1.delay.shutdown", "45"},
				{"ups.id", `rack "4" \ A`},
				{"battery.runtime.low", "120"},
				{"odd.type", "1"},
				{"ups.status", "OL"},
			},
			Types: map[string]string{
				"input.sensitivity":       "RW ENUM STRING:12",
				"input.transfer.low":      "RW RANGE NUMBER",
				"outlet.1.delay.shutdown": "RW ENUM NUMBER",
				"ups.id":                  "RW STRING:16",
				"battery.runtime.low":     "RW NUMBER",
				"odd.type":                "RW FANCY NUMBER",
			},
			Enums: map[string][]string{
				"input.sensitivity":       {"low", "medium", `say "hi" \o/`},
				"outlet.1.delay.shutdown": {"0", "30"},
			},
			Ranges: map[string][][2]string{"input.transfer.low": {{"88", "92"}, {"95", "100"}}},
		},
		clienttest.Device{Name: "gone", Err: "DRIVER-NOT-CONNECTED"},
	)
	u.AddUser(clienttest.User{Name: "admin", Password: "s3cret", Actions: []string{"SET"}})
	u.AddUser(clienttest.User{Name: "cmdonly", Password: "pw", InstCmds: []string{"all"}})
	u.SetResult("ups", "battery.runtime.low", 2, "SUCCESS")
	u.SetResult("ups", "ups.id", 0, "ERR FAILED")
	return u, u.Start(t).Addr
}

func TestRun(t *testing.T) {
	u, H := fakeUPSD(t)
	user, _ := nutcli.CurrentUser()
	const badUPS = "Error: invalid UPS definition.  Required format: upsname[@hostname[:port]]\n"
	set := func(assign string, extra ...string) []string {
		return append([]string{"-s", assign, "-u", "admin", "-p", "s3cret"}, extra...)
	}
	tests := []struct {
		args           []string
		stdin          string
		stdout, stderr string
		code           int
		sent           []string
	}{
		{args: nil, stdout: help},
		{args: []string{"-h"}, stdout: help},
		{args: []string{"-V"}, stdout: "Network UPS Tools upsrw 2.8.0\n"},
		{args: []string{"-s"}, stdout: help, stderr: "upsrw: option requires an argument -- 's'\n"},
		{args: []string{"-t", "", "ups@" + H}, stderr: "Could not convert the provided value for timeout ('-t' option) to unsigned int: Invalid argument\n", code: 1},
		{args: []string{"ups@h:0"}, stderr: "upscli_splitaddr: no port specified after ':' separator\n" + badUPS, code: 1},

		{args: []string{"ups@" + H}, stdout: listing},
		{args: []string{"-s", "x.y=1", "-l", "ups@" + H}, stdout: listing, stderr: "Listing mode requested, overriding setvar specified earlier!\n"},
		{args: []string{"nope@" + H}, stderr: "Error: Unknown UPS\n", code: 1},
		{args: []string{"gone@" + H}, stderr: "Error: Driver not connected\n", code: 1},

		{args: set("input.sensitivity=low", "ups@"+H), stderr: "OK\n", sent: []string{"ups SET input.sensitivity low"}},
		{args: set(`input.sensitivity=say "hi" \o/`, "ups@"+H), stderr: "OK\n", sent: []string{`ups SET input.sensitivity say "hi" \o/`}},
		{args: set("input.sensitivity=extreme", "ups@"+H), stderr: "Unexpected response from upsd: ERR INVALID-VALUE\n", code: 1},
		{args: set("input.transfer.low=93", "ups@"+H), stderr: "Unexpected response from upsd: ERR INVALID-VALUE\n", code: 1},
		{args: set("ups.id=0123456789abcdefX", "ups@"+H), stderr: "Unexpected response from upsd: ERR TOO-LONG\n", code: 1},
		{args: set("ups.status=OB", "ups@"+H), stderr: "Unexpected response from upsd: ERR READONLY\n", code: 1},
		{args: set("nope.var=1", "ups@"+H), stderr: "Unexpected response from upsd: ERR VAR-NOT-SUPPORTED\n", code: 1},
		{args: set("nope=1", "ups@"+H), stderr: "Error: old variable names are not supported\n", code: 1},
		{args: set("ups.id=x", "gone@"+H), stderr: "Unexpected response from upsd: ERR DRIVER-NOT-CONNECTED\n", code: 1},
		{args: []string{"-s", "ups.id=x", "-u", "admin", "-p", "no", "ups@" + H}, stderr: "Unexpected response from upsd: ERR ACCESS-DENIED\n", code: 1},
		{args: []string{"-s", "ups.id=x", "-u", "cmdonly", "-p", "pw", "ups@" + H}, stderr: "Unexpected response from upsd: ERR ACCESS-DENIED\n", code: 1},
		{args: []string{"-s", "ups.id=x", "-u", "", "-p", "pw", "ups@" + H}, stderr: "Unexpected response from upsd: ERR USERNAME-REQUIRED\n", code: 1},

		{args: set("battery.runtime.low=100", "-w", "ups@"+H), stderr: "SUCCESS\n", sent: []string{"ups SET battery.runtime.low 100"}},
		{args: set("ups.id=x", "-w", "ups@"+H), stderr: "ERR FAILED\n", sent: []string{"ups SET ups.id x"}},
		{args: set("ups.id=x", "-w", "-t", "0", "ups@"+H), stderr: "Can't receive status tracking information: timeout\n", code: 1, sent: []string{"ups SET ups.id x"}},

		// Prompts without a terminal.
		{args: []string{"-s", "battery.runtime.low=1", "ups@" + H}, stdin: "admin\ns3cret\n", stdout: "Username (" + user + "): ", stderr: "Password: OK\n", sent: []string{"ups SET battery.runtime.low 1"}},
		{args: []string{"-s", "battery.runtime.low", "ups@" + H}, stdin: "admin\ns3cret\n2\n", stdout: "Username (" + user + "): Enter new value for battery.runtime.low: ", stderr: "Password: OK\n", sent: []string{"ups SET battery.runtime.low 2"}},
		{args: set("battery.runtime.low", "ups@"+H), stdin: "", stdout: "Enter new value for battery.runtime.low: ", stderr: "OK\n", sent: []string{"ups SET battery.runtime.low "}},
		{args: []string{"-s", "ups.id=x", "ups@" + H}, stdin: "", stdout: "Username (" + user + "): ", stderr: "Password: Unexpected response from upsd: ERR PASSWORD-REQUIRED\n", code: 1},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " ")+" <<< "+tc.stdin, func(t *testing.T) {
			noTTY(t, tc.stdin)
			before := len(u.Sent())
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"upsrw"}, tc.args...), &stdout, &stderr)
			if code != tc.code || stdout.String() != tc.stdout || stderr.String() != tc.stderr {
				t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d, stdout:\n%s\nstderr:\n%s",
					code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
			sent := u.Sent()[before:]
			if strings.Join(sent, "|") != strings.Join(tc.sent, "|") {
				t.Errorf("the driver got %q, want %q", sent, tc.sent)
			}
		})
	}
}

// TestListingStopsWhereNUTStops: a variable whose value cannot be read in
// the middle of the listing ends it with NUT's message, after what was
// printed so far.
func TestListingStopsWhereNUTStops(t *testing.T) {
	s := clienttest.NewServer(t, clienttest.Script(map[string]clienttest.Reply{
		"LIST RW ups":      {Data: "BEGIN LIST RW ups\nRW ups a.b \"1\"\nRW ups c.d \"2\"\nEND LIST RW ups\n"},
		"GET DESC ups a.b": {Data: "DESC ups a.b \"First\"\n"},
		"GET TYPE ups a.b": {Data: "TYPE ups a.b RW NUMBER\n"},
		"GET VAR ups a.b":  {Data: "VAR ups a.b \"1\"\n"},
		"GET DESC ups c.d": {Data: "ERR VAR-NOT-SUPPORTED\n"},
		"GET TYPE ups c.d": {Data: "TYPE ups c.d RW STRING:8\n"},
		"GET VAR ups c.d":  {Data: "ERR DATA-STALE\n"},
		"LOGOUT":           {Data: "OK Goodbye\n", HangUp: true},
	}))
	var stdout, stderr bytes.Buffer
	code := run([]string{"upsrw", "ups@" + s.Addr}, &stdout, &stderr)
	wantOut := "[a.b]\nFirst\nType: NUMBER\nValue: 1\n\n[c.d]\nDescription unavailable\n"
	if code != 1 || stdout.String() != wantOut || stderr.String() != "do_string: can't get current value of c.d\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

func TestAtoi(t *testing.T) {
	tests := []struct {
		in   string
		want int32
	}{
		{"42", 42}, {"  -7x", -7}, {"+3", 3}, {"abc", 0}, {"", 0}, {"12.9", 12},
		{"2147483647", math.MaxInt32}, {"2147483648", math.MinInt32},
		{"99999999999999999999", -1}, {"-99999999999999999999", 0},
	}
	for _, tc := range tests {
		if got := atoi(tc.in); got != tc.want {
			t.Errorf("atoi(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
