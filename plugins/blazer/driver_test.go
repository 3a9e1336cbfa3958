package blazer

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/drivertest"
	"github.com/gonut/gonut/sdk/plugin"
	"github.com/gonut/gonut/sdk/sockproto"
	"github.com/gonut/gonut/tools/megatec-sim/sim"
)

// simTransport talks to a simulated UPS in process, without a pty: the
// UPS answers at once, or not at all (a timeout).
type simTransport struct {
	ups    *sim.UPS
	mu     sync.Mutex
	closed bool
}

func (s *simTransport) Command(ctx context.Context, cmd string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("closed")
	}
	return s.ups.Respond(cmd), nil
}

func (s *simTransport) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// newSimDriver is a blazer driver on an in-process simulated UPS.
func newSimDriver(u *sim.UPS) *Driver {
	return New(func(ctx context.Context, d *sdk.Device) (Transport, error) { return &simTransport{ups: u}, nil })
}

func startSim(t *testing.T, u *sim.UPS, opts ...string) *drivertest.Harness {
	t.Helper()
	return drivertest.Start(t, SerialInfo, newSimDriver(u), drivertest.Config{
		Options: append([]string{"port = /dev/null", "pollinterval = 1"}, opts...),
	})
}

func value(st *sockproto.State, name string) string {
	v, _ := st.Value(name)
	return v
}

// TestInitPublishesNUTVariables checks the start-up state against what NUT
// 2.8.0's blazer_ser published for the same simulated UPS (recorded with
// Debian's upsc; the differential tests in test/blazer compare live).
func TestInitPublishesNUTVariables(t *testing.T) {
	h := startSim(t, sim.New())
	want := map[string]string{
		"battery.charge": "100", "battery.voltage": "27.40", "battery.voltage.high": "26.00",
		"battery.voltage.low": "20.80", "battery.voltage.nominal": "24.0", "device.mfr": "MEGATEC",
		"device.model": "SIM-1000", "device.type": "ups", "input.current.nominal": "4.0",
		"input.frequency": "50.0", "input.frequency.nominal": "50", "input.voltage": "230.0",
		"input.voltage.fault": "230.0", "input.voltage.nominal": "230", "output.voltage": "230.0",
		"ups.beeper.status": "enabled", "ups.delay.shutdown": "30", "ups.delay.start": "180",
		"ups.firmware": "1.00", "ups.load": "20", "ups.mfr": "MEGATEC", "ups.model": "SIM-1000",
		"ups.status": "OL", "ups.temperature": "25.0", "ups.type": "offline / line interactive",
	}
	st := h.State()
	for k, v := range want {
		if got := value(st, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	cmds := strings.Join(st.Cmds(), " ")
	for _, c := range []string{"beeper.toggle", "load.off", "load.on", "shutdown.return", "shutdown.stayoff",
		"shutdown.stop", "test.battery.start", "test.battery.start.deep", "test.battery.start.quick", "test.battery.stop"} {
		if !st.HasCmd(c) {
			t.Errorf("command %s missing (have %s)", c, cmds)
		}
	}
	if _, ok := st.Value("battery.runtime"); ok {
		t.Error("battery.runtime published without runtimecal")
	}
}

func TestInitErrors(t *testing.T) {
	cases := []struct {
		opts []string
		want string
	}{
		{[]string{"ondelay = 10000"}, "start delay '10000' out of range"},
		{[]string{"offdelay = 11"}, "shutdown delay '11' out of range"},
		{[]string{"offdelay = 601"}, "shutdown delay '601' out of range"},
		{[]string{"runtimecal = 270,100,720"}, "insufficient parameters for runtimecal"},
		{[]string{"runtimecal = 720,100,270,50"}, "out of range (runtime)"},
		{[]string{"runtimecal = 270,100,720,150"}, "out of range (load)"},
		{[]string{"runtimecal = 270,100,720,50", "chargetime = 0"}, "chargetime"},
		{[]string{"runtimecal = 270,100,720,50", "idleload = 101"}, "idleload"},
		{[]string{"protocol = bogus"}, "no supported UPS detected"},
	}
	for _, c := range cases {
		_, err := drivertest.StartErr(t, SerialInfo, newSimDriver(sim.New()), drivertest.Config{
			Options: append([]string{"port = /dev/null"}, c.opts...),
		})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.opts, err, c.want)
		}
	}
}

