package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/sdk/sockproto"
	"github.com/gonut/gonut/upsd"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args []string
		want options
		err  bool
	}{
		{nil, options{foreground: 0, user: "nut"}, false},
		{[]string{"-F"}, options{foreground: 1, user: "nut"}, false},
		{[]string{"-FF"}, options{foreground: 2, user: "nut"}, false},
		{[]string{"-F", "-F"}, options{foreground: 2, user: "nut"}, false},
		{[]string{"-DD"}, options{debug: 2, foreground: 1, user: "nut"}, false},
		{[]string{"-D", "-B"}, options{debug: 1, foreground: 0, user: "nut"}, false},
		{[]string{"-uroot", "-4"}, options{user: "root", family: upsd.IPv4Only, foreground: 0}, false},
		{[]string{"-u", "ups", "-6", "-q"}, options{user: "ups", family: upsd.IPv6Only, quiet: 1, foreground: 0}, false},
		{[]string{"-c", "stop"}, options{signal: "stop", user: "nut", foreground: 0}, false},
		{[]string{"-cr", "-P", "42"}, options{signal: "reload", pid: 42, user: "nut", foreground: 0}, false},
		{[]string{"-c", "bogus"}, options{help: true, user: "nut", foreground: 0}, false},
		{[]string{"-P", "x"}, options{help: true, user: "nut", foreground: 0}, false},
		{[]string{"-r", "/jail", "-V"}, options{chroot: "/jail", version: true, user: "nut", foreground: 0}, false},
		{[]string{"-h"}, options{help: true, user: "nut", foreground: 0}, false},
		{[]string{"-x"}, options{}, true},
		{[]string{"-u"}, options{}, true},
		{[]string{"-p", "3493"}, options{}, true},
		{[]string{"extra"}, options{}, true},
	}
	for _, tt := range tests {
		got, err := parseArgs(tt.args)
		if (err != nil) != tt.err {
			t.Errorf("parseArgs(%q) error = %v", tt.args, err)
			continue
		}
		if err == nil && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseArgs(%q) = %+v, want %+v", tt.args, got, tt.want)
		}
	}
}

// TestDaemon runs the built upsd as NUT's users do: in the background with
// a pid file, refusing a second copy, reloading and stopping with -c.
func TestDaemon(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "upsd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir, err := os.MkdirTemp("", "upsdd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	drv, err := sockproto.Listen(filepath.Join(dir, "fake-ups1"), nopHandler{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	_ = drv.Update([]string{"SETINFO", "ups.status", "OL"}, []string{"DATAOK"})
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	port := 20000 + rand.IntN(12000)
	write("upsd.conf", fmt.Sprintf("LISTEN 127.0.0.1 %d\n", port))
	write("ups.conf", "[ups1]\n driver = fake\n port = none\n")
	write("upsd.users", "[mon]\n password = pw\n upsmon primary\n")
	env := append(os.Environ(), "NUT_CONFPATH="+dir, "NUT_STATEPATH="+dir, "NUT_ALTPIDPATH="+dir)
	var userArgs []string
	if os.Geteuid() == 0 {
		userArgs = []string{"-u", "root"}
	}
	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}

	if out, code := run("-V"); code != 0 || !strings.HasPrefix(out, "Network UPS Tools upsd "+upsd.Version) {
		t.Errorf("-V: %d %q", code, out)
	}
	if out, code := run("-h"); code != 0 || !strings.Contains(out, "-c <command>") {
		t.Errorf("-h: %d %q", code, out)
	}
	if out, code := run("-c", "stop"); code != 1 {
		t.Errorf("-c stop with nothing running: %d %q", code, out)
	}

	out, code := run(userArgs...)
	if code != 0 {
		t.Fatalf("start in the background: %d %q", code, out)
	}
	pidFile := filepath.Join(dir, "upsd.pid")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSuffix(string(data), "\n"))
	if err != nil || !strings.HasSuffix(string(data), "\n") {
		t.Fatalf("pid file holds %q", data)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	if fi, _ := os.Stat(pidFile); fi.Mode().Perm() != 0o644 {
		t.Errorf("pid file mode %v", fi.Mode())
	}
	ask := func(req string) string {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(c, req)
		l, _ := bufio.NewReader(c).ReadString('\n')
		return l
	}
	if got := ask("LIST UPS\n"); got != "BEGIN LIST UPS\n" {
		t.Errorf("daemon answers %q", got)
	}
	if out, code := run(userArgs...); code != 1 || !strings.Contains(out, "already running") {
		t.Errorf("second start: %d %q", code, out)
	}

	// Reload picks up a new ups.conf.
	write("ups.conf", "[ups1]\n driver = fake\n port = none\n desc = \"reloaded\"\n")
	if out, code := run("-c", "reload"); code != 0 {
		t.Errorf("-c reload: %d %q", code, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ask("GET UPSDESC ups1\n") != "UPSDESC ups1 \"reloaded\"\n" {
		if time.Now().After(deadline) {
			t.Fatal("reload did not take effect")
		}
		time.Sleep(20 * time.Millisecond)
	}

	if out, code := run("-c", "stop"); code != 0 {
		t.Errorf("-c stop: %d %q", code, out)
	}
	deadline = time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatal("daemon still running after -c stop")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after stop: %v", err)
	}

	// A fatal configuration error shows in the foreground, exit 1.
	write("ups.conf", "")
	if out, code := run(append([]string{"-F"}, userArgs...)...); code != 1 || !strings.Contains(out, "at least one UPS") {
		t.Errorf("empty ups.conf: %d %q", code, out)
	}
	if out, code := run(userArgs...); code != 1 || !strings.Contains(out, "at least one UPS") {
		t.Errorf("empty ups.conf in the background: %d %q", code, out)
	}
}

type nopHandler struct{}

func (nopHandler) InstCmd(cmd, param, id string) {}
func (nopHandler) SetVar(name, value, id string) {}
