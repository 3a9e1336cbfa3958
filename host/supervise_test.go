package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/gonut/gonut/sdk/nutconf"
)

// newHostCfg is newHost with a Config to adjust.
func newHostCfg(t *testing.T, upsconf string, adjust func(*Config)) *Host {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ups.conf"), []byte(upsconf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		ConfPath: dir, StatePath: dir, DriverPath: []string{binDir},
		Logger:      hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr}),
		FirstRetry:  20 * time.Millisecond,
		HangMinimum: 500 * time.Millisecond, HangGrace: 100 * time.Millisecond,
	}
	if adjust != nil {
		adjust(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop() })
	return h
}

func statusOf(h *Host, ups string) Status {
	for _, s := range h.Status() {
		if s.UPS == ups {
			return s
		}
	}
	return Status{}
}

func TestBackoff(t *testing.T) {
	conf := &nutconf.UPSConf{RetryDelay: 2}
	h := &Host{cfg: Config{FirstRetry: 100 * time.Millisecond, MaxBackoff: 30 * time.Second}, conf: conf}
	in := &Instance{h: h, sec: &nutconf.UPSSection{}}
	for _, c := range []struct {
		n    int
		want time.Duration
	}{
		{1, 100 * time.Millisecond}, // at once after a healthy run
		{2, 2 * time.Second},        // then from retrydelay
		{3, 4 * time.Second},
		{4, 8 * time.Second},
		{6, 30 * time.Second}, // capped
		{40, 30 * time.Second},
	} {
		for i := 0; i < 20; i++ {
			got := in.backoff(c.n)
			if got < c.want*8/10 || got > c.want*12/10 {
				t.Errorf("backoff(%d) = %s, want %s ±20%%", c.n, got, c.want)
			}
		}
	}
	in.sec.RetryDelay = 1 // a section's own retrydelay wins
	if got := in.backoff(2); got < 800*time.Millisecond || got > 1200*time.Millisecond {
		t.Errorf("section retrydelay: backoff(2) = %s", got)
	}
}

// TestCrashLoopFailsThenRecovers: a driver that cannot start goes to
// failed (with its error and exit status, published as driver.state)
// and is retried after the cool-down until its cause is gone.
func TestCrashLoopFailsThenRecovers(t *testing.T) {
	cause := filepath.Join(t.TempDir(), "unplugged")
	if err := os.WriteFile(cause, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHostCfg(t, "retrydelay = 0\n[a]\n driver = testdriver\n port = none\n pollinterval = 1\n fail_if_exists = "+cause+"\n",
		func(c *Config) { c.CrashLoop = 3; c.Cooldown = 500 * time.Millisecond })
	if err := h.Start(context.Background()); err == nil {
		t.Fatal("first start succeeded with the cause in place")
	}
	c := watch(t, h, "testdriver", "a")
	eventually(t, 10*time.Second, "state failed", func() bool { return statusOf(h, "a").State == StateFailed })
	st := statusOf(h, "a")
	if !strings.Contains(st.LastError, "fail_if_exists") || st.ExitStatus == "" || st.Failures < 3 {
		t.Errorf("failed status lacks the cause: %+v", st)
	}
	eventually(t, 5*time.Second, "driver.state failed on the socket", func() bool { return value(c, StateVar) == "failed" })
	if c.Info().DataOK {
		t.Error("a failed instance's data is not stale")
	}
	// Still failed after a cool-down retry while the cause is there.
	restarts := st.Restarts
	eventually(t, 10*time.Second, "retried after the cool-down", func() bool { return statusOf(h, "a").Restarts > restarts })
	if s := statusOf(h, "a").State; s != StateFailed {
		t.Errorf("after a failed retry: state %s, want failed", s)
	}
	if err := os.Remove(cause); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "running again", func() bool { return statusOf(h, "a").State == StateRunning })
	eventually(t, 5*time.Second, "fresh data and driver.state running", func() bool {
		return c.Info().DataOK && value(c, StateVar) == "running" && value(c, "ups.status") == "OL"
	})
}

