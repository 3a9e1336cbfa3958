package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
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
	bin := buildUpsd(t)
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

// buildUpsd builds the command once per test binary.
func buildUpsd(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "upsdbin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "upsd")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// foreground runs upsd -F with env until it serves on port (then stops
// it with SIGTERM) or exits; it returns everything upsd printed and
// whether it served.
func foreground(t *testing.T, bin string, env []string, port int, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-F"}, args...)...)
	cmd.Env = env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	served := false
	deadline := time.Now().Add(10 * time.Second)
	for !served && time.Now().Before(deadline) {
		select {
		case <-exited:
			return out.String(), false
		default:
		}
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			fmt.Fprint(c, "LIST UPS\n")
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			l, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			served = l == "BEGIN LIST UPS\n"
			// Nothing at all: bound but not serving yet, or closing
			// the listener on a configuration error.
			if !served && l != "" {
				t.Errorf("upsd answered %q", l)
				break
			}
			if !served {
				time.Sleep(20 * time.Millisecond)
			}
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	return out.String(), served
}

// TestStartupChecks covers the start-up rules NUT applies: ALLOW_NO_DEVICE
// and ALLOW_NOT_ALL_LISTENERS (upsd.conf, with the environment taking
// precedence), MAXCONN against the open-file limit, STARTTLS settings, and
// the world-readable warning.
func TestStartupChecks(t *testing.T) {
	bin := buildUpsd(t)
	var userArgs []string
	if os.Geteuid() == 0 {
		userArgs = []string{"-u", "root"}
	}
	const users = "[mon]\n password = pw\n upsmon primary\n"
	const oneUPS = "[ups1]\n driver = fake\n port = none\n"
	for _, tt := range []struct {
		name      string
		upsdConf  string // %d is the port
		upsConf   string
		env       []string
		usersMode os.FileMode
		serves    bool
		output    []string // each must appear in upsd's output
		absent    []string // none may appear
	}{
		{name: "no device", upsdConf: "LISTEN 127.0.0.1 %d\n", upsConf: "", serves: false,
			output: []string{"at least one UPS must be defined"}},
		{name: "ALLOW_NO_DEVICE", upsdConf: "LISTEN 127.0.0.1 %d\nALLOW_NO_DEVICE true\n", upsConf: "", serves: true,
			output: []string{"currently there are none"}},
		{name: "ALLOW_NO_DEVICE from the environment", upsdConf: "LISTEN 127.0.0.1 %d\n", upsConf: "", env: []string{"ALLOW_NO_DEVICE=yes"}, serves: true},
		{name: "environment overrides upsd.conf", upsdConf: "LISTEN 127.0.0.1 %d\nALLOW_NO_DEVICE 1\n", upsConf: "", env: []string{"ALLOW_NO_DEVICE=false"}, serves: false,
			output: []string{"at least one UPS must be defined"}},
		{name: "unbindable address", upsdConf: "LISTEN 127.0.0.1 %d\nLISTEN 192.0.2.1 %[1]d\n", upsConf: oneUPS, serves: false,
			output: []string{"192.0.2.1", "ALLOW_NOT_ALL_LISTENERS"}},
		{name: "ALLOW_NOT_ALL_LISTENERS", upsdConf: "LISTEN 127.0.0.1 %d\nLISTEN 192.0.2.1 %[1]d\nALLOW_NOT_ALL_LISTENERS yes\n", upsConf: oneUPS, serves: true,
			output: []string{"192.0.2.1"}},
		{name: "ALLOW_NOT_ALL_LISTENERS from the environment", upsdConf: "LISTEN 127.0.0.1 %d\nLISTEN 192.0.2.1 %[1]d\n", upsConf: oneUPS, env: []string{"ALLOW_NOT_ALL_LISTENERS=on"}, serves: true},
		{name: "loopback failures are tolerated", upsdConf: "LISTEN 127.0.0.1 %d\nLISTEN localhost %[1]d\n", upsConf: oneUPS, serves: true},
		{name: "MAXCONN over the file limit", upsdConf: "LISTEN 127.0.0.1 %d\nMAXCONN 2000000000\n", upsConf: oneUPS, serves: false,
			output: []string{"MAXCONN 2000000000 is more than"}},
		{name: "world-readable upsd.users", upsdConf: "LISTEN 127.0.0.1 %d\n", upsConf: oneUPS, usersMode: 0o644, serves: true,
			output: []string{"upsd.users is world readable"}},
		{name: "private upsd.users", upsdConf: "LISTEN 127.0.0.1 %d\n", upsConf: oneUPS, serves: true,
			absent: []string{"upsd.users is world readable", "DISABLE_WEAK_SSL"}},
		{name: "CERTFILE missing", upsdConf: "LISTEN 127.0.0.1 %d\nCERTFILE /nonexistent/upsd.pem\n", upsConf: oneUPS, serves: false,
			output: []string{"CERTFILE", "/nonexistent/upsd.pem"}},
		{name: "CERTREQUEST bogus", upsdConf: "LISTEN 127.0.0.1 %d\nCERTREQUEST 7\n", upsConf: oneUPS, serves: false,
			output: []string{"CERTREQUEST"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			port := 20000 + rand.IntN(12000)
			mode := tt.usersMode
			if mode == 0 {
				mode = 0o600
			}
			for name, text := range map[string]string{
				"upsd.conf": fmt.Sprintf(tt.upsdConf, port), "ups.conf": tt.upsConf, "upsd.users": users,
			} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(filepath.Join(dir, "upsd.users"), mode); err != nil {
				t.Fatal(err)
			}
			env := append(os.Environ(), "NUT_CONFPATH="+dir, "NUT_STATEPATH="+dir, "NUT_ALTPIDPATH="+dir,
				"ALLOW_NO_DEVICE=", "ALLOW_NOT_ALL_LISTENERS=")
			env = append(env, tt.env...)
			out, served := foreground(t, bin, env, port, userArgs...)
			if served != tt.serves {
				t.Errorf("served = %v, want %v; output:\n%s", served, tt.serves, out)
			}
			for _, want := range tt.output {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			for _, bad := range tt.absent {
				if strings.Contains(out, bad) {
					t.Errorf("output has %q:\n%s", bad, out)
				}
			}
		})
	}
}

// TestChrootAndUser runs upsd -r <jail> -u nobody as NUT's packages do:
// configuration and driver sockets are found inside the jail, the
// listener is bound before privileges are dropped, and the files are read
// as the -u user.
func TestChrootAndUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot and changing user need root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	bin := buildUpsd(t)
	jail, err := os.MkdirTemp("", "jail")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(jail)
	if err := os.Chmod(jail, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"etc", "state"} {
		if err := os.Mkdir(filepath.Join(jail, d), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(filepath.Join(jail, d), uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	drv, err := sockproto.Listen(filepath.Join(jail, "state", "fake-ups1"), nopHandler{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	_ = drv.Update([]string{"SETINFO", "ups.status", "OB LB"}, []string{"DATAOK"})
	if err := os.Chown(drv.Path(), uid, gid); err != nil {
		t.Fatal(err)
	}
	port := 20000 + rand.IntN(12000)
	for name, text := range map[string]string{
		"upsd.conf":  fmt.Sprintf("LISTEN 127.0.0.1 %d\nSTATEPATH /state\n", port),
		"ups.conf":   "[ups1]\n driver = fake\n port = none\n",
		"upsd.users": "[mon]\n password = pw\n upsmon primary\n",
	} {
		fn := filepath.Join(jail, "etc", name)
		if err := os.WriteFile(fn, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		// upsd.conf is read as root, the others as nobody (as NUT does).
		if name != "upsd.conf" {
			if err := os.Chown(fn, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := exec.Command(bin, "-F", "-r", jail, "-u", "nobody")
	cmd.Env = append(os.Environ(), "NUT_CONFPATH=/etc", "NUT_STATEPATH=/state", "NUT_ALTPIDPATH=/state")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	want := "VAR ups1 ups.status \"OB LB\"\n"
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := ""
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			fmt.Fprint(c, "GET VAR ups1 ups.status\n")
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, _ = bufio.NewReader(c).ReadString('\n')
			c.Close()
		}
		if got == want {
			break
		}
		select {
		case <-exited:
			t.Fatalf("upsd exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("upsd answers %q, want %q; output:\n%s", got, want, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), fmt.Sprintf("\nUid:\t%d\t%d\t%d\t%d\n", uid, uid, uid, uid)) {
		t.Errorf("upsd did not become nobody:\n%s", status)
	}
	if root, err := os.Readlink(fmt.Sprintf("/proc/%d/root", cmd.Process.Pid)); err != nil || root != jail {
		t.Errorf("upsd's root is %q (%v), want %q", root, err, jail)
	}

	// upsd.users unreadable by the -u user: fatal, as in NUT, where it is
	// read after privileges are dropped.
	if err := os.Chown(filepath.Join(jail, "etc", "upsd.users"), 0, 0); err != nil {
		t.Fatal(err)
	}
	again := exec.Command(bin, "-F", "-r", jail, "-u", "nobody")
	again.Env = cmd.Env
	// upsd.conf's port is taken by the first upsd: use another.
	if err := os.WriteFile(filepath.Join(jail, "etc", "upsd.conf"), []byte(fmt.Sprintf("LISTEN 127.0.0.1 %d\nSTATEPATH /state\n", port+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := again.CombinedOutput()
	if err == nil || !strings.Contains(string(res), "upsd.users") || !strings.Contains(string(res), "permission denied") {
		t.Errorf("unreadable upsd.users: %v\n%s", err, res)
	}
}
