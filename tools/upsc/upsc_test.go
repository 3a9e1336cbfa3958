package main

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/client/clienttest"
)

var devices = []clienttest.Device{
	{
		Name: "apc", Desc: `APC "ES" 750`,
		Vars: [][2]string{
			{"battery.charge", "100"},
			{"device.model", `Back-UPS "ES" \ 750`},
			{"ups.status", "OL CHRG"},
		},
		Clients: []string{"127.0.0.1", "::1"},
	},
	{Name: "empty"},
	{Name: "gone", Err: "DRIVER-NOT-CONNECTED"},
	{Name: "stale", Err: "DATA-STALE"},
}

const help = `Network UPS Tools upsc 2.8.0

usage: upsc -l | -L [<hostname>[:port]]
       upsc <ups> [<variable>]
       upsc -c <ups>

Demo program to display UPS variables.

First form (lists UPSes):
  -l         - lists each UPS on <hostname>, one per line.
  -L         - lists each UPS followed by its description (from ups.conf).
               Default hostname: localhost

Second form (lists variables and values):
  <ups>      - upsd server, <upsname>[@<hostname>[:<port>]] form
  <variable> - optional, display this variable only.
               Default: list all variables for <host>

Third form (lists clients connected to a device):
  -c         - lists each client connected on <ups>, one per line.
  <ups>      - upsd server, <upsname>[@<hostname>[:<port>]] form
`

func TestRun(t *testing.T) {
	s := clienttest.NewServer(t, clienttest.Fake(devices...))
	H := s.Addr
	// A port with nothing behind it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	const badUPS = "Error: invalid UPS definition.\nRequired format: upsname[@hostname[:port]]\n"
	tests := []struct {
		args           []string
		stdout, stderr string
		code           int
	}{
		{args: []string{"-h"}, stdout: help},
		{args: []string{"-lh"}, stdout: help},
		{args: []string{"-x"}, stdout: help, stderr: "upsc: invalid option -- 'x'\n"},
		{args: []string{"-V"}, stderr: "Network UPS Tools upsc 2.8.0\n"},
		{args: []string{"-Vh"}, stderr: "Network UPS Tools upsc 2.8.0\n"},
		{args: nil, stderr: badUPS, code: 1},
		{args: []string{"-c"}, stderr: badUPS, code: 1},
		{args: []string{""}, stderr: "upscli_splitname: can't parse empty string\n" + badUPS, code: 1},
		{args: []string{"ups@host:0"}, stderr: "upscli_splitaddr: no port specified after ':' separator\n" + badUPS, code: 1},
		{args: []string{"-l", "[::1"}, stderr: "upscli_splitaddr: missing closing bracket in [domain literal]\nError: invalid hostname.\nRequired format: [hostname[:port]]\n", code: 1},
		{args: []string{"ups@" + closed}, stderr: "Error: Connection failure: Connection refused\n", code: 1},

		{args: []string{"-l", H}, stdout: "apc\nempty\ngone\nstale\n"},
		{args: []string{"-L", H}, stdout: "apc: APC \"ES\" 750\nempty: Description unavailable\ngone: Description unavailable\nstale: Description unavailable\n"},
		{args: []string{"-c", "-l", H}, stdout: "apc\nempty\ngone\nstale\n"},
		{args: []string{"apc@" + H}, stdout: "battery.charge: 100\ndevice.model: Back-UPS \"ES\" \\ 750\nups.status: OL CHRG\n"},
		{args: []string{"APC@" + H, "ups.status"}, stdout: "OL CHRG\n"},
		{args: []string{"--", "apc@" + H, "ups.status", "ignored"}, stdout: "OL CHRG\n"},
		{args: []string{"apc@" + H, "nope.var"}, stderr: "Error: Variable not supported by UPS\n", code: 1},
		{args: []string{"apc@" + H, "status"}, stderr: "Error: old-style variable names are not supported\n", code: 1},
		{args: []string{"nope@" + H}, stderr: "Error: Unknown UPS\n", code: 1},
		{args: []string{"gone@" + H}, stderr: "Error: Driver not connected\n", code: 1},
		{args: []string{"gone@" + H, "ups.status"}, stderr: "Error: Driver not connected\n", code: 1},
		{args: []string{"stale@" + H, "ups.status"}, stderr: "Error: Data stale\n", code: 1},
		{args: []string{"-c", "apc@" + H}, stdout: "127.0.0.1\n::1\n"},
		{args: []string{"-c", "empty@" + H}},
		{args: []string{"empty@" + H}},

		// -j, gonut's JSON output.
		{args: []string{"-j", "-l", H}, stdout: "[\n  \"apc\",\n  \"empty\",\n  \"gone\",\n  \"stale\"\n]\n"},
		{args: []string{"-jL", H}, stdout: "{\n  \"apc\": \"APC \\\"ES\\\" 750\",\n  \"empty\": \"Description unavailable\",\n  \"gone\": \"Description unavailable\",\n  \"stale\": \"Description unavailable\"\n}\n"},
		{args: []string{"-j", "apc@" + H}, stdout: "{\n  \"battery.charge\": \"100\",\n  \"device.model\": \"Back-UPS \\\"ES\\\" \\\\ 750\",\n  \"ups.status\": \"OL CHRG\"\n}\n"},
		{args: []string{"-j", "apc@" + H, "ups.status"}, stdout: "{\n  \"ups.status\": \"OL CHRG\"\n}\n"},
		{args: []string{"-j", "-c", "apc@" + H}, stdout: "[\n  \"127.0.0.1\",\n  \"::1\"\n]\n"},
		{args: []string{"-j", "-c", "empty@" + H}, stdout: "[]\n"},
		{args: []string{"-j", "empty@" + H}, stdout: "{}\n"},
		{args: []string{"-j", "gone@" + H}, stderr: "Error: Driver not connected\n", code: 1},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"upsc"}, tc.args...), &stdout, &stderr)
			if code != tc.code || stdout.String() != tc.stdout || stderr.String() != tc.stderr {
				t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d, stdout:\n%s\nstderr:\n%s",
					code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
			if strings.HasPrefix(tc.stdout, "{") || strings.HasPrefix(tc.stdout, "[") {
				var v any
				if err := json.Unmarshal(stdout.Bytes(), &v); err != nil {
					t.Errorf("-j output is not JSON: %v", err)
				}
			}
		})
	}
}

