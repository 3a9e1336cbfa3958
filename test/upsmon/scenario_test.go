package upsmon

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

// ol is a dummy-ups file of a UPS on line power, to be changed with SET.
const ol = "ups.status: OL\nbattery.charge: 100\n"

// powerFails goes OL, OB, OB LB on its own, and stays there.
const powerFails = "ups.status: OL\nbattery.charge: 100\nTIMER 2\nups.status: OB DISCHRG\nbattery.charge: 40\nTIMER 2\nups.status: OB DISCHRG LB\nbattery.charge: 10\nTIMER 3600\n"

func primary(s *stack, ups string, pv int) string {
	return fmt.Sprintf("%s %d monp monpass primary", s.srv.Target(ups), pv)
}

func secondary(s *stack, ups string) string {
	return fmt.Sprintf("%s 1 mons monspass secondary", s.srv.Target(ups))
}

// TestSimpleShutdown: the .seq file takes the UPS from OL to OB to OB LB.
// The primary notifies ONBATT, LOWBATT and SHUTDOWN, sets FSD, writes
// POWERDOWNFLAG and runs SHUTDOWNCMD once, within POLLFREQALERT +
// FINALDELAY + 1 s of LB reaching upsd (checked with slack for a loaded
// machine), logs why in one line, and exits 0.
func TestSimpleShutdown(t *testing.T) {
	t.Parallel()
	s := startStack(t, nuttest.Gonut, "", dev{"ups", powerFails})
	w := watchStatus(t, s, "ups")
	m := startMon(t, monConf{monitors: []string{primary(s, "ups", 1)}}, "-p")
	sd := m.waitShutdown(20 * time.Second)
	if code := m.waitExit(10 * time.Second); code != 0 {
		t.Errorf("exit %d after the shutdown", code)
	}
	addr := s.srv.Target("ups")
	m.waitTypes([]string{"LOWBATT", "ONBATT", "SHUTDOWN"}, 5*time.Second)
	want := []string{"LOWBATT|" + addr + "|UPS " + addr + " battery is low", "ONBATT|" + addr + "|UPS " + addr + " on battery", "SHUTDOWN||Auto logout and shutdown proceeding"}
	if got := m.notes(); !slices.Equal(got, want) {
		t.Errorf("notifications %q, want %q", got, want)
	}
	if ts, _ := m.shutdowns(); len(ts) != 1 {
		t.Errorf("SHUTDOWNCMD ran %d times", len(ts))
	}
	if !m.killpower() {
		t.Errorf("POWERDOWNFLAG not written: %q", m.file("killpower"))
	}
	if !m.logHas("CRITICAL: shutting down: "+addr+" OB LB for ") || !m.logHas("; MINSUPPLIES 1, supplies fed 0") {
		t.Errorf("no one-line reason in the log:\n%s", m.proc.Output())
	}
	s.waitVar(t, "ups", "ups.status", "FSD OB DISCHRG LB")
	lb, ok := w.when("LB")
	if !ok {
		t.Fatal("the watcher never saw LB")
	}
	took := time.Duration((sd - float64(lb.UnixNano())/1e9) * float64(time.Second))
	bound := 3 * time.Second // POLLFREQALERT 1 + FINALDELAY 1 + 1
	t.Logf("SHUTDOWNCMD ran %s after LB reached upsd (bound %s)", took.Round(time.Millisecond), bound)
	if took > bound+3*time.Second {
		t.Errorf("SHUTDOWNCMD ran %s after LB reached upsd, past POLLFREQALERT + FINALDELAY + 1 s = %s even with 3 s of slack", took, bound)
	}
}

