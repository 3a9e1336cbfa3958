package nuttest

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func TestRunCapturesOutputAndExitCode(t *testing.T) {
	cases := []struct {
		name, script string
		want         Result
	}{
		{"success", "echo out; echo err >&2", Result{Stdout: "out\n", Stderr: "err\n", Code: 0}},
		{"exit code", "printf x; exit 3", Result{Stdout: "x", Code: 3}},
		{"signal", "kill -9 $$", Result{Code: -1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Run(t, os.Environ(), "/bin/sh", "-c", c.script)
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestFreePortIsInRangeAndNotRepeated(t *testing.T) {
	seen := map[int]bool{}
	for i := 0; i < 50; i++ {
		p := FreePort(t)
		if p < PortMin || p >= PortMax {
			t.Fatalf("port %d outside [%d, %d)", p, PortMin, PortMax)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}

func TestProcStopAndWait(t *testing.T) {
	p := StartProc(t, os.Environ(), "/bin/sleep", "60")
	if p.Exited() {
		t.Fatal("sleep exited at once")
	}
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Stop must get a stopped process to exit too (SIGCONT first).
	began := time.Now()
	p.Stop()
	if !p.Exited() {
		t.Fatal("Stop returned with the process running")
	}
	if code, ok := p.Wait(0); !ok || code != -1 {
		t.Errorf("Wait = %d, %v; want -1 (signal), true", code, ok)
	}
	if time.Since(began) >= StopTimeout {
		t.Errorf("Stop needed SIGKILL for a process that SIGTERM ends")
	}
	if Alive(p.PID()) {
		t.Errorf("pid %d still alive after Stop", p.PID())
	}
}

func TestDirEnvPointsNUTHere(t *testing.T) {
	t.Setenv("NUT_CONFPATH", "/elsewhere")
	d := NewDir(t)
	var got []string
	for _, e := range d.Env() {
		if strings.HasPrefix(e, "NUT_") {
			got = append(got, e)
		}
	}
	want := []string{"NUT_CONFPATH=" + d.Path, "NUT_STATEPATH=" + d.Path, "NUT_ALTPIDPATH=" + d.Path}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("NUT_* environment = %q, want %q", got, want)
	}
	d.WriteUPSConf(t, []string{"pollinterval = 1"}, Section{Name: "a", Driver: "dummy-ups", Port: "a.dev", Options: []string{`desc = "x y"`}})
	b, err := os.ReadFile(d.Join("ups.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "pollinterval = 1\n[a]\n\tdriver = dummy-ups\n\tport = a.dev\n\tdesc = \"x y\"\n"; string(b) != want {
		t.Errorf("ups.conf = %q, want %q", b, want)
	}
}

func TestParseVar(t *testing.T) {
	cases := []struct {
		line, want, code string
	}{
		{`VAR a ups.status "OL"`, "OL", ""},
		{`VAR a ups.status "say \"hi\" \\ bye"`, `say "hi" \ bye`, ""},
		{`VAR a ups.status ""`, "", ""},
		{`ERR DATA-STALE`, "", "DATA-STALE"},
		{`VAR b ups.status "OL"`, "", "?"},
		{`VAR a ups.status OL`, "", "?"},
	}
	for _, c := range cases {
		v, err := parseVar("a", "ups.status", c.line)
		var pe *ProtoError
		switch {
		case c.code == "" && (err != nil || v != c.want):
			t.Errorf("%q: got %q, %v; want %q", c.line, v, err, c.want)
		case c.code == "?" && err == nil:
			t.Errorf("%q: no error for a malformed reply", c.line)
		case c.code != "" && c.code != "?" && (!errors.As(err, &pe) || pe.Code != c.code):
			t.Errorf("%q: got %v, want ERR %s", c.line, err, c.code)
		}
	}
}

// TestNUTStack brings real NUT up both ways the harness offers and reads
// it with NUT's upsc: the harness itself against the reference.
func TestNUTStack(t *testing.T) {
	RequireNUT(t)
	for _, viaUpsdrvctl := range []bool{false, true} {
		name := map[bool]string{false: "dummy-ups -F", true: "upsdrvctl start"}[viaUpsdrvctl]
		t.Run(name, func(t *testing.T) {
			d := NewDir(t)
			d.WriteFile(t, "a.dev", "ups.status: OB LB\nbattery.charge: 5\n")
			sec := Section{Name: "a", Driver: "dummy-ups", Port: "a.dev"}
			d.WriteUPSConf(t, nil, sec)
			var pid int
			if viaUpsdrvctl {
				pid = StartNUTUpsdrvctl(t, d)["a"]
			} else {
				pid = StartNUTDriver(t, d, sec).PID()
			}
			s := StartNUTUpsd(t, d, UpsdConfig{})
			s.WaitUPS(t, "a")
			r := Run(t, os.Environ(), NUTUpsc, s.Target("a"), "ups.status")
			if r.Code != 0 || r.Stdout != "OB LB\n" {
				t.Fatalf("upsc %s ups.status: %s", s.Target("a"), r)
			}
			c := s.Dial(t)
			if v, err := c.GetVar("a", "battery.charge"); err != nil || v != "5" {
				t.Fatalf("GET VAR a battery.charge = %q, %v", v, err)
			}
			if _, err := c.GetVar("a", "nope.nope"); err == nil || !strings.Contains(err.Error(), "VAR-NOT-SUPPORTED") {
				t.Fatalf("GET VAR a nope.nope: %v, want ERR VAR-NOT-SUPPORTED", err)
			}
			// Killing the driver is seen at once (NUT never restarts it).
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if !WaitGone(pid, 5*time.Second) {
				t.Fatalf("driver %d survived SIGKILL", pid)
			}
		})
	}
}

// TestHostStack runs gonut's host with its test driver and checks the
// control API helpers: the plugin's pid, and its successor after a kill.
func TestHostStack(t *testing.T) {
	Build(t, PkgHost, PkgTestDriver)
	d := NewDir(t)
	d.WriteUPSConf(t, nil, Section{Name: "t", Driver: "testdriver", Port: "none", Options: []string{"pollinterval = 1"}})
	h := StartHost(t, d)
	pid := PluginPID(t, d, "t", 5*time.Second)
	if got := Children(h.PID()); !containsInt(got, pid) {
		t.Fatalf("plugin pid %d is not a child of the host %d (children %v)", pid, h.PID(), got)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	next := PluginPID(t, d, "t", 10*time.Second, pid)
	if next == pid {
		t.Fatalf("successor has the killed pid %d", pid)
	}
	if _, err := os.Stat(d.Socket(Section{Name: "t", Driver: "testdriver"})); err != nil {
		t.Fatalf("state socket: %v", err)
	}
}

func TestDiff(t *testing.T) {
	cases := []struct{ want, got, diff string }{
		{"a\nb\n", "a\nb\n", ""},
		{"a\nb\nc\n", "a\nc\n", "  a\n- b\n  c\n"},
		{"a\n", "a\nz\n", "  a\n+ z\n"},
		{"1\n2\n3\n4\n5\n6\n7\n8\n", "1\n2\n3\n4\nX\n6\n7\n8\n", "  3\n  4\n- 5\n+ X\n  6\n  7\n"},
		{"a", "b", "- a\\ (no newline)\n+ b\\ (no newline)\n"},
	}
	for _, c := range cases {
		if got := Diff(c.want, c.got); got != c.diff {
			t.Errorf("Diff(%q, %q) =\n%s\nwant\n%s", c.want, c.got, got, c.diff)
		}
	}
}

func TestDropVersionLines(t *testing.T) {
	in := "driver.name: dummy-ups\ndriver.version: 2.8.0\ndriver.version.internal: 0.15\nups.status: OL\n"
	if got, want := DropVersionLines(in), "driver.name: dummy-ups\nups.status: OL\n"; got != want {
		t.Errorf("DropVersionLines = %q, want %q", got, want)
	}
}

// TestStartStackNUT serves a section with NUT on both layers through the
// generic entry point and checks every UPS is served on return.
func TestStartStackNUT(t *testing.T) {
	RequireNUT(t)
	d := NewDir(t)
	d.WriteFile(t, "a.dev", "ups.status: OL\n")
	d.WriteFile(t, "b.dev", "ups.status: OB\n")
	d.WriteUPSConf(t, nil, Section{Name: "a", Driver: "dummy-ups", Port: "a.dev"}, Section{Name: "b", Driver: "dummy-ups", Port: "b.dev"})
	s := StartStack(t, d, NUT, NUT, UpsdConfig{})
	c := s.Dial(t)
	for ups, want := range map[string]string{"a": "OL", "b": "OB"} {
		if v, err := c.GetVar(ups, "ups.status"); err != nil || v != want {
			t.Errorf("GET VAR %s ups.status = %q, %v; want %q", ups, v, err, want)
		}
	}
	if got := UpscOutput(t, "-l", s.Addr()); got != "a\nb\n" {
		t.Errorf("upsc -l = %q", got)
	}
}

func TestDialUnixDoesNotConnect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	if err := dialUnix(path); err == nil {
		t.Fatal("a missing socket counts as listening")
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	if err := dialUnix(path); err != nil {
		t.Fatalf("a listening socket: %v", err)
	}
	select {
	case <-accepted:
		t.Error("the probe connected to the socket")
	case <-time.After(100 * time.Millisecond):
	}
}