// TestProgramName: getopt's message names the program as invoked, the
// help names its base name.
func TestProgramName(t *testing.T) {
	var stdout, stderr bytes.Buffer
	run([]string{"/usr/local/bin/upsc", "-q"}, &stdout, &stderr)
	if got := stderr.String(); got != "/usr/local/bin/upsc: invalid option -- 'q'\n" {
		t.Errorf("stderr = %q", got)
	}
	if !strings.Contains(stdout.String(), "usage: upsc -l | -L") {
		t.Errorf("help does not use the base name:\n%s", stdout.String())
	}
}

// TestHostileServer: a server that answers out of step or not at all
// makes upsc fail with NUT's words, not hang or print a wrong value.
func TestHostileServer(t *testing.T) {
	old := timeout
	timeout = 200 * time.Millisecond
	defer func() { timeout = old }()
	tests := []struct {
		name   string
		reply  clienttest.Reply
		args   []string
		stderr string
	}{
		{"wrong variable", clienttest.Reply{Data: "VAR ups other \"1\"\n"}, []string{"x.y"}, "Error: Protocol error\n"},
		{"silent", clienttest.Reply{Hang: true}, []string{"x.y"}, "Error: Server disconnected\n"},
		{"hangs up", clienttest.Reply{HangUp: true}, nil, "Error: Server disconnected\n"},
		{"unknown ERR code", clienttest.Reply{Data: "ERR INVALID-ARGUMENT\n"}, []string{"x.y"}, "Error: Unknown error\n"},
		{"old upsd GET", clienttest.Reply{Data: "ERR UNKNOWN-COMMAND\n"}, []string{"x.y"}, "Error: variable unknown (old upsd detected)\n"},
		{"old upsd LIST", clienttest.Reply{Data: "ERR UNKNOWN-COMMAND\n"}, nil, "Error: upsd is too old to support this query\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := clienttest.NewServer(t, func([]string) clienttest.Reply { return tc.reply })
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"upsc", "ups@" + s.Addr}, tc.args...), &stdout, &stderr)
			if code != 1 || stdout.Len() != 0 || stderr.String() != tc.stderr {
				t.Errorf("exit %d stdout %q stderr %q; want exit 1, stderr %q", code, stdout.String(), stderr.String(), tc.stderr)
			}
		})
	}
}

// TestLogout: like NUT's upsc, it first tries STARTTLS (the fake server,
// without WithTLS, answers it with an ERR, as a upsd without a
// certificate does), goes on in plain text, and ends its session with
// LOGOUT.
func TestLogout(t *testing.T) {
	s := clienttest.NewServer(t, clienttest.Fake(devices...))
	var stdout, stderr bytes.Buffer
	if code := run([]string{"upsc", "apc@" + s.Addr, "ups.status"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if r := s.Requests(); len(r) == 3 {
			if r[0] != "STARTTLS" || r[1] != "GET VAR apc ups.status" || r[2] != "LOGOUT" {
				t.Errorf("requests = %q", r)
			}
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Errorf("requests = %q, want STARTTLS, GET VAR, LOGOUT", s.Requests())
}