// TestPrimaryAndSecondaries: three upsmon processes on one UPS. On OB LB
// the primary sets FSD; the secondaries see it, notify, run SHUTDOWNCMD
// and log out; the primary waits for them (NUMLOGINS) and shuts down last.
func TestPrimaryAndSecondaries(t *testing.T) {
	t.Parallel()
	s := startStack(t, nuttest.Gonut, "", dev{"ups", ol})
	p := startMon(t, monConf{monitors: []string{primary(s, "ups", 1)}}, "-p")
	secs := []*mon{startMon(t, monConf{monitors: []string{secondary(s, "ups")}}, "-p"), startMon(t, monConf{monitors: []string{secondary(s, "ups")}}, "-p")}
	waitFor(t, 15*time.Second, "three logins", func() bool { return s.numLogins(t, "ups") == 3 })
	s.set(t, "ups", "ups.status", "OB LB")
	pt := p.waitShutdown(30 * time.Second)
	for i, sm := range secs {
		st := sm.waitShutdown(time.Second)
		if st > pt {
			t.Errorf("secondary %d ran SHUTDOWNCMD %.2f s after the primary", i, st-pt)
		}
		if code := sm.waitExit(10 * time.Second); code != 0 {
			t.Errorf("secondary %d exit %d", i, code)
		}
		want := []string{"FSD", "LOWBATT", "ONBATT", "SHUTDOWN"}
		if got := sm.waitTypes(want, 5*time.Second); !slices.Equal(got, want) {
			t.Errorf("secondary %d notified %q, want %q", i, got, want)
		}
		if !sm.logHas("shutting down: " + s.srv.Target("ups") + " FSD; MINSUPPLIES 1, supplies fed 0") {
			t.Errorf("secondary %d: no reason line:\n%s", i, sm.proc.Output())
		}
	}
	if code := p.waitExit(10 * time.Second); code != 0 {
		t.Errorf("primary exit %d", code)
	}
	want := []string{"LOWBATT", "ONBATT", "SHUTDOWN", "SHUTDOWN_HOSTSYNC"}
	if got := p.waitTypes(want, 5*time.Second); !slices.Equal(got, want) {
		t.Errorf("primary notified %q, want %q", got, want)
	}
	if !p.logHas("waiting up to HOSTSYNC (10 s) for 2 secondary login(s) to go") || !p.logHas("Secondaries have logged out") || p.logHas("Host sync timer expired") {
		t.Errorf("the primary did not wait for the secondaries:\n%s", p.proc.Output())
	}
	if !p.killpower() {
		t.Error("the primary wrote no POWERDOWNFLAG")
	}
	if n := s.numLogins(t, "ups"); n != 0 {
		t.Errorf("NUMLOGINS %d after every upsmon shut down", n)
	}
}

// TestStuckSecondary: a secondary that never logs out holds the primary
// up for HOSTSYNC only.
func TestStuckSecondary(t *testing.T) {
	t.Parallel()
	s := startStack(t, nuttest.Gonut, "", dev{"ups", ol})
	p := startMon(t, monConf{monitors: []string{primary(s, "ups", 1)}, extra: "HOSTSYNC 3\n"}, "-p")
	stuckLogin(t, s, "ups")
	waitFor(t, 15*time.Second, "two logins", func() bool { return s.numLogins(t, "ups") == 2 })
	s.set(t, "ups", "ups.status", "OB LB")
	p.waitShutdown(20 * time.Second)
	p.waitExit(10 * time.Second)
	if !p.logHas("waiting up to HOSTSYNC (3 s) for 1 secondary login(s) to go") || !p.logHas("Host sync timer expired, forcing shutdown (1 login(s) left)") {
		t.Errorf("the primary did not give up after HOSTSYNC:\n%s", p.proc.Output())
	}
	if n := s.numLogins(t, "ups"); n != 1 {
		t.Errorf("NUMLOGINS %d: the stuck secondary should still be there", n)
	}
}

