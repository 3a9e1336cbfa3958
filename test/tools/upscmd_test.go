package tools

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/gonut/gonut/internal/nuttest"
)

func upscmdTool(t *testing.T) tool {
	return tool{name: "upscmd", nut: nuttest.NUTUpscmd, gonut: nuttest.Program(t, "./tools/upscmd")}
}

// TestUpscmd compares every form of upscmd, NUT's and gonut's, against
// NUT's upsd and gonut's, with NUT's dummy-ups and a driver of our own
// behind them: help and argument errors, -l, commands with and without a
// parameter, every refusal upsd gives, -w with each result a driver can
// report, a slow driver and a silent one (-t), and the prompts for what
// -u and -p did not give.
func TestUpscmd(t *testing.T) {
	tl := upscmdTool(t)
	l := startLab(t)
	closed := "ups@127.0.0.1:" + strconv.Itoa(nuttest.FreePort(t))
	admin := []string{"-u", "admin", "-p", "s3cret"}
	cmd := func(extra ...string) []string { return append(append([]string(nil), admin...), extra...) }

	cases := []struct {
		stdin string
		args  []string
	}{
		// Help, version and argument errors.
		{"", nil}, {"", []string{"-h"}}, {"", []string{"-V"}}, {"", []string{"-x"}}, {"", []string{"-u"}},
		{"", []string{"-l"}}, {"", []string{"-t"}}, {"", []string{"--", "-l"}}, {"", []string{"-lh"}},
		{"", []string{"-hV"}}, {"", []string{"--foo"}},
		{"", []string{"-t", "abc", "rw@UPSD", cmdOK}}, {"", []string{"-t", "-5", "rw@UPSD", cmdOK}},
		{"", []string{"-t", "99999999999", "rw@UPSD", cmdOK}}, {"", []string{"-t", "", "rw@UPSD", cmdOK}},
		{"", []string{"-t", "5x", "rw@UPSD", cmdOK}},
		{"", []string{""}}, {"", []string{"ups@host:0", cmdOK}}, {"", []string{"ups@[::1", cmdOK}},
		{"", []string{"-l", closed}}, {"", cmd(closed, cmdOK)},
		{"", []string{"rw@UPSD"}}, {"", cmd("rw@UPSD")},

		// -l: commands with descriptions (and one without).
		{"", []string{"-l", "rw@UPSD"}}, {"", []string{"-l", "dummy@UPSD"}}, {"", []string{"-l", "RW@UPSD"}},
		{"", []string{"-l", "rw@UPSD", "extra", "words"}}, {"", []string{"-l", "-u", "admin", "rw@UPSD"}},
		{"", []string{"-l", "nope@UPSD"}}, {"", []string{"-l", "gone@UPSD"}},

		// Commands, and every refusal.
		{"", cmd("rw@UPSD", cmdOK)}, {"", cmd("dummy@UPSD", "load.off")}, {"", cmd("RW@UPSD", cmdOK)},
		{"", cmd("rw@UPSD", cmdParam, "30")}, {"", cmd("rw@UPSD", cmdParam, "")},
		{"", cmd("rw@UPSD", cmdParam, "30", "ignored")},
		{"", cmd("rw@UPSD", "load.on")}, {"", cmd("rw@UPSD", "off")}, {"", cmd("nope@UPSD", cmdOK)},
		{"", cmd("gone@UPSD", cmdOK)},
		{"", []string{"-u", "admin", "-p", "wrong", "rw@UPSD", cmdOK}},
		{"", []string{"-u", "nosuchuser", "-p", "s3cret", "rw@UPSD", cmdOK}},
		{"", []string{"-u", "cmdonly", "-p", "pw", "rw@UPSD", cmdOK}},
		{"", []string{"-u", "cmdonly", "-p", "pw", "rw@UPSD", cmdFailed}},
		{"", []string{"-u", "setonly", "-p", "pw", "rw@UPSD", cmdOK}},
		{"", []string{"-u", "nobody", "-p", "pw", "rw@UPSD", cmdOK}},
		{"", []string{"-u", "", "-p", "s3cret", "rw@UPSD", cmdOK}},
		{"", []string{"-u", "admin", "-p", "", "rw@UPSD", cmdOK}},

		// -w: each result a driver reports, a slow driver, a silent one.
		{"", cmd("-w", "rw@UPSD", cmdOK)}, {"", cmd("-w", "rw@UPSD", cmdFailed)},
		{"", cmd("-w", "rw@UPSD", cmdInvalid)}, {"", cmd("-w", "rw@UPSD", cmdUnknown)},
		{"", cmd("-w", "rw@UPSD", cmdParam, "120")}, {"", cmd("-w", "-t", "5", "rw@UPSD", cmdSlow)},
		{"", cmd("-w", "-t", "1", "rw@UPSD", cmdNever)}, {"", cmd("-t", "0", "-w", "rw@UPSD", cmdOK)},
		{"", cmd("-w", "dummy@UPSD", "load.off")}, {"", cmd("-w", "rw@UPSD", "load.on")},
		{"", []string{"-w", "-u", "nobody", "-p", "pw", "rw@UPSD", cmdOK}},
		{"", []string{"-w", "rw@UPSD", cmdOK}},

		// Prompts, answered on stdin (no terminal).
		{"admin\ns3cret\n", []string{"rw@UPSD", cmdOK}},
		{"admin\ns3cret", []string{"rw@UPSD", cmdOK}},
		{"\ns3cret\n", []string{"rw@UPSD", cmdOK}},
		{"", []string{"rw@UPSD", cmdOK}},
		{"admin\n", []string{"rw@UPSD", cmdOK}},
		{"s3cret\n", []string{"-u", "admin", "rw@UPSD", cmdOK}},
		{"admin\n", []string{"-p", "s3cret", "rw@UPSD", cmdOK}},
		{"admin\nwrong\n", []string{"-w", "rw@UPSD", cmdOK}},
	}
	for _, c := range cases {
		name := strings.Join(c.args, " ")
		if c.stdin != "" {
			name += " <<< " + strconv.Quote(c.stdin)
		}
		t.Run(name, func(t *testing.T) {
			l.fake.Received()
			l.compare(t, tl, c.stdin, c.args...)
			// Each of the four runs asked the driver the same thing.
			got := l.fake.ReceivedSettled()
			if len(got)%4 != 0 {
				t.Fatalf("the driver got %q: not the same from each run", got)
			}
			n := len(got) / 4
			for i := 1; i < 4; i++ {
				if !reflect.DeepEqual(got[i*n:(i+1)*n], got[:n]) {
					t.Errorf("the driver got %q from NUT's upscmd and NUT's upsd, %q from run %d", got[:n], got[i*n:(i+1)*n], i+1)
				}
			}
		})
	}
}