func TestDriverStateFollowsRestarts(t *testing.T) {
	h := newHost(t, twoUPS)
	if err := h.Start(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	c := watch(t, h, "testdriver", "a")
	eventually(t, 5*time.Second, "running", func() bool { return c.Info().DataOK && value(c, StateVar) == "running" })
	if st := statusOf(h, "a"); st.Kind != KindPlugin || st.UPSStatus != "OL" || st.Since.IsZero() {
		t.Errorf("status: %+v", st)
	}
}

// TestResyncTouchesOnlyWhatChanged: a section added, one removed, one
// changed; the untouched one keeps its plugin process.
func TestResyncTouchesOnlyWhatChanged(t *testing.T) {
	conf := func(secs ...string) string {
		s := "retrydelay = 0\n"
		for _, x := range secs {
			s += x
		}
		return s
	}
	same := "[same]\n driver = testdriver\n port = none\n"
	reloaded := "[reloaded]\n driver = testdriver\n port = none\n pollinterval = 1\n id = one\n"
	gone := "[gone]\n driver = testdriver\n port = none\n"
	changed := "[changed]\n driver = testdriver\n port = old\n"
	h := newHostCfg(t, conf(same, gone, changed, reloaded), nil)
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	samePID, changedPID, reloadedPID := pidOf(t, h, "same"), pidOf(t, h, "changed"), pidOf(t, h, "reloaded")
	rc := watch(t, h, "testdriver", "reloaded")
	// Unchanged file: nothing to do.
	if r, err := h.Resync(context.Background()); err != nil || r.Changed() {
		t.Fatalf("resync of an unchanged file: %+v %v", r, err)
	}
	added := "[added]\n driver = testdriver\n port = none\n"
	if err := os.WriteFile(filepath.Join(h.cfg.ConfPath, "ups.conf"),
		[]byte(conf(same, strings.Replace(changed, "old", "new", 1), added, strings.Replace(reloaded, "id = one", "id = two", 1))), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := h.Resync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Added, []string{"added"}) || !slices.Equal(r.Removed, []string{"gone"}) ||
		!slices.Equal(r.Restarted, []string{"changed"}) || !slices.Equal(r.Reloaded, []string{"reloaded"}) {
		t.Errorf("resync: %+v", r)
	}
	// Same driver and port: the running plugin took the new id in place.
	if pid := pidOf(t, h, "reloaded"); pid != reloadedPID {
		t.Errorf("reloadable instance restarted: pid %d -> %d", reloadedPID, pid)
	}
	eventually(t, 5*time.Second, "the reloaded id published", func() bool { return value(rc, "device.serial") == "two" })
	if pid := pidOf(t, h, "same"); pid != samePID {
		t.Errorf("unchanged instance restarted: pid %d -> %d", samePID, pid)
	}
	if pid := pidOf(t, h, "changed"); pid == changedPID || pid == 0 {
		t.Errorf("changed instance not restarted: pid %d -> %d", changedPID, pid)
	}
	if _, err := os.Stat(SocketPath(h.StatePath(), "testdriver", "gone")); err == nil {
		t.Error("removed instance's socket is still there")
	}
	var names []string
	for _, s := range h.Status() {
		names = append(names, s.UPS)
	}
	if !slices.Equal(names, []string{"same", "changed", "added", "reloaded"}) {
		t.Errorf("instances after resync: %v", names)
	}
	// A broken ups.conf changes nothing.
	if err := os.WriteFile(filepath.Join(h.cfg.ConfPath, "ups.conf"), []byte("[x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Resync(context.Background()); err == nil || !strings.Contains(err.Error(), "ups.conf") {
		t.Errorf("broken ups.conf: %v", err)
	}
	if h.Running() != 4 {
		t.Errorf("a broken ups.conf stopped instances: %d running", h.Running())
	}
}

// TestStoppedSectionStaysStoppedOnResync: a section stopped on purpose is
// not started again by a resync.
func TestStoppedSectionStaysStoppedOnResync(t *testing.T) {
	h := newHost(t, twoUPS)
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.Stop("b"); err != nil {
		t.Fatal(err)
	}
	if r, err := h.Resync(context.Background()); err != nil || r.Changed() {
		t.Errorf("resync: %+v %v", r, err)
	}
	if h.Running() != 1 {
		t.Errorf("running = %d, want 1", h.Running())
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestIntegrityCheck(t *testing.T) {
	drivers := t.TempDir()
	exe := filepath.Join(drivers, "testdriver")
	copyFile(t, filepath.Join(binDir, "testdriver"), exe)
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	good := hex.EncodeToString(sum[:])
	bad := strings.Repeat("ab", 32)
	sums := filepath.Join(drivers, SumsFile)
	if err := os.WriteFile(sums, []byte("# drivers\n"+good+"  other\n"+bad+" *testdriver\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHostCfg(t, "[a]\n driver = testdriver\n port = none\n", func(c *Config) { c.DriverPath = []string{drivers} })
	err = h.Start(context.Background())
	if err == nil {
		t.Fatal("a driver whose sum does not match was started")
	}
	for _, want := range []string{exe, sums + ":3", good, bad} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if h.Running() != 0 {
		t.Error("mismatching driver runs")
	}
	if err := os.WriteFile(sums, []byte(good+"  testdriver\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatalf("matching sum: %v", err)
	}
	// A malformed list refuses to start rather than guess.
	if err := os.WriteFile(sums, []byte("nonsense\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := verifySum(exe, good); err == nil || !strings.Contains(err.Error(), sums+":1") {
		t.Errorf("malformed list: %v", err)
	}
}

func TestKindOfExecutable(t *testing.T) {
	h := &Host{}
	info, err := h.inspect(filepath.Join(binDir, "testdriver"))
	if err != nil || info.kind != KindPlugin {
		t.Errorf("testdriver: %+v %v", info, err)
	}
	for _, p := range []string{"/bin/true", "/lib/nut/dummy-ups"} {
		if _, err := os.Stat(p); err != nil {
			if p == "/lib/nut/dummy-ups" && os.Getenv("CI") == "true" {
				t.Errorf("%s missing in CI: %v", p, err)
			}
			continue
		}
		info, err := h.inspect(p)
		if err != nil || info.kind != KindNUT {
			t.Errorf("%s: %+v %v", p, info, err)
		}
	}
}

func TestShutdownOrder(t *testing.T) {
	conf := &nutconf.UPSConf{Sections: []*nutconf.UPSSection{
		{Name: "a", SDOrder: 2}, {Name: "b"}, {Name: "c", SDOrder: -1}, {Name: "d", SDOrder: 1}, {Name: "e"},
	}}
	names := func(secs []*nutconf.UPSSection) (out []string) {
		for _, s := range secs {
			out = append(out, s.Name)
		}
		return out
	}
	for _, c := range []struct {
		only []string
		want []string
	}{
		{nil, []string{"b", "e", "d", "a"}},
		{[]string{"a"}, []string{"a"}},
		{[]string{"c"}, nil},
	} {
		secs, err := ShutdownOrder(conf, c.only)
		if err != nil || !slices.Equal(names(secs), c.want) {
			t.Errorf("ShutdownOrder(%v) = %v, %v; want %v", c.only, names(secs), err, c.want)
		}
	}
	if _, err := ShutdownOrder(conf, []string{"zz"}); err == nil || !strings.Contains(err.Error(), "UPS zz not found") {
		t.Errorf("unknown UPS: %v", err)
	}
}

func TestDataState(t *testing.T) {
	for _, c := range []struct {
		msgs [][]string
		was  bool
		want bool
	}{
		{nil, true, true},
		{[][]string{{"SETINFO", "x", "1"}}, false, false},
		{[][]string{{"DATASTALE"}}, true, false},
		{[][]string{{"DATASTALE"}, {"DATAOK"}}, false, true},
	} {
		if got := dataState(c.msgs, c.was); got != c.want {
			t.Errorf("dataState(%v, %v) = %v", c.msgs, c.was, got)
		}
	}
}

func TestWatchResyncsOnChange(t *testing.T) {
	h := newHost(t, twoUPS)
	if err := h.Start(context.Background(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Watch(ctx, 50*time.Millisecond)
	time.Sleep(120 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(h.cfg.ConfPath, "ups.conf"),
		[]byte(twoUPS+"[c]\n driver = testdriver\n port = none\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "c started by the watcher", func() bool { return statusOf(h, "c").State == StateRunning })
}

func TestStderrLines(t *testing.T) {
	var buf strings.Builder
	in := &Instance{log: hclog.New(&hclog.LoggerOptions{Name: "host.u.d", Output: &buf, Level: hclog.Info})}
	w := &stderrLines{in: in}
	for _, chunk := range []string{"plain one", "\n", `{"@level":"info"}`, "\n", "[WARN] x\npla", "in two\r\n",
		"panic: boom\n", "goroutine 1 [running]:\n"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	got := buf.String()
	for _, want := range []string{"host.u.d: plain one: stream=stderr", "host.u.d: plain two: stream=stderr"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	for _, not := range []string{"@level", "[WARN]", "panic", "goroutine"} {
		if strings.Contains(got, not) {
			t.Errorf("log repeats what go-plugin logs itself (%q):\n%s", not, got)
		}
	}
}

func TestQuietExit(t *testing.T) {
	var buf strings.Builder
	q := quietExit{hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Debug})}
	q.Error(goPluginExitMsg, "error", "signal: killed")
	q.Info(goPluginExitMsg)
	q.Info("kept")
	q.Error("kept too")
	if got := buf.String(); strings.Contains(got, goPluginExitMsg) || !strings.Contains(got, "kept") || !strings.Contains(got, "kept too") {
		t.Errorf("log:\n%s", got)
	}
}

// TestStaleState: a plugin that runs but cannot reach its device is
// stale, in status and as driver.state, and running again once it can.
func TestStaleState(t *testing.T) {
	cause := filepath.Join(t.TempDir(), "unreachable")
	h := newHostCfg(t, "[a]\n driver = testdriver\n port = none\n pollinterval = 1\n stale_if_exists = "+cause+"\n", nil)
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := watch(t, h, "testdriver", "a")
	eventually(t, 5*time.Second, "running", func() bool { return c.Info().DataOK && value(c, StateVar) == "running" })
	pid := pidOf(t, h, "a")
	if err := os.WriteFile(cause, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "stale", func() bool {
		return statusOf(h, "a").State == StateStale && value(c, StateVar) == "stale" && !c.Info().DataOK
	})
	if err := os.Remove(cause); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "running again", func() bool {
		return statusOf(h, "a").State == StateRunning && value(c, StateVar) == "running" && c.Info().DataOK
	})
	if p := pidOf(t, h, "a"); p != pid {
		t.Errorf("a stale plugin was restarted (pid %d -> %d); it is alive and polling", pid, p)
	}
}
