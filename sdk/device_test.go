package sdk

import (
	"reflect"
	"strings"
	"testing"
)

func collect(d *Device) *[][]string {
	var got [][]string
	d.publish = func(m [][]string) error { got = append(got, m...); return nil }
	return &got
}

func TestDeviceSendsOnlyChanges(t *testing.T) {
	d := newDevice("u", &Options{}, nil)
	got := collect(d)
	d.SetInfo("ups.status", "OL")
	d.SetInfo("ups.status", "OL")
	d.SetInfo("", "no name: never published")
	d.AddCmd("")
	d.SetFlags("ups.status", FlagString)
	d.SetAux("ups.status", 32)
	d.SetInfo("battery.charge", "100")
	d.DelInfo("battery.charge")
	d.DelInfo("battery.charge")
	d.AddEnum("ups.status", "OL")
	d.AddEnum("ups.status", "OL")
	d.AddRange("ups.delay", 1, 2) // unknown variable: ignored, as NUT
	d.AddCmd("load.off")
	d.AddCmd("load.off")
	d.DataOK()
	d.DataOK()
	d.DataStale()
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"SETINFO", "ups.status", "OL"},
		{"SETFLAGS", "ups.status", "STRING"},
		{"SETAUX", "ups.status", "32"},
		{"SETINFO", "battery.charge", "100"},
		{"DELINFO", "battery.charge"},
		{"ADDENUM", "ups.status", "OL"},
		{"ADDCMD", "load.off"},
		{"DATAOK"},
		{"DATASTALE"},
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("got %q\nwant %q", *got, want)
	}
}

func TestStatusAndAlarmBuilders(t *testing.T) {
	tests := []struct {
		name     string
		ignoreLB bool
		vars     map[string]string
		tokens   []string
		alarms   []string
		want     string
	}{
		{name: "plain", tokens: []string{"OL", "CHRG"}, want: "OL CHRG"},
		{name: "empty", want: ""},
		{name: "alarm prefix", tokens: []string{"OB"}, alarms: []string{"Replace battery!"}, want: "ALARM OB"},
		{name: "ignorelb drops device LB", ignoreLB: true, tokens: []string{"OB", "LB"}, want: "OB"},
		{name: "ignorelb charge below low", ignoreLB: true, vars: map[string]string{"battery.charge": "19", "battery.charge.low": "20"}, tokens: []string{"OB"}, want: "OB LB"},
		{name: "ignorelb runtime below low", ignoreLB: true, vars: map[string]string{"battery.runtime": "100", "battery.runtime.low": "120"}, tokens: []string{"OB"}, want: "OB LB"},
		{name: "ignorelb above low", ignoreLB: true, vars: map[string]string{"battery.charge": "50", "battery.charge.low": "20"}, tokens: []string{"OB", "LB"}, want: "OB"},
		{name: "ignorelb strtol prefix", ignoreLB: true, vars: map[string]string{"battery.charge": "15.9%", "battery.charge.low": "20"}, tokens: []string{"OB"}, want: "OB LB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Options{}
			if tt.ignoreLB {
				o.Section = []Option{{Key: "ignorelb"}}
			}
			d := newDevice("u", o, nil)
			for k, v := range tt.vars {
				d.SetInfo(k, v)
			}
			d.AlarmInit()
			for _, a := range tt.alarms {
				d.AlarmSet(a)
			}
			d.AlarmCommit()
			d.StatusInit()
			for _, tok := range tt.tokens {
				d.StatusSet(tok)
			}
			d.StatusCommit()
			if got, _ := d.Info("ups.status"); got != tt.want {
				t.Errorf("ups.status = %q, want %q", got, tt.want)
			}
			_, hasAlarm := d.Info("ups.alarm")
			if hasAlarm != (len(tt.alarms) > 0) {
				t.Errorf("ups.alarm present = %v", hasAlarm)
			}
		})
	}
}

