package hostbench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

// devFile is the device dump every dummy-ups instance serves: a small,
// real one (16 variables), so the figures are about starting and
// supervising drivers, not about parsing.
const devFile = "SOLA__610__bestups__2.0.5__01.dev"

// giveUp bounds the wait for one instance to turn fresh after a kill.
const giveUp = 15 * time.Second

// startBudget is how long all instances together may take to turn fresh:
// NUT's upsdrvctl starts one dummy-ups a second.
func startBudget(n int) time.Duration { return 60*time.Second + time.Duration(n)*3*time.Second }

// sections are n dummy-ups instances u0..u(n-1) on the same .dev file.
func sections(n int) []nuttest.Section {
	secs := make([]nuttest.Section, n)
	for i := range secs {
		secs[i] = nuttest.Section{Name: "u" + strconv.Itoa(i), Driver: "dummy-ups", Port: "u.dev"}
	}
	return secs
}

// setup writes ups.conf and the .dev file into a new directory and starts
// a watcher on every instance's socket; the watchers are closed when the
// test ends, after everything started later has been stopped.
func setup(tb testing.TB, n int) (*nuttest.Dir, []nuttest.Section, []*watcher) {
	tb.Helper()
	d := nuttest.NewDir(tb)
	secs := sections(n)
	d.WriteUPSConf(tb, nil, secs...)
	d.CopyFile(tb, nuttest.DDL(tb, devFile), "u.dev")
	ws := make([]*watcher, n)
	for i, s := range secs {
		ws[i] = watch(d.Socket(s))
	}
	stopDir, err := dirWatch(d.Path, ws)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stopDir()
		for _, w := range ws {
			w.close()
		}
	})
	return d, secs, ws
}

// nutRun is what NUT's upsdrvctl did.
type nutRun struct {
	start time.Duration // from running upsdrvctl to the last instance fresh
	ret   time.Duration // until upsdrvctl returned
	mem   mem           // sum over the drivers
	pids  []int
}

// runNUT starts n NUT dummy-ups with NUT's `upsdrvctl start`, measures,
// and stops them again.
func runNUT(tb testing.TB, n int) nutRun {
	tb.Helper()
	nuttest.RequireNUT(tb)
	d, secs, ws := setup(tb, n)
	var r nutRun
	stop := func() { stopNUT(d, secs) }
	tb.Cleanup(stop)

	ctx, cancel := context.WithTimeout(context.Background(), startBudget(n))
	defer cancel()
	cmd := exec.CommandContext(ctx, nuttest.NUTUpsdrvctl, "-u", nuttest.RunAsUser(), "start")
	cmd.Env = d.Env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The drivers it puts in the background inherit the output; do not
	// wait for them to close it.
	cmd.WaitDelay = time.Second
	began := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatalf("%s: %v", nuttest.NUTUpsdrvctl, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait(); r.ret = time.Since(began) }()
	last, err := allFresh(ws, startBudget(n))
	if err != nil {
		tb.Fatalf("NUT upsdrvctl start of %d dummy-ups: %v\n%s", n, err, out.String())
	}
	r.start = last.Sub(began)
	if err := <-waited; err != nil {
		tb.Fatalf("%s -u %s start: %v\n%s", nuttest.NUTUpsdrvctl, nuttest.RunAsUser(), err, out.String())
	}
	r.pids = nutPIDs(tb, d, secs)
	if r.mem, err = sumMem(r.pids); err != nil {
		tb.Fatalf("NUT drivers: %v", err)
	}
	stop()
	return r
}

