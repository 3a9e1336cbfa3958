package faults

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

// varValue extracts the value from `VAR <ups> <name> "<value>"`.
func varValue(line, ups, name string) (string, bool) {
	v, ok := strings.CutPrefix(line, "VAR "+ups+" "+name+" \"")
	if !ok || !strings.HasSuffix(v, "\"") {
		return "", false
	}
	return strings.NewReplacer(`\\`, `\`, `\"`, `"`).Replace(v[:len(v)-1]), true
}

// killCase is a driver whose generations a client can tell apart.
type killCase struct {
	name    string
	pkgs    []string
	section nuttest.Section
	varName string // the variable that differs between generations
	// setup writes what the driver reads and returns generation 0's value
	// (empty: the plugin's pid).
	setup func(t *testing.T, d *nuttest.Dir) string
	// next prepares generation k and returns its value (empty: the
	// successor plugin's pid). It runs while generation k-1's plugin is
	// stopped (SIGSTOP) just before its SIGKILL, so that plugin never sees
	// what next writes, and its successor, which the host starts 100 ms
	// after the kill at the earliest, always does.
	next func(t *testing.T, d *nuttest.Dir, k int) string
}

// devGen is a .dev file whose device.serial names its generation.
func devGen(k int) string {
	return fmt.Sprintf("device.mfr: gonut\ndevice.model: faults\nups.status: OL\ndevice.serial: gen%d\n", k)
}

var killCases = []killCase{
	{
		// ups.pid is the plugin's pid: each restart is a new generation.
		name:    "benchdriver",
		pkgs:    []string{pkgBenchDriver},
		section: nuttest.Section{Name: "f", Driver: "benchdriver", Port: "none"},
		varName: "ups.pid",
		setup:   func(*testing.T, *nuttest.Dir) string { return "" },
		next:    func(*testing.T, *nuttest.Dir, int) string { return "" },
	},
	{
		// The .dev file gets a new device.serial at each kill.
		name:    "dummy-ups",
		pkgs:    []string{nuttest.PkgDummyUPS},
		section: nuttest.Section{Name: "f", Driver: "dummy-ups", Port: "f.dev"},
		varName: "device.serial",
		setup: func(t *testing.T, d *nuttest.Dir) string {
			d.WriteFile(t, "f.dev", devGen(0))
			return "gen0"
		},
		next: func(t *testing.T, d *nuttest.Dir, k int) string {
			d.WriteFile(t, "f.dev", devGen(k))
			return "gen" + strconv.Itoa(k)
		},
	},
}

// TestKillPluginWhileClientsPoll kills a driver plugin with SIGKILL again
// and again while four clients poll GET VAR through gonut's upsd (each
// plugin is stopped for the moment it takes to write its successor's data,
// then killed). Every
// answer must be the data, ERR DRIVER-NOT-CONNECTED or ERR DATA-STALE; no
// client may get the killed plugin's data once any client has been told it
// is gone or has seen its successor's; and every time, fresh data comes
// back by itself.
func TestKillPluginWhileClientsPoll(t *testing.T) {
	for _, kc := range killCases {
		t.Run(kc.name, func(t *testing.T) { killWhilePolling(t, kc, 4, nil, nil) })
	}
}

// killWhilePolling runs kc's driver under a host started with hostArgs,
// kills its plugin kills times while clients poll, and checks every reply.
// after(k, d) runs once kill k's successor serves fresh data.
func killWhilePolling(t *testing.T, kc killCase, kills int, hostArgs []string, after func(k int, d *nuttest.Dir)) {
	nuttest.Build(t, append([]string{nuttest.PkgHost, nuttest.PkgUpsd}, kc.pkgs...)...)
	d := nuttest.NewDir(t)
	// retrydelay = 0: consecutive kills back off from 100 ms,
	// not from NUT's 5 s.
	d.WriteUPSConf(t, []string{"retrydelay = 0"}, kc.section)
	values := []string{kc.setup(t, d)}
	nuttest.StartHostArgs(t, d, hostArgs...)
	s := nuttest.StartUpsd(t, d, nuttest.UpsdConfig{})
	ups := kc.section.Name
	s.WaitUPS(t, ups)
	pid := nuttest.PluginPID(t, d, ups, giveUp)
	if values[0] == "" {
		values[0] = strconv.Itoa(pid)
	}
	want := func(k int) string { return fmt.Sprintf("VAR %s %s %q", ups, kc.varName, values[k]) }

	ps, stop := startPollers(t, 4, s.Addr(), "GET VAR "+ups+" "+kc.varName, 500*time.Microsecond)
	waitAllSee(t, ps, want(0), "before the first kill")

	var killedAt []time.Time
	for k := 1; k <= kills; k++ {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatalf("kill -STOP %d: %v", pid, err)
		}
		v := kc.next(t, d, k)
		killedAt = append(killedAt, time.Now())
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %d: %v", pid, err)
		}
		if !nuttest.WaitGone(pid, 5*time.Second) {
			t.Fatalf("plugin %d survived SIGKILL", pid)
		}
		next := nuttest.PluginPID(t, d, ups, giveUp, pid)
		if v == "" {
			v = strconv.Itoa(next)
		}
		values = append(values, v)
		waitAllSee(t, ps, want(k), fmt.Sprintf("after kill %d of plugin %d", k, pid))
		pid = next
		if after != nil {
			after(k, d)
		}
	}
	rs := stop()

	level := func(r reply) (int, error) {
		if code := errCode(r.line); code != "" {
			if !availabilityErr(code) {
				return 0, fmt.Errorf("unexpected %q", r.line)
			}
			k := -1
			for i, at := range killedAt {
				if at.Before(r.recv) {
					k = i
				}
			}
			if k < 0 {
				return 0, fmt.Errorf("%q before any kill, while the driver was running", r.line)
			}
			return 2*k + 1, nil
		}
		v, ok := varValue(r.line, ups, kc.varName)
		if !ok {
			return 0, fmt.Errorf("malformed reply %q", r.line)
		}
		for k, want := range values {
			if v == want {
				return 2 * k, nil
			}
		}
		return 0, fmt.Errorf("%s %q belongs to no generation %q", kc.varName, v, values)
	}
	reportViolations(t, violations(rs, level), len(rs))
	t.Logf("%d kills, %d replies: %s", kills, len(rs), tally(rs, func(l string) string {
		if c := errCode(l); c != "" {
			return "ERR " + c
		}
		v, _ := varValue(l, ups, kc.varName)
		for k, want := range values {
			if v == want {
				return "generation " + strconv.Itoa(k)
			}
		}
		return l
	}))
}

// TestKillHost kills nut-driver-host with SIGKILL: every plugin must exit
// within a second (the SDK's lifeline; a plugin must never outlive its
// host and keep a device open), upsd must stop serving the data, and a new
// host brings everything back.
func TestKillHost(t *testing.T) {
	nuttest.Build(t, nuttest.PkgHost, nuttest.PkgUpsd, nuttest.PkgDummyUPS, pkgBenchDriver)
	d := nuttest.NewDir(t)
	d.WriteFile(t, "d.dev", devGen(0))
	secs := []nuttest.Section{
		{Name: "b1", Driver: "benchdriver", Port: "none"},
		{Name: "b2", Driver: "benchdriver", Port: "none"},
		{Name: "d", Driver: "dummy-ups", Port: "d.dev"},
	}
	d.WriteUPSConf(t, nil, secs...)
	host := nuttest.StartHost(t, d)
	s := nuttest.StartUpsd(t, d, nuttest.UpsdConfig{})
	var pids []int
	for _, sec := range secs {
		s.WaitUPS(t, sec.Name)
		pids = append(pids, nuttest.PluginPID(t, d, sec.Name, giveUp))
	}
	children := nuttest.Children(host.PID())
	for _, pid := range pids {
		if !containsInt(children, pid) {
			t.Fatalf("plugin %d is not a child of the host %d (children %v)", pid, host.PID(), children)
		}
	}
	host.Kill()
	killed := time.Now()
	for _, pid := range pids {
		if !nuttest.WaitGone(pid, time.Second) {
			// Ours to clean up: the test started it through the host.
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("plugin %d still running 1 s after kill -9 of its host", pid)
		}
	}
	t.Logf("every plugin gone %s after kill -9 of the host", time.Since(killed).Round(time.Millisecond))

	c := s.Dial(t)
	for _, sec := range secs {
		deadline := time.Now().Add(giveUp)
		for {
			l, err := c.Cmd("GET VAR " + sec.Name + " ups.status")
			if err != nil {
				t.Fatal(err)
			}
			if errCode(l) == "DRIVER-NOT-CONNECTED" {
				break
			}
			if code := errCode(l); code != "" && code != "DATA-STALE" {
				t.Fatalf("[%s] with its host dead: %q", sec.Name, l)
			}
			if time.Now().After(deadline) {
				t.Fatalf("[%s]: upsd still answers %q %s after its host died", sec.Name, l, giveUp)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// A new host replaces the dead one's sockets, and upsd reconnects.
	nuttest.StartHost(t, d)
	for i, sec := range secs[:2] {
		pid := nuttest.PluginPID(t, d, sec.Name, giveUp, pids[i])
		waitValue(t, c, sec.Name, "ups.pid", strconv.Itoa(pid))
	}
	waitValue(t, c, "d", "device.serial", "gen0")
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// waitValue polls GET VAR until it answers want.
func waitValue(t *testing.T, c *nuttest.Conn, ups, name, want string) {
	t.Helper()
	deadline := time.Now().Add(giveUp)
	for {
		v, err := c.GetVar(ups, name)
		if err == nil && v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET VAR %s %s never answered %q within %s (last: %q, %v)", ups, name, want, giveUp, v, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStoppedPlugin stops a plugin with SIGSTOP: upsd must answer ERR
// DATA-STALE once the host has given up on it, the host must kill it and
// start a successor, and fresh data must come back. While the host still
// waits for the heartbeat (three poll intervals + 2 s, at least 5 s) the
// last data is served, as NUT serves a hung driver's data until MAXAGE.
func TestStoppedPlugin(t *testing.T) {
	nuttest.Build(t, nuttest.PkgHost, nuttest.PkgUpsd, pkgBenchDriver)
	d := nuttest.NewDir(t)
	sec := nuttest.Section{Name: "s", Driver: "benchdriver", Port: "none", Options: []string{"pollinterval = 1"}}
	d.WriteUPSConf(t, []string{"retrydelay = 0"}, sec)
	nuttest.StartHost(t, d)
	s := nuttest.StartUpsd(t, d, nuttest.UpsdConfig{})
	s.WaitUPS(t, sec.Name)
	pid := nuttest.PluginPID(t, d, sec.Name, giveUp)
	old := fmt.Sprintf("VAR s ups.pid %q", strconv.Itoa(pid))
	ps, stop := startPollers(t, 1, s.Addr(), "GET VAR s ups.pid", 2*time.Millisecond)
	waitAllSee(t, ps, old, "before SIGSTOP")

	stoppedAt := time.Now()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// If the host never kills it, the test must not leave it stopped.
	t.Cleanup(func() {
		if nuttest.Alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	next := nuttest.PluginPID(t, d, sec.Name, giveUp, pid)
	replaced := time.Since(stoppedAt)
	fresh := fmt.Sprintf("VAR s ups.pid %q", strconv.Itoa(next))
	// The host killed it for its silence, and says so.
	st, _, err := nuttest.HostStatus(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || !strings.Contains(st[0].LastError, "hung: no heartbeat for 5s") || st[0].ExitStatus != "signal: killed" {
		t.Errorf("the host's status does not say the plugin hung and was killed: %+v", st)
	}
	t.Logf("stopped plugin replaced %s after SIGSTOP (deadline: 3 × pollinterval 1 s + 2 s = 5 s)", replaced.Round(time.Millisecond))
	waitAllSee(t, ps, fresh, "after SIGSTOP")
	if !nuttest.WaitGone(pid, 5*time.Second) {
		t.Errorf("the host started a successor but left the stopped plugin %d running", pid)
	}
	rs := stop()

	stale := 0
	bad := violations(rs, func(r reply) (int, error) {
		switch {
		case r.line == old:
			return 0, nil
		case r.line == fresh:
			return 2, nil
		case errCode(r.line) == "DATA-STALE" || errCode(r.line) == "DRIVER-NOT-CONNECTED":
			if r.recv.Before(stoppedAt) {
				return 0, fmt.Errorf("%q before SIGSTOP", r.line)
			}
			if errCode(r.line) == "DATA-STALE" {
				stale++
			}
			return 1, nil
		}
		return 0, fmt.Errorf("unexpected reply %q", r.line)
	})
	reportViolations(t, bad, len(rs))
	if stale == 0 {
		t.Errorf("upsd never answered ERR DATA-STALE for the stopped driver (replies: %s)",
			tally(rs, func(l string) string { return l }))
	}
	t.Logf("replies: %s", tally(rs, func(l string) string {
		switch l {
		case old:
			return "stopped plugin's data"
		case fresh:
			return "successor's data"
		}
		return l
	}))
}
