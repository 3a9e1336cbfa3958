package tools

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/client"
	"github.com/gonut/gonut/internal/nuttest"
)

func upsrwTool(t *testing.T) tool {
	return tool{name: "upsrw", nut: nuttest.NUTUpsrw, gonut: nuttest.Program(t, "./tools/upsrw")}
}

// TestUpsrw compares every form of upsrw, NUT's and gonut's, against
// NUT's upsd and gonut's: the listing of writable variables with each
// type NUT displays (STRING:n, NUMBER, ENUM of strings and of numbers,
// RANGE, the SELECTED marks), SET with every refusal upsd gives, -w with
// the driver's results, and the prompts for the username, the password
// and the value.
func TestUpsrw(t *testing.T) {
	tl := upsrwTool(t)
	l := startLab(t)
	closed := "ups@127.0.0.1:" + strconv.Itoa(nuttest.FreePort(t))
	set := func(assign string, extra ...string) []string {
		return append([]string{"-s", assign, "-u", "admin", "-p", "s3cret"}, extra...)
	}
	type tcase struct {
		stdin string
		args  []string
	}
	run := func(cases []tcase) {
		t.Helper()
		for _, c := range cases {
			name := strings.Join(c.args, " ")
			if c.stdin != "" {
				name += " <<< " + strconv.Quote(c.stdin)
			}
			t.Run(name, func(t *testing.T) { l.compare(t, tl, c.stdin, c.args...) })
		}
	}

	// Listings, before anything is set.
	run([]tcase{
		{"", nil}, {"", []string{"-h"}}, {"", []string{"-V"}}, {"", []string{"-x"}}, {"", []string{"-s"}},
		{"", []string{"-l"}}, {"", []string{"--", "-l"}}, {"", []string{"-t", "x", "rw@UPSD"}},
		{"", []string{"-t", "4294967296", "-s", "ups.id=x", "rw@UPSD"}},
		{"", []string{""}}, {"", []string{"ups@host:0"}}, {"", []string{closed}}, {"", []string{"-s", "ups.id=x", closed}},
		{"", []string{"rw@UPSD"}}, {"", []string{"-l", "rw@UPSD"}}, {"", []string{"RW@UPSD"}},
		{"", []string{"dummy@UPSD"}}, {"", []string{"rw@UPSD", "extra"}},
		{"", []string{"nope@UPSD"}}, {"", []string{"gone@UPSD"}},
		{"", []string{"-s", "ups.id=x", "-l", "rw@UPSD"}},
	})

	// SET, and every refusal.
	run([]tcase{
		{"", set("input.sensitivity=low", "rw@UPSD")},
		{"", set("input.sensitivity=extreme", "rw@UPSD")},
		{"", set("input.transfer.low=90", "rw@UPSD")},
		{"", set("input.transfer.low=93", "rw@UPSD")},
		{"", set("input.transfer.low=abc", "rw@UPSD")},
		{"", set("input.transfer.high=-5", "rw@UPSD")},
		{"", set("outlet.1.delay.shutdown=30", "rw@UPSD")},
		{"", set("outlet.1.delay.shutdown=45", "rw@UPSD")},
		{"", set("ups.id=0123456789abcdefX", "rw@UPSD")},
		{"", set("ups.id=two words # and more", "rw@UPSD")},
		{"", set("ups.id=", "rw@UPSD")},
		{"", set("ups.beeper.status=disabled", "rw@UPSD")},
		{"", set("ups.status=OB", "rw@UPSD")},
		{"", set("device.mfr=x", "rw@UPSD")},
		{"", set("nope.var=1", "rw@UPSD")},
		{"", set("sensitivity=1", "rw@UPSD")},
		{"", set("=1", "rw@UPSD")},
		{"", set("battery.runtime.low=100=200", "rw@UPSD")},
		{"", set("ups.id=x", "nope@UPSD")},
		{"", set("ups.id=x", "gone@UPSD")},
		{"", set("battery.charge.low=11", "dummy@UPSD")},
		{"", []string{"-s", "ups.id=x", "-u", "admin", "-p", "wrong", "rw@UPSD"}},
		{"", []string{"-s", "ups.id=x", "-u", "nosuchuser", "-p", "s3cret", "rw@UPSD"}},
		{"", []string{"-s", "ups.id=x", "-u", "cmdonly", "-p", "pw", "rw@UPSD"}},
		{"", []string{"-s", "ups.id=y", "-u", "setonly", "-p", "pw", "rw@UPSD"}},
		{"", []string{"-s", "ups.id=x", "-u", "", "-p", "s3cret", "rw@UPSD"}},
		{"", []string{"-s", "ups.id=x", "-u", "admin", "-p", "", "rw@UPSD"}},

		// -w: the driver's results.
		{"", set("ups.id=tracked", "-w", "rw@UPSD")},
		{"", set("ups.id="+refuse, "-w", "rw@UPSD")},
		{"", set("input.transfer.low=93", "-w", "rw@UPSD")},
		{"", set("ups.id=x", "-w", "-t", "0", "rw@UPSD")},
		{"", set("battery.charge.low=12", "-w", "dummy@UPSD")},
		{"", []string{"-w", "-s", "ups.id=x", "-u", "nobody", "-p", "pw", "rw@UPSD"}},

		// Prompts, answered on stdin (no terminal).
		{"admin\ns3cret\n", []string{"-s", "battery.runtime.low=130", "rw@UPSD"}},
		{"admin\ns3cret\n140\n", []string{"-s", "battery.runtime.low", "rw@UPSD"}},
		{"150\n", set("battery.runtime.low", "rw@UPSD")},
		{"\ns3cret\n", []string{"-s", "battery.runtime.low=160", "rw@UPSD"}},
		{"", []string{"-s", "battery.runtime.low=170", "rw@UPSD"}},
		{"s3cret\n", []string{"-s", "battery.runtime.low=180", "-u", "admin", "rw@UPSD"}},
		{"admin\n", []string{"-s", "battery.runtime.low=190", "-p", "s3cret", "rw@UPSD"}},
		{"\n", set("ups.id", "rw@UPSD")},
	})

	// The listing again, now that values have changed: wait until both
	// upsds show the last SET.
	waitVar(t, l, fakeUPS, "ups.id", "")
	run([]tcase{{"", []string{"rw@UPSD"}}})
}

