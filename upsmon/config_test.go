package upsmon

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	const base = "MONITOR ups@host 1 mon pass primary\n"
	tests := []struct {
		name, conf string
		err        string // substring of the error; "" = valid
		check      func(t *testing.T, c *Config)
	}{
		{name: "defaults", conf: base, check: func(t *testing.T, c *Config) {
			if c.MinSupplies != 1 || c.PollFreq != 5*time.Second || c.HostSync != 15*time.Second || c.DeadTime != 15*time.Second ||
				c.FinalDelay != 5*time.Second || c.NoCommWarn != 300*time.Second || c.RBWarnTime != 43200*time.Second ||
				c.OffDuration != 30*time.Second || c.OverDuration != -time.Second || c.OBLBDuration != 0 || !c.AlarmCritical || c.ShutdownExit != 0 {
				t.Errorf("defaults: %+v", c)
			}
			if c.NotifyFlags[NotifyOnBatt] != FlagSyslog|FlagWall {
				t.Errorf("default flags %v", c.NotifyFlags[NotifyOnBatt])
			}
			m := c.Monitors[0]
			if m.Name.Name != "ups" || m.Name.Host != "host" || m.Name.Port != 3493 || !m.Primary || m.PowerValue != 1 || m.Line != 1 {
				t.Errorf("monitor %+v", m)
			}
		}},
		{name: "master and slave", conf: "MONITOR a@h 1 u p master\nMONITOR b@h:1234 2 u p slave\n", check: func(t *testing.T, c *Config) {
			if !c.Monitors[0].Primary || c.Monitors[1].Primary || c.Monitors[1].Name.Port != 1234 {
				t.Errorf("%+v", c.Monitors)
			}
		}},
		{name: "every directive", conf: base + `MINSUPPLIES 2
SHUTDOWNCMD "/sbin/shutdown -h +0"
SHUTDOWNEXIT no
NOTIFYCMD /bin/notify
NOTIFYMSG ONBATT "on battery: %s"
NOTIFYFLAG LOWBATT SYSLOG+WALL+EXEC
NOTIFYFLAG ONLINE IGNORE
POLLFREQ 7
POLLFREQALERT 3
HOSTSYNC 20
DEADTIME 21
FINALDELAY 0
NOCOMMWARNTIME 60
RBWARNTIME 100
POWERDOWNFLAG /etc/killpower
OFFDURATION -1
OVERDURATION 10
OBLBDURATION 4
ALARMCRITICAL 0
POLLFAIL_LOG_THROTTLE_MAX 3
RUN_AS_USER nutmon
CERTPATH /etc/ssl/certs
CERTFILE /etc/nut/client.pem
CERTIDENT "my cert" secret
CERTHOST host "upsd cert" 1 1
CERTVERIFY 1
FORCESSL 1
DEBUG_MIN 2
`, check: func(t *testing.T, c *Config) {
			if c.MinSupplies != 2 || c.ShutdownCmd != "/sbin/shutdown -h +0" || c.ShutdownExit >= 0 || c.NotifyCmd != "/bin/notify" ||
				c.Message(NotifyOnBatt) != "on battery: %s" || c.NotifyFlags[NotifyLowBatt] != FlagSyslog|FlagWall|FlagExec ||
				c.NotifyFlags[NotifyOnline] != FlagIgnore || c.PollFreq != 7*time.Second || c.PollFreqAlert != 3*time.Second ||
				c.HostSync != 20*time.Second || c.DeadTime != 21*time.Second || c.FinalDelay != 0 || c.NoCommWarn != time.Minute ||
				c.RBWarnTime != 100*time.Second || c.PowerDownFlag != "/etc/killpower" || c.OffDuration != -time.Second ||
				c.OverDuration != 10*time.Second || c.OBLBDuration != 4*time.Second || c.AlarmCritical ||
				c.PollFailLogThrottleMax != 3 || c.RunAsUser != "nutmon" || c.CertPath != "/etc/ssl/certs" ||
				c.CertFile != "/etc/nut/client.pem" || c.CertIdent != "my cert" || !c.CertVerify || !c.ForceSSL ||
				len(c.CertHosts) != 1 || c.CertHosts[0] != (CertHost{"host", "upsd cert", true, true}) || c.DebugMin != 2 {
				t.Errorf("%+v", c)
			}
		}},
		{name: "SHUTDOWNEXIT seconds", conf: base + "SHUTDOWNEXIT 30\n", check: func(t *testing.T, c *Config) {
			if c.ShutdownExit != 30*time.Second {
				t.Errorf("%v", c.ShutdownExit)
			}
		}},
		{name: "SHUTDOWNEXIT 0 exits at once", conf: base + "SHUTDOWNEXIT 0\n", check: func(t *testing.T, c *Config) {
			if c.ShutdownExit != 0 {
				t.Errorf("%v", c.ShutdownExit)
			}
		}},
		{name: "duplicate MONITOR warns", conf: base + base, check: func(t *testing.T, c *Config) {
			if len(c.Monitors) != 1 || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "upsmon.conf:2: ignoring duplicate UPS [ups@host]") {
				t.Errorf("%+v %q", c.Monitors, c.Warnings)
			}
		}},
		{name: "no MONITOR", conf: "MINSUPPLIES 1\n", err: "upsmon.conf: no MONITOR line"},
		{name: "unknown directive", conf: base + "SHUTDOWNCOMMAND x\n", err: `upsmon.conf:2: unknown directive "SHUTDOWNCOMMAND"`},
		{name: "directives are case-sensitive", conf: base + "minsupplies 1\n", err: `upsmon.conf:2: unknown directive "minsupplies"`},
		{name: "short MONITOR", conf: "MONITOR ups@host 1 mon primary\n", err: "upsmon.conf:1: MONITOR: want 5 arguments"},
		{name: "bad power value", conf: "MONITOR ups@host x mon pass primary\n", err: `upsmon.conf:1: MONITOR ups@host: power value "x"`},
		{name: "bad type", conf: "MONITOR ups@host 1 mon pass boss\n", err: `upsmon.conf:1: MONITOR ups@host: type "boss"`},
		{name: "bad UPS name", conf: "MONITOR @host 1 mon pass primary\n", err: "upsmon.conf:1: MONITOR: invalid UPS name"},
		{name: "bad number", conf: base + "POLLFREQ fast\n", err: `upsmon.conf:2: POLLFREQ: "fast" is not a number of seconds`},
		{name: "zero POLLFREQ", conf: base + "POLLFREQ 0\n", err: "upsmon.conf:2: POLLFREQ: must be at least 1 second"},
		{name: "negative DEADTIME", conf: base + "DEADTIME -1\n", err: "upsmon.conf:2: DEADTIME"},
		{name: "bad notify type", conf: base + "NOTIFYFLAG ONBATTERY SYSLOG\n", err: `upsmon.conf:2: NOTIFYFLAG: "ONBATTERY" is not a notify type`},
		{name: "bad notify flag", conf: base + "NOTIFYFLAG ONBATT SYSLOG+MAIL\n", err: `upsmon.conf:2: NOTIFYFLAG: invalid notify flag "MAIL"`},
		{name: "IGNORE alone", conf: base + "NOTIFYFLAG ONBATT IGNORE+EXEC\n", err: "IGNORE cannot be combined"},
		{name: "extra words", conf: base + "MINSUPPLIES 1 2\n", err: "upsmon.conf:2: MINSUPPLIES: want a number of power supplies, got 2 argument(s)"},
		{name: "open quote", conf: base + "SHUTDOWNCMD \"x\n", err: "upsmon.conf:2: unterminated quoted string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig(strings.NewReader(tc.conf), "upsmon.conf")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestFormatMessage(t *testing.T) {
	tests := []struct{ tmpl, want string }{
		{"UPS %s on battery", "UPS u@h on battery"},
		{"UPS %s: alarms [%s]", "UPS u@h: alarms [OVERHEAT]"},
		{"%s %s %s", "u@h OVERHEAT "},
		{"100%% sure %d %n %", "100% sure %d %n %"},
		{"Auto logout and shutdown proceeding", "Auto logout and shutdown proceeding"},
	}
	for _, tc := range tests {
		if got := FormatMessage(tc.tmpl, "u@h", "OVERHEAT"); got != tc.want {
			t.Errorf("FormatMessage(%q) = %q, want %q", tc.tmpl, got, tc.want)
		}
	}
}

