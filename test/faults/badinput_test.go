package faults

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

// exitsWith runs a program that must refuse to start: it has to exit with
// a non-zero status and say every one of want in its output.
func exitsWith(t *testing.T, d *nuttest.Dir, prog string, args []string, want ...string) {
	t.Helper()
	p := d.Start(t, prog, args...)
	code, ok := p.Wait(giveUp)
	if !ok {
		t.Fatalf("%s kept running; output so far:\n%s", p.Name, p.Output())
	}
	if code == 0 {
		t.Errorf("%s exited with status 0; want a failure\n%s", p.Name, p.Output())
	}
	for _, w := range want {
		if !strings.Contains(p.Output(), w) {
			t.Errorf("%s output does not say %q:\n%s", p.Name, w, p.Output())
		}
	}
}

// TestMalformedUPSConf: nut-driver-host refuses a broken ups.conf and names
// the file and line.
func TestMalformedUPSConf(t *testing.T) {
	cases := []struct {
		name, conf string
		line       int
	}{
		{"unclosed section header", "[ups\n\tdriver = benchdriver\n\tport = none\n", 1},
		{"key without =", "[ups]\n\tdriver benchdriver\n\tport = none\n", 2},
		{"missing value", "[ups]\n\tdriver = benchdriver\n\tport =\n", 3},
		{"non-numeric pollinterval", "[ups]\n\tdriver = benchdriver\n\tport = none\n\tpollinterval = often\n", 4},
		{"global pollinterval 0", "pollinterval = 0\n[ups]\n\tdriver = benchdriver\n\tport = none\n", 1},
		{"quote open at end of file", "[ups]\n\tdriver = benchdriver\n\tport = none\n\tdesc = \"a UPS\n", 4},
		{"section without driver", "maxretry = 3\n\n[ups]\n\tport = none\n", 3},
		{"repeated section", "[ups]\n\tdriver = benchdriver\n\tport = none\n[UPS]\n\tdriver = benchdriver\n\tport = none\n", 4},
	}
	prog := nuttest.Program(t, nuttest.PkgHost)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := nuttest.NewDir(t)
			d.WriteFile(t, "ups.conf", c.conf)
			exitsWith(t, d, prog, []string{"-F"}, fmt.Sprintf("%s:%d:", d.Join("ups.conf"), c.line))
		})
	}
}

// TestMalformedUpsdConfig: gonut's upsd refuses a broken upsd.conf or
// upsd.users and names the file and line.
func TestMalformedUpsdConfig(t *testing.T) {
	cases := []struct {
		name, file, content string
		line                int
	}{
		{"MAXAGE not a number", "upsd.conf", "LISTEN 127.0.0.1 3493\nMAXAGE soon\n", 2},
		{"LISTEN without address", "upsd.conf", "LISTEN\n", 1},
		{"lower-case directive", "upsd.conf", "# comment\n\nmaxage 5\n", 3},
		{"MAXCONN 0", "upsd.conf", "MAXCONN 0\n", 1},
		{"CERTREQUEST bogus", "upsd.conf", "CERTREQUEST MAYBE\n", 1},
		{"upsmon type", "upsd.users", "[mon]\n\tpassword = pw\n\tupsmon boss\n", 3},
		{"setting outside a user", "upsd.users", "password = pw\n", 1},
		{"unknown setting", "upsd.users", "[mon]\n\tpassword = pw\n\tfrobnicate = 1\n", 3},
		{"unclosed user header", "upsd.users", "[admin]\n\tpassword = pw\n[mon\n", 3},
	}
	prog := nuttest.Program(t, nuttest.PkgUpsd)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := nuttest.NewDir(t)
			d.WriteUPSConf(t, nil, nuttest.Section{Name: "ups", Driver: "dummy-ups", Port: "ups.dev"})
			port := nuttest.FreePort(t)
			d.WriteFile(t, "upsd.conf", fmt.Sprintf("LISTEN 127.0.0.1 %d\n", port))
			d.WriteFile(t, "upsd.users", "")
			d.WriteFile(t, c.file, c.content)
			exitsWith(t, d, prog, []string{"-u", nuttest.RunAsUser(), "-F"}, fmt.Sprintf("%s:%d:", d.Join(c.file), c.line))
		})
	}
}