func TestOverrideIsImmutable(t *testing.T) {
	o := &Options{UPS: "u", Section: []Option{
		{Key: "driver", Value: "x", HasValue: true},
		{Key: "port", Value: "/dev/null", HasValue: true},
		{Key: "override.battery.charge.low", Value: "30", HasValue: true},
		{Key: "default.battery.runtime.low", Value: "120", HasValue: true},
	}}
	d := newDevice("u", o, nil)
	applyCommon(d, Info{Name: "x", Version: "1.0"}, o, 2e9)
	d.SetInfo("battery.charge.low", "10")
	d.SetInfo("battery.runtime.low", "60")
	if v, _ := d.Info("battery.charge.low"); v != "30" {
		t.Errorf("override lost: battery.charge.low = %q", v)
	}
	if v, _ := d.Info("battery.runtime.low"); v != "60" {
		t.Errorf("default not replaceable: battery.runtime.low = %q", v)
	}
	for name, want := range map[string]string{
		"driver.name": "x", "driver.version.internal": "1.0", "driver.parameter.port": "/dev/null",
		"driver.parameter.pollinterval": "2",
	} {
		if v, _ := d.Info(name); v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
}

func TestValidateOptions(t *testing.T) {
	info := Info{Name: "drv", Options: []OptionInfo{{Name: "mode"}, {Name: "fast", Flag: true}}}
	tests := []struct {
		opt     Option
		wantErr string
	}{
		{Option{Key: "mode", Value: "x", HasValue: true}, ""},
		{Option{Key: "fast"}, ""},
		{Option{Key: "nolock"}, ""},
		{Option{Key: "override.ups.mfr", Value: "x", HasValue: true}, ""},
		{Option{Key: "bogus", Value: "1", HasValue: true}, "ups.conf [u]: 'bogus' is not a valid variable name for driver drv"},
		{Option{Key: "bogusflag"}, "ups.conf [u]: 'bogusflag' is not a valid flag for driver drv"},
		{Option{Key: "mode"}, "ups.conf [u]: 'mode' needs a value for driver drv (mode = ...)"},
		{Option{Key: "fast", Value: "1", HasValue: true}, "ups.conf [u]: 'fast' is a flag for driver drv and takes no value"},
	}
	for _, tt := range tests {
		o := &Options{UPS: "u", Section: []Option{tt.opt}}
		err := o.validate(info)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.wantErr {
			t.Errorf("%+v: got %q, want %q", tt.opt, got, tt.wantErr)
		}
	}
}

// Names match without regard to ASCII case, as NUT's dstate compares them
// with strcasecmp; the first spelling is kept on the wire.
func TestDeviceNamesIgnoreCase(t *testing.T) {
	d := newDevice("u", &Options{}, nil)
	got := collect(d)
	d.SetInfo("ups.status", "OL")
	d.SetInfo("UPS.Status", "OB")
	d.SetFlags("Ups.Status", FlagString)
	d.SetAux("UPS.STATUS", 8)
	d.AddEnum("ups.STATUS", "OB")
	d.AddCmd("load.off")
	d.AddCmd("LOAD.OFF")
	d.SetInfo("ups.delay.start", "1")
	d.AddRange("UPS.delay.start", 0, 9)
	d.DelRange("ups.DELAY.start", 0, 9)
	d.DelEnum("UPS.status", "OB")
	if v, ok := d.Info("UPS.STATUS"); !ok || v != "OB" {
		t.Errorf("Info(UPS.STATUS) = %q, %v", v, ok)
	}
	d.DelCmd("Load.Off")
	d.DelInfo("UPS.DELAY.START")
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"SETINFO", "ups.status", "OL"},
		{"SETINFO", "ups.status", "OB"},
		{"SETFLAGS", "ups.status", "STRING"},
		{"SETAUX", "ups.status", "8"},
		{"ADDENUM", "ups.status", "OB"},
		{"ADDCMD", "load.off"},
		{"SETINFO", "ups.delay.start", "1"},
		{"ADDRANGE", "ups.delay.start", "0", "9"},
		{"DELRANGE", "ups.delay.start", "0", "9"},
		{"DELENUM", "ups.status", "OB"},
		{"DELCMD", "load.off"},
		{"DELINFO", "ups.delay.start"},
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("messages:\n%q\nwant:\n%q", *got, want)
	}
	d.mu.Lock()
	snap := d.snapshotLocked()
	d.mu.Unlock()
	if len(snap) != 4 || snap[0][1] != "ups.status" { // SETINFO, SETFLAGS, SETAUX, DATASTALE
		t.Errorf("snapshot %q", snap)
	}
}

