package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/client/clienttest"
	"github.com/gonut/gonut/client/nutcli"
)

const help = `Network UPS Tools upscmd 2.8.0

usage: upscmd [-h]
       upscmd [-l <ups>]
       upscmd [-u <username>] [-p <password>] [-w] [-t <timeout>] <ups> <command> [<value>]

Administration program to initiate instant commands on UPS hardware.

  -h		display this help text
  -l <ups>	show available commands on UPS <ups>
  -u <username>	set username for command authentication
  -p <password>	set password for command authentication
  -w            wait for the completion of command by the driver
                and return its actual result from the device
  -t <timeout>	set a timeout when using -w (in seconds, default: 10)

  <ups>		UPS identifier - <upsname>[@<hostname>[:<port>]]
  <command>	Valid instant command - test.panel.start, etc.
  [<value>]	Additional data for command - number of seconds, etc.
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

func fakeUPSD(t *testing.T) (*clienttest.UPSD, string) {
	t.Helper()
	u := clienttest.NewUPSD(
		clienttest.Device{Name: "ups", Vars: [][2]string{{"ups.status", "OL"}}, Cmds: []string{"load.off", "test.battery.start", "beeper.disable", "x.nodesc"}},
		clienttest.Device{Name: "gone", Err: "DRIVER-NOT-CONNECTED"},
	)
	u.AddUser(clienttest.User{Name: "admin", Password: "s3cret", InstCmds: []string{"all"}})
	u.AddUser(clienttest.User{Name: "spaced", Password: "two words #1", InstCmds: []string{"all"}})
	u.AddUser(clienttest.User{Name: "cmdonly", Password: "pw", InstCmds: []string{"load.off"}})
	u.SetResult("ups", "test.battery.start", 3, "SUCCESS")
	u.SetResult("ups", "beeper.disable", 0, "ERR FAILED")
	u.SetResult("ups", "x.nodesc", 1<<30, "SUCCESS")
	return u, u.Start(t).Addr
}

func TestRun(t *testing.T) {
	u, H := fakeUPSD(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	user, _ := nutcli.CurrentUser()
	const badUPS = "Error: invalid UPS definition.  Required format: upsname[@hostname[:port]]\n"
	tests := []struct {
		args           []string
		stdin          string
		stdout, stderr string
		code           int
		sent           []string // what the driver got
	}{
		{args: nil, stdout: help},
		{args: []string{"-h"}, stdout: help},
		{args: []string{"-x"}, stdout: help, stderr: "upscmd: invalid option -- 'x'\n"},
		{args: []string{"-u"}, stdout: help, stderr: "upscmd: option requires an argument -- 'u'\n"},
		{args: []string{"-l"}, stdout: help},
		{args: []string{"-V"}, stderr: "Network UPS Tools upscmd 2.8.0\n"},
		{args: []string{"-t", "x", "ups@" + H, "load.off"}, stderr: "Could not convert the provided value for timeout ('-t' option) to unsigned int: Invalid argument\n", code: 1},
		{args: []string{"-t", "5000000000", "ups@" + H, "load.off"}, stderr: "Could not convert the provided value for timeout ('-t' option) to unsigned int: Numerical result out of range\n", code: 1},
		{args: []string{"", "load.off"}, stderr: "upscli_splitname: can't parse empty string\n" + badUPS, code: 1},
		{args: []string{"ups@" + closed, "load.off"}, stderr: "Error: Connection failure: Connection refused\n", code: 1},
		{args: []string{"ups@" + H}, stdout: help},

		{args: []string{"-l", "ups@" + H}, stdout: "Instant commands supported on UPS [ups]:\n\nload.off - Description unavailable\ntest.battery.start - Description unavailable\nbeeper.disable - Description unavailable\nx.nodesc - Description unavailable\n"},
		{args: []string{"-l", "nope@" + H}, stderr: "Error: Unknown UPS\n", code: 1},
		{args: []string{"-l", "gone@" + H}, stderr: "Error: Driver not connected\n", code: 1},

		{args: []string{"-u", "admin", "-p", "s3cret", "ups@" + H, "load.off"}, stderr: "OK\n", sent: []string{"ups INSTCMD load.off"}},
		{args: []string{"-uadmin", "-ps3cret", "ups@" + H, "load.off", "30", "extra"}, stderr: "OK\n", sent: []string{"ups INSTCMD load.off 30"}},
		{args: []string{"-u", "admin", "-p", "s3cret", "ups@" + H, "load.off", "two words"}, stderr: "OK\n", sent: []string{"ups INSTCMD load.off two words"}},
		{args: []string{"-u", "admin", "-p", "s3cret", "ups@" + H, "load.off", ""}, stderr: "OK\n", sent: []string{"ups INSTCMD load.off"}},
		{args: []string{"-u", "spaced", "-p", "two words #1", "ups@" + H, "load.off"}, stderr: "OK\n", sent: []string{"ups INSTCMD load.off"}},
		{args: []string{"-u", "admin", "-p", "wrong", "ups@" + H, "load.off"}, stderr: "Unexpected response from upsd: ERR ACCESS-DENIED\n", code: 1},
		{args: []string{"-u", "cmdonly", "-p", "pw", "ups@" + H, "beeper.disable"}, stderr: "Unexpected response from upsd: ERR ACCESS-DENIED\n", code: 1},
		{args: []string{"-u", "admin", "-p", "s3cret", "ups@" + H, "load.on"}, stderr: "Unexpected response from upsd: ERR CMD-NOT-SUPPORTED\n", code: 1},
		{args: []string{"-u", "admin", "-p", "s3cret", "nope@" + H, "load.off"}, stderr: "Unexpected response from upsd: ERR UNKNOWN-UPS\n", code: 1},
		{args: []string{"-u", "admin", "-p", "s3cret", "gone@" + H, "load.off"}, stderr: "Unexpected response from upsd: ERR DRIVER-NOT-CONNECTED\n", code: 1},
		{args: []string{"-u", "admin", "-p", "s3cret", "ups@" + H, "off"}, stderr: "Error: old command names are not supported\n", code: 1},
		{args: []string{"-u", "", "-p", "s3cret", "ups@" + H, "load.off"}, stderr: "Unexpected response from upsd: ERR USERNAME-REQUIRED\n", code: 1},
		{args: []string{"-u", "admin", "-p", "", "ups@" + H, "load.off"}, stderr: "Unexpected response from upsd: ERR PASSWORD-REQUIRED\n", code: 1},

		// -w
		{args: []string{"-w", "-u", "admin", "-p", "s3cret", "ups@" + H, "test.battery.start"}, stderr: "SUCCESS\n", sent: []string{"ups INSTCMD test.battery.start"}},
		{args: []string{"-w", "-u", "admin", "-p", "s3cret", "ups@" + H, "beeper.disable"}, stderr: "ERR FAILED\n", sent: []string{"ups INSTCMD beeper.disable"}},
		{args: []string{"-w", "-t", "0", "-u", "admin", "-p", "s3cret", "ups@" + H, "load.off"}, stderr: "Can't receive status tracking information: timeout\n", code: 1, sent: []string{"ups INSTCMD load.off"}},
		{args: []string{"-w", "-t", "1", "-u", "admin", "-p", "s3cret", "ups@" + H, "x.nodesc"}, stderr: "Can't receive status tracking information: timeout\n", code: 1, sent: []string{"ups INSTCMD x.nodesc"}},
		{args: []string{"-w", "-u", "admin", "-p", "wrong", "ups@" + H, "load.off"}, stderr: "Unexpected response from upsd: ERR ACCESS-DENIED\n", code: 1},
		{args: []string{"-w", "ups@" + H, "load.off"}, stdin: "admin\ns3cret\n", stdout: "Username (" + user + "): ", stderr: "Password: SUCCESS\n", sent: []string{"ups INSTCMD load.off"}},

		// Prompts without a terminal.
		{args: []string{"ups@" + H, "load.off"}, stdin: "admin\ns3cret\n", stdout: "Username (" + user + "): ", stderr: "Password: OK\n", sent: []string{"ups INSTCMD load.off"}},
		{args: []string{"ups@" + H, "load.off"}, stdin: "admin\ns3cret", stdout: "Username (" + user + "): ", stderr: "Password: OK\n", sent: []string{"ups INSTCMD load.off"}},
		{args: []string{"ups@" + H, "load.off"}, stdin: "", stdout: "Username (" + user + "): ", stderr: "Error reading from stdin!\n", code: 1},
		{args: []string{"ups@" + H, "load.off"}, stdin: "admin\n", stdout: "Username (" + user + "): ", stderr: "Password: Unexpected response from upsd: ERR PASSWORD-REQUIRED\n", code: 1},
		{args: []string{"-u", "admin", "ups@" + H, "load.off"}, stdin: "s3cret\n", stderr: "Password: OK\n", sent: []string{"ups INSTCMD load.off"}},
		{args: []string{"-p", "s3cret", "ups@" + H, "load.off"}, stdin: "admin\n", stdout: "Username (" + user + "): ", stderr: "OK\n", sent: []string{"ups INSTCMD load.off"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " ")+" <<< "+tc.stdin, func(t *testing.T) {
			noTTY(t, tc.stdin)
			before := len(u.Sent())
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"upscmd"}, tc.args...), &stdout, &stderr)
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

// TestProgramName: getopt's message names the program as invoked, the
// help names its base name.
func TestProgramName(t *testing.T) {
	var stdout, stderr bytes.Buffer
	run([]string{"/usr/local/bin/upscmd", "-q"}, &stdout, &stderr)
	if got := stderr.String(); got != "/usr/local/bin/upscmd: invalid option -- 'q'\n" {
		t.Errorf("stderr = %q", got)
	}
	if !strings.Contains(stdout.String(), "usage: upscmd [-h]") {
		t.Errorf("help does not use the base name:\n%s", stdout.String())
	}
}

// TestHostileServer: a server that hangs up or goes silent makes upscmd
// fail with NUT's words for the step that failed.
func TestHostileServer(t *testing.T) {
	old := timeout
	timeout = 200 * time.Millisecond
	defer func() { timeout = old }()
	tests := []struct {
		name   string
		hangAt string // the request the server hangs up on
		silent bool   // go silent instead
		args   []string
		stderr string
	}{
		{"hang-up at USERNAME", "USERNAME", false, nil, "Set username failed: Server disconnected\n"},
		{"hang-up at PASSWORD", "PASSWORD", false, nil, "Set password failed: Server disconnected\n"},
		{"hang-up at INSTCMD", "INSTCMD", false, nil, "Instant command failed: Server disconnected\n"},
		{"silent at INSTCMD", "INSTCMD", true, nil, "Instant command failed: Server disconnected\n"},
		{"hang-up at SET TRACKING", "SET", false, []string{"-w"}, "Enabling command status tracking failed: Server disconnected\n"},
		{"hang-up at GET TRACKING", "GET", false, []string{"-w"}, "Can't receive status tracking information: Server disconnected\n"},
		{"hang-up at LIST CMD", "LIST", false, []string{"-l"}, "Error: Server disconnected\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noTTY(t, "")
			s := clienttest.NewServer(t, func(w []string) clienttest.Reply {
				if len(w) > 0 && w[0] == tc.hangAt {
					return clienttest.Reply{HangUp: !tc.silent, Hang: tc.silent}
				}
				switch {
				case len(w) > 0 && w[0] == "INSTCMD":
					return clienttest.Reply{Data: "OK TRACKING 0F6A7C1E-3B52-4D4B-9E3A-6C1F0B2A9D11\n"}
				case len(w) > 1 && w[0] == "GET":
					return clienttest.Reply{Data: "PENDING\n"}
				}
				return clienttest.Reply{Data: "OK\n"}
			})
			args := append([]string{"upscmd"}, tc.args...)
			if len(tc.args) == 0 || tc.args[0] != "-l" {
				args = append(args, "-u", "u", "-p", "p")
			}
			args = append(args, "ups@"+s.Addr, "load.off")
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			if code != 1 || stderr.String() != tc.stderr {
				t.Errorf("exit %d, stderr %q; want 1, %q", code, stderr.String(), tc.stderr)
			}
		})
	}
}
