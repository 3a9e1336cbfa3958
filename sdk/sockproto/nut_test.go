package sockproto

import (
	"bufio"
	"context"
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
)

// These tests check the socket protocol against NUT 2.8's own programs:
// Client reading a C driver (dummy-ups), and NUT's upsd reading a Server.
// Without NUT they fail when CI=true and are skipped otherwise.

const (
	nutDummyUPS = "/lib/nut/dummy-ups"
	nutUpsd     = "/lib/nut/upsd"
)

func requireNUT(t *testing.T, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := os.Stat(b); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("NUT 2.8 reference binary missing: %v", err)
			}
			t.Skipf("NUT 2.8 reference binary missing: %v", err)
		}
	}
}

// nutEnv returns the environment that points NUT's programs at dir.
func nutEnv(dir string) []string {
	return append(os.Environ(), "NUT_CONFPATH="+dir, "NUT_STATEPATH="+dir, "NUT_ALTPIDPATH="+dir)
}

// runAs returns "-u root" when running as root (NUT refuses to run as root
// otherwise, switching to its own user).
func runAs() []string {
	if os.Geteuid() == 0 {
		return []string{"-u", "root"}
	}
	return nil
}

// startNUT starts a NUT program in the foreground and stops it, by pid,
// when the test ends. Its output goes to dir/<name>.log.
func startNUT(t *testing.T, dir, bin string, args ...string) *exec.Cmd {
	t.Helper()
	log, err := os.Create(filepath.Join(dir, filepath.Base(bin)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = nutEnv(dir)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		log.Close()
	})
	return cmd
}

func writeFile(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
}

func waitPath(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ddl(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "ddl", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("device dump: %v", err)
	}
	return p
}

