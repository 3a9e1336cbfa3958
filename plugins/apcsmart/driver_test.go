package apcsmart

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/drivertest"
	"github.com/gonut/gonut/sdk/plugin"
	"github.com/gonut/gonut/sdk/sockproto"
	"github.com/gonut/gonut/tools/apcsmart-sim/sim"
)

// clock is the real clock plus an offset that tests move forward, for
// the confirmation window of nasty commands.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

type rig struct {
	h   *drivertest.Harness
	sim *sim.Sim
	drv *Driver
	clk *clock
}

// startRig runs the driver in the SDK's in-process harness on a
// simulated UPS.
func startRig(t *testing.T, p *sim.Profile, options ...string) *rig {
	t.Helper()
	s, err := sim.Start(sim.Options{Link: filepath.Join(t.TempDir(), "tty"), Profile: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clk := &clock{}
	drv := &Driver{Now: clk.Now}
	h := drivertest.Start(t, Info, drv, drivertest.Config{
		UPS: "apc", Options: append([]string{"port = " + s.Path(), "pollinterval = 1"}, options...),
		Timeout: 20 * time.Second,
	})
	return &rig{h: h, sim: s, drv: drv, clk: clk}
}

func (r *rig) value(t *testing.T, name string) string {
	t.Helper()
	v, ok := r.h.Value(name)
	if !ok {
		t.Fatalf("%s is not published", name)
	}
	return v
}

// waitValue waits until name has value want.
func (r *rig) waitValue(t *testing.T, name, want string) {
	t.Helper()
	r.h.Wait(name+" = "+want, func(st *sockproto.State) bool {
		v, ok := st.Value(name)
		return ok && v == want
	})
}

func (r *rig) waitActions(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.sim.WaitAction(ctx, n); err != nil {
		t.Error(err)
	}
}

func (r *rig) cmd(t *testing.T, cmd, param string) int {
	t.Helper()
	res, err := r.h.InstCmd(cmd, param)
	if err != nil {
		t.Fatalf("INSTCMD %s %s: %v", cmd, param, err)
	}
	return res.Status
}

func TestInitPublishesWhatTheUPSReports(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	for name, want := range map[string]string{
		"ups.mfr":               "APC",
		"ups.model":             "SMART-UPS 3000 RM",
		"device.model":          "SMART-UPS 3000 RM",
		"device.type":           "ups",
		"ups.firmware":          "92.11.D", // from 'b'; 'V' answered NA
		"device.uptime":         "442800",  // 'T' = 123.4 hours, not a temperature
		"battery.runtime":       "19740",   // "0329:" minutes
		"ups.test.interval":     "1209600", // 336 hours
		"input.transfer.reason": "no transfers yet since turnon",
		"ups.status":            "OL",
	} {
		if got := r.value(t, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if _, ok := r.h.Value("ambient.1.temperature"); ok {
		t.Error("'T' was taken for a temperature as well as the uptime")
	}
	st := r.h.State()
	v := func(name string) sockproto.Var {
		x, ok := st.Var(name)
		if !ok {
			t.Fatalf("%s is not published", name)
		}
		return x
	}
	// Settings from the capability string for the firmware's locale (D)
	// and for all locales (4); 'uM' entries are for another locale.
	if got, want := v("input.transfer.high"), []string{"127", "130", "133", "136"}; !slices.Equal(got.Enums, want) || got.Flags != sockproto.FlagRW {
		t.Errorf("input.transfer.high: enums %q flags %v, want %q RW", got.Enums, got.Flags, want)
	}
	// "ON " and "OFF" read as 0 hours, as in NUT.
	if got, want := v("ups.test.interval").Enums, []string{"1209600", "604800", "0"}; !slices.Equal(got, want) {
		t.Errorf("ups.test.interval enums = %q, want %q", got, want)
	}
	if x := v("ups.id"); x.Flags != sockproto.FlagRW|sockproto.FlagString || x.Aux != 8 {
		t.Errorf("ups.id flags %v aux %d, want RW STRING 8", x.Flags, x.Aux)
	}
	if x := v("ups.load"); x.Flags != 0 {
		t.Errorf("ups.load flags %v, want none", x.Flags)
	}
	cmds := st.Cmds()
	for _, c := range []string{"load.on", "load.off", "shutdown.return", "shutdown.stayoff", "calibrate.start",
		"calibrate.stop", "test.panel.start", "test.failure.start", "test.battery.start", "test.battery.stop",
		"bypass.start", "bypass.stop"} {
		if !slices.Contains(cmds, c) {
			t.Errorf("command %s is missing from %q", c, cmds)
		}
	}
	drivertest.CheckState(t, st)
}

func TestAlertsAndStatus(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	for _, c := range []struct {
		do   func()
		want string
	}{
		{r.sim.PowerFail, "OB"},
		{r.sim.LowBattery, "OB LB"},
		{r.sim.PowerRestore, "OL"},
		{func() { r.sim.SetStatus(sim.StatOL | sim.StatTrim | sim.StatOver | sim.StatRB) }, "TRIM OL OVER RB"},
		{func() { r.sim.SetStatus(sim.StatCal | sim.StatBoost | sim.StatOB) }, "CAL BOOST OB"},
		{func() { r.sim.SetStatus(0) }, "OFF"},
		{func() { r.sim.SetStatus(sim.StatOL) }, "OL"},
	} {
		c.do()
		r.waitValue(t, "ups.status", c.want)
	}
}

func TestAlertHandler(t *testing.T) {
	t.Parallel()
	// The alert handler alone (the driver in a rig would poll meanwhile);
	// without a device it changes the status byte and publishes nothing.
	dr := &Driver{log: hclog.NewNullLogger()}
	for _, c := range []struct {
		ch     byte
		status int
		want   int
	}{
		{'!', statOL, statOB},
		{'$', statOB, statOL},
		{'%', statOL, statOL | statLB},
		{'+', statOL | statLB, statOL},
		{'#', statOL, statOL | statRB},
		{'?', statOL, statOL | statOver},
		{'=', statOL | statOver, statOL},
		{'&', statOL, statOL},
	} {
		dr.status = c.status
		dr.alert(c.ch)
		if dr.status != c.want {
			t.Errorf("alert %q on %02x: status %02x, want %02x", c.ch, c.status, dr.status, c.want)
		}
	}
}

func TestInstantCommandsReachTheUPS(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	for _, c := range []struct {
		cmd, param string
		status     int
		action     string
	}{
		{"test.battery.start", "", plugin.StatHandled, "test.battery.start W"},
		{"test.battery.stop", "", plugin.StatHandled, "test.battery.stop W"},
		{"calibrate.start", "", plugin.StatHandled, "calibrate.start D"},
		{"calibrate.start", "", plugin.StatHandled, ""}, // already running: nothing sent
		{"calibrate.stop", "", plugin.StatHandled, "calibrate.stop D"},
		{"test.panel.start", "", plugin.StatHandled, "test.panel.start A"},
		{"bypass.start", "", plugin.StatFailed, "bypass.start ^"}, // answered BYP
		{"load.on", "", plugin.StatHandled, "load.on ^N"},
		{"shutdown.return", "bogus", plugin.StatInvalid, ""},
		{"test.battery.start", "x", plugin.StatInvalid, ""},
	} {
		n := len(r.sim.Actions())
		if got := r.cmd(t, c.cmd, c.param); got != c.status {
			t.Errorf("%s %s: status %s, want %s", c.cmd, c.param, drivertest.StatName(got), drivertest.StatName(c.status))
		}
		if c.action != "" {
			// The UPS does not answer every command: wait for it.
			r.waitActions(t, n+1)
		}
		acts := r.sim.Actions()[n:]
		if c.action == "" && len(acts) != 0 || c.action != "" && !slices.Equal(acts, []string{c.action}) {
			t.Errorf("%s %s: the UPS did %q, want %q", c.cmd, c.param, acts, c.action)
		}
	}
}

func TestNastyCommandsNeedConfirmation(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	for _, c := range []struct {
		wait       time.Duration
		cmd, param string
		action     string
	}{
		{0, "shutdown.return", "at:5", ""},               // armed
		{2 * time.Second, "shutdown.return", "at:5", ""}, // too soon: armed again
		{4 * time.Second, "shutdown.return", "at:5", "shutdown.return @005"},
		{20 * time.Second, "load.off", "", ""}, // too late: armed
		{5 * time.Second, "load.off", "", "load.off Z"},
		{3 * time.Second, "shutdown.return", "AT:012", "shutdown.return @012"}, // any nasty command confirms
		{30 * time.Second, "shutdown.stayoff", "", ""},
		{15 * time.Second, "shutdown.stayoff", "", "shutdown.stayoff K"},
		{16 * time.Second, "shutdown.return", "", ""},
		{3 * time.Second, "shutdown.return", "", ""}, // 'S' on line: answered NA, nothing done
	} {
		r.clk.Add(c.wait)
		n := len(r.sim.Actions())
		st := r.cmd(t, c.cmd, c.param)
		if c.action != "" {
			r.waitActions(t, n+1)
		}
		acts := r.sim.Actions()[n:]
		if c.action == "" && len(acts) != 0 || c.action != "" && !slices.Equal(acts, []string{c.action}) {
			t.Errorf("+%v %s %s: the UPS did %q, want %q (status %s)", c.wait, c.cmd, c.param, acts, c.action, drivertest.StatName(st))
		}
	}
}

func TestSetVar(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	for _, c := range []struct {
		name, value string
		status      int
		raw         byte
		want        string // raw value in the UPS afterwards
	}{
		{"input.transfer.high", "136", plugin.StatHandled, 'u', "136"},
		{"input.transfer.high", "136", plugin.StatHandled, 'u', "136"}, // unchanged: nothing sent
		{"input.transfer.low", "100", plugin.StatHandled, 'l', "100"},
		{"ups.test.interval", "604800", plugin.StatHandled, 'E', "168"},
		{"input.sensitivity", "L", plugin.StatHandled, 's', "L"},
		{"input.transfer.high", "999", plugin.StatFailed, 'u', "136"}, // not a value of the UPS: it wraps
		{"ups.id", "SERVER1", plugin.StatHandled, 'c', "SERVER1"},
		{"ups.id", "TOOLONGNAME", plugin.StatFailed, 'c', "SERVER1"},
		{"battery.date", "01/02/26", plugin.StatHandled, 'x', "01/02/26"},
		{"ups.load", "1", plugin.StatUnknown, 'P', "016.0"},
		{"no.such.var", "1", plugin.StatUnknown, 'P', "016.0"},
	} {
		res, err := r.h.SetVar(c.name, c.value)
		if err != nil {
			t.Fatalf("SET %s %s: %v", c.name, c.value, err)
		}
		if res.Status != c.status {
			t.Errorf("SET %s %s: status %s, want %s (%s)", c.name, c.value, drivertest.StatName(res.Status), drivertest.StatName(c.status), res.Message)
		}
		if got, _ := r.sim.Get(c.raw); got != c.want {
			t.Errorf("SET %s %s: the UPS holds %q, want %q", c.name, c.value, got, c.want)
		}
	}
	r.waitValue(t, "ups.id", "SERVER1")
	r.waitValue(t, "ups.test.interval", "604800")
}

func TestNoReplyGoesStaleAndRecovers(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	r.sim.SetMode(sim.NoReply)
	r.h.Wait("stale", func(st *sockproto.State) bool { return !st.DataOK() })
	r.sim.Set('f', "042.0")
	r.sim.SetMode(sim.Normal)
	r.h.Wait("fresh again", func(st *sockproto.State) bool {
		v, _ := st.Value("battery.charge")
		return st.DataOK() && v == "042.0"
	})
}

func TestBadRepliesNeverCrash(t *testing.T) {
	t.Parallel()
	for _, m := range []sim.Mode{sim.Garbage, sim.Partial, sim.Delayed} {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			r := startRig(t, nil)
			r.sim.SetDelay(4 * time.Second)
			r.sim.SetMode(m)
			r.h.WaitHeartbeats(2) // the first may have begun before the switch
			if m == sim.Garbage {
				// Commands and SETs meanwhile fail, but answer (the
				// other modes make them time out, which takes long).
				r.h.InstCmd("test.panel.start", "")
				r.h.SetVar("ups.id", "X")
			}
			r.sim.SetMode(sim.Normal)
			load := fmt.Sprintf("%03d.0", 20+int(m))
			r.sim.Set('P', load)
			r.waitValue(t, "ups.load", load)
			r.waitValue(t, "ups.status", "OL")
			// Variables read only on the full scan are right again too.
			r.waitValue(t, "input.sensitivity", "H")
			r.waitValue(t, "input.transfer.low", "103")
			r.waitValue(t, "ups.delay.start", "000")
			r.waitValue(t, "ups.model", "SMART-UPS 3000 RM")
			drivertest.CheckState(t, r.h.State())
		})
	}
}

func TestPortDisappearsAndComesBack(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	if err := r.sim.Disconnect(); err != nil {
		t.Fatal(err)
	}
	r.h.Wait("stale", func(st *sockproto.State) bool { return !st.DataOK() })
	r.h.WaitHeartbeats(3) // several reopen attempts fail meanwhile
	r.sim.Set('f', "077.0")
	if err := r.sim.Reconnect(); err != nil {
		t.Fatal(err)
	}
	r.h.Wait("fresh again", func(st *sockproto.State) bool {
		v, _ := st.Value("battery.charge")
		return st.DataOK() && v == "077.0"
	})
	if !r.sim.Smart() {
		t.Error("the driver did not put the reconnected UPS back into smart mode")
	}
}

func TestShutdownMethods(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		status  byte
		options []string
		want    []string
	}{
		{"sdtype 0 on line: hard hibernate", sim.StatOL, nil, []string{"shutdown.return @000"}},
		{"sdtype 0 on battery: soft hibernate", sim.StatOB, nil, []string{"shutdown.return S"}},
		{"sdtype 0 with awd", sim.StatOL, []string{"awd = 7"}, []string{"shutdown.return @007"}},
		{"sdtype 1 on line", sim.StatOL, []string{"sdtype = 1"}, []string{"shutdown.return @000"}},
		{"sdtype 1 on battery", sim.StatOB, []string{"sdtype = 1"}, []string{"shutdown.return S"}},
		{"sdtype 2", sim.StatOL, []string{"sdtype = 2"}, []string{"load.off Z"}},
		{"sdtype 3", sim.StatOL, []string{"sdtype = 3"}, []string{"shutdown.stayoff K"}},
		{"sdtype 4 on line", sim.StatOL, []string{"sdtype = 4", "cshdelay = 0.1"}, []string{"test.failure.start U"}},
		{"sdtype 5", sim.StatOB, []string{"sdtype = 5", "awd = 012"}, []string{"shutdown.return @012"}},
		// Two digits are sent as two (older models); this one wants three,
		// so it refuses the Y that aborts the command.
		{"sdtype 5 two digits", sim.StatOB, []string{"sdtype = 5", "awd = 12"}, nil},
		{"advorder: S fails on line, then @", sim.StatOL, []string{"advorder = 012"}, []string{"shutdown.return @000"}},
		{"advorder no: simple", sim.StatOB, []string{"advorder = no", "sdtype = 3"}, []string{"shutdown.stayoff K"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := sim.DefaultProfile()
			p.Status = c.status
			r := startRig(t, &p, c.options...)
			r.h.Stop()
			r.sim.ResetSmart()
			drv := &Driver{}
			cfg := config{}
			var err error
			o := optionsFor(t, r.sim.Path(), c.options)
			if cfg, err = readConfig(o); err != nil {
				t.Fatal(err)
			}
			drv.cfg, drv.path, drv.log = cfg, r.sim.Path(), testLogger(t)
			if drv.c, err = drv.open(); err != nil {
				t.Fatal(err)
			}
			defer drv.Close(ctx)
			n := len(r.sim.Actions())
			drv.Shutdown(ctx, nil)
			if got := r.sim.Actions()[n:]; !slices.Equal(got, c.want) {
				t.Errorf("the UPS did %q, want %q", got, c.want)
			}
		})
	}
}

func TestOptionsAreChecked(t *testing.T) {
	for _, o := range []string{"awd = 1234", "sdtype = 6", "advorder = 5", "cshdelay = 10", "awd = x"} {
		if _, err := readConfig(optionsFor(t, "/dev/null", []string{o})); err == nil {
			t.Errorf("%s accepted", o)
		} else if !strings.Contains(err.Error(), "invalid value") {
			t.Errorf("%s: %v", o, err)
		}
	}
	for _, o := range []string{"awd = 12", "sdtype = 5", "advorder = NO", "advorder = 01234", "cshdelay = .5", "cshdelay = 3.", "cable = 940-0095B", "ttymode = raw"} {
		if _, err := readConfig(optionsFor(t, "/dev/null", []string{o})); err != nil {
			t.Errorf("%s: %v", o, err)
		}
	}
}

// optionsFor is the ups.conf section [apc] with a port and options.
func optionsFor(t *testing.T, port string, options []string) *sdk.Options {
	t.Helper()
	o := &sdk.Options{UPS: "apc", Driver: "apcsmart", Section: []sdk.Option{{Key: "port", Value: port, HasValue: true}}}
	for _, l := range options {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("option %q: want key = value", l)
		}
		o.Section = append(o.Section, sdk.Option{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v), HasValue: true})
	}
	return o
}

