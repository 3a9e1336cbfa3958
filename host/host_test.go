package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/gonut/gonut/sdk/sockproto"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gonut-host-test-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "testdriver"), "./internal/testdriver").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building testdriver: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newHost writes ups.conf and returns a host with test timings. Its
// instances are stopped when the test ends.
func newHost(t *testing.T, upsconf string) *Host {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ups.conf"), []byte(upsconf), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{
		ConfPath: dir, StatePath: dir, DriverPath: []string{binDir},
		Logger:      hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr}),
		FirstRetry:  50 * time.Millisecond,
		HangMinimum: 500 * time.Millisecond, HangGrace: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop() })
	return h
}

// watch reads an instance's socket the way upsd does.
func watch(t *testing.T, h *Host, driver, ups string) *sockproto.Client {
	t.Helper()
	c := sockproto.NewClient(sockproto.ClientConfig{Path: SocketPath(h.StatePath(), driver, ups), Retry: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	go c.Run(ctx)
	t.Cleanup(cancel)
	return c
}

func value(c *sockproto.Client, name string) string {
	v, _ := c.Snapshot().Var(name)
	return v.Value
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pidOf(t *testing.T, h *Host, ups string) int {
	t.Helper()
	for _, s := range h.Status() {
		if s.UPS == ups {
			return s.PID
		}
	}
	t.Fatalf("no instance %s", ups)
	return 0
}

// retrydelay = 0 makes the backoff grow from FirstRetry rather than from
// NUT's 5 s.
const twoUPS = `retrydelay = 0

[a]
	driver = testdriver
	port = none
	pollinterval = 1
	id = A
[b]
	driver = testdriver
	port = none
	pollinterval = 1
	id = B
`

func TestStartServesEveryInstance(t *testing.T) {
	h := newHost(t, twoUPS)
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, ups := range []string{"a", "b"} {
		c := watch(t, h, "testdriver", ups)
		eventually(t, 5*time.Second, ups+" serves fresh data", func() bool {
			return c.Info().DumpDone && c.Info().DataOK && value(c, "ups.status") == "OL"
		})
		if got, want := value(c, "device.serial"), strings.ToUpper(ups); got != want {
			t.Errorf("%s: device.serial = %q, want %q", ups, got, want)
		}
		if got := value(c, "driver.name"); got != "testdriver" {
			t.Errorf("%s: driver.name = %q", ups, got)
		}
	}
	st := h.Status()
	if len(st) != 2 || st[0].UPS != "a" || st[0].State != StateRunning || st[0].PID == 0 {
		t.Errorf("status: %+v", st)
	}
}

func TestKilledPluginIsStaleThenRestarted(t *testing.T) {
	h := newHost(t, twoUPS)
	if err := h.Start(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	c := watch(t, h, "testdriver", "a")
	eventually(t, 5*time.Second, "fresh data", func() bool { return c.Info().DataOK && value(c, "ups.pid") != "" })
	for i := 0; i < 3; i++ {
		oldPID := pidOf(t, h, "a")
		if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// Between the kill and the new snapshot the data is stale; once
		// fresh again it comes from the new process.
		eventually(t, 5*time.Second, "fresh data from a new plugin", func() bool {
			return c.Info().DataOK && value(c, "ups.pid") != fmt.Sprint(oldPID) && value(c, "ups.pid") != ""
		})
	}
	if st := h.Status(); st[0].Restarts != 3 {
		t.Errorf("restarts = %d, want 3", st[0].Restarts)
	}
}

func TestHungPluginIsRestarted(t *testing.T) {
	h := newHost(t, twoUPS)
	if err := h.Start(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	c := watch(t, h, "testdriver", "a")
	eventually(t, 5*time.Second, "fresh data", func() bool { return c.Info().DataOK })
	pid := pidOf(t, h, "a")
	// SIGSTOP: the process lives but its heartbeat stops.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	// Deadline: 3 polls of 1 s + 100 ms grace; allow for the restart.
	eventually(t, 8*time.Second, "restart after a hang", func() bool {
		p := pidOf(t, h, "a")
		return p != 0 && p != pid && c.Info().DataOK
	})
	if err := syscall.Kill(pid, 0); err == nil {
		// The hung process must be gone (a zombie reaped by go-plugin).
		eventually(t, 2*time.Second, "hung plugin killed", func() bool {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			return err != nil || strings.Contains(string(b), ") Z ")
		})
	}
	if st := h.Status(); !strings.Contains(st[0].LastError, "hung") {
		t.Errorf("last error %q does not say it hung", st[0].LastError)
	}
}

func TestFailedStartIsReportedAndRetried(t *testing.T) {
	h := newHost(t, "[x]\n driver = testdriver\n port = none\n fail_init\n")
	err := h.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "UPS x (driver testdriver)") || !strings.Contains(err.Error(), "device not found (fail_init)") {
		t.Fatalf("Start error = %v", err)
	}
	eventually(t, 3*time.Second, "retries", func() bool { return h.Status()[0].Restarts >= 2 })
	c := watch(t, h, "testdriver", "x")
	eventually(t, 3*time.Second, "socket up, stale", func() bool { return c.Info().Connected && c.Info().DumpDone })
	if c.Info().DataOK {
		t.Error("a driver that never started serves data as fresh")
	}
}

func TestMissingDriverNamesPathsSearched(t *testing.T) {
	h := newHost(t, "[x]\n driver = no-such-driver\n port = none\n")
	err := h.Start(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"ups.conf:2", "UPS x", `driver "no-such-driver" not found`, filepath.Join(binDir, "no-such-driver")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestNonExecutableDriver(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "plain"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := FindDriver("plain", []string{dir})
	if err == nil || !strings.Contains(err.Error(), "is not executable") {
		t.Fatalf("got %v", err)
	}
}

func TestStopRemovesSocket(t *testing.T) {
	h := newHost(t, twoUPS)
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid := pidOf(t, h, "b")
	if err := h.Stop("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(SocketPath(h.StatePath(), "testdriver", "b")); err == nil {
		t.Error("socket of a stopped instance is still there")
	}
	eventually(t, 3*time.Second, "plugin process gone", func() bool { return syscall.Kill(pid, 0) != nil })
	if n := h.Running(); n != 1 {
		t.Errorf("running = %d, want 1", n)
	}
	if err := h.Stop("b"); err == nil {
		t.Error("stopping a stopped instance is not an error")
	}
}

func TestDescribe(t *testing.T) {
	d, err := Describe(context.Background(), filepath.Join(binDir, "testdriver"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "testdriver" || d.Version != "1.0" || d.ProtocolMajor != 1 || len(d.Options) != 6 {
		t.Errorf("describe: %+v", d)
	}
	if _, err := Describe(context.Background(), "/bin/true"); err == nil {
		t.Error("/bin/true described itself as a gonut plugin")
	}
}

// TestPluginRunByHandIsANUTDriver: without the host's handshake a plugin
// is a classic NUT driver (the SDK's standalone mode), which wants -a.
func TestPluginRunByHandIsANUTDriver(t *testing.T) {
	out, err := exec.Command(filepath.Join(binDir, "testdriver")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "specifying '-a id' or '-s id' is now mandatory") {
		t.Errorf("got %v: %s", err, out)
	}
}

// INSTCMD and SET reach the plugin through the state socket, and their
// results come back as TRACKING, as a NUT driver answers upsd.
func TestCommandsAreForwarded(t *testing.T) {
	h := newHost(t, twoUPS)
	if err := h.Start(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	tracking := make(chan [2]string, 8)
	c := sockproto.NewClient(sockproto.ClientConfig{
		Path: SocketPath(h.StatePath(), "testdriver", "a"), Retry: 20 * time.Millisecond,
		OnTracking: func(id, status string) { tracking <- [2]string{id, status} },
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	eventually(t, 5*time.Second, "fresh data", func() bool { return c.Info().DumpDone && c.Info().DataOK })
	for _, tt := range []struct {
		words []string
		want  string
	}{
		{[]string{"INSTCMD", "test.battery.start", "quick", "TRACKING", "id-1"}, "0"},
		{[]string{"INSTCMD", "test.battery.start", "fail", "TRACKING", "id-2"}, "3"},
		{[]string{"INSTCMD", "load.off", "TRACKING", "id-3"}, "1"},
		{[]string{"SET", "ups.delay.shutdown", "30", "TRACKING", "id-4"}, "0"},
		{[]string{"SET", "ups.delay.shutdown", "soon", "TRACKING", "id-5"}, "2"},
	} {
		if err := c.Send(tt.words...); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-tracking:
			if got[0] != tt.words[len(tt.words)-1] || got[1] != tt.want {
				t.Errorf("%q: TRACKING %s %s, want status %s", tt.words, got[0], got[1], tt.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q: no TRACKING reply", tt.words)
		}
	}
	eventually(t, 3*time.Second, "command effects", func() bool {
		return value(c, "ups.test.result") == "started quick" && value(c, "ups.delay.shutdown") == "30"
	})
}

func TestPluginEnvLimitsGOMAXPROCS(t *testing.T) {
	got := pluginEnv([]string{"PATH=/bin"})
	if !slices.Contains(got, "GOMAXPROCS=1") {
		t.Errorf("pluginEnv without GOMAXPROCS = %q, want GOMAXPROCS=1 added", got)
	}
	set := []string{"PATH=/bin", "GOMAXPROCS=4"}
	got = pluginEnv(set)
	if slices.Contains(got, "GOMAXPROCS=1") || !slices.Contains(got, "GOMAXPROCS=4") {
		t.Errorf("pluginEnv with GOMAXPROCS=4 = %q, want it kept", got)
	}
}