func TestClientReadsNUTDriver(t *testing.T) {
	requireNUT(t, nutDummyUPS)
	dir := sockDir(t)
	writeFile(t, filepath.Join(dir, "ups.conf"), fmt.Sprintf(
		"[test]\n driver = dummy-ups\n port = %s\n desc = \"x\"\n",
		ddl(t, "APC__Back-UPS_CS_500__usbhid-ups__2.8.0__01.dev")), 0o644)
	args := append([]string{"-a", "test", "-F"}, runAs()...)
	drv := startNUT(t, dir, nutDummyUPS, args...)
	path := filepath.Join(dir, "dummy-ups-test")
	waitPath(t, path)

	cl := NewClient(ClientConfig{Path: path, Name: "test", Retry: 20 * time.Millisecond, PingAfter: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cl.Run(ctx)
	waitInfo(t, cl, func(i Info) bool { return i.DumpDone })

	// The driver's own DUMPALL, byte for byte, is what Dump of the
	// client's copy gives: same order, same formatting.
	raw, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.SendLine("DUMPALL\n"); err != nil {
		t.Fatal(err)
	}
	var lines []string
	r := bufio.NewReader(raw.c)
	for {
		_ = raw.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the driver's dump: %v", err)
		}
		if l == "DUMPDONE\n" {
			break
		}
		lines = append(lines, l)
	}
	got := cl.Snapshot().Dump()
	if !reflect.DeepEqual(got, lines) {
		t.Errorf("client state dumps as\n%q\nthe driver's dump is\n%q", got, lines)
	}
	info := cl.Info()
	if !info.DataOK {
		t.Error("dummy-ups said DATAOK, the client has DataOK false")
	}
	if v, _ := cl.Snapshot().Value("ups.status"); v != "OL" {
		t.Errorf("ups.status = %q", v)
	}
	// Pings keep a quiet driver fresh.
	heard := cl.Info().LastHeard
	waitInfo(t, cl, func(i Info) bool { return i.LastHeard.After(heard) })

	// The driver dies: not connected. It comes back: connected again.
	_ = drv.Process.Signal(syscall.SIGTERM)
	waitInfo(t, cl, func(i Info) bool { return !i.Connected })
	startNUT(t, dir, nutDummyUPS, args...)
	waitInfo(t, cl, func(i Info) bool { return i.Connected && i.DumpDone })
}

func waitInfo(t *testing.T, cl *Client, cond func(Info) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(cl.Info()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out; client info %+v", cl.Info())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nutSession is a TCP client of NUT's upsd.
type nutSession struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (s *nutSession) ask(req string) string {
	s.t.Helper()
	if _, err := s.c.Write([]byte(req + "\n")); err != nil {
		s.t.Fatal(err)
	}
	_ = s.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	first, err := s.r.ReadString('\n')
	if err != nil {
		s.t.Fatalf("%s: %v", req, err)
	}
	if !strings.HasPrefix(first, "BEGIN LIST") {
		return first
	}
	out := first
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("%s: %v", req, err)
		}
		out += l
		if strings.HasPrefix(l, "END LIST") {
			return out
		}
	}
}

// startNUTUpsd runs NUT's upsd in dir on a free loopback port and returns
// a session with it.
func startNUTUpsd(t *testing.T, dir, upsConf, users string) *nutSession {
	t.Helper()
	writeFile(t, filepath.Join(dir, "ups.conf"), upsConf, 0o644)
	writeFile(t, filepath.Join(dir, "upsd.users"), users, 0o600)
	for attempt := 0; attempt < 10; attempt++ {
		port := 20000 + rand.IntN(12000)
		writeFile(t, filepath.Join(dir, "upsd.conf"), fmt.Sprintf("LISTEN 127.0.0.1 %d\nMAXAGE 5\n", port), 0o600)
		startNUT(t, dir, nutUpsd, append([]string{"-F"}, runAs()...)...)
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err == nil {
				t.Cleanup(func() { c.Close() })
				return &nutSession{t: t, c: c, r: bufio.NewReader(c)}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Fatal("NUT's upsd did not start; see its log in the test directory")
	return nil
}

func TestNUTUpsdReadsServer(t *testing.T) {
	requireNUT(t, nutUpsd)
	dir := sockDir(t)
	rec := newRecorder()
	srv, err := Listen(filepath.Join(dir, "fake-myups"), rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.Update(msgs(t, `
SETINFO ups.status "OL"
SETINFO device.model "Smart \"UPS\" \# 1500 \\ rack"
SETINFO ups.id "room 1"
SETFLAGS ups.id RW STRING
SETAUX ups.id 12
SETINFO input.transfer.low "95"
SETFLAGS input.transfer.low RW NUMBER
ADDENUM input.transfer.low "95"
ADDENUM input.transfer.low "100"
SETINFO ups.delay.shutdown "20"
SETFLAGS ups.delay.shutdown RW
ADDRANGE ups.delay.shutdown 0 600
ADDRANGE ups.delay.shutdown 1000 2000
SETINFO Battery.Charge "100"
ADDCMD test.battery.start
ADDCMD load.off
DATAOK`)...); err != nil {
		t.Fatal(err)
	}
	s := startNUTUpsd(t, dir, "[myups]\n driver = fake\n port = none\n",
		"[admin]\n password = pw\n actions = SET\n instcmds = all\n")
	waitReply(t, s, "GET VAR myups ups.status", "VAR myups ups.status \"OL\"\n")

	st := srv.Snapshot()
	want := "BEGIN LIST VAR myups\n"
	for _, v := range st.Vars() {
		want += fmt.Sprintf("VAR myups %s \"%s\"\n", v.Name, quote(v.Value))
	}
	want += "END LIST VAR myups\n"
	if got := s.ask("LIST VAR myups"); got != want {
		t.Errorf("LIST VAR =\n%s\nwant\n%s", got, want)
	}
	for req, want := range map[string]string{
		"GET TYPE myups ups.id":               "TYPE myups ups.id RW STRING:12\n",
		"GET TYPE myups input.transfer.low":   "TYPE myups input.transfer.low RW ENUM NUMBER\n",
		"GET TYPE myups ups.delay.shutdown":   "TYPE myups ups.delay.shutdown RW RANGE NUMBER\n",
		"GET TYPE myups battery.charge":       "TYPE myups battery.charge NUMBER\n",
		"LIST ENUM myups input.transfer.low":  "BEGIN LIST ENUM myups input.transfer.low\nENUM myups input.transfer.low \"95\"\nENUM myups input.transfer.low \"100\"\nEND LIST ENUM myups input.transfer.low\n",
		"LIST RANGE myups ups.delay.shutdown": "BEGIN LIST RANGE myups ups.delay.shutdown\nRANGE myups ups.delay.shutdown \"0\" \"600\"\nRANGE myups ups.delay.shutdown \"1000\" \"2000\"\nEND LIST RANGE myups ups.delay.shutdown\n",
		"LIST CMD myups":                      "BEGIN LIST CMD myups\nCMD myups load.off\nCMD myups test.battery.start\nEND LIST CMD myups\n",
		"GET VAR myups device.model":          "VAR myups device.model \"Smart \\\"UPS\\\" \\# 1500 \\\\ rack\"\n",
		"LIST RW myups":                       "BEGIN LIST RW myups\nRW myups input.transfer.low \"95\"\nRW myups ups.delay.shutdown \"20\"\nRW myups ups.id \"room 1\"\nEND LIST RW myups\n",
	} {
		if got := s.ask(req); got != want {
			t.Errorf("%s =\n%q\nwant\n%q", req, got, want)
		}
	}

	// Live updates, staleness and a full replacement reach upsd.
	_ = srv.Update([]string{"SETINFO", "ups.status", "OB LB"})
	waitReply(t, s, "GET VAR myups ups.status", "VAR myups ups.status \"OB LB\"\n")
	_ = srv.Update([]string{"DATASTALE"})
	waitReply(t, s, "GET VAR myups ups.status", "ERR DATA-STALE\n")
	_ = srv.Update([]string{"DATAOK"})
	waitReply(t, s, "GET VAR myups ups.status", "VAR myups ups.status \"OB LB\"\n")
	_ = srv.Replace(msgs(t, `SETINFO ups.status "OL"
ADDCMD load.on
DATAOK`)...)
	waitReply(t, s, "LIST VAR myups", "BEGIN LIST VAR myups\nVAR myups ups.status \"OL\"\nEND LIST VAR myups\n")
	if got := s.ask("LIST CMD myups"); got != "BEGIN LIST CMD myups\nCMD myups load.on\nEND LIST CMD myups\n" {
		t.Errorf("LIST CMD after Replace = %q", got)
	}

	// upsd's requests reach the Handler; tracking results come back.
	_ = srv.Update(msgs(t, `SETINFO ups.id "a"
SETFLAGS ups.id RW STRING
SETAUX ups.id 20`)...)
	waitReply(t, s, "GET TYPE myups ups.id", "TYPE myups ups.id RW STRING:20\n")
	for _, req := range []string{"USERNAME admin", "PASSWORD pw", "SET TRACKING ON"} {
		if got := s.ask(req); got != "OK\n" {
			t.Fatalf("%s -> %q", req, got)
		}
	}
	if got := s.ask("INSTCMD myups load.on"); !strings.HasPrefix(got, "OK TRACKING ") {
		t.Fatalf("INSTCMD -> %q", got)
	}
	call := rec.next(t)
	if !strings.HasPrefix(call, `INSTCMD "load.on" "" "`) {
		t.Errorf("handler got %s", call)
	}
	got := s.ask(`SET VAR myups ups.id "new id"`)
	id := strings.TrimSpace(strings.TrimPrefix(got, "OK TRACKING "))
	if call := rec.next(t); call != fmt.Sprintf(`SET "ups.id" "new id" %q`, id) {
		t.Errorf("handler got %s, want SET with tracking id %s", call, id)
	}
	if got := s.ask("GET TRACKING " + id); got != "PENDING\n" {
		t.Errorf("GET TRACKING before the result = %q", got)
	}
	srv.Tracking(id, 0)
	waitReply(t, s, "GET TRACKING "+id, "SUCCESS\n")

	// Where gonut's State deliberately differs from NUT 2.8's (see
	// docs/COMPATIBILITY.md), NUT's upsd still shows its own behaviour.
	_ = srv.Update(msgs(t, `SETINFO r "5"
ADDRANGE r 1 10
ADDRANGE r 1 20
SETINFO c "OL"
SETFLAGS c RW`)...)
	waitReply(t, s, "GET TYPE myups c", "TYPE myups c RW NUMBER\n")
	if got := s.ask("LIST RANGE myups r"); got != "BEGIN LIST RANGE myups r\nRANGE myups r \"1\" \"10\"\nEND LIST RANGE myups r\n" {
		t.Errorf("NUT 2.8 no longer drops a range sharing a bound: %q", got)
	}
	_ = srv.Update([]string{"SETINFO", "c", "ol"}, []string{"SETFLAGS", "c"}, []string{"SETINFO", "ups.status", "OB"})
	waitReply(t, s, "GET VAR myups ups.status", "VAR myups ups.status \"OB\"\n")
	if got := s.ask("GET VAR myups c"); got != "VAR myups c \"OL\"\n" {
		t.Errorf("NUT 2.8 now shows a change of case alone: %q", got)
	}
	if got := s.ask("GET TYPE myups c"); got != "TYPE myups c RW NUMBER\n" {
		t.Errorf("NUT 2.8 now clears flags on a bare SETFLAGS: %q", got)
	}
}

// quote escapes like pconf_encode, independently of the code under test.
func quote(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `#`, `\#`)
	return r.Replace(v)
}

// waitReply asks until the reply is want: upsd sees driver changes
// asynchronously.
func waitReply(t *testing.T, s *nutSession, req, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.ask(req)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q, want %q", req, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