// TestRedundantSupplies: two UPSes feed the system. With power values 1
// and MINSUPPLIES 1, and with the manual's "Big Box" (power values 2,
// MINSUPPLIES 2), losing one UPS keeps the system up and losing both
// shuts it down.
func TestRedundantSupplies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		pv, min int
	}{{"power values 1, MINSUPPLIES 1", 1, 1}, {"Big Box: power values 2, MINSUPPLIES 2", 2, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startStack(t, nuttest.Gonut, "", dev{"ups1", ol}, dev{"ups2", ol})
			m := startMon(t, monConf{monitors: []string{primary(s, "ups1", tc.pv), primary(s, "ups2", tc.pv)},
				extra: fmt.Sprintf("MINSUPPLIES %d\n", tc.min)}, "-p")
			m.waitLog("Logged into UPS "+s.srv.Target("ups2"), 15*time.Second)
			s.set(t, "ups1", "ups.status", "OB LB")
			m.waitLog(s.srv.Target("ups1")+" OB LB for", 10*time.Second)
			time.Sleep(3 * time.Second) // three polls
			if ts, _ := m.shutdowns(); len(ts) != 0 || m.proc.Exited() {
				t.Fatalf("one UPS of two lost: shut down anyway:\n%s", m.proc.Output())
			}
			s.set(t, "ups2", "ups.status", "OB LB")
			m.waitShutdown(15 * time.Second)
			want := fmt.Sprintf("shutting down: %s OB LB for ", s.srv.Target("ups1"))
			if !m.logHas(want) || !m.logHas(s.srv.Target("ups2")+" OB LB for ") || !m.logHas(fmt.Sprintf("; MINSUPPLIES %d, supplies fed 0", tc.min)) {
				t.Errorf("reason line lacks both UPSes:\n%s", m.proc.Output())
			}
		})
	}
}

// restartUpsd starts gonut's upsd again on the stack's port.
func restartUpsd(t *testing.T, s *stack) {
	t.Helper()
	p := nuttest.StartProc(t, s.dir.Env(), nuttest.Program(t, nuttest.PkgUpsd), "-u", nuttest.RunAsUser(), "-F")
	s.srv = &nuttest.Server{Proc: p, Port: s.srv.Port}
	s.srv.WaitUPS(t, "ups")
}

// TestCommunication: upsd killed while the UPS is on line gives COMMBAD,
// then NOCOMM after NOCOMMWARNTIME, and no shutdown; upsd back gives
// COMMOK. Lost while on battery, the UPS is critical after DEADTIME, as in
// NUT, and the primary shuts down.
func TestCommunication(t *testing.T) {
	t.Parallel()
	s := startStack(t, nuttest.Gonut, "", dev{"ups", ol})
	m := startMon(t, monConf{monitors: []string{primary(s, "ups", 1)}}, "-p")
	m.waitLog("Logged into UPS", 15*time.Second)
	time.Sleep(1500 * time.Millisecond)
	s.srv.Kill()
	m.waitNote("COMMBAD", 10*time.Second)
	m.waitNote("NOCOMM", 10*time.Second) // NOCOMMWARNTIME 2
	time.Sleep(2 * time.Second)          // past DEADTIME 3
	if ts, _ := m.shutdowns(); len(ts) != 0 || m.proc.Exited() {
		t.Fatalf("upsd lost while OL: shut down:\n%s", m.proc.Output())
	}
	restartUpsd(t, s)
	m.waitNote("COMMOK", 10*time.Second)

	s.set(t, "ups", "ups.status", "OB")
	m.waitNote("ONBATT", 10*time.Second)
	killed := time.Now()
	s.srv.Kill()
	sd := m.waitShutdown(20 * time.Second)
	if d := time.Duration((sd - float64(killed.UnixNano())/1e9) * float64(time.Second)); d < 3*time.Second {
		t.Errorf("shut down %s after upsd went, before DEADTIME (3 s)", d)
	}
	if !m.logHas("shutting down: "+s.srv.Target("ups")+" silent for ") || !m.logHas("(DEADTIME 3 s) while OB") {
		t.Errorf("no reason line:\n%s", m.proc.Output())
	}
	m.waitNote("SHUTDOWN", 5*time.Second)
	for _, ty := range []string{"COMMBAD", "NOCOMM", "COMMOK", "ONBATT", "SHUTDOWN"} {
		if !slices.Contains(m.types(), ty) {
			t.Errorf("no %s notification: %q", ty, m.types())
		}
	}
}

