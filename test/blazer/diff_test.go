package blazer

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
	"github.com/gonut/gonut/tools/megatec-sim/sim"
)

const pkgBlazerSer = "./plugins/blazer/cmd/blazer_ser"

func TestMain(m *testing.M) {
	// StartStack and friends find gonut's driver by its NUT name.
	nuttest.DriverPackages["blazer_ser"] = pkgBlazerSer
	nuttest.Main(m)
}

const users = `[admin]
	password = pw
	instcmds = all
	actions = SET
`

// stack is one implementation's driver and upsd reading a simulator.
type stack struct {
	impl nuttest.Impl
	dir  *nuttest.Dir
	ups  *sim.UPS
	line *sim.Serial
	drv  *nuttest.Proc // NUT's driver, or gonut's nut-driver-host
	srv  *nuttest.Server
}

// startStack serves a fresh simulated UPS through impl's blazer_ser and
// upsd. options are extra ups.conf lines of the [sim] section.
// link is the simulator's path, the same for both implementations so that
// driver.parameter.port agrees; run each stack in its own subtest so that
// the first is gone before the second takes the link.
func startStack(t *testing.T, impl nuttest.Impl, link string, options ...string) *stack {
	t.Helper()
	return startStackWith(t, impl, link, nil, options...)
}

// startStackWith is startStack with script lines applied to the UPS
// before the driver starts.
func startStackWith(t *testing.T, impl nuttest.Impl, link string, script []string, options ...string) *stack {
	t.Helper()
	d := nuttest.NewDir(t)
	u := sim.New()
	u.SetTestDuration(0) // nothing may depend on the clock
	for _, l := range script {
		if err := u.Apply(l); err != nil {
			t.Fatal(err)
		}
	}
	line, err := sim.ListenSerial(u, link)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { line.Close() })
	opts := append([]string{"pollinterval = 1"}, options...)
	d.WriteUPSConf(t, nil, nuttest.Section{Name: "sim", Driver: "blazer_ser", Port: line.Link(), Options: opts})
	cfg := nuttest.UpsdConfig{Users: users}
	var srv *nuttest.Server
	var drv *nuttest.Proc
	if impl == nuttest.NUT {
		drv = nuttest.StartNUTDriver(t, d, nuttest.Section{Name: "sim", Driver: "blazer_ser"})
		srv = nuttest.StartNUTUpsd(t, d, cfg)
	} else {
		nuttest.Build(t, nuttest.PkgHost, pkgBlazerSer, nuttest.PkgUpsd)
		drv = nuttest.StartHost(t, d)
		srv = nuttest.StartUpsd(t, d, cfg)
	}
	srv.WaitUPS(t, "sim")
	return &stack{impl: impl, dir: d, ups: u, line: line, drv: drv, srv: srv}
}

// upsc is Debian's upsc output for the UPS, without the lines that name
// the implementation.
func (s *stack) upsc(t *testing.T) string {
	t.Helper()
	return nuttest.DropVersionLines(nuttest.UpscOutput(t, s.srv.Target("sim")))
}

