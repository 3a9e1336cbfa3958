package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/gonut/gonut/sdk/plugin"
)

var build struct {
	once sync.Once
	dir  string
	err  error
}

// programs builds upsdrvctl, nut-driver-host and the test driver once
// for the package's tests and returns their directory.
func programs(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "gonut-upsdrvctl-test-")
		if build.err != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", build.dir+"/", ".", "../../host/cmd/nut-driver-host", "../../host/internal/testdriver").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// env runs upsdrvctl in-process (run) on a directory holding ups.conf.
func env(t *testing.T, conf string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ups.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NUT_CONFPATH", dir)
	t.Setenv("NUT_STATEPATH", dir)
	return dir
}

func runHere(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return o.String(), e.String(), code
}

const sdConf = "driverpath = /nonexistent\n" +
	"[a]\n driver = testdriver\n port = x\n sdorder = 2\n" +
	"[b]\n driver = testdriver\n port = y\n" +
	"[c]\n driver = testdriver\n port = z\n sdorder = -1\n" +
	"[d]\n driver = testdriver\n port = w\n sdorder = 1\n"

func TestListAndPlans(t *testing.T) {
	env(t, sdConf)
	for _, c := range []struct {
		args   []string
		stdout string
		code   int
	}{
		{[]string{"list"}, "a\nb\nc\nd\n", 0},
		{[]string{"-l"}, "a\nb\nc\nd\n", 0},
		{[]string{"list", "c"}, "c\n", 0},
		{[]string{"-t", "shutdown"}, "*** Testing mode: not calling exec/kill\n" +
			"Shutdown UPS: b (sdorder 0)\nShutdown UPS: d (sdorder 1)\nShutdown UPS: a (sdorder 2)\n" +
			"Skipping UPS: c (sdorder -1: never shut down by upsdrvctl)\n", 0},
		{[]string{"-t", "shutdown", "d"}, "*** Testing mode: not calling exec/kill\nShutdown UPS: d (sdorder 1)\n", 0},
		{[]string{"-t", "stop"}, "*** Testing mode: not calling exec/kill\n" +
			"Stopping UPS: a\nStopping UPS: b\nStopping UPS: c\nStopping UPS: d\n", 0},
	} {
		out, errOut, code := runHere(c.args...)
		if out != c.stdout || code != c.code {
			t.Errorf("upsdrvctl %v: %d\n%s(stderr %q), want %d\n%s", c.args, code, out, errOut, c.code, c.stdout)
		}
	}
	// Status with no host: NUT's table, every driver N/A.
	out, _, code := runHere("status")
	want := "UPSNAME    \t     UPSDRV\tRUNNING\tPF_PID\tS_RESPONSIVE\tS_PID\tS_STATUS\n" +
		"a          \t testdriver\tN/A\t-1\tNOT_RESPONSIVE\tN/A\t\n" +
		"b          \t testdriver\tN/A\t-1\tNOT_RESPONSIVE\tN/A\t\n" +
		"c          \t testdriver\tN/A\t-1\tNOT_RESPONSIVE\tN/A\t\n" +
		"d          \t testdriver\tN/A\t-1\tNOT_RESPONSIVE\tN/A\t\n"
	if out != want || code != 0 {
		t.Errorf("status with no host: %d\n%q\nwant\n%q", code, out, want)
	}
	for _, c := range [][]string{{"list", "zz"}, {"status", "zz"}, {"-c", "reload", "zz"}} {
		if _, errOut, code := runHere(c...); code != 1 || !strings.Contains(errOut, "UPS zz not found in ups.conf") {
			t.Errorf("upsdrvctl %v: %d %q", c, code, errOut)
		}
	}
	if _, errOut, code := runHere("-c", "bogus"); code != 1 || !strings.Contains(errOut, "unknown argument to option -c") {
		t.Errorf("-c bogus: %d %q", code, errOut)
	}
	if _, errOut, code := runHere("-c", "dump"); code != 1 || !strings.Contains(errOut, "not running") {
		t.Errorf("-c dump with no host: %d %q", code, errOut)
	}
}

func TestResolveSignal(t *testing.T) {
	for in, want := range map[string]string{"dump": "dump", "data-dump": "data-dump", "d": "", "reload": "reload",
		"reload-or-e": "", "reload-or-er": "reload-or-error", "e": "exit", "exit": "exit", "x": ""} {
		got, err := resolveSignal(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("resolveSignal(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// pluginHasShutdown reports whether sdk/plugin's Instance has the
// Shutdown call (helper C2's contract) that `upsdrvctl shutdown` uses.
func pluginHasShutdown() bool {
	_, ok := reflect.TypeOf((*plugin.Instance)(nil)).Elem().MethodByName("Shutdown")
	return ok
}

// TestShutdownInSDOrder: upsdrvctl shutdown asks each driver in sdorder,
// one after the other, and skips sdorder -1; the test driver records the
// calls.
func TestShutdownInSDOrder(t *testing.T) {
	if !pluginHasShutdown() {
		t.Skip("sdk/plugin.Instance has no Shutdown yet: the plugin protocol cannot carry NUT's -k")
	}
	bin := programs(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "shutdowns")
	conf := strings.ReplaceAll(strings.ReplaceAll(sdConf, "driverpath = /nonexistent", "driverpath = "+bin), " port = ", " shutdown_log = "+log+"\n port = ")
	if err := os.WriteFile(filepath.Join(dir, "ups.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	upsdrvctl := func(args ...string) (string, int) {
		cmd := exec.Command(filepath.Join(bin, "upsdrvctl"), args...)
		cmd.Env = append(os.Environ(), "NUT_CONFPATH="+dir, "NUT_STATEPATH="+dir)
		b, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(b), ee.ExitCode()
		}
		return string(b), 0
	}
	t.Cleanup(func() { upsdrvctl("stop") })
	if out, code := upsdrvctl("shutdown"); code != 0 {
		t.Fatalf("shutdown: %d %s", code, out)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		order = append(order, strings.Fields(l)[0])
	}
	if !reflect.DeepEqual(order, []string{"b", "d", "a"}) {
		t.Errorf("shutdown order %v, want [b d a] (c has sdorder -1)", order)
	}
}