// runNUTParallel starts n NUT dummy-ups all at once, one
// `dummy-ups -a <ups> -u <user>` each, as systemd starts Debian's
// nut-driver@<ups> units in parallel (nut-driver-enumerator), measures,
// and stops them again. This is NUT's best case, not upsdrvctl's.
func runNUTParallel(tb testing.TB, n int) nutRun {
	tb.Helper()
	nuttest.RequireNUT(tb)
	d, secs, ws := setup(tb, n)
	var r nutRun
	stop := func() { stopNUT(d, secs) }
	tb.Cleanup(stop)
	ctx, cancel := context.WithTimeout(context.Background(), startBudget(n))
	defer cancel()
	errs := make(chan error, n)
	began := time.Now()
	for _, s := range secs {
		cmd := exec.CommandContext(ctx, nuttest.NUTDummyUPS, "-a", s.Name, "-u", nuttest.RunAsUser())
		cmd.Env = d.Env()
		cmd.WaitDelay = time.Second
		go func() {
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("%s -a %s: %v\n%s", nuttest.NUTDummyUPS, s.Name, err, out)
			}
			errs <- err
		}()
	}
	last, err := allFresh(ws, startBudget(n))
	if err != nil {
		tb.Fatalf("%d NUT dummy-ups started at once: %v", n, err)
	}
	r.start = last.Sub(began)
	for range secs {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
	r.ret = time.Since(began)
	r.pids = nutPIDs(tb, d, secs)
	if r.mem, err = sumMem(r.pids); err != nil {
		tb.Fatalf("NUT drivers: %v", err)
	}
	stop()
	return r
}