// TestUpscmdParameterQuoting: NUT's upscmd sends a parameter with blanks
// unquoted, so upsd drops it; gonut's quotes it. NUT's upsd 2.8.0 then
// passes it to the driver unquoted, as several words a driver ignores;
// gonut's upsd passes it whole.
func TestUpscmdParameterQuoting(t *testing.T) {
	tl := upscmdTool(t)
	l := startLab(t)
	for _, s := range l.servers() {
		args := []string{"-u", "admin", "-p", "s3cret", fakeUPS + "@" + s.srv.Addr(), cmdParam, "two words"}
		l.fake.Received()
		nut := runTool(t, l.env, tl.nut, tl.name, "", args...)
		nutGot := l.fake.ReceivedAtLeast(1)
		gonut := runTool(t, l.env, tl.gonut, tl.name, "", args...)
		gonutGot := l.fake.ReceivedAtLeast(1)
		if nut != gonut {
			t.Errorf("%s: output differs\n=== NUT:\n%v\n=== gonut:\n%v", s.name, nut, gonut)
		}
		t.Logf("%s: the driver got %q from NUT's upscmd, %q from gonut's", s.name, nutGot, gonutGot)
		if want := []string{"INSTCMD " + cmdParam}; !reflect.DeepEqual(nutGot, want) {
			t.Errorf("%s: with NUT's upscmd the driver got %q, want %q (the parameter dropped)", s.name, nutGot, want)
		}
		if s.srv != l.gonut {
			continue
		}
		if want := []string{"INSTCMD " + cmdParam + " two words"}; !reflect.DeepEqual(gonutGot, want) {
			t.Errorf("%s: with gonut's upscmd the driver got %q, want %q", s.name, gonutGot, want)
		}
	}
}
