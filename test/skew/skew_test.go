// Package skew shows that drivers and hosts built against different SDK
// releases work together: a driver built with a frozen copy of the
// protocol-1.0 SDK (testdata/sdkv1) runs under today's host, today's
// drivers run under a host built from that frozen copy, and a plugin of
// another protocol major is refused with a message that names both
// versions and says what to rebuild.
package skew

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/gonut/gonut/internal/nuttest"
	"github.com/gonut/gonut/sdk/plugin"
	"github.com/gonut/gonut/sdk/sockproto"
)

func TestMain(m *testing.M) { nuttest.Main(m) }

var frozen struct {
	once sync.Once
	bins map[string]string
	err  error
}

// programs builds, once per test binary and all at the same time, what
// the tests run: today's nut-driver-host and dummy-ups, and the programs
// of testdata (olddriver, oldhost, major2), each its own module tied to
// the frozen SDK by a replace directive. Those are built from a copy, so
// the build cannot change the source tree, outside the workspace
// (GOWORK=off); their go.mod files list the same module versions as the
// SDK's, so the module cache of a normal build is all they need. It
// returns the path of each program by name.
func programs(t *testing.T) map[string]string {
	t.Helper()
	frozen.once.Do(func() {
		// nuttest's build directory goes away with the test binary.
		dir := filepath.Join(nuttest.Build(t), "skew")
		if frozen.err = os.CopyFS(dir, os.DirFS("testdata")); frozen.err != nil {
			return
		}
		modules := []string{"olddriver", "oldhost", "major2"}
		errs := make([]error, len(modules))
		var wg sync.WaitGroup
		for i, m := range modules {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", m), ".")
				cmd.Dir = filepath.Join(dir, m)
				cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
				if b, err := cmd.CombinedOutput(); err != nil {
					errs[i] = errors.New("go build testdata/" + m + ": " + err.Error() + "\n" + string(b))
				}
			}()
		}
		bin := nuttest.Build(t, nuttest.PkgHost, nuttest.PkgDummyUPS)
		wg.Wait()
		if frozen.err = errors.Join(errs...); frozen.err != nil {
			return
		}
		frozen.bins = map[string]string{"dummy-ups": filepath.Join(bin, "dummy-ups"), "bin": bin}
		for _, m := range modules {
			frozen.bins[m] = filepath.Join(dir, "bin", m)
		}
	})
	if frozen.err != nil {
		t.Fatal(frozen.err)
	}
	return frozen.bins
}

// logBuffer collects what go-plugin logs, plugin stderr included.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs a plugin executable as a host of the given protocol majors
// does (today's host: plugin.PluginSets(nil)).
func start(t *testing.T, exe string, sets map[int]goplugin.PluginSet, env ...string) (plugin.Instance, *logBuffer, error) {
	t.Helper()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), env...)
	logs := &logBuffer{}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake,
		VersionedPlugins: sets,
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
		StartTimeout:     20 * time.Second,
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		return nil, logs, plugin.ExplainStartError(exe, err)
	}
	raw, err := rpc.Dispense(plugin.PluginName)
	if err != nil {
		return nil, logs, err
	}
	return raw.(plugin.Instance), logs, nil
}

// runInstance starts the driver and returns its snapshot as name -> value.
func runInstance(t *testing.T, ctx context.Context, inst plugin.Instance, req plugin.RunRequest) (map[string]string, func() (plugin.Update, error)) {
	t.Helper()
	recv, err := inst.Run(ctx, req)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	u, err := recv()
	if err != nil || !u.Snapshot {
		t.Fatalf("first update: %+v, %v", u, err)
	}
	vars := map[string]string{}
	for _, m := range u.Msgs {
		if m[0] == "SETINFO" && len(m) == 3 {
			vars[m[1]] = m[2]
		}
	}
	return vars, recv
}