// nutPIDs returns the pids of the NUT drivers of secs from their pid
// files, which may still name the process that forked for a moment after
// it has returned.
func nutPIDs(tb testing.TB, d *nuttest.Dir, secs []nuttest.Section) []int {
	tb.Helper()
	var pids []int
	for _, s := range secs {
		pid, err := nutPID(d, s)
		for deadline := time.Now().Add(5 * time.Second); err != nil && time.Now().Before(deadline); pid, err = nutPID(d, s) {
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			tb.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// nutPID reads a NUT driver's pid file and checks that it names a running
// NUT driver.
func nutPID(d *nuttest.Dir, s nuttest.Section) (int, error) {
	file := d.Join(s.Driver + "-" + s.Name + ".pid")
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: %v", file, err)
	}
	if !isExe(pid, filepath.Join(nuttest.NUTDriverDir, s.Driver)) {
		return 0, fmt.Errorf("%s: pid %d is not a running %s", file, pid, s.Driver)
	}
	return pid, nil
}

// isExe reports whether pid is alive and runs exe: pid files may outlive
// their process, and its pid may be reused. /proc shows the resolved
// path (Debian's /lib is a link to /usr/lib), so exe is resolved too.
func isExe(pid int, exe string) bool {
	if !nuttest.Alive(pid) {
		return false
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return err == nil && strings.TrimSuffix(l, " (deleted)") == exe
}

// stopNUT ends the NUT drivers upsdrvctl put in the background: SIGTERM to
// all, then SIGKILL to those still running after nuttest.StopTimeout.
func stopNUT(d *nuttest.Dir, secs []nuttest.Section) {
	var pids []int
	for _, s := range secs {
		if pid, err := nutPID(d, s); err == nil {
			pids = append(pids, pid)
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	for _, pid := range pids {
		if !nuttest.WaitGone(pid, nuttest.StopTimeout) && isExe(pid, nuttest.NUTDummyUPS) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			nuttest.WaitGone(pid, time.Second)
		}
	}
}

// hostRun is a running nut-driver-host and what it did.
type hostRun struct {
	d      *nuttest.Dir
	secs   []nuttest.Section
	ws     []*watcher
	proc   *nuttest.Proc
	fresh  time.Time     // when the last instance turned fresh
	start  time.Duration // from starting the host to the last instance fresh
	host   mem           // the host process
	plugin mem           // sum over the plugins
	pids   []int         // plugin pids, in section order
	env    []string      // added to the host's environment
}

// runHost starts gonut's nut-driver-host -F with n dummy-ups plugins and
// env added to its environment (the host passes its environment on to
// the plugins), and measures the start.
func runHost(tb testing.TB, n int, env []string, args ...string) *hostRun {
	tb.Helper()
	bin := nuttest.Build(tb, nuttest.PkgHost, nuttest.PkgDummyUPS)
	d, secs, ws := setup(tb, n)
	r := &hostRun{d: d, secs: secs, ws: ws, env: env}
	began := time.Now()
	r.proc = nuttest.StartProc(tb, append(d.Env(), env...), filepath.Join(bin, "nut-driver-host"), append([]string{"-F"}, args...)...)
	last, err := allFresh(ws, startBudget(n))
	if err != nil {
		tb.Fatalf("nut-driver-host with %d dummy-ups: %v", n, err)
	}
	r.fresh, r.start = last, last.Sub(began)
	st, _, err := nuttest.HostStatus(d)
	if err != nil {
		tb.Fatalf("nut-driver-host status: %v", err)
	}
	pids := map[string]int{}
	for _, in := range st {
		pids[in.UPS] = in.PID
	}
	for _, s := range secs {
		if !isExe(pids[s.Name], filepath.Join(bin, "dummy-ups")) {
			tb.Fatalf("nut-driver-host reports pid %d for [%s], which is not a running %s", pids[s.Name], s.Name, filepath.Join(bin, "dummy-ups"))
		}
		r.pids = append(r.pids, pids[s.Name])
	}
	return r
}

// measureMem reads the memory of the host and its plugins.
func (r *hostRun) measureMem(tb testing.TB) {
	tb.Helper()
	var err error
	if r.host, err = readMem(r.proc.PID()); err != nil {
		tb.Fatalf("nut-driver-host: %v", err)
	}
	if r.plugin, err = sumMem(r.pids); err != nil {
		tb.Fatalf("plugins: %v", err)
	}
}

// settle sleeps until d has passed since every instance turned fresh.
func (r *hostRun) settle(d time.Duration) {
	if wait := d - time.Since(r.fresh); wait > 0 {
		time.Sleep(wait)
	}
}

// checkEnv verifies that every plugin runs with env in its environment.
func (r *hostRun) checkEnv(tb testing.TB, env []string) {
	tb.Helper()
	for i, pid := range r.pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			tb.Fatalf("[%s]: %v", r.secs[i].Name, err)
		}
		have := strings.Split(string(b), "\x00")
		for _, e := range env {
			if !slices.Contains(have, e) {
				tb.Fatalf("plugin of [%s] (pid %d) runs without %s: the host did not pass its environment on", r.secs[i].Name, pid, e)
			}
		}
	}
}

// kills kills plugins with kill -9, one after the other, k in all,
// spread over the instances, and returns the times from each kill to the
// instance's socket serving fresh data again. Every instance must have
// run for healthy (the host's -healthy-run) before it is killed, so that
// each kill is a first crash rather than a crash loop the host backs off
// from by design.
func (r *hostRun) kills(tb testing.TB, k int, healthy time.Duration) samples {
	tb.Helper()
	n := len(r.secs)
	ranSince := make([]time.Time, n)
	for i := range ranSince {
		ranSince[i] = r.fresh
	}
	bin := nuttest.Build(tb, nuttest.PkgDummyUPS)
	var out samples
	for j := 0; j < k; j++ {
		i := (j * max(n/k, 1)) % n
		if wait := healthy - time.Since(ranSince[i]); wait > 0 {
			time.Sleep(wait)
		}
		w, ups, old := r.ws[i], r.secs[i].Name, r.pids[i]
		fresh, gen, _, err := w.state()
		if err != nil || !fresh {
			tb.Fatalf("[%s] is not fresh before kill %d (err %v)", ups, j, err)
		}
		if !isExe(old, filepath.Join(bin, "dummy-ups")) {
			tb.Fatalf("[%s]: pid %d is no longer its plugin", ups, old)
		}
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			tb.Fatalf("kill -9 %d ([%s]): %v", old, ups, err)
		}
		killed := time.Now()
		at, err := w.waitFresh(gen+1, giveUp)
		if err != nil {
			tb.Fatalf("after kill -9 of [%s]: %v", ups, err)
		}
		out = append(out, at.Sub(killed))
		pid, err := nuttest.WaitPluginPID(r.d, ups, giveUp, old)
		if err != nil {
			tb.Fatal(err)
		}
		r.pids[i], ranSince[i] = pid, at
	}
	return out
}

// stop ends the host (and with it its plugins) and checks that no plugin
// outlives it.
func (r *hostRun) stop(tb testing.TB) {
	tb.Helper()
	r.proc.Stop()
	for i, pid := range r.pids {
		if !nuttest.WaitGone(pid, 5*time.Second) {
			tb.Errorf("plugin of [%s] (pid %d) still runs after the host stopped", r.secs[i].Name, pid)
		}
	}
}

// samples collects durations and reports their percentiles.
type samples []time.Duration

// percentile is the nearest-rank percentile p (0 < p <= 100).
func (s samples) percentile(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}
