package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// descendants lists the pids whose ancestry leads to pid.
func descendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[0] != "Z" {
			parent[p], _ = strconv.Atoi(f[1])
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// TestDemoServesAndStopsCleanly runs the embedded default the way a user
// does: it serves the simulated UPS, NUT's data is readable with upsc, and
// Ctrl-C leaves no process behind.
func TestDemoServesAndStopsCleanly(t *testing.T) {
	bin := t.TempDir()
	args := []string{"build", "-o", bin + "/", "."}
	for _, pkg := range programs {
		args = append(args, "../../"+strings.TrimPrefix(pkg, "./"))
	}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port := freePort()
	cmd := exec.Command(filepath.Join(bin, "gonut-demo"), "-port", fmt.Sprint(port))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Watch it in another terminal:") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case line := <-ready:
		if !strings.Contains(line, fmt.Sprintf("demo@127.0.0.1:%d", port)) {
			t.Errorf("the hint does not name the address: %q", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the demo never said it was ready")
	}
	addr := fmt.Sprintf("demo@127.0.0.1:%d", port)
	var out []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		out, err = exec.Command(filepath.Join(bin, "upsc"), addr, "ups.status").Output()
		if err == nil && len(out) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upsc %s: %v %s", addr, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s := strings.TrimSpace(string(out)); !strings.HasPrefix(s, "OL") && !strings.HasPrefix(s, "OB") {
		t.Errorf("ups.status = %q", s)
	}
	children := descendants(cmd.Process.Pid)
	if len(children) < 3 {
		t.Errorf("expected host, plugin and upsd under the demo, found pids %v", children)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo exit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the demo did not stop on Ctrl-C")
	}
	deadline = time.Now().Add(2 * time.Second)
	for _, p := range children {
		for syscall.Kill(p, 0) == nil && !zombie(p) {
			if time.Now().After(deadline) {
				t.Errorf("process %d left behind after Ctrl-C", p)
				syscall.Kill(p, syscall.SIGKILL)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}
