package faults

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

// pkgTestDriver is the host's own test driver (fail_if_exists, exit_after).
const (
	pkgTestDriver   = nuttest.PkgTestDriver
	pkgUpsdrvsvcctl = "./tools/upsdrvsvcctl"
)

// Tolerances for TestKill100: what the host may hold more after 100
// restarts than after 5. A leak of one fd or goroutine per restart would
// show as 95.
const (
	fdSlack        = 2
	goroutineSlack = 5
	rssSlack       = 16 << 20
)

// TestKill100 kills the plugin 100 times in a row while four clients poll
// through upsd: every restart must succeed, no client may get a dead
// plugin's data as fresh (the checks of TestKillPluginWhileClientsPoll),
// and the host's open fds, goroutines and RSS after the 100th restart
// must be those after the 5th, within the slack above. -healthy-run 1ms
// counts each run that served data as healthy, so the restarts come at
// the first retry delay (20 ms here) rather than backing off towards
// failed.
func TestKill100(t *testing.T) {
	var before, after hostUse
	killWhilePolling(t, killCases[0], 100, []string{"-healthy-run", "1ms", "-first-retry", "20ms"}, func(k int, d *nuttest.Dir) {
		switch k {
		case 5:
			before = measure(t, d)
		case 100:
			after = settle(t, d, before)
		}
	})
	t.Logf("host after 5 restarts: %s; after 100: %s", before, after)
	if after.fds > before.fds+fdSlack {
		t.Errorf("open fds grew from %d to %d over 95 restarts", before.fds, after.fds)
	}
	if after.goroutines > before.goroutines+goroutineSlack {
		t.Errorf("goroutines grew from %d to %d over 95 restarts", before.goroutines, after.goroutines)
	}
	if after.rss > before.rss+rssSlack {
		t.Errorf("RSS grew from %d to %d bytes over 95 restarts", before.rss, after.rss)
	}
}

type hostUse struct {
	fds, goroutines, restarts int
	rss                       int64
}

func (u hostUse) String() string {
	return fmt.Sprintf("%d fds, %d goroutines, RSS %.1f MiB (%d restarts)", u.fds, u.goroutines, float64(u.rss)/(1<<20), u.restarts)
}

// measure reads the host's resource use: fds from /proc/<pid>/fd, the
// rest from the control API.
func measure(t *testing.T, d *nuttest.Dir) hostUse {
	t.Helper()
	st, hs, err := nuttest.HostStats(d)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", hs.PID))
	if err != nil {
		t.Fatal(err)
	}
	u := hostUse{fds: len(ents), goroutines: hs.Goroutines, rss: hs.RSSBytes}
	for _, in := range st {
		u.restarts += in.Restarts
	}
	return u
}

// settle measures until the figures are within slack of before or 5 s
// pass: a restart's last goroutines end a moment after its successor
// serves data.
func settle(t *testing.T, d *nuttest.Dir, before hostUse) hostUse {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		u := measure(t, d)
		if (u.fds <= before.fds+fdSlack && u.goroutines <= before.goroutines+goroutineSlack) || time.Now().After(deadline) {
			return u
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCrashLoopGoesFailedAndComesBack: a driver whose device is missing
// fails every start; after three in a row the host marks it failed with
// its last error and exit status, upsd serves it as stale (never as
// fresh), and once the device is back, the retry after the cool-down
// brings fresh data without anyone's help.
func TestCrashLoopGoesFailedAndComesBack(t *testing.T) {
	nuttest.Build(t, nuttest.PkgHost, nuttest.PkgUpsd, pkgTestDriver, pkgUpsdrvsvcctl)
	d := nuttest.NewDir(t)
	cause := d.Join("unplugged")
	d.WriteFile(t, "unplugged", "")
	d.WriteUPSConf(t, []string{"retrydelay = 0"}, nuttest.Section{Name: "c", Driver: "testdriver", Port: "none",
		Options: []string{"pollinterval = 1", "fail_if_exists = " + cause}})
	host := nuttest.StartHostOnly(t, d, "-crash-loop", "3", "-cooldown", "1s")
	s := nuttest.StartUpsd(t, d, nuttest.UpsdConfig{})

	in := nuttest.WaitHostState(t, d, "c", "failed", giveUp)
	if !strings.Contains(in.LastError, "fail_if_exists") || in.ExitStatus == "" || in.Failures < 3 {
		t.Errorf("failed instance's status lacks its cause: %+v", in)
	}
	c := s.Dial(t)
	for i := 0; i < 20; i++ {
		l, err := c.Cmd("GET VAR c ups.status")
		if err != nil {
			t.Fatal(err)
		}
		if code := errCode(l); code != "DATA-STALE" && code != "DRIVER-NOT-CONNECTED" {
			t.Fatalf("a failed instance served %q", l)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := d.Run(t, nuttest.Program(t, pkgUpsdrvsvcctl), "status", "c")
	if r.Code != 1 || !strings.Contains(r.Stdout, "failed") || !strings.Contains(r.Stdout, "fail_if_exists") {
		t.Errorf("upsdrvsvcctl status of a failed instance: %s", r)
	}

	if err := os.Remove(cause); err != nil {
		t.Fatal(err)
	}
	in = nuttest.WaitHostState(t, d, "c", "running", giveUp)
	waitValue(t, c, "c", "ups.status", "OL")
	waitValue(t, c, "c", "driver.state", "running")

	// Each state change is logged once, however many retries it took.
	out := host.Output()
	for _, st := range []string{"restarting", "failed"} {
		if n := strings.Count(out, "state="+st+" "); n != 1 {
			t.Errorf("state %s logged %d times over %d restarts; want once:\n%s", st, n, in.Restarts, out)
		}
	}
	if n := strings.Count(out, "plugin process exited"); n != 0 {
		t.Errorf("a line per plugin exit (%d):\n%s", n, out)
	}
}