// override.* fixes a variable: the driver cannot change its value or its
// flags, nor delete it (NUT: ST_FLAG_IMMUTABLE in dstate_setflags and
// state_delinfo); the override key itself matches without regard to case.
func TestOverrideSurvivesDriver(t *testing.T) {
	o := &Options{UPS: "u", Section: []Option{
		{Key: "override.battery.charge.low", Value: "30", HasValue: true},
		{Key: "OVERRIDE.ups.alarm", Value: "fixed", HasValue: true},
		{Key: "override.", Value: "no name", HasValue: true},
	}}
	d, err := NewDevice(Info{Name: "x"}, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := collect(d)
	if err := d.Commit(); err != nil { // what applyCommon published
		t.Fatal(err)
	}
	*got = nil
	d.SetInfo("Battery.Charge.Low", "10")
	d.SetFlags("battery.charge.low", FlagRW|FlagNumber)
	d.DelInfo("battery.charge.low")
	d.AlarmInit()
	d.AlarmCommit() // would delete ups.alarm
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	if len(*got) != 0 {
		t.Errorf("the driver changed overridden variables: %q", *got)
	}
	for name, want := range map[string]string{"battery.charge.low": "30", "ups.alarm": "fixed"} {
		if v, ok := d.Info(name); !ok || v != want {
			t.Errorf("%s = %q, %v; want %q", name, v, ok, want)
		}
	}
}

func TestNewDevice(t *testing.T) {
	info := Info{Name: "x", Version: "2.0", Options: []OptionInfo{{Name: "baud"}}}
	d, err := NewDevice(info, &Options{UPS: "rack", Section: []Option{
		{Key: "port", Value: "/dev/ttyS0", HasValue: true}, {Key: "baud", Value: "9600", HasValue: true},
		{Key: "default.ups.delay.start", Value: "30", HasValue: true},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name() != "rack" {
		t.Errorf("Name = %q", d.Name())
	}
	for name, want := range map[string]string{
		"driver.name": "x", "driver.version.internal": "2.0", "driver.parameter.port": "/dev/ttyS0",
		"driver.parameter.baud": "9600", "ups.delay.start": "30",
	} {
		if v, _ := d.Info(name); v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
	if _, err := NewDevice(info, &Options{UPS: "rack", Section: []Option{{Key: "speed", Value: "1", HasValue: true}}}, nil); err == nil ||
		err.Error() != "ups.conf [rack]: 'speed' is not a valid variable name for driver x" {
		t.Errorf("unknown option: %v", err)
	}
	if _, err := NewDevice(info, nil, nil); err != nil {
		t.Errorf("nil options: %v", err)
	}
}

func TestCheckIgnoreLB(t *testing.T) {
	for _, tt := range []struct {
		name     string
		ignoreLB bool
		vars     []string
		ok       bool
	}{
		{"no ignorelb", false, nil, true},
		{"charge pair", true, []string{"battery.charge", "battery.charge.low"}, true},
		{"runtime pair", true, []string{"Battery.Runtime", "battery.runtime.low"}, true},
		{"charge without low", true, []string{"battery.charge", "battery.runtime.low"}, false},
		{"nothing", true, nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := &Options{UPS: "u"}
			if tt.ignoreLB {
				o.Section = []Option{{Key: "ignorelb"}}
			}
			d := newDevice("u", o, nil)
			for _, v := range tt.vars {
				d.SetInfo(v, "10")
			}
			err := d.checkIgnoreLB()
			if (err == nil) != tt.ok {
				t.Fatalf("checkIgnoreLB = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "ups.conf [u]: the 'ignorelb' flag is set, but there is no way to determine the battery state of charge") {
				t.Errorf("message: %v", err)
			}
		})
	}
}
