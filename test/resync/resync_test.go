package resync

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

func TestMain(m *testing.M) { nuttest.Main(m) }

const (
	pkgUpsdrvsvcctl = "./tools/upsdrvsvcctl"
	giveUp          = 20 * time.Second
)

func sec(name, port string) nuttest.Section {
	return nuttest.Section{Name: name, Driver: "testdriver", Port: port, Options: []string{"pollinterval = 1", "id = " + name}}
}

// freshPoller polls GET VAR <ups> device.serial and records every reply
// that is not the UPS's fresh data.
type freshPoller struct {
	ups   string
	mu    sync.Mutex
	n     int
	wrong []string
}

func (p *freshPoller) run(ctx context.Context, t *testing.T, addr string, wg *sync.WaitGroup) {
	defer wg.Done()
	c, err := nuttest.Connect(addr)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	want := fmt.Sprintf("VAR %s device.serial %q", p.ups, p.ups)
	for ctx.Err() == nil {
		l, err := c.Cmd("GET VAR " + p.ups + " device.serial")
		p.mu.Lock()
		p.n++
		if err != nil {
			p.wrong = append(p.wrong, err.Error())
		} else if l != want {
			p.wrong = append(p.wrong, l)
		}
		p.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
}

func pids(t *testing.T, d *nuttest.Dir) map[string]int {
	t.Helper()
	st, _, err := nuttest.HostStatus(d)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, in := range st {
		m[in.UPS] = in.PID
	}
	return m
}

func listUPS(t *testing.T, c *nuttest.Conn) []string {
	t.Helper()
	lines, err := c.List("LIST UPS")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "UPS" {
			names = append(names, f[1])
		}
	}
	slices.Sort(names)
	return names
}

func waitList(t *testing.T, c *nuttest.Conn, want []string) {
	t.Helper()
	deadline := time.Now().Add(giveUp)
	for {
		got := listUPS(t, c)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("LIST UPS = %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// setup runs keep1, keep2, gone and changed under a host started with
// hostArgs and a upsd, with a poller on each of keep1 and keep2.
func setup(t *testing.T, hostArgs ...string) (*nuttest.Dir, *nuttest.Server, *nuttest.Proc, func() []*freshPoller) {
	nuttest.Build(t, nuttest.PkgHost, nuttest.PkgUpsd, nuttest.PkgTestDriver, pkgUpsdrvsvcctl)
	d := nuttest.NewDir(t)
	d.WriteUPSConf(t, nil, sec("keep1", "a"), sec("gone", "b"), sec("changed", "old"), sec("keep2", "c"))
	h := nuttest.StartHostArgs(t, d, hostArgs...)
	s := nuttest.StartUpsd(t, d, nuttest.UpsdConfig{PIDFile: true})
	for _, u := range []string{"keep1", "gone", "changed", "keep2"} {
		s.WaitUPS(t, u)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	ps := []*freshPoller{{ups: "keep1"}, {ups: "keep2"}}
	for _, p := range ps {
		wg.Add(1)
		go p.run(ctx, t, s.Addr(), &wg)
	}
	stop := func() []*freshPoller { cancel(); wg.Wait(); return ps }
	t.Cleanup(func() { stop() })
	return d, s, h, stop
}

// edit is the change every test makes: gone removed, changed's port
// changed, added added; keep1 and keep2 as they were.
func edit(t *testing.T, d *nuttest.Dir) {
	d.WriteUPSConf(t, nil, sec("keep1", "a"), sec("changed", "new"), sec("keep2", "c"), sec("added", "d"))
}

// check waits for the host and upsd to follow the edit, then holds them
// to it: keep1 and keep2 untouched and never stale, changed restarted,
// gone gone, added served; upsd the same process throughout.
func check(t *testing.T, d *nuttest.Dir, s *nuttest.Server, before map[string]int, stop func() []*freshPoller) {
	t.Helper()
	c := s.Dial(t)
	waitList(t, c, []string{"added", "changed", "keep1", "keep2"})
	s.WaitUPS(t, "added")
	nuttest.PluginPID(t, d, "changed", giveUp, before["changed"])
	after := pids(t, d)
	for _, u := range []string{"keep1", "keep2"} {
		if after[u] != before[u] {
			t.Errorf("[%s] was not changed but its plugin was restarted: pid %d -> %d", u, before[u], after[u])
		}
	}
	if _, ok := after["gone"]; ok {
		t.Errorf("[gone] still runs: %v", after)
	}
	// upsd reconnects to the restarted instance's new socket by itself.
	s.WaitUPS(t, "changed")
	if l, err := c.Cmd("GET VAR changed device.serial"); err != nil || l != `VAR changed device.serial "changed"` {
		t.Errorf("[changed] after its restart: %q %v", l, err)
	}
	if s.Exited() {
		t.Fatalf("upsd exited: %s", s.Output())
	}
	for _, p := range stop() {
		if p.n == 0 || len(p.wrong) > 0 {
			t.Errorf("[%s]: %d of %d replies during the resync were not its fresh data: %q", p.ups, len(p.wrong), p.n, p.wrong)
		} else {
			t.Logf("[%s]: %d replies during the resync, all fresh", p.ups, p.n)
		}
	}
}

// TestResyncOnFileChange: the host notices the edit by itself.
func TestResyncOnFileChange(t *testing.T) {
	d, s, _, stop := setup(t, "-watch", "100ms")
	before := pids(t, d)
	time.Sleep(100 * time.Millisecond) // some replies before the edit
	edit(t, d)
	check(t, d, s, before, stop)
}

// TestResyncCommand: `upsdrvsvcctl resync` says what it changed and which
// upsd it told.
func TestResyncCommand(t *testing.T) {
	d, s, _, stop := setup(t, "-watch", "0")
	before := pids(t, d)
	edit(t, d)
	r := d.Run(t, nuttest.Program(t, pkgUpsdrvsvcctl), "resync")
	for _, want := range []string{"Added added", "Removed gone", "Restarted changed", fmt.Sprintf("Told upsd (pid %d)", s.PID())} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("upsdrvsvcctl resync: no %q in %s", want, r)
		}
	}
	if r.Code != 0 {
		t.Errorf("upsdrvsvcctl resync: %s", r)
	}
	check(t, d, s, before, stop)
	// Nothing changed since: nothing to do.
	if r := d.Run(t, nuttest.Program(t, pkgUpsdrvsvcctl), "resync"); r.Code != 0 || r.Stderr != "" {
		t.Errorf("second resync: %s", r)
	}
}

// TestResyncOnSIGHUP: SIGHUP to the host resyncs.
func TestResyncOnSIGHUP(t *testing.T) {
	d, s, h, stop := setup(t, "-watch", "0")
	before := pids(t, d)
	edit(t, d)
	if err := h.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	check(t, d, s, before, stop)
}