// waitVar waits until upsc shows name with value want, and returns the
// whole output then.
func (s *stack) waitVar(t *testing.T, name, want string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		out = s.upsc(t)
		if strings.Contains(out, "\n"+name+": "+want+"\n") || strings.HasPrefix(out, name+": "+want+"\n") {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %s never became %q; upsc says:\n%s", s.impl, name, want, out)
	return ""
}

// A scenario step: script lines for the simulator, then the ups.status
// that shows the driver has seen them.
var steps = []struct {
	name   string
	script []string
	status string
}{
	{"start", nil, "OL"},
	{"mains failure", []string{"mains off"}, "OB"},
	{"low battery", []string{"lowbatt on"}, "OB LB"},
	{"mains back", []string{"mains on"}, "OL"},
	{"battery test", []string{"test on"}, "OL CAL"},
	{"test over, boost", []string{"test off", "set input.voltage 200", "set bits 00101001"}, "OL BOOST"},
	{"trim", []string{"set input.voltage 250"}, "OL TRIM"},
	{"bypass", []string{"set input.voltage 230"}, "OL BYPASS"},
	{"selftest failed", []string{"set bits 00011000"}, "ALARM OL"},
	{"shutdown imminent, online type", []string{"set bits 00000010"}, "ALARM OL FSD"},
	{"back to normal", []string{"set bits 00001001", "set load 47", "set temperature 31.5"}, "OL"},
}

// TestDifferentialScenario runs NUT 2.8.0's blazer_ser (read by NUT's upsd)
// and gonut's (under nut-driver-host, read by gonut's upsd) against the
// same simulated UPS through the same scenario, and compares upsc's output
// after each step. battery.runtime is not in the comparison's config: it
// exists only with runtimecal and counts wall-clock seconds between polls,
// which two runs cannot share; the estimation is tested with a fake clock
// in plugins/blazer.
func TestDifferentialScenario(t *testing.T) {
	nuttest.RequireNUT(t)
	outputs := map[nuttest.Impl][]string{}
	link := filepath.Join(t.TempDir(), "ttyUPS")
	for _, impl := range []nuttest.Impl{nuttest.NUT, nuttest.Gonut} {
		t.Run(impl.String(), func(t *testing.T) {
			s := startStack(t, impl, link)
			for _, st := range steps {
				for _, l := range st.script {
					if err := s.line.Apply(context.Background(), l); err != nil {
						t.Fatal(err)
					}
				}
				began := time.Now()
				out := s.waitVar(t, "ups.status", st.status)
				t.Logf("step %q: seen after %s", st.name, time.Since(began).Round(time.Millisecond))
				// The status is committed last in a poll, but the next poll
				// may already be under way: read again until it is steady.
				out = s.steady(t, out)
				if st.name == "start" {
					// The commands and writable variables, as Debian's
					// upscmd and upsrw list them.
					for _, tool := range []string{nuttest.NUTUpscmd, nuttest.NUTUpsrw} {
						args := []string{s.srv.Target("sim")}
						if tool == nuttest.NUTUpscmd {
							args = []string{"-l", s.srv.Target("sim")}
						}
						r := nuttest.Run(t, s.dir.Env(), tool, args...)
						out += fmt.Sprintf("--- %s (exit %d)\n%s", filepath.Base(tool), r.Code, r.Stdout)
					}
				}
				outputs[impl] = append(outputs[impl], out)
			}
		})
	}
	if t.Failed() {
		return
	}
	for i, st := range steps {
		want, got := outputs[nuttest.NUT][i], outputs[nuttest.Gonut][i]
		if d := nuttest.Diff(want, got); d != "" {
			t.Errorf("step %q: upsc differs (- NUT 2.8.0, + gonut):\n%s", st.name, d)
		}
	}
}

// steady reads upsc until two readings agree.
func (s *stack) steady(t *testing.T, out string) string {
	t.Helper()
	for i := 0; i < 50; i++ {
		time.Sleep(150 * time.Millisecond)
		again := s.upsc(t)
		if again == out {
			return out
		}
		out = again
	}
	t.Fatalf("%s: upsc output never settled:\n%s", s.impl, out)
	return ""
}

// TestDifferentialOptions compares the published variables for ups.conf
// settings that change them: delays, no rating or vendor query, a
// preselected protocol, configured battery voltages.
func TestDifferentialOptions(t *testing.T) {
	nuttest.RequireNUT(t)
	cases := []struct {
		name   string
		opts   []string
		script []string // applied to the UPS before the driver starts
	}{
		{"per-cell battery voltage", nil, []string{"set battery.voltage 2.27"}},
		{"on battery at start", nil, []string{"mains off", "lowbatt on", "set load 65"}},
		{"delays", []string{"ondelay = 0", "offdelay = 125"}, nil},
		{"norating novendor", []string{"norating", "novendor"}, nil},
		{"zinto protocol", []string{"protocol = zinto"}, nil},
		{"battery voltages", []string{"default.battery.voltage.high = 27.6", "default.battery.voltage.low = 21.2"}, nil},
		// On line the estimate grows by runtime*seconds/chargetime per
		// poll: with a huge chargetime nothing depends on the clock.
		{"runtimecal", []string{"runtimecal = 270,100,720,50", "chargetime = 100000000", "idleload = 5"}, nil},
		{"runtimecal with battery voltages", []string{"runtimecal = 300,80,900,30", "chargetime = 100000000",
			"default.battery.voltage.high = 27.0", "default.battery.voltage.low = 22.0"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var outs []string
			link := filepath.Join(t.TempDir(), "ttyUPS")
			for _, impl := range []nuttest.Impl{nuttest.NUT, nuttest.Gonut} {
				t.Run(impl.String(), func(t *testing.T) {
					s := startStackWith(t, impl, link, c.script, c.opts...)
					want := "OL"
					if s.ups.Status().UtilityFail {
						want = "OB LB"
					}
					outs = append(outs, s.steady(t, s.waitVar(t, "ups.status", want)))
				})
			}
			if t.Failed() {
				return
			}
			if d := nuttest.Diff(outs[0], outs[1]); d != "" {
				t.Errorf("upsc differs (- NUT 2.8.0, + gonut):\n%s", d)
			}
		})
	}
}

// TestDifferentialInstCmds sends every instant command through upsd to
// each implementation and checks that the same bytes reach the UPS and the
// command's tracking result is the same. (The protocol is spoken directly
// rather than through upscmd -w, which polls its result once a second.)
func TestDifferentialInstCmds(t *testing.T) {
	nuttest.RequireNUT(t)
	all := [][]string{
		{"beeper.toggle"}, {"load.off"}, {"load.on"}, {"shutdown.return"},
		{"shutdown.stayoff"}, {"shutdown.stop"}, {"test.battery.start"},
		{"test.battery.start", "5"}, {"test.battery.start", "0"}, {"test.battery.start", "abc"},
		{"test.battery.start", "99"}, {"test.battery.start", "100"},
		{"test.battery.start.deep"}, {"test.battery.start.quick"}, {"test.battery.stop"},
		// Command names match without regard to case, in upsd and in
		// NUT's driver alike.
		{"TEST.BATTERY.START.QUICK"}, {"Beeper.Toggle"}, {"SHUTDOWN.STOP"},
	}
	shutdowns := [][]string{{"shutdown.return"}, {"shutdown.stayoff"}}
	cases := []struct {
		ack  bool // the UPS answers ACK, else nothing and each command waits out the reply timeout
		cmds [][]string
		opts []string
	}{
		{true, all, nil},
		{false, [][]string{{"beeper.toggle"}, {"shutdown.return"}, {"test.battery.start", "5"}}, nil},
		{true, shutdowns, []string{"ondelay = 0", "offdelay = 90"}},
		{true, shutdowns, []string{"ondelay = 0", "offdelay = 20"}},
		{true, shutdowns, []string{"ondelay = 12", "offdelay = 600"}},
	}
	link := filepath.Join(t.TempDir(), "ttyUPS")
	run := func(impl nuttest.Impl, ack bool, cmds [][]string, opts ...string) (sent, results []string) {
		t.Run(impl.String(), func(t *testing.T) {
			s := startStack(t, impl, link, opts...)
			s.ups.SetAck(ack)
			c := s.srv.Dial(t)
			for _, l := range []string{"USERNAME admin", "PASSWORD pw", "SET TRACKING ON"} {
				if r, err := c.Cmd(l); err != nil || r != "OK" {
					t.Fatalf("%s: %q, %v", l, r, err)
				}
			}
			for _, cmd := range cmds {
				s.ups.ResetReceived()
				res := instcmd(t, c, "INSTCMD sim "+strings.Join(cmd, " "))
				what := strings.Join(cmd, " ")
				results = append(results, what+": "+res)
				sent = append(sent, fmt.Sprintf("%s: %q", what, s.ups.Commands()))
			}
		})
		return sent, results
	}
	for _, c := range cases {
		nutSent, nutRes := run(nuttest.NUT, c.ack, c.cmds, c.opts...)
		gonutSent, gonutRes := run(nuttest.Gonut, c.ack, c.cmds, c.opts...)
		if t.Failed() {
			return
		}
		what := fmt.Sprintf("ack=%v %v", c.ack, c.opts)
		if d := nuttest.Diff(strings.Join(nutSent, "\n"), strings.Join(gonutSent, "\n")); d != "" {
			t.Errorf("%s: bytes sent to the UPS differ (- NUT, + gonut):\n%s", what, d)
		}
		if d := nuttest.Diff(strings.Join(nutRes, "\n"), strings.Join(gonutRes, "\n")); d != "" {
			t.Errorf("%s: results differ (- NUT, + gonut):\n%s", what, d)
		}
	}
}

// instcmd sends an INSTCMD with tracking on and returns its final
// tracking result (SUCCESS or the ERR line), or the INSTCMD's own error.
func instcmd(t *testing.T, c *nuttest.Conn, line string) string {
	t.Helper()
	r, err := c.Cmd(line)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	id, ok := strings.CutPrefix(r, "OK TRACKING ")
	if !ok {
		return r
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		r, err := c.Cmd("GET TRACKING " + id)
		if err != nil {
			t.Fatalf("GET TRACKING %s: %v", id, err)
		}
		if r != "PENDING" {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: still PENDING after 15s", line)
	return ""
}

// TestDifferentialShutdown runs `blazer_ser -k` (what upsdrvctl shutdown
// runs at the end of a power failure) of each implementation against the
// simulator: the same commands reach the UPS and both exit 0.
func TestDifferentialShutdown(t *testing.T) {
	nuttest.RequireNUT(t)
	gonut := nuttest.Program(t, pkgBlazerSer)
	for _, opts := range [][]string{nil, {"ondelay = 0", "offdelay = 300"}} {
		var sent []string
		for _, prog := range []string{"/lib/nut/blazer_ser", gonut} {
			d := nuttest.NewDir(t)
			u := sim.New()
			u.SetAck(opts != nil) // with and without ACK; no reply costs a second per command
			line, err := sim.ListenSerial(u, d.Join("ttyUPS"))
			if err != nil {
				t.Fatal(err)
			}
			d.WriteUPSConf(t, nil, nuttest.Section{Name: "sim", Driver: "blazer_ser", Port: line.Link(), Options: opts})
			r := d.Run(t, prog, "-a", "sim", "-u", nuttest.RunAsUser(), "-k")
			line.Close()
			if r.Code != 0 {
				t.Errorf("%s -k %v: %s", prog, opts, r)
			}
			sent = append(sent, fmt.Sprintf("%q", u.Commands()))
		}
		if sent[0] != sent[1] {
			t.Errorf("-k with %v: NUT sent %s, gonut %s", opts, sent[0], sent[1])
		}
	}
}