func TestNoSupportedUPS(t *testing.T) {
	u := sim.New()
	u.SetFault(sim.FaultGarbage)
	_, err := drivertest.StartErr(t, SerialInfo, newSimDriver(u), drivertest.Config{Options: []string{"port = /dev/null"}})
	if err == nil || !strings.Contains(err.Error(), "no supported UPS detected") {
		t.Fatalf("error %v, want no supported UPS detected", err)
	}
	// Every protocol was tried MaxTries times.
	if got, want := len(u.Received()), MaxTries*len(protocols); got != want {
		t.Errorf("%d commands sent, want %d: %q", got, want, u.Received())
	}
}

// TestStaleAfterMaxTries: as NUT, a UPS that stops answering is reported
// stale only after MaxTries failed polls, and fresh again at the first
// answer.
func TestStaleAfterMaxTries(t *testing.T) {
	t.Parallel()
	u := sim.New()
	h := startSim(t, u)
	u.SetFault(sim.FaultNoReply)
	// At most one poll was under way when the fault began: after two
	// more, at most three have failed, and the data is still fresh.
	h.WaitHeartbeats(2)
	if !h.State().DataOK() {
		t.Fatal("data went stale before MaxTries polls failed")
	}
	h.Wait("data stale", func(st *sockproto.State) bool { return !st.DataOK() })
	u.SetFault(sim.FaultNone)
	h.Wait("data fresh again", func(st *sockproto.State) bool { return st.DataOK() })
}

// TestBadRepliesNeverCrash feeds garbage, half replies and an echo; the
// driver keeps polling and recovers.
func TestBadRepliesNeverCrash(t *testing.T) {
	t.Parallel()
	u := sim.New()
	h := startSim(t, u)
	for _, f := range []sim.Fault{sim.FaultGarbage, sim.FaultPartial, sim.FaultNoReply} {
		u.SetFault(f)
		h.WaitHeartbeats(2)
		u.SetFault(sim.FaultNone)
		h.Wait("fresh after "+f.String(), func(st *sockproto.State) bool { return st.DataOK() && value(st, "ups.status") == "OL" })
	}
	if errs := h.ProtocolErrors(); len(errs) > 0 {
		t.Errorf("protocol errors: %v", errs)
	}
}

func TestStatusBits(t *testing.T) {
	t.Parallel()
	u := sim.New()
	h := startSim(t, u)
	cases := []struct {
		script []string
		status string
		alarm  string
		typ    string
		beeper string
	}{
		{[]string{"mains off"}, "OB", "", "offline / line interactive", "enabled"},
		{[]string{"lowbatt on"}, "OB LB", "", "offline / line interactive", "enabled"},
		{[]string{"mains on", "set bits 00100000", "set input.voltage 100", "set output.voltage 40"}, "OL", "", "online", "disabled"},
		{[]string{"set output.voltage 200"}, "OL", "", "online", "disabled"}, // too high for BOOST
		{[]string{"set output.voltage 140"}, "OL BOOST", "", "online", "disabled"},
		{[]string{"set bits 00010110"}, "ALARM OL CAL FSD", "UPS selftest failed! Shutdown imminent!", "online", "disabled"},
		{[]string{"set bits 00001001"}, "OL", "", "offline / line interactive", "enabled"},
	}
	for _, c := range cases {
		for _, l := range c.script {
			if err := u.Apply(l); err != nil {
				t.Fatal(err)
			}
		}
		st := h.Wait("status "+c.status, func(st *sockproto.State) bool {
			return value(st, "ups.status") == c.status && value(st, "ups.type") == c.typ
		})
		if got := value(st, "ups.alarm"); got != c.alarm {
			t.Errorf("%v: ups.alarm %q, want %q", c.script, got, c.alarm)
		}
		if got := value(st, "ups.beeper.status"); got != c.beeper {
			t.Errorf("%v: ups.beeper.status %q, want %q", c.script, got, c.beeper)
		}
	}
}