// testLogger logs through t.
func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "apcsmart", Output: testWriter{t}, Level: hclog.Debug})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestCableNeedsModemLines(t *testing.T) {
	t.Parallel()
	// A pseudo-terminal has no DTR or RTS: with cable = 940-0095B the
	// driver refuses to start, as NUT's does (ser_set_dtr failed).
	s, err := sim.Start(sim.Options{Link: filepath.Join(t.TempDir(), "tty")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = drivertest.StartErr(t, Info, New(), drivertest.Config{UPS: "apc", Options: []string{"port = " + s.Path(), "cable = 940-0095B"}})
	if err == nil || !strings.Contains(err.Error(), "DTR") {
		t.Errorf("start with cable = 940-0095B on a pseudo-terminal: %v, want an error about DTR", err)
	}
	_, err = drivertest.StartErr(t, Info, New(), drivertest.Config{UPS: "apc", Options: []string{"port = " + filepath.Join(t.TempDir(), "none")}})
	if err == nil || !strings.Contains(err.Error(), "none") {
		t.Errorf("start on a missing port: %v, want an error naming it", err)
	}
}

func TestPackedAndRemovedVariables(t *testing.T) {
	t.Parallel()
	p := sim.DefaultProfile()
	p.CmdSet += "H["
	p.Vars['H'] = "45,,50"
	p.Vars['['] = "40.0,45.0,46.0,47.0,48.0"
	r := startRig(t, &p)
	for name, want := range map[string]string{
		"ambient.1.humidity": "45", "ambient.2.humidity": "N/A", "ambient.3.humidity": "50",
		"ambient.1.temperature.high": "40.0", "ambient.4.temperature.high": "47.0",
	} {
		if got := r.value(t, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if _, ok := r.h.Value("ambient.5.temperature.high"); ok {
		t.Error("a fifth field of a packed variable was published")
	}
	// Fewer fields later: the ones gone are removed.
	r.sim.Set('H', "44")
	r.h.Wait("ambient.2/3.humidity removed", func(st *sockproto.State) bool {
		_, ok2 := st.Value("ambient.2.humidity")
		_, ok3 := st.Value("ambient.3.humidity")
		v, _ := st.Value("ambient.1.humidity")
		return !ok2 && !ok3 && v == "44"
	})
	// A variable the UPS stops supporting goes away.
	r.sim.Set('C', "NA")
	r.h.Wait("ups.temperature removed", func(st *sockproto.State) bool {
		_, ok := st.Value("ups.temperature")
		return !ok
	})
}