// TestOldDriverCurrentHost: a driver built with the protocol-1.0 SDK
// speaks to today's host side: Capabilities says minor 0 and no features,
// it runs and takes commands, and the calls it predates (Shutdown,
// Reload) answer "not supported" rather than failing.
func TestOldDriverCurrentHost(t *testing.T) {
	exe := programs(t)["olddriver"]
	inst, logs, err := start(t, exe, plugin.PluginSets(nil))
	if err != nil {
		t.Fatalf("start %s: %v\n%s", exe, err, logs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	caps, err := inst.Capabilities(ctx, plugin.Capabilities{Minor: plugin.ProtocolMinor, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if caps.Minor != 0 || len(caps.Features) != 0 || caps.HasFeature(plugin.FeatureShutdown) {
		t.Errorf("frozen plugin's capabilities: %+v, want minor 0 and no features", caps)
	}
	vars, _ := runInstance(t, ctx, inst, plugin.RunRequest{UPS: "old", Driver: "olddriver"})
	if vars["ups.mfr"] != "frozen" || vars["driver.name"] != "olddriver" {
		t.Errorf("snapshot: %v", vars)
	}
	if r, err := inst.InstCmd(ctx, "test.battery.start", ""); err != nil || r.Status != plugin.StatHandled {
		t.Errorf("instcmd: %+v, %v", r, err)
	}
	for name, call := range map[string]func() (plugin.Result, error){
		"shutdown": func() (plugin.Result, error) { return inst.Shutdown(ctx) },
		"reload":   func() (plugin.Result, error) { return inst.Reload(ctx, plugin.RunRequest{}) },
	} {
		r, err := call()
		if err != nil || !r.NotSupported() || !strings.Contains(r.Message, "older than protocol 1.1") {
			t.Errorf("%s on a protocol-1.0 plugin: %+v, %v; want not supported, naming the old SDK", name, r, err)
		}
	}
}

// TestOldDriverUnderHost: nut-driver-host of today serves the frozen
// driver on its state socket like any other.
func TestOldDriverUnderHost(t *testing.T) {
	old, bin := programs(t)["olddriver"], programs(t)["bin"]
	b, err := os.ReadFile(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "olddriver"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	d := nuttest.NewDir(t)
	sec := nuttest.Section{Name: "old", Driver: "olddriver", Port: "none"}
	d.WriteUPSConf(t, nil, sec)
	nuttest.StartHost(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sockproto.Dial(ctx, d.Socket(sec))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send("DUMPALL"); err != nil {
		t.Fatal(err)
	}
	st := sockproto.NewState()
	for {
		w, err := c.Next()
		if err != nil {
			t.Fatalf("DUMPALL from %s: %v", d.Socket(sec), err)
		}
		if w[0] == "DUMPDONE" {
			break
		}
		_ = st.Apply(w)
	}
	if v, _ := st.Value("ups.mfr"); v != "frozen" {
		t.Errorf("ups.mfr through nut-driver-host = %q, want frozen", v)
	}
	if !st.HasCmd("test.battery.start") {
		t.Errorf("test.battery.start missing from %v", st.Cmds())
	}
}

// TestCurrentDriverOldHost: today's dummy-ups under the host side of the
// frozen SDK: the old host ignores the minor and features it does not
// know, and everything it knows works.
func TestCurrentDriverOldHost(t *testing.T) {
	oldhost, dummy := programs(t)["oldhost"], programs(t)["dummy-ups"]
	d := nuttest.NewDir(t)
	d.CopyFile(t, nuttest.DDL(t, "APC__Back-UPS_ES_700__usbhid-ups__2.6.5__01.dev"), "ups.dev")
	r := d.Run(t, oldhost, dummy, "ux", "ups.dev", "load.off", "ups.delay.shutdown=45")
	if r.Code != 0 {
		t.Fatalf("oldhost: %s", r)
	}
	for _, want := range []string{
		`"Minor":1`, `"driver.name":"dummy-ups"`, `"Cmds":["load.off"]`,
		`"InstCmd":{"Status":1,`, // dummy-ups announces load.off and refuses it, as NUT's
		`"Set":{"Status":0,`, `"After":{"ups.delay.shutdown":"45"}`,
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("oldhost report lacks %s:\n%s", want, r.Stdout)
		}
	}
}

// TestCurrentDriverCurrentHost: the same release on both sides, as the
// baseline of the two tests above: minor 1, and Shutdown on a driver
// without Shutdowner says so (the calls themselves are tested in process
// in sdk).
func TestCurrentDriverCurrentHost(t *testing.T) {
	inst, logs, err := start(t, programs(t)["dummy-ups"], plugin.PluginSets(nil))
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	caps, err := inst.Capabilities(ctx, plugin.Capabilities{Minor: plugin.ProtocolMinor})
	if err != nil || caps.Minor != plugin.ProtocolMinor || len(caps.Features) != 0 {
		t.Errorf("dummy-ups capabilities: %+v, %v; want minor %d and no features", caps, err, plugin.ProtocolMinor)
	}
	d := nuttest.NewDir(t)
	d.CopyFile(t, nuttest.DDL(t, "APC__Back-UPS_ES_700__usbhid-ups__2.6.5__01.dev"), "ups.dev")
	runInstance(t, ctx, inst, plugin.RunRequest{UPS: "ux", Driver: "dummy-ups", ConfPath: d.Path,
		Options: []plugin.Option{{Key: "port", Value: "ups.dev", HasValue: true}}})
	r, err := inst.Shutdown(ctx)
	if err != nil || !r.NotSupported() || r.Message != "shutdown not supported by driver dummy-ups" {
		t.Errorf("shutdown on dummy-ups: %+v, %v", r, err)
	}
}

// TestOtherMajorRefused: a plugin of protocol 2 under today's host, and
// today's plugin under a host of protocol 2, fail in the handshake with
// an error naming both versions and what to rebuild.
func TestOtherMajorRefused(t *testing.T) {
	major2 := programs(t)["major2"]
	_, logs, err := start(t, major2, plugin.PluginSets(nil))
	var inc *plugin.IncompatibleError
	if !errors.As(err, &inc) || inc.Plugin != 2 || !slices.Equal(inc.Host, []int{1}) {
		t.Fatalf("protocol-2 plugin: err = %v, want an IncompatibleError (plugin 2, host [1])\n%s", err, logs)
	}
	for _, want := range []string{"speaks gonut driver protocol 2", "this host speaks protocol 1", "newer gonut SDK", "rebuild it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	// A host of protocol 2 only (built from a future SDK) starting
	// today's driver: go-plugin's fallback makes the host refuse it, and
	// the driver says which side to rebuild in the host's log.
	dummy := programs(t)["dummy-ups"]
	_, logs, err = start(t, dummy, map[int]goplugin.PluginSet{2: {plugin.PluginName: &plugin.GRPCPlugin{}}})
	if !errors.As(err, &inc) || inc.Plugin != 1 || !slices.Equal(inc.Host, []int{2}) {
		t.Fatalf("protocol-2 host: err = %v, want an IncompatibleError (plugin 1, host [2])\n%s", err, logs)
	}
	if !strings.Contains(err.Error(), "older gonut SDK") {
		t.Errorf("error %q does not say the driver is older", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "this driver speaks gonut driver protocol 1") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "this driver speaks gonut driver protocol 1") {
		t.Errorf("the driver did not explain itself in the host's log:\n%s", logs)
	}
}