// TestRuntimeEstimation runs NUT's estimation with a clock that moves a
// minute per poll, so each published value pair must come from a whole
// number of minutes on battery.
func TestRuntimeEstimation(t *testing.T) {
	t.Parallel()
	u := sim.New()
	dr := newSimDriver(u)
	var mu sync.Mutex
	clock := time.Unix(1_700_000_000, 0)
	dr.SetClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Minute)
		return clock
	})
	h := drivertest.Start(t, SerialInfo, dr, drivertest.Config{Options: []string{
		"port = /dev/null", "pollinterval = 1", "runtimecal = 270,100,720,50", "chargetime = 600", "idleload = 5",
	}})
	// With runtimecal the charge starts from the voltage over
	// nominal..1.15*nominal: 27.4 V of 24..27.6 V is 94 %.
	exp := math.Log(720.0/270) / math.Log(100.0/50)
	nom := 270 * math.Pow(1, exp)
	st := h.Wait("charged", func(st *sockproto.State) bool { return value(st, "battery.charge") == "100" })
	if got := value(st, "battery.runtime"); got != cFormat("%.0f", nom/math.Pow(0.2, exp)) {
		t.Errorf("battery.runtime at 100%% and 20%% load = %s, want %s", got, cFormat("%.0f", nom/math.Pow(0.2, exp)))
	}
	if err := u.Apply("mains off"); err != nil {
		t.Fatal(err)
	}
	eff := math.Pow(0.2, exp)
	st = h.Wait("discharging", func(st *sockproto.State) bool {
		c := value(st, "battery.charge")
		return value(st, "ups.status") == "OB" && c != "100" && c != ""
	})
	charge, runtime := value(st, "battery.charge"), value(st, "battery.runtime")
	found := false
	for k := 1; k < 100 && !found; k++ {
		est := math.Max(0, nom-eff*60*float64(k))
		found = cFormat("%.0f", 100*est/nom) == charge && cFormat("%.0f", est/eff) == runtime
	}
	if !found {
		t.Errorf("battery.charge %s, battery.runtime %s fit no whole number of minutes on battery (nominal %.1f s, load factor %.4f)", charge, runtime, nom, eff)
	}
}

func TestInstCmdResults(t *testing.T) {
	u := sim.New()
	u.SetTestDuration(0)
	h := startSim(t, u)
	cases := []struct {
		ack        bool
		cmd, param string
		sent       []string
		status     int
	}{
		{false, "test.battery.start.quick", "", []string{"T\r"}, plugin.StatHandled},
		{true, "test.battery.start", "12", []string{"T12\r"}, plugin.StatHandled},
		{true, "test.battery.start", "0", nil, plugin.StatFailed},
		{true, "shutdown.return", "", []string{"S.5R0003\r"}, plugin.StatHandled},
		{false, "beeper.toggle", "", []string{"Q\r"}, plugin.StatHandled},
		{false, "no.such.command", "", nil, plugin.StatUnknown},
	}
	for _, c := range cases {
		u.SetAck(c.ack)
		u.ResetReceived()
		res, err := h.InstCmd(c.cmd, c.param)
		if err != nil {
			t.Fatalf("%s: %v", c.cmd, err)
		}
		if res.Status != c.status {
			t.Errorf("%s %s: status %d (%s), want %d", c.cmd, c.param, res.Status, res.Message, c.status)
		}
		if got := u.Commands(); strings.Join(got, "|") != strings.Join(c.sent, "|") {
			t.Errorf("%s %s: sent %q, want %q", c.cmd, c.param, got, c.sent)
		}
	}
	// A UPS that echoes a command it does not take: failed.
	u.SetFault(sim.FaultGarbage)
	res, err := h.InstCmd("load.on", "")
	if err != nil || res.Status != plugin.StatFailed {
		t.Errorf("load.on answered with garbage: %+v, %v; want failed", res, err)
	}
}

func TestShutdownSequence(t *testing.T) {
	cases := []struct {
		ack  bool
		opts []string
		want string
	}{
		// No reply counts as success: one C, one S.
		{false, []string{"offdelay = 120", "ondelay = 0"}, "C\r|S02\r"},
		{true, nil, "C\r|S.5R0003\r"},
	}
	for _, c := range cases {
		u := sim.New()
		u.SetAck(c.ack)
		dr := newSimDriver(u)
		drivertest.Start(t, SerialInfo, dr, drivertest.Config{Options: append([]string{"port = /dev/null"}, c.opts...)})
		u.ResetReceived()
		if err := dr.Shutdown(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(u.Commands(), "|"); got != c.want {
			t.Errorf("%v: shutdown sent %q, want %q", c.opts, got, c.want)
		}
	}
}

// startErr starts drv as blazer_ser with the options and returns the
// start-up error.
func startErr(t *testing.T, drv sdk.Driver, opts ...string) error {
	t.Helper()
	_, err := drivertest.StartErr(t, SerialInfo, drv, drivertest.Config{Options: opts})
	return err
}