// TestUpsrwEnumValueWithQuotes sets an ENUM value that holds quotes and a
// backslash. NUT's upsd 2.8.0 refuses it (ERR INVALID-VALUE) although LIST
// ENUM offers it: it keeps enum values escaped and compares them with the
// value as sent. gonut's upsd accepts it. Against either, gonut's upsrw
// says what NUT's says.
func TestUpsrwEnumValueWithQuotes(t *testing.T) {
	tl := upsrwTool(t)
	l := startLab(t)
	args := []string{"-s", `input.sensitivity=say "hi" \o/`, "-u", "admin", "-p", "s3cret", "rw@UPSD"}
	l.compareTools(t, tl, "", args...)
	for _, s := range l.servers() {
		c := nuttest.Dial(t, s.srv.Addr())
		for _, req := range []string{"LIST ENUM rw input.sensitivity", "USERNAME admin", "PASSWORD s3cret", `SET VAR rw input.sensitivity "say \"hi\" \\o/"`} {
			if err := c.Send(req); err != nil {
				t.Fatal(err)
			}
			for {
				line, err := c.ReadLine()
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: %s -> %s", s.name, req, line)
				if !strings.HasPrefix(line, "BEGIN") && !strings.HasPrefix(line, "ENUM") {
					break
				}
			}
		}
	}
}

// waitVar waits until both of the lab's upsds give want for a variable.
func waitVar(t *testing.T, l *lab, ups, name, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range l.servers() {
		for {
			got, err := func() (string, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				c, err := client.Dial(ctx, s.srv.Addr())
				if err != nil {
					return "", err
				}
				defer c.Close()
				return c.GetVar(ctx, ups, name)
			}()
			if err == nil && got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s %s = %q, %v; want %q", s.name, ups, name, got, err, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
