package drivertest

import (
	"strings"
	"testing"

	"github.com/gonut/gonut/sdk/names"
	"github.com/gonut/gonut/sdk/sockproto"
)

func TestCheckNumber(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  string // "" = valid; else a part of the message
	}{
		{"230", ""}, {"230.5", ""}, {"-1", ""}, {"0.05", ""}, {"007", ""},
		{"230,5", "holds a comma"},
		{"1,500", "holds a comma"},
		{"1 500", "thousands separator"},
		{"1'500", "thousands separator"},
		{"1.5e3", "exponent notation"},
		{"2E-02", "exponent notation"},
		{"+5", "leading '+'"},
		{"50Hz", "carry no units"},
		{"12 %", "thousands separator"},
		{".5", "digits on both sides"},
		{"5.", "digits on both sides"},
		{"", "empty value"},
		{"n/a", "is not a number"},
		{"-", "is not a number"},
		{"0x10", "not a plain number"},
	} {
		got := checkNumber(tt.value)
		if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("checkNumber(%q) = %q, want %q", tt.value, got, tt.want)
		}
	}
}

func TestCheckStatus(t *testing.T) {
	for _, tt := range []struct{ value, want string }{
		{"OL", ""}, {"OL CHRG", ""}, {"OB DISCHRG LB", ""}, {"ALARM OL RB", ""}, {"HB OL", ""},
		{"OFF", ""}, {"OL BYPASS OVER TRIM", ""}, {"CAL OB", ""}, {"OL BOOST", ""},
		{"", "empty"},
		{"OL  CHRG", "single spaces"},
		{" OL", "single spaces"},
		{"OL ", "single spaces"},
		{"OL\tCHRG", "single spaces"},
		{"ONLINE", `token "ONLINE" is not one of NUT's status tokens`},
		{"ol", "(status tokens are upper case)"},
		{"OL OL", `token "OL" appears twice`},
		{"FSD OL", "FSD is set by upsd"},
		{"OL COMMFAULT", `token "COMMFAULT"`},
	} {
		got := checkStatus(tt.value)
		if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("checkStatus(%q) = %q, want %q", tt.value, got, tt.want)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, tt := range []struct {
		name string
		note bool   // a vendor extension
		want string // a part of the message; "" = known to NUT
	}{
		{"ups.status", false, ""},
		{"input.L1-N.voltage", false, ""},
		{"outlet.3.delay.shutdown", false, ""},
		{"driver.parameter.anything", false, ""},
		{"ambient.2.temperature", false, ""},
		{"ups.fancy", true, "vendor extension"},
		{"experimental.ups.fancy", true, "an experimental.* name"},
		{"UPS.status", false, `upper-case "UPS"`},
		{"ups.debug.V", false, `upper-case "V"`},
		{"input.L1.voltage.status", true, "vendor extension"},
		{"ups.L2-N.realpower", true, "vendor extension"},
		{"input.L4.voltage", false, `upper-case "L4"`},
		{"experimental.statistics.rising_AVR_trigger_counter", true, "an experimental.* name"},
		{"ups..status", false, "empty segment 2"},
		{"ups.status.", false, "empty segment 3"},
		{"ups status", false, `byte ' ' in segment "ups status"`},
		{"ups.stätus", false, "byte"},
		{"status", false, "a single word"},
		{"", false, "an empty name"},
	} {
		p, note := checkName("variable", tt.name, names.KnownVar)
		switch {
		case tt.want == "" && p != nil:
			t.Errorf("checkName(%q) = %v, want no problem", tt.name, p)
		case tt.want != "" && (p == nil || !strings.Contains(p.Msg, tt.want) || note != tt.note):
			t.Errorf("checkName(%q) = %v (note %v), want %q (note %v)", tt.name, p, note, tt.want, tt.note)
		}
	}
	if p, _ := checkName("instant command", "load.off", names.KnownCmd); p != nil {
		t.Errorf("load.off: %v", p)
	}
	if p, note := checkName("instant command", "load.explode", names.KnownCmd); p == nil || !note {
		t.Errorf("load.explode: %v, note %v; want a vendor extension", p, note)
	}
}

func TestNumericName(t *testing.T) {
	for name, want := range map[string]bool{
		"input.voltage": true, "battery.charge.low": true, "ups.delay.shutdown": true,
		"outlet.1.delay.start": true, "ups.load": true, "input.transfer.high": true,
		"ambient.temperature.alarm.maximum": true, "input.L1-N.voltage": true,
		"input.voltage.status": false, "input.transfer.reason": false, "battery.charger.status": false,
		"ambient.humidity.alarm": false, "input.voltage.extended": false, "device.model": false,
		"driver.parameter.runtimecal": false, "ups.status": false, "battery.date": false,
	} {
		if got := numericName(name); got != want {
			t.Errorf("numericName(%q) = %v, want %v", name, got, want)
		}
	}
}

// state builds a socket state from messages.
func state(t *testing.T, msgs ...[]string) *sockproto.State {
	t.Helper()
	st := sockproto.NewState()
	for _, m := range msgs {
		if err := st.Apply(m); err != nil {
			t.Fatalf("%q: %v", m, err)
		}
	}
	return st
}

func TestCheckVarTypes(t *testing.T) {
	for _, tt := range []struct {
		name string
		msgs [][]string
		want string // "" = no problem
	}{
		{"rw string", [][]string{{"SETINFO", "ups.id", "a b"}, {"SETFLAGS", "ups.id", "RW", "STRING"}, {"SETAUX", "ups.id", "8"}}, ""},
		{"rw string no aux", [][]string{{"SETINFO", "ups.id", "a b"}, {"SETFLAGS", "ups.id", "RW", "STRING"}}, "without a maximum length"},
		{"rw string too long", [][]string{{"SETINFO", "ups.id", "abcdef"}, {"SETFLAGS", "ups.id", "RW", "STRING"}, {"SETAUX", "ups.id", "4"}}, "longer than its maximum length 4"},
		{"string and number", [][]string{{"SETINFO", "ups.id", "1"}, {"SETFLAGS", "ups.id", "RW", "STRING", "NUMBER"}, {"SETAUX", "ups.id", "4"}}, "both STRING and NUMBER"},
		{"untyped numeric rw", [][]string{{"SETINFO", "battery.charge.low", "10"}, {"SETFLAGS", "battery.charge.low", "RW"}}, ""},
		{"untyped text rw", [][]string{{"SETINFO", "ups.id", "x"}, {"SETFLAGS", "ups.id", "RW"}}, "upsd reports it as NUMBER"},
		{"number flag", [][]string{{"SETINFO", "ups.id", "x"}, {"SETFLAGS", "ups.id", "NUMBER"}}, `"x" is not a number (flagged NUMBER)`},
		{"enum ok", [][]string{{"SETINFO", "input.sensitivity", "low"}, {"SETFLAGS", "input.sensitivity", "RW"}, {"ADDENUM", "input.sensitivity", "low"}}, ""},
		{"enum bad", [][]string{{"SETINFO", "input.sensitivity", "mid"}, {"ADDENUM", "input.sensitivity", "low"}}, `value "mid" is not one of its enum values ["low"]`},
		{"range ok", [][]string{{"SETINFO", "ups.delay.start", "30"}, {"ADDRANGE", "ups.delay.start", "0", "60"}}, ""},
		{"range bad", [][]string{{"SETINFO", "ups.delay.start", "90"}, {"ADDRANGE", "ups.delay.start", "0", "60"}, {"ADDRANGE", "ups.delay.start", "70", "80"}}, `value "90" is outside its ranges 0..60, 70..80`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			problems, _ := Check(state(t, tt.msgs...))
			var all []string
			for _, p := range problems {
				all = append(all, p.String())
			}
			got := strings.Join(all, "\n")
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("problems:\n%s\nwant %q", got, tt.want)
			}
		})
	}
}

// CheckState fails the test for a problem and only logs a note.
func TestCheckStateReports(t *testing.T) {
	rec := &recorder{TB: t}
	CheckState(rec, state(t,
		[]string{"SETINFO", "ups.status", "OL"},
		[]string{"SETINFO", "ups.vendor.thing", "1"},
		[]string{"SETINFO", "input.voltage", "230,0"},
		[]string{"ADDCMD", "Load.Off"},
	))
	errs := strings.Join(rec.errors(), "\n")
	for _, want := range []string{
		`[number] variable "input.voltage": "230,0" holds a comma`,
		`[naming] instant command "Load.Off": upper-case "Load"`,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("errors lack %q:\n%s", want, errs)
		}
	}
	if strings.Contains(errs, "ups.vendor.thing") || !strings.Contains(strings.Join(rec.logs, "\n"), `"ups.vendor.thing": not in NUT's naming scheme`) {
		t.Errorf("vendor extension: errors %q, logs %q", errs, rec.logs)
	}
}
