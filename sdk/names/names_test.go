package names

import (
	"slices"
	"strings"
	"testing"
)

func TestUnavailable(t *testing.T) {
	// The exact words NUT 2.8.0's upsd sends (names_nut_test.go checks
	// them against the real server).
	if Unavailable != "Description unavailable" {
		t.Fatalf("Unavailable = %q", Unavailable)
	}
}

func TestVarDesc(t *testing.T) {
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"ups.status", "UPS status", true},
		{"UPS.STATUS", "UPS status", true}, // upsd ignores ASCII case
		{"uPs.LoAd", "Load on UPS (percent of full)", true},
		{"ups.load", "Load on UPS (percent of full)", true},        // cmdvartab, not the manual's "(percent)"
		{"battery.charger.status", "Battery charger status", true}, // idem
		{"device.part", "Device Part Number", true},
		{"outlet.1.id", "Outlet system identifier", true}, // literal in cmdvartab
		{"outlet.2.delay.start", "Interval to wait before restarting this outlet (seconds)", true},
		{"ambient.contacts.2.status", "State of the dry contact sensor 2", true},
		{"driver.version.usb", "USB library version", true}, // cmdvartab only
		{"server.info", "Server information", true},
		{"server.INFO", "Server information", true},
		// No patterns: upsd matches literal names only.
		{"outlet.3.id", "", false},
		{"outlet.0.id", "", false},
		{"ambient.1.temperature", "", false},
		{"driver.parameter.port", "", false},
		{"input.L1.current", "", false},
		{"device.1.model", "", false},
		// In the manual but not described by upsd.
		{"ups.watchdog.status", "", false},
		{"ups.test.date", "", false},
		{"device.model", "", false},
		// Commands are a separate table.
		{"load.off", "", false},
		// Near misses.
		{"", "", false},
		{" ups.status", "", false},
		{"ups.status ", "", false},
		{"ups.status.", "", false},
		{"unknown.thing", "", false},
		// strcasecmp folds ASCII only: the Kelvin sign is not "k".
		{"battery.pac\u212as", "", false},
	}
	for _, tt := range tests {
		got, ok := VarDesc(tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("VarDesc(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCmdDesc(t *testing.T) {
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"load.off", "Turn off the load immediately", true},
		{"LOAD.OFF", "Turn off the load immediately", true},
		{"shutdown.return", "Turn off the load and return when power is back", true},
		{"calibrate.start", "Start run time calibration", true},
		{"beeper.on", "Obsolete (use beeper.enable)", true}, // cmdvartab only
		{"load.off.delay", "Turn off the load with a delay (seconds)", true},
		{"outlet.1.load.off", "Turn off the load on outlet 1 immediately", true},
		{"outlet.3.load.off", "", false},
		{"outlet.1.load.cycle", "", false}, // manual only
		{"test.battery.start.quick", "Start a quick battery test", true},
		{"ups.status", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := CmdDesc(tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CmdDesc(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestTables(t *testing.T) {
	for _, tc := range []struct {
		kind   string
		names  []string
		lookup func(string) (string, bool)
		known  func(string) bool
	}{
		{"variable", Vars(), VarDesc, KnownVar},
		{"command", Cmds(), CmdDesc, KnownCmd},
	} {
		if len(tc.names) == 0 {
			t.Fatalf("no %s names", tc.kind)
		}
		if !slices.IsSorted(tc.names) {
			t.Errorf("%s names are not sorted", tc.kind)
		}
		folded := map[string]string{}
		for _, n := range tc.names {
			if prev, dup := folded[foldASCII(n)]; dup {
				t.Errorf("%s names %q and %q are the same to upsd", tc.kind, prev, n)
			}
			folded[foldASCII(n)] = n
			d, ok := tc.lookup(n)
			if !ok || d == "" {
				t.Errorf("%s %q is listed but has no description", tc.kind, n)
			}
			// upsd puts the description between quotes without escaping.
			if strings.ContainsAny(d, "\"\\\n") {
				t.Errorf("%s %q: description %q needs escaping", tc.kind, n, d)
			}
			if !tc.known(n) {
				t.Errorf("%s %q has a description but does not fit the naming scheme", tc.kind, n)
			}
		}
		// The caller owns the slice.
		tc.names[0] = "changed"
		if again := map[string][]string{"variable": Vars(), "command": Cmds()}[tc.kind]; again[0] == "changed" {
			t.Errorf("%s list is shared with the caller", tc.kind)
		}
	}
}

func TestKnownVar(t *testing.T) {
	known := []string{
		// Literal rows of the manual and of cmdvartab.
		"ups.status", "device.model", "device.count", "ups.watchdog.status", "battery.charge",
		"input.transfer.delay", "server.info", "server.version", "driver.version.usb",
		"ups.load.energysave", "battery.voltage.low", "output.current.nominal",
		// Phase count determination (prose).
		"input.phases", "output.phases",
		// Three-phase DOMAIN.SPEC and DOMAIN.CONTEXT.SPEC.
		"input.L1.current", "input.N.current", "input.L1-N.voltage", "input.L3-L1.voltage",
		"input.bypass.L1-L2.voltage", "output.L1.power", "output.L2.realpower",
		"output.inverter.L3.current.peak", "input.servicebypass.L2-N.voltage.high.critical",
		"output.powerfactor", "input.bypass.frequency", "output.bypass.frequency.nominal",
		"input.L1.power.maximum.percent", "input.L1.load", "input.current.peak",
		// ambient.N.*: no index is index 0.
		"ambient.temperature", "ambient.0.temperature", "ambient.1.temperature",
		"ambient.12.humidity.high.warning", "ambient.1.temperature.alarm.maximum",
		"ambient.present", "ambient.3.present", "ambient.contacts.1.status",
		"ambient.2.contacts.3.status",
		// outlet.N.* and outlet.group.N.*.
		"outlet.count", "outlet.switchable", "outlet.id", "outlet.0.id", "outlet.1.voltage",
		"outlet.24.current.high.critical", "outlet.1.autoswitch.charge.low", "outlet.3.type",
		"outlet.group.count", "outlet.group.2.status", "outlet.group.1.phase",
		"outlet.group.1.count", "outlet.group.3.current.nominal", "outlet.group.1.voltage.low.warning",
		"outlet.group.1.name",
		// Daisychain.
		"device.1.model", "device.0.mfr", "device.2.ups.status", "device.3.ups.alarm",
		"device.1.input.voltage", "device.3.outlet.1.status", "device.2.input.L1.current",
		// Free-named driver data.
		"driver.parameter.port", "driver.parameter.pollinterval", "driver.parameter.usb_set_altinterface",
		"driver.flag.ignorelb", "driver.parameter.x.y",
	}
	unknown := []string{
		"", "unknown.thing", "ups", "UPS.STATUS", "Ups.Status", "ups.status.", ".ups.status",
		"ups..status", "ups status", "ups.status\n", "ups.stat\u00fcs",
		// Placeholders are not names.
		"outlet.n.id", "ambient.n.temperature", "driver.parameter.xxx.", "outlet.x.id",
		// Indexes are decimal without leading zero.
		"outlet.01.id", "outlet.-1.id", "ambient.01.temperature",
		// Contexts: L1..L3 and N for current, pairs for voltage, none for
		// frequency; only the listed domains.
		"input.L1.frequency", "input.N.voltage", "input.L1-N.current", "input.L4.current",
		"input.l1.current", "input.N.power", "ups.L1.load", "input.mains.L1.current",
		"input.bypass.L1.L2.voltage",
		// Outlet groups are indexed; outlet data is not counted per outlet.
		"outlet.group.id", "outlet.1.count", "outlet.1.phase",
		// Daisychain prefixes do not nest and need a name after them.
		"device.1", "device.1.device.model", "device.1.device.2.model", "device.01.model",
		"device.1.unknown", "device.1.driver.parameter.port", "device.2.server.info",
		// driver.* free names need a key.
		"driver.parameter", "driver.flag", "driver.unknown",
		// Commands are not variables.
		"load.off", "outlet.1.load.off",
	}
	for _, n := range known {
		if !KnownVar(n) {
			t.Errorf("KnownVar(%q) = false, want true", n)
		}
	}
	for _, n := range unknown {
		if KnownVar(n) {
			t.Errorf("KnownVar(%q) = true, want false", n)
		}
	}
}

func TestKnownCmd(t *testing.T) {
	known := []string{
		"load.off", "load.on", "load.off.delay", "shutdown.return", "shutdown.reboot.graceful",
		"test.battery.start.deep", "beeper.on", "beeper.toggle", "reset.watchdog",
		"outlet.1.load.off", "outlet.12.load.cycle", "outlet.0.load.on", "outlet.3.shutdown.return",
		"outlet.group.1.load.off", "outlet.group.2.load.cycle",
		"device.2.load.off", "device.1.outlet.3.load.on", "device.0.beeper.mute",
	}
	unknown := []string{
		"", "LOAD.OFF", "load", "load.off.now", "load..off", "ups.status", "outlet.1.id",
		"outlet.load.off", "outlet.n.load.off", "outlet.01.load.off", "outlet.1.load.cycle.delay",
		"outlet.group.load.off", "device.1", "device.1.device.2.load.off", "driver.parameter.port",
	}
	for _, n := range known {
		if !KnownCmd(n) {
			t.Errorf("KnownCmd(%q) = false, want true", n)
		}
	}
	for _, n := range unknown {
		if KnownCmd(n) {
			t.Errorf("KnownCmd(%q) = true, want false", n)
		}
	}
}

// TestManualFitsScheme: every row and example of Appendix C, with its
// placeholders filled in, fits the scheme the rows define.
func TestManualFitsScheme(t *testing.T) {
	for _, n := range instances(manualVars) {
		if !KnownVar(n) {
			t.Errorf("manual variable row instance %q does not fit the scheme", n)
		}
	}
	for _, n := range manualExamples {
		if !KnownVar(n) {
			t.Errorf("manual example %q does not fit the scheme", n)
		}
	}
	for _, n := range instances(manualCmds) {
		if !KnownCmd(n) {
			t.Errorf("manual command row instance %q does not fit the scheme", n)
		}
	}
	for _, d := range phaseDomains {
		for _, ps := range manualPhaseSpecs {
			if !KnownVar(d + "." + ps.spec) {
				t.Errorf("%s.%s does not fit the scheme", d, ps.spec)
			}
		}
	}
	if len(manualExamples) == 0 || len(manualPhaseSpecs) == 0 {
		t.Fatal("the generated tables lost the manual's examples or three-phase specs")
	}
}

func TestFoldASCII(t *testing.T) {
	for in, want := range map[string]string{
		"":                "",
		"ups.status":      "ups.status",
		"UPS.Status":      "ups.status",
		"input.L1-N.X_y":  "input.l1-n.x_y",
		"\u212a\u00c9Z":   "\u212a\u00c9z",
		"already.lower.1": "already.lower.1",
	} {
		if got := foldASCII(in); got != want {
			t.Errorf("foldASCII(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkKnownVar(b *testing.B) {
	for b.Loop() {
		KnownVar("device.2.outlet.group.12.current.high.critical")
	}
}