// TestMissingDriver: a driver that is not in driverpath, or is there but
// not executable, gives an error naming the paths searched. The host
// keeps running (it serves the other sections).
func TestMissingDriver(t *testing.T) {
	bin := nuttest.Build(t, nuttest.PkgHost, pkgBenchDriver)
	drivers := t.TempDir()
	if err := os.WriteFile(filepath.Join(drivers, "notexec"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(bin, "benchdriver"), filepath.Join(drivers, "benchdriver")); err != nil {
		t.Fatal(err)
	}
	d := nuttest.NewDir(t)
	d.WriteUPSConf(t, []string{"driverpath = " + drivers},
		nuttest.Section{Name: "missing", Driver: "nosuchdriver", Port: "none"},
		nuttest.Section{Name: "plain", Driver: "notexec", Port: "none"},
		nuttest.Section{Name: "good", Driver: "benchdriver", Port: "none"},
	)
	host := d.Start(t, filepath.Join(bin, "nut-driver-host"), "-F")
	nuttest.PluginPID(t, d, "good", giveUp)
	want := []string{
		"searched " + filepath.Join(drivers, "nosuchdriver"),
		filepath.Join(drivers, "notexec") + " is not executable",
	}
	deadline := time.Now().Add(giveUp)
	for _, w := range want {
		for !strings.Contains(host.Output(), w) {
			if time.Now().After(deadline) {
				t.Fatalf("nut-driver-host never said %q:\n%s", w, host.Output())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if host.Exited() {
		t.Errorf("nut-driver-host exited; the good section should still be served\n%s", host.Output())
	}
}

// badDev is a .dev file full of lines a dump should not have.
type badDev struct {
	name, content string
	// compare: NUT's own stack reads the file cleanly enough to be the
	// reference. With lines past NUT's 512-byte limits NUT's upsd cuts
	// its replies and NUT's upsc fails, so there only survival counts.
	compare bool
}

func badDevs() []badDev {
	garbage := make([]byte, 2048)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(r.IntN(256))
	}
	return []badDev{
		{name: "quirks", compare: true, content: strings.Join([]string{
			"# a comment",
			"ups.status: OL",
			"battery.charge 50",
			// A line starting with a colon: NUT's dummy-ups sets a
			// variable with an empty name, which its socket encoding
			// writes as nothing (`SETINFO  "novalue"`), so NUT's upsd
			// drops the line. gonut's SDK never publishes an empty name.
			": novalue",
			"input.voltage:230",
			"ups.model: Some Model # trailing comment",
			"this is a line with many words",
			"device.mfr:",
			"ups.temperature: 25 extra words",
			"TIMER abc",
			"TIMER",
			"battery.runtime: 1200",
			`ups.id: "quoted \"value\" here"`,
			"ups.beeper.status: enabled   ",
			"output.voltage: 2",
			"output.voltage: 3",
			`ups.load: "unterminated`,
			"ups.delay.shutdown: 20",
		}, "\n") + "\n"},
		{name: "garbage", compare: true, content: string(garbage)},
		{name: "crlf and long lines", compare: true, content: "ups.status: OL\r\nbattery.charge: 90\r\n" +
			strings.Repeat("x", 300) + ": long name\nups.long: " + strings.Repeat("y", 400) + "\nups.after: 1\n"},
		{name: "huge lines", content: "ups.status: OL\n" + strings.Repeat("x", 5000) + ": long\n" +
			"ups.long: " + strings.Repeat("y", 3000) + "\nups.after: 1\n"},
		{name: "empty", compare: true, content: ""},
	}
}

// upscStable reads `upsc ups` until two reads a little apart agree, so a
// driver still working through its file is not caught half-way.
func upscStable(t *testing.T, s *nuttest.Server, ups string) string {
	t.Helper()
	prev := ""
	for i := 0; i < 20; i++ {
		out := nuttest.UpscOutput(t, s.Target(ups))
		if i > 0 && out == prev {
			return out
		}
		prev = out
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("upsc %s never settled; last:\n%s", s.Target(ups), prev)
	return ""
}

// TestBadDevFile feeds .dev files with bad lines to NUT's dummy-ups and to
// gonut's dummy-ups plugin, both read by NUT's upsd so that only the
// driver differs: upsc must show the same, and nothing may crash.
func TestBadDevFile(t *testing.T) {
	nuttest.RequireNUT(t)
	for _, bd := range badDevs() {
		t.Run(bd.name, func(t *testing.T) {
			sec := nuttest.Section{Name: "bad", Driver: "dummy-ups", Port: "bad.dev"}
			var want string
			if bd.compare {
				nd := nuttest.NewDir(t)
				nd.WriteFile(t, "bad.dev", bd.content)
				nd.WriteUPSConf(t, nil, sec)
				nutUpsd := nuttest.StartStack(t, nd, nuttest.NUT, nuttest.NUT, nuttest.UpsdConfig{})
				want = upscStable(t, nutUpsd, sec.Name)
			}

			gd := nuttest.NewDir(t)
			gd.WriteFile(t, "bad.dev", bd.content)
			gd.WriteUPSConf(t, nil, sec)
			gUpsd := nuttest.StartStack(t, gd, nuttest.Gonut, nuttest.NUT, nuttest.UpsdConfig{})
			pid := nuttest.PluginPID(t, gd, sec.Name, giveUp)
			if bd.compare {
				got := upscStable(t, gUpsd, sec.Name)
				if nuttest.DropVersionLines(got) != nuttest.DropVersionLines(want) {
					t.Errorf("upsc differs (driver.version* aside)\n--- NUT's dummy-ups:\n%s--- gonut's dummy-ups:\n%s", want, got)
				}
			} else {
				// Still alive and serving what follows the huge lines.
				c := gUpsd.Dial(t)
				if v, err := c.GetVar(sec.Name, "ups.after"); err != nil || v != "1" {
					t.Errorf("GET VAR bad ups.after = %q, %v; want \"1\"", v, err)
				}
			}
			if now := nuttest.PluginPID(t, gd, sec.Name, giveUp); now != pid {
				t.Errorf("the dummy-ups plugin was restarted (pid %d, now %d): it crashed on this file", pid, now)
			}
		})
	}
}
