package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/host/control"
)

func TestStartStopLikeNUT(t *testing.T) {
	bin := programs(t)
	dir := t.TempDir()
	conf := "[a]\n driver = testdriver\n port = x\n[b]\n driver = testdriver\n port = y\n[bad]\n driver = testdriver\n port = z\n fail_init\n"
	if err := os.WriteFile(filepath.Join(dir, "ups.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	upsdrvctl := func(args ...string) (string, int) {
		cmd := exec.Command(filepath.Join(bin, "upsdrvctl"), args...)
		cmd.Env = append(os.Environ(), "NUT_CONFPATH="+dir, "NUT_STATEPATH="+dir)
		b, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(b), code
	}
	t.Cleanup(func() { upsdrvctl("stop") })

	if out, code := upsdrvctl("start", "nope"); code != 1 || !strings.Contains(out, "UPS nope not found in ups.conf") {
		t.Errorf("start nope: %d %q", code, out)
	}
	if out, code := upsdrvctl("start", "a"); code != 0 {
		t.Fatalf("start a: %d %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "testdriver-a")); err != nil {
		t.Errorf("socket of a: %v", err)
	}
	// The host runs in the background now; a second start reuses it.
	if out, code := upsdrvctl("start", "b"); code != 0 {
		t.Fatalf("start b: %d %q", code, out)
	}
	out2, code := upsdrvctl("start", "bad")
	if code != 1 || !strings.Contains(out2, "Driver failed to start") || !strings.Contains(out2, "fail_init") {
		t.Errorf("start bad: %d %q", code, out2)
	}
	c, err := control.Dial(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, hostPID, err := c.Status(context.Background())
	c.Close()
	if err != nil || len(st) != 3 {
		t.Fatalf("status: %+v %v", st, err)
	}
	// status: NUT's table; a runs, bad is failing to start.
	out3, code := upsdrvctl("status")
	var aPID int
	for _, in := range st {
		if in.UPS == "a" {
			aPID = in.PID
		}
	}
	if row := fmt.Sprintf("a          \t testdriver\tRUNNING\t%d\tRESPONSIVE\t%d\tOL\n", aPID, aPID); code != 0 || !strings.Contains(out3, row) ||
		!strings.Contains(out3, "bad        \t testdriver\tSTOPPED\t-1\tNOT_RESPONSIVE\tN/A\t\n") {
		t.Errorf("status: %d %q", code, out3)
	}
	// -c dump: the host's own use, then a's state.
	if out, code := upsdrvctl("-c", "dump", "a"); code != 0 || !strings.Contains(out, "goroutines") ||
		!strings.Contains(out, "# UPS a\n") || !strings.Contains(out, "SETINFO driver.state \"running\"\n") || !strings.Contains(out, "SETINFO ups.status \"OL\"\n") {
		t.Errorf("-c dump a: %d %q", code, out)
	}
	// -c reload: a new section in ups.conf is started.
	if err := os.WriteFile(filepath.Join(dir, "ups.conf"), []byte(conf+"[new]\n driver = testdriver\n port = n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// bad is unchanged: it is left to its retries, not reported again.
	if out, code := upsdrvctl("-c", "reload"); code != 0 {
		t.Errorf("-c reload: %d %q", code, out)
	}
	if out, code := upsdrvctl("status", "new"); code != 0 || !strings.Contains(out, "\tRUNNING\t") {
		t.Errorf("status new after reload: %d %q", code, out)
	}
	if out, code := upsdrvctl("-c", "exit", "new"); code != 0 {
		t.Errorf("-c exit new: %d %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "testdriver-new")); err == nil {
		t.Error("new's socket is still there after -c exit new")
	}
	if out, code := upsdrvctl("stop", "b"); code != 0 {
		t.Errorf("stop b: %d %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "testdriver-b")); err == nil {
		t.Error("b's socket is still there")
	}
	if out, code := upsdrvctl("-t", "start"); code != 0 || !strings.Contains(out, "Starting UPS: a") {
		t.Errorf("-t start: %d %q", code, out)
	}
	if out, code := upsdrvctl("stop"); code != 0 {
		t.Errorf("stop: %d %q", code, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(hostPID, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatal("host still running after upsdrvctl stop")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "testdriver-a")); err == nil {
		t.Error("a's socket is still there after stop")
	}
	// Stopping when nothing runs is not an error, as in NUT.
	if out, code := upsdrvctl("stop"); code != 0 {
		t.Errorf("second stop: %d %q", code, out)
	}
}
