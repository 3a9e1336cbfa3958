package nutdriver

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

func TestMain(m *testing.M) { nuttest.Main(m) }

const giveUp = 20 * time.Second

func dev(serial string) string {
	return "device.mfr: NUT\ndevice.model: C driver\nups.status: OL\ndevice.serial: " + serial + "\n"
}

// waitUpsc waits until NUT's upsc, through gonut's upsd, reads want for
// variable name of ups.
func waitUpsc(t *testing.T, s *nuttest.Server, ups, name, want string) {
	t.Helper()
	deadline := time.Now().Add(giveUp)
	for {
		out := nuttest.UpscOutput(t, s.Target(ups), name)
		if strings.TrimSpace(out) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("upsc %s %s: %q, want %q", s.Target(ups), name, out, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNUTDriverSupervised(t *testing.T) {
	nuttest.RequireNUT(t)
	nuttest.Build(t, nuttest.PkgHost, nuttest.PkgUpsd, nuttest.PkgUpsdrvctl, nuttest.PkgTestDriver)
	d := nuttest.NewDir(t)
	d.WriteFile(t, "c.dev", dev("c-gen0"))
	// NUT's dummy-ups from driverpath, and a gonut plugin beside it
	// (found next to the host).
	d.WriteUPSConf(t, []string{"driverpath = " + filepath.Dir(nuttest.NUTDummyUPS), "retrydelay = 0"},
		nuttest.Section{Name: "c", Driver: "dummy-ups", Port: "c.dev"})
	// -t: the plan names the NUT driver's command line; nothing starts.
	r := d.Run(t, nuttest.Program(t, nuttest.PkgUpsdrvctl), "-t", "start")
	if want := "\texec: " + nuttest.NUTDummyUPS + " -a c -F, supervised by "; r.Code != 0 || !strings.Contains(r.Stdout, want) {
		t.Errorf("upsdrvctl -t start: want %q in %s", want, r)
	}
	nuttest.StartHostArgs(t, d, "-u", nuttest.RunAsUser())
	s := nuttest.StartUpsd(t, d, nuttest.UpsdConfig{})
	s.WaitUPS(t, "c")

	st, _, err := nuttest.HostStatus(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Kind != "nut" || st[0].State != "running" || st[0].Path != nuttest.NUTDummyUPS {
		t.Fatalf("host status of the NUT driver: %+v", st)
	}
	pid := st[0].PID
	waitUpsc(t, s, "c", "device.serial", "c-gen0")
	if v := nuttest.UpscOutput(t, s.Target("c"), "driver.name"); strings.TrimSpace(v) != "dummy-ups" {
		t.Errorf("driver.name: %q", v)
	}

	// upsdrvctl status: NUT's table, with the driver's pid.
	r = d.Run(t, nuttest.Program(t, nuttest.PkgUpsdrvctl), "status")
	row := fmt.Sprintf("%-11s\t%11s\tRUNNING\t%d\tRESPONSIVE\t%d\tOL\n", "c", "dummy-ups", pid, pid)
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "UPSNAME    \t     UPSDRV\tRUNNING\tPF_PID\tS_RESPONSIVE\tS_PID\tS_STATUS\n") ||
		!strings.Contains(r.Stdout, row) {
		t.Errorf("upsdrvctl status: want row %q in %s", row, r)
	}

	// kill -9: the host starts a new one, which reads the .dev file anew.
	for k := 1; k <= 3; k++ {
		d.WriteFile(t, "c.dev", dev("c-gen"+strconv.Itoa(k)))
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if !nuttest.WaitGone(pid, 5*time.Second) {
			t.Fatalf("dummy-ups %d survived SIGKILL", pid)
		}
		next := nuttest.PluginPID(t, d, "c", giveUp, pid)
		waitUpsc(t, s, "c", "device.serial", "c-gen"+strconv.Itoa(k))
		t.Logf("kill %d: dummy-ups %d replaced by %d", k, pid, next)
		pid = next
	}
	st, _, _ = nuttest.HostStatus(d)
	if len(st) != 1 || st[0].Restarts != 3 || st[0].ExitStatus != "signal: killed" {
		t.Errorf("host status after 3 kills: %+v", st)
	}

	// upsdrvctl stop <ups>: the driver is stopped (SIGTERM) and not restarted.
	if r := d.Run(t, nuttest.Program(t, nuttest.PkgUpsdrvctl), "stop", "c"); r.Code != 0 {
		t.Errorf("upsdrvctl stop c: %s", r)
	}
	if !nuttest.WaitGone(pid, 5*time.Second) {
		t.Errorf("dummy-ups %d still runs after upsdrvctl stop", pid)
	}
	r = d.Run(t, nuttest.Program(t, nuttest.PkgUpsdrvctl), "status", "c")
	if want := fmt.Sprintf("%-11s\t%11s\tN/A\t-1\tNOT_RESPONSIVE\tN/A\t\n", "c", "dummy-ups"); !strings.HasSuffix(r.Stdout, want) {
		t.Errorf("upsdrvctl status c after stop: want %q in %s", want, r)
	}
}

// TestHostKillTakesNUTDriver: kill -9 of the host leaves no NUT driver
// running (they die with it, as plugins do).
func TestHostKillTakesNUTDriver(t *testing.T) {
	nuttest.RequireNUT(t)
	nuttest.Build(t, nuttest.PkgHost)
	d := nuttest.NewDir(t)
	d.WriteFile(t, "c.dev", dev("x"))
	d.WriteUPSConf(t, []string{"driverpath = " + filepath.Dir(nuttest.NUTDummyUPS)},
		nuttest.Section{Name: "c", Driver: "dummy-ups", Port: "c.dev"})
	h := nuttest.StartHostArgs(t, d, "-u", nuttest.RunAsUser())
	pid := nuttest.PluginPID(t, d, "c", giveUp)
	h.Kill()
	if !nuttest.WaitGone(pid, time.Second) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("dummy-ups %d still runs 1 s after kill -9 of its host", pid)
	}
}

// TestHungNUTDriver: a NUT driver that stops answering PING (SIGSTOP) is
// killed after 3 × pollinterval + 2 s and a new one started; upsd serves
// fresh data from it again.
func TestHungNUTDriver(t *testing.T) {
	nuttest.RequireNUT(t)
	nuttest.Build(t, nuttest.PkgHost, nuttest.PkgUpsd)
	d := nuttest.NewDir(t)
	d.WriteFile(t, "h.dev", dev("h-gen0"))
	d.WriteUPSConf(t, []string{"driverpath = " + filepath.Dir(nuttest.NUTDummyUPS), "retrydelay = 0"},
		nuttest.Section{Name: "h", Driver: "dummy-ups", Port: "h.dev", Options: []string{"pollinterval = 1"}})
	nuttest.StartHostArgs(t, d, "-u", nuttest.RunAsUser())
	s := nuttest.StartUpsd(t, d, nuttest.UpsdConfig{})
	s.WaitUPS(t, "h")
	pid := nuttest.PluginPID(t, d, "h", giveUp)
	// Running for a while with heartbeats must not count as hung.
	time.Sleep(6 * time.Second)
	if p := nuttest.PluginPID(t, d, "h", giveUp); p != pid {
		t.Fatalf("a healthy NUT driver was replaced: pid %d -> %d", pid, p)
	}
	d.WriteFile(t, "h.dev", dev("h-gen1"))
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if nuttest.Alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	stopped := time.Now()
	next := nuttest.PluginPID(t, d, "h", giveUp, pid)
	t.Logf("stopped dummy-ups %d replaced by %d after %s (deadline 3 × 1 s + 2 s)", pid, next, time.Since(stopped).Round(time.Millisecond))
	st, _, err := nuttest.HostStatus(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || !strings.Contains(st[0].LastError, "hung: no PONG") || st[0].ExitStatus != "signal: killed" {
		t.Errorf("host status: %+v", st)
	}
	waitUpsc(t, s, "h", "device.serial", "h-gen1")
}
