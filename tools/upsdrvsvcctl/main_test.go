package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/host/control"
)

const conf = "[a]\n driver = testdriver\n port = x\n desc = \"first UPS\"\n[b]\n driver = testdriver\n port = y\n nolock\n"

func TestConfigCommands(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ups.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NUT_CONFPATH", dir)
	t.Setenv("NUT_STATEPATH", dir)
	for _, c := range []struct {
		args         []string
		stdout, serr string
		code         int
	}{
		{[]string{"list"}, "a\ttestdriver\nb\ttestdriver\n", "", 0},
		{[]string{"list", "b"}, "b\ttestdriver\n", "", 0},
		{[]string{"show-config", "a"}, "[a]\n\tdriver = testdriver\n\tport = x\n\tdesc = \"first UPS\"\n\n", "", 0},
		{[]string{"show-config", "b"}, "[b]\n\tdriver = testdriver\n\tport = y\n\tnolock\n\n", "", 0},
		{[]string{"-t", "restart"}, "Restarting a (nut-driver-host instance, driver testdriver) ...\n" +
			"Restarting b (nut-driver-host instance, driver testdriver) ...\n", "", 0},
		{[]string{"list", "zz"}, "", "UPS zz not found in ups.conf\n", 1},
		{[]string{"frobnicate"}, "", "Unrecognized argument: frobnicate\n", 1},
		{nil, "", "No action was requested!\n", 1},
	} {
		var o, e bytes.Buffer
		code := run(c.args, &o, &e)
		if o.String() != c.stdout || e.String() != c.serr || code != c.code {
			t.Errorf("upsdrvsvcctl %v: %d %q %q; want %d %q %q", c.args, code, o.String(), e.String(), c.code, c.stdout, c.serr)
		}
	}
}

func TestManageInstances(t *testing.T) {
	bin := t.TempDir()
	out, err := exec.Command("go", "build", "-o", bin+"/", ".", "../../host/cmd/nut-driver-host", "../../host/internal/testdriver").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ups.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	svc := func(args ...string) (string, string, int) {
		cmd := exec.Command(filepath.Join(bin, "upsdrvsvcctl"), args...)
		cmd.Env = append(os.Environ(), "NUT_CONFPATH="+dir, "NUT_STATEPATH="+dir)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return o.String(), e.String(), code
	}
	pids := func() map[string]int {
		c, err := control.Dial(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		st, _, err := c.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int{}
		for _, in := range st {
			m[in.UPS] = in.PID
		}
		return m
	}
	t.Cleanup(func() {
		c, err := control.Dial(dir)
		if err != nil {
			return
		}
		_, hs, _ := c.StatusStats(context.Background())
		c.Exit(context.Background())
		c.Close()
		for deadline := time.Now().Add(10 * time.Second); syscall.Kill(hs.PID, 0) == nil && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	})

	if o, _, code := svc("status"); code != 1 || strings.Count(o, "stopped") != 2 {
		t.Errorf("status with no host: %d %q", code, o)
	}
	if _, e, code := svc("start"); code != 0 || !strings.Contains(e, "Starting a ...") {
		t.Fatalf("start: %d %q", code, e)
	}
	o, _, code := svc("status")
	if code != 0 || !strings.HasPrefix(o, "UPS  DRIVER      KIND   STATE    SINCE") || strings.Count(o, " running ") != 2 {
		t.Errorf("status: %d\n%s", code, o)
	}
	before := pids()
	if _, e, code := svc("restart", "a"); code != 0 {
		t.Fatalf("restart a: %d %q", code, e)
	}
	after := pids()
	if after["a"] == before["a"] || after["a"] == 0 || after["b"] != before["b"] {
		t.Errorf("restart a: pids %v -> %v", before, after)
	}
	if _, e, code := svc("stop", "b"); code != 0 {
		t.Errorf("stop b: %d %q", code, e)
	}
	if o, _, code := svc("status", "b"); code != 1 || !strings.Contains(o, "stopped") {
		t.Errorf("status b after stop: %d %q", code, o)
	}
	if err := os.WriteFile(filepath.Join(dir, "ups.conf"), []byte(conf+"[c]\n driver = testdriver\n port = z\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// resync starts c and leaves b, stopped on purpose, stopped.
	if _, e, code := svc("resync"); code != 0 || e != "Added c\n" {
		t.Errorf("resync: %d %q", code, e)
	}
	if m := pids(); m["c"] == 0 || m["a"] != after["a"] {
		t.Errorf("after resync: %v", m)
	}
	if _, ok := pids()["b"]; ok {
		t.Error("resync started b, which was stopped on purpose")
	}
}