// TestFalseShutdownGuards: states that look critical for a moment must
// not shut the system down; each has a control that shows the guard is
// what keeps it up.
func TestFalseShutdownGuards(t *testing.T) {
	t.Parallel()
	t.Run("OFF during a self-test, shorter than OFFDURATION", func(t *testing.T) {
		t.Parallel()
		for _, guard := range []bool{true, false} {
			s := startStack(t, nuttest.Gonut, "", dev{"ups", ol})
			extra := "OFFDURATION 5\n"
			if !guard {
				extra = "OFFDURATION 0\n"
			}
			m := startMon(t, monConf{monitors: []string{primary(s, "ups", 1)}, extra: extra}, "-p")
			m.waitLog("Logged into UPS", 15*time.Second)
			s.set(t, "ups", "ups.status", "OB OFF")
			if !guard {
				m.waitShutdown(10 * time.Second)
				if !m.logHas(" OFF for ") {
					t.Errorf("control: no OFF reason:\n%s", m.proc.Output())
				}
				continue
			}
			time.Sleep(2 * time.Second)
			s.set(t, "ups", "ups.status", "OL")
			m.waitNote("ONLINE", 10*time.Second)
			time.Sleep(time.Second)
			if ts, _ := m.shutdowns(); len(ts) != 0 {
				t.Fatalf("OFF for 2 s with OFFDURATION 5 shut down:\n%s", m.proc.Output())
			}
			want := []string{"NOTOFF", "OFF", "ONBATT", "ONLINE"}
			if got := m.waitTypes(want, 5*time.Second); !slices.Equal(got, want) {
				t.Errorf("notified %q, want %q", got, want)
			}
		}
	})
	t.Run("LB that clears within OBLBDURATION", func(t *testing.T) {
		t.Parallel()
		s := startStack(t, nuttest.Gonut, "", dev{"ups", ol})
		m := startMon(t, monConf{monitors: []string{primary(s, "ups", 1)}, extra: "OBLBDURATION 5\n"}, "-p")
		m.waitLog("Logged into UPS", 15*time.Second)
		s.set(t, "ups", "ups.status", "OB LB")
		m.waitLog("is OB LB: critical if it lasts OBLBDURATION (5 s)", 10*time.Second)
		time.Sleep(time.Second)
		s.set(t, "ups", "ups.status", "OB")
		time.Sleep(5 * time.Second)
		if ts, _ := m.shutdowns(); len(ts) != 0 {
			t.Fatalf("an LB of 2 s with OBLBDURATION 5 shut down:\n%s", m.proc.Output())
		}
		// Control: the same LB held past OBLBDURATION shuts down.
		s.set(t, "ups", "ups.status", "OB LB")
		m.waitShutdown(15 * time.Second)
	})
	t.Run("stale blip of 2 s while OB", func(t *testing.T) {
		t.Parallel()
		s := startStack(t, nuttest.Gonut, "MAXAGE 1\n", dev{"ups", "ups.status: OB DISCHRG\n"})
		m := startMon(t, monConf{monitors: []string{primary(s, "ups", 1)}}, "-p")
		m.waitNote("ONBATT", 15*time.Second)
		host := hostPID(t, s)
		if err := syscall.Kill(host, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stale := false
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			c, err := nuttest.Connect(s.srv.Addr())
			if err == nil {
				if _, err := c.GetVar("ups", "ups.status"); err != nil && strings.Contains(err.Error(), "DATA-STALE") {
					stale = true
				}
				c.Close()
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = syscall.Kill(host, syscall.SIGCONT)
		if !stale {
			t.Fatal("upsd never answered DATA-STALE while the driver host was stopped: the blip did not happen")
		}
		m.waitNote("COMMOK", 10*time.Second)
		time.Sleep(4 * time.Second) // past DEADTIME 3
		if ts, _ := m.shutdowns(); len(ts) != 0 {
			t.Fatalf("a 2 s stale blip while OB shut down:\n%s", m.proc.Output())
		}
		if !slices.Contains(m.types(), "COMMBAD") {
			t.Errorf("no COMMBAD for the stale data: %q", m.types())
		}
	})
}

// hostPID is the pid of the stack's nut-driver-host.
func hostPID(t *testing.T, s *stack) int {
	t.Helper()
	_, pid, err := nuttest.HostStatus(s.dir)
	if err != nil || pid <= 0 {
		t.Fatalf("nut-driver-host status: pid %d, %v", pid, err)
	}
	return pid
}