func TestNotifyTypesRoundTrip(t *testing.T) {
	if len(NotifyTypes()) != 29 {
		t.Errorf("%d notify types, want 29", len(NotifyTypes()))
	}
	for _, nt := range NotifyTypes() {
		got, ok := ParseNotifyType(nt.String())
		if !ok || got != nt || nt.DefaultMessage() == "" {
			t.Errorf("%v: parsed %v %v, message %q", nt, got, ok, nt.DefaultMessage())
		}
	}
	// NUT 2.8.0's exact stock messages.
	want := map[NotifyType]string{
		NotifyOnline: "UPS %s on line power", NotifyOnBatt: "UPS %s on battery", NotifyLowBatt: "UPS %s battery is low",
		NotifyFSD: "UPS %s: forced shutdown in progress", NotifyCommOK: "Communications with UPS %s established",
		NotifyCommBad: "Communications with UPS %s lost", NotifyShutdown: "Auto logout and shutdown proceeding",
		NotifyReplBatt: "UPS %s battery needs to be replaced", NotifyNoComm: "UPS %s is unavailable",
		NotifyNoParent: "upsmon parent process died - shutdown impossible", NotifyCal: "UPS %s: calibration in progress",
	}
	for nt, m := range want {
		if nt.DefaultMessage() != m {
			t.Errorf("%v: %q, want %q", nt, nt.DefaultMessage(), m)
		}
	}
}

func TestPowerDownFlag(t *testing.T) {
	dir := t.TempDir()
	f := dir + "/killpower"
	if err := CheckPowerDownFlag(f); err == nil {
		t.Error("-K: a missing flag counts as set")
	}
	if err := CheckPowerDownFlag(""); err != ErrNoPowerDownFlag {
		t.Errorf("-K without POWERDOWNFLAG: %v", err)
	}
	if err := WritePowerDownFlag(f); err != nil {
		t.Fatal(err)
	}
	if err := CheckPowerDownFlag(f); err != nil {
		t.Errorf("-K after WritePowerDownFlag: %v", err)
	}
	if err := ClearPowerDownFlag(f); err != nil || CheckPowerDownFlag(f) == nil {
		t.Errorf("ClearPowerDownFlag: %v", err)
	}
	if err := os.WriteFile(f, []byte("not ours"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ClearPowerDownFlag(f); !errors.Is(err, ErrForeignPowerDownFlag) {
		t.Errorf("foreign flag: %v", err)
	}
	if _, err := os.Stat(f); err != nil {
		t.Error("a foreign flag file was removed")
	}
}
