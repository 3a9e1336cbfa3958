package upsmon

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

// run runs gonut's upsmon to completion in m's directory.
func (m *mon) run(args ...string) nuttest.Result {
	m.t.Helper()
	return nuttest.Run(m.t, monEnv(m.dir), nuttest.Program(m.t, pkgUpsmon), args...)
}

func readPid(t *testing.T, dir string) int {
	t.Helper()
	var pid int
	waitFor(t, 10*time.Second, "upsmon.pid", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "upsmon.pid"))
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}

func procUID(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			return f[1]
		}
	}
	t.Fatalf("no Uid in /proc/%d/status", pid)
	return ""
}

// TestPrivilegeSeparation: started as root with -u nobody, upsmon splits
// as NUT's does. The monitoring child runs as nobody (its pid is in the
// pid file, its notifications run as nobody); on `upsmon -c fsd` it asks
// the root parent over the pipe, and SHUTDOWNCMD and POWERDOWNFLAG are
// done as root. `upsmon -c stop` stops both.
func TestPrivilegeSeparation(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		nuttest.Missing(t, "privilege separation needs the tests to run as root")
	}
	nobody := "65534"
	// ups2 for the stop test: FSD on ups stays set until upsd restarts.
	s := startStack(t, nuttest.Gonut, "", dev{"ups", ol}, dev{"ups2", ol})
	t.Run("fsd", func(t *testing.T) {
		m := startMon(t, monConf{monitors: []string{primary(s, "ups", 1)}, extra: "FINALDELAY 0\n"}, "-u", "nobody")
		m.waitLog("Logged into UPS", 15*time.Second)
		child := readPid(t, m.dir)
		if child == m.proc.PID() {
			t.Fatal("the pid file names the root parent, not the monitoring child")
		}
		if uid := procUID(t, child); uid != nobody {
			t.Errorf("monitoring child runs as uid %s, want nobody (%s)", uid, nobody)
		}
		if uid := procUID(t, m.proc.PID()); uid != "0" {
			t.Errorf("parent runs as uid %s, want root", uid)
		}
		if r := m.run("-c", "fsd"); r.Code != 0 {
			t.Fatalf("upsmon -c fsd: %s", r)
		}
		m.waitShutdown(15 * time.Second)
		if code := m.waitExit(10 * time.Second); code != 0 {
			t.Errorf("exit %d", code)
		}
		if _, uids := m.shutdowns(); len(uids) != 1 || uids[0] != "0" {
			t.Errorf("SHUTDOWNCMD ran as %q, want once as root", uids)
		}
		if !m.killpower() {
			t.Error("no POWERDOWNFLAG")
		}
		// The NOTIFYCMD runs in the background and may finish last.
		m.waitNote("SHUTDOWN", 10*time.Second)
		if !strings.Contains(m.file("notify.log"), "SHUTDOWN||Auto logout and shutdown proceeding|"+nobody) {
			t.Errorf("NOTIFYCMD did not run as nobody:\n%s", m.file("notify.log"))
		}
		if !m.logHas("shutting down: forced by upsmon -c fsd") {
			t.Errorf("no reason line:\n%s", m.proc.Output())
		}
		if _, err := os.Stat(filepath.Join(m.dir, "upsmon.pid")); err == nil {
			t.Error("pid file left behind")
		}
	})
	t.Run("parent dies", func(t *testing.T) {
		m := startMon(t, monConf{monitors: []string{secondary(s, "ups2")}}, "-u", "nobody")
		m.waitLog("Logged into UPS", 15*time.Second)
		child := readPid(t, m.dir)
		t.Cleanup(func() {
			_ = syscall.Kill(child, syscall.SIGTERM)
			nuttest.WaitGone(child, 5*time.Second)
		})
		m.proc.Kill()
		m.waitNote("NOPARENT", 10*time.Second)
		if !strings.Contains(m.file("notify.log"), "NOPARENT||upsmon parent process died - shutdown impossible|"+nobody) {
			t.Errorf("NOPARENT: %q", m.file("notify.log"))
		}
	})
	t.Run("stop", func(t *testing.T) {
		m := startMon(t, monConf{monitors: []string{secondary(s, "ups2")}}, "-u", "nobody")
		m.waitLog("Logged into UPS", 15*time.Second)
		child := readPid(t, m.dir)
		if r := m.run("-c", "stop"); r.Code != 0 {
			t.Fatalf("upsmon -c stop: %s", r)
		}
		if code := m.waitExit(10 * time.Second); code != 0 {
			t.Errorf("exit %d", code)
		}
		if !nuttest.WaitGone(child, 5*time.Second) {
			t.Errorf("monitoring child %d outlived -c stop", child)
		}
		if ts, _ := m.shutdowns(); len(ts) != 0 {
			t.Error("stop ran SHUTDOWNCMD")
		}
	})
}

