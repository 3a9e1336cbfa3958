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

// alive reports whether pid is a running process (zombies count as gone:
// in a container nobody may reap an orphan).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func build(t *testing.T, dir string) {
	t.Helper()
	out, err := exec.Command("go", "build", "-o", dir+"/", ".", "../../internal/testdriver").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

// TestKillingTheHostTakesItsPluginsAlong: kill -9 of the host leaves no
// plugin running a second later (the SDK's lifeline), and a new host
// starts them all again.
func TestKillingTheHostTakesItsPluginsAlong(t *testing.T) {
	bin := t.TempDir()
	build(t, bin)
	dir := t.TempDir()
	conf := "driverpath = " + bin + "\n[a]\n driver = testdriver\n port = x\n[b]\n driver = testdriver\n port = y\n"
	if err := os.WriteFile(filepath.Join(dir, "ups.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		cmd := exec.Command(filepath.Join(bin, "nut-driver-host"), "-F")
		cmd.Env = append(os.Environ(), "NUT_CONFPATH="+dir, "NUT_STATEPATH="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var pids []int
		deadline := time.Now().Add(10 * time.Second)
		for len(pids) < 2 {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("round %d: instances never ran", round)
			}
			time.Sleep(50 * time.Millisecond)
			c, err := control.Dial(dir)
			if err != nil {
				continue
			}
			st, _, err := c.Status(context.Background())
			c.Close()
			pids = pids[:0]
			for _, s := range st {
				if err == nil && s.State == "running" && s.PID > 0 {
					pids = append(pids, s.PID)
				}
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		killed := time.Now()
		for _, pid := range pids {
			for alive(pid) {
				if time.Since(killed) > time.Second {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("round %d: plugin %d still running 1 s after the host died", round, pid)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		t.Logf("round %d: plugins gone %s after kill -9 of the host", round, time.Since(killed).Round(time.Millisecond))
	}
}