// TestPowerDownFlagCheck: upsmon -K exits 0 only when POWERDOWNFLAG holds
// upsmon's magic string, as NUT's.
func TestPowerDownFlagCheck(t *testing.T) {
	t.Parallel()
	dir := writeMonDir(t, monConf{monitors: []string{"ups@127.0.0.1:1 1 monp monpass primary"}})
	m := &mon{t: t, impl: nuttest.Gonut, dir: dir}
	flag := filepath.Join(dir, "killpower")
	for _, tc := range []struct {
		name, content string
		exists        bool
		code          int
	}{{"missing", "", false, 1}, {"foreign", "something else", true, 1}, {"upsmon's", "upsmon-shutdown-file", true, 0}} {
		os.Remove(flag)
		if tc.exists {
			if err := os.WriteFile(flag, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if r := m.run("-K"); r.Code != tc.code {
			t.Errorf("%s flag: upsmon -K: %s, want exit %d", tc.name, r, tc.code)
		}
	}
}

// TestDryRun: --dry-run rehearses a power failure: it shows the decision
// and the notifications, sets no FSD, writes no POWERDOWNFLAG, runs no
// SHUTDOWNCMD, and exits as a real shutdown would.
func TestDryRun(t *testing.T) {
	t.Parallel()
	s := startStack(t, nuttest.Gonut, "", dev{"ups", powerFails})
	m := startMon(t, monConf{monitors: []string{primary(s, "ups", 1)}}, "-p", "--dry-run")
	if code := m.waitExit(30 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
	addr := s.srv.Target("ups")
	for _, want := range []string{
		"dry run: notify ONBATT [" + addr + "] (SYSLOG+EXEC): UPS " + addr + " on battery",
		"dry run: notify LOWBATT [" + addr + "] (SYSLOG+EXEC): UPS " + addr + " battery is low",
		"CRITICAL: dry run: shutting down: " + addr + " OB LB for ",
		"dry run: would set FSD on UPS " + addr,
		"dry run: notify SHUTDOWN [] (SYSLOG+EXEC): Auto logout and shutdown proceeding",
		`dry run: would write POWERDOWNFLAG "` + filepath.Join(m.dir, "killpower") + `" and run SHUTDOWNCMD`,
	} {
		if !m.logHas(want) {
			t.Errorf("output lacks %q:\n%s", want, m.proc.Output())
		}
	}
	if ts, _ := m.shutdowns(); len(ts) != 0 || m.file("killpower") != "" {
		t.Errorf("dry run ran SHUTDOWNCMD (%d) or wrote POWERDOWNFLAG (%q)", len(ts), m.file("killpower"))
	}
	s.waitVar(t, "ups", "ups.status", "OB DISCHRG LB") // no FSD
}

// TestBadConfiguration: an unknown directive or a bad MONITOR line stops
// upsmon with file:line; a wrong password is logged clearly and upsmon
// goes on monitoring without a login, as NUT's does.
func TestBadConfiguration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ extra, want string }{
		{"SHUTDOWNCOMMAND /sbin/halt\n", `upsmon.conf:%d: unknown directive "SHUTDOWNCOMMAND"`},
		{"MONITOR other@localhost one monp monpass primary\n", `upsmon.conf:%d: MONITOR other@localhost: power value "one"`},
	} {
		dir := writeMonDir(t, monConf{monitors: []string{"ups@127.0.0.1:1 1 monp monpass primary"}, extra: tc.extra})
		conf, _ := os.ReadFile(filepath.Join(dir, "upsmon.conf"))
		line := strings.Count(string(conf), "\n")
		m := &mon{t: t, impl: nuttest.Gonut, dir: dir}
		r := m.run("-F")
		want := filepath.Join(dir, strings.Replace(tc.want, "%d", strconv.Itoa(line), 1))
		if r.Code != 1 || !strings.Contains(r.Stderr, want) {
			t.Errorf("upsmon with %q: %s\nwant exit 1 and %q", tc.extra, r, want)
		}
	}

	s := startStack(t, nuttest.Gonut, "", dev{"ups", ol})
	m := startMon(t, monConf{monitors: []string{s.srv.Target("ups") + " 1 monp wrongpass secondary"}}, "-p")
	m.waitLog("login failed: LOGIN ups as monp: ", 15*time.Second)
	m.waitLog("ERR ACCESS-DENIED", time.Second)
	s.set(t, "ups", "ups.status", "OB")
	m.waitNote("ONBATT", 10*time.Second)
	if n := s.numLogins(t, "ups"); n != 0 {
		t.Errorf("NUMLOGINS %d with a wrong password", n)
	}
}

// TestReload: upsmon -c reload re-reads upsmon.conf: a new NOTIFYMSG is
// used from then on.
func TestReload(t *testing.T) {
	t.Parallel()
	s := startStack(t, nuttest.Gonut, "", dev{"ups", ol})
	m := startMon(t, monConf{monitors: []string{secondary(s, "ups")}}, "-p")
	m.waitLog("Logged into UPS", 15*time.Second)
	f := filepath.Join(m.dir, "upsmon.conf")
	b, _ := os.ReadFile(f)
	if err := os.WriteFile(f, append(b, []byte("NOTIFYMSG ONBATT \"power cut at %s\"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := m.run("-c", "reload"); r.Code != 0 {
		t.Fatalf("upsmon -c reload: %s", r)
	}
	m.waitLog("Reloaded "+f, 10*time.Second)
	s.set(t, "ups", "ups.status", "OB")
	m.waitNote("ONBATT", 10*time.Second)
	if !strings.Contains(m.file("notify.log"), "ONBATT|"+s.srv.Target("ups")+"|power cut at "+s.srv.Target("ups")) {
		t.Errorf("the reloaded NOTIFYMSG was not used:\n%s", m.file("notify.log"))
	}
}
