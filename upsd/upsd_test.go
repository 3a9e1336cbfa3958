package upsd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/conf"
	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/gonut/gonut/sdk/sockproto"
	"github.com/hashicorp/go-hclog"
)

// nopHandler is a driver that accepts every request and records it.
type nopHandler struct {
	mu   sync.Mutex
	reqs []string
}

func (h *nopHandler) InstCmd(cmd, param, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.reqs) < 1000 {
		h.reqs = append(h.reqs, fmt.Sprintf("INSTCMD %s %s %s", cmd, param, id))
	}
}

func (h *nopHandler) SetVar(name, value, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.reqs) < 1000 {
		h.reqs = append(h.reqs, fmt.Sprintf("SET %s %s %s", name, value, id))
	}
}

func (h *nopHandler) requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.reqs...)
}

// fixture is an upsd with fake drivers in a temporary state path.
type fixture struct {
	t       testing.TB
	dir     string
	srv     *Server
	drivers map[string]*sockproto.Server
	handler *nopHandler
}

func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "upsd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func split(t testing.TB, text string) [][]string {
	t.Helper()
	var out [][]string
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		w, err := nutconf.Split(l)
		if err != nil {
			t.Fatal(err)
		}
		if len(w) > 0 {
			out = append(out, w)
		}
	}
	return out
}

const testUsers = `
[mon]
  password = pw
  upsmon primary
[sec]
  password = pw
  upsmon secondary
[admin]
  password = secret
  actions = SET FSD
  instcmds = load.off
`

const mainState = `
SETINFO ups.status "OL"
SETINFO battery.charge "100"
SETFLAGS battery.charge RW NUMBER
SETINFO device.model "Smart \"UPS\" \# 1500"
SETINFO ups.id "room"
SETFLAGS ups.id RW STRING
SETAUX ups.id 8
SETINFO input.transfer.low "95"
SETFLAGS input.transfer.low RW
ADDENUM input.transfer.low "95"
ADDENUM input.transfer.low "100"
SETINFO ups.delay.shutdown "20"
SETFLAGS ups.delay.shutdown RW
ADDRANGE ups.delay.shutdown 0 600
ADDCMD load.off
ADDCMD test.battery.start
DATAOK
`

func newFixture(t testing.TB, mutate func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: shortDir(t), drivers: map[string]*sockproto.Server{}, handler: &nopHandler{}}
	d, err := sockproto.Listen(filepath.Join(f.dir, "fake-main"), f.handler, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Update(split(t, mainState)...); err != nil {
		t.Fatal(err)
	}
	f.drivers["main"] = d
	usersFile := filepath.Join(f.dir, "upsd.users")
	if err := os.WriteFile(usersFile, []byte(testUsers), 0o600); err != nil {
		t.Fatal(err)
	}
	users, err := conf.LoadUpsdUsers(usersFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Listen:    []Listen{{Addr: "127.0.0.1", Port: "0"}},
		StatePath: f.dir,
		Devices: []Device{
			{Name: "main", Driver: "fake", Desc: `Main "rack" \ UPS`},
			{Name: "gone", Driver: "fake"},
		},
		Users: users,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	f.srv, err = Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := f.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	f.waitDump("main")
	return f
}

// waitDump waits until the named device has its driver's full dump.
func (f *fixture) waitDump(name string) {
	f.t.Helper()
	d := f.srv.lookup(name)
	deadline := time.Now().Add(5 * time.Second)
	for !d.client.Info().DumpDone {
		if time.Now().After(deadline) {
			f.t.Fatalf("no dump from %s", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type session struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func (f *fixture) dial() *session {
	f.t.Helper()
	c, err := net.Dial("tcp", f.srv.Addrs()[0].String())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	return &session{t: f.t, c: c, r: bufio.NewReader(c)}
}

// exchange sends raw bytes and reads the reply, line by line, until it has
// as many lines as want or a line differs from want's (or 10 s pass). A
// session whose reply was cut short may hold unread lines: redial it.
func (s *session) exchange(req, want string) string {
	s.t.Helper()
	if _, err := io.WriteString(s.c, req); err != nil {
		s.t.Fatal(err)
	}
	wantLines := strings.SplitAfter(want, "\n")
	var b strings.Builder
	_ = s.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := 0; i < len(wantLines)-1; i++ {
		l, err := s.r.ReadString('\n')
		b.WriteString(l)
		if err != nil || (l != wantLines[i] && wantLines[i] != "x\n") {
			break
		}
	}
	return b.String()
}

// redial replaces the session's connection with a new one.
func (s *session) redial() {
	s.t.Helper()
	addr := s.c.RemoteAddr().String()
	s.c.Close()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	s.c, s.r = c, bufio.NewReader(c)
}

func TestRequests(t *testing.T) {
	f := newFixture(t, nil)
	ver := "Network UPS Tools upsd " + Version + " - http://www.networkupstools.org/\n"
	listVar := "BEGIN LIST VAR main\n" +
		"VAR main battery.charge \"100\"\n" +
		"VAR main device.model \"Smart \\\"UPS\\\" \\# 1500\"\n" +
		"VAR main input.transfer.low \"95\"\n" +
		"VAR main ups.delay.shutdown \"20\"\n" +
		"VAR main ups.id \"room\"\n" +
		"VAR main ups.status \"OL\"\n" +
		"END LIST VAR main\n"
	tests := []struct{ name, req, want string }{
		{"ver", "VER\n", ver},
		{"netver", "NETVER\nPROTVER\n", "1.3\n1.3\n"},
		{"help", "HELP\n", "Commands: HELP VER GET LIST SET INSTCMD LOGIN LOGOUT USERNAME PASSWORD STARTTLS\n"},
		{"extra args", "VER x\nNETVER x\nHELP x\n", "ERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\n"},
		{"starttls", "STARTTLS\nSTARTTLS x\nVER\n", "ERR FEATURE-NOT-CONFIGURED\nERR FEATURE-NOT-CONFIGURED\n" + ver},
		{"list ups", "LIST UPS\n", "BEGIN LIST UPS\nUPS main \"Main \\\"rack\\\" \\\\ UPS\"\nUPS gone \"Description unavailable\"\nEND LIST UPS\n"},
		{"list var", "LIST VAR main\n", listVar},
		{"list var case", "list var MAIN\n", strings.ReplaceAll(listVar, " main", " MAIN")},
		{"list rw", "LIST RW main\n", "BEGIN LIST RW main\nRW main battery.charge \"100\"\nRW main input.transfer.low \"95\"\nRW main ups.delay.shutdown \"20\"\nRW main ups.id \"room\"\nEND LIST RW main\n"},
		{"list cmd", "LIST CMD main\n", "BEGIN LIST CMD main\nCMD main load.off\nCMD main test.battery.start\nEND LIST CMD main\n"},
		{"list enum", "LIST ENUM main input.transfer.low\n", "BEGIN LIST ENUM main input.transfer.low\nENUM main input.transfer.low \"95\"\nENUM main input.transfer.low \"100\"\nEND LIST ENUM main input.transfer.low\n"},
		{"list range", "LIST RANGE main ups.delay.shutdown\n", "BEGIN LIST RANGE main ups.delay.shutdown\nRANGE main ups.delay.shutdown \"0\" \"600\"\nEND LIST RANGE main ups.delay.shutdown\n"},
		{"list empty enum", "LIST ENUM main ups.status\n", "BEGIN LIST ENUM main ups.status\nEND LIST ENUM main ups.status\n"},
		{"list errors", "LIST\nLIST VAR\nLIST ENUM main\nLIST BOGUS x\nLIST BOGUS x y\nLIST VAR nope\nLIST ENUM main nope\nLIST RANGE nope x\n",
			"ERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR UNKNOWN-UPS\nERR VAR-NOT-SUPPORTED\nERR UNKNOWN-UPS\n"},
		{"get var", "GET VAR main ups.status\nGET VAR MAIN UPS.STATUS\nGET VAR main device.model\n",
			"VAR main ups.status \"OL\"\nVAR MAIN UPS.STATUS \"OL\"\nVAR main device.model \"Smart \\\"UPS\\\" \\# 1500\"\n"},
		{"get errors", "GET\nGET VAR\nGET VAR main\nGET BOGUS x y\nGET VAR nope x\nGET VAR main nope\nGET NUMLOGINS\nGET UPSDESC nope\n",
			"ERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR UNKNOWN-UPS\nERR VAR-NOT-SUPPORTED\nERR INVALID-ARGUMENT\nERR UNKNOWN-UPS\n"},
		{"server vars", "GET VAR nope server.version\nGET VAR main SERVER.INFO\nGET VAR main server.bogus\n",
			"VAR nope server.version \"" + Version + "\"\nVAR main server.info \"Network UPS Tools upsd " + Version + " - http://www.networkupstools.org/\"\nERR VAR-NOT-SUPPORTED\n"},
		{"get type", "GET TYPE main ups.id\nGET TYPE main input.transfer.low\nGET TYPE main ups.delay.shutdown\nGET TYPE main ups.status\nGET TYPE main battery.charge\nGET TYPE main nope\n",
			"TYPE main ups.id RW STRING:8\nTYPE main input.transfer.low RW ENUM NUMBER\nTYPE main ups.delay.shutdown RW RANGE NUMBER\nTYPE main ups.status NUMBER\nTYPE main battery.charge RW NUMBER\nERR VAR-NOT-SUPPORTED\n"},
		{"get desc", "GET DESC main ups.status\nGET DESC main no.such\nGET CMDDESC main load.off\nGET CMDDESC main no.such\n",
			"DESC main ups.status \"UPS status\"\nDESC main no.such \"Description unavailable\"\nCMDDESC main load.off \"Turn off the load immediately\"\nCMDDESC main no.such \"Description unavailable\"\n"},
		{"upsdesc", "GET UPSDESC main\nGET UPSDESC gone\n", "UPSDESC main \"Main \\\"rack\\\" \\\\ UPS\"\nUPSDESC gone \"Unavailable\"\n"},
		{"numlogins", "GET NUMLOGINS main\n", "NUMLOGINS main 0\n"},
		{"not connected", "GET VAR gone ups.status\nLIST VAR gone\nGET DESC gone x\nGET NUMLOGINS gone\nLIST CLIENT gone\n",
			"ERR DRIVER-NOT-CONNECTED\nERR DRIVER-NOT-CONNECTED\nERR DRIVER-NOT-CONNECTED\nERR DRIVER-NOT-CONNECTED\nBEGIN LIST CLIENT gone\nEND LIST CLIENT gone\n"},
		{"parsing", "\n# comment\nFOO\nget\tvar\tmain\tups.status\nGET \"VAR\" main ups.st\\atus extra\nGE\x01T VAR main ups.status#c\nGET VAR main=ups.status\n",
			"ERR UNKNOWN-COMMAND\nERR UNKNOWN-COMMAND\nERR UNKNOWN-COMMAND\nVAR main ups.status \"OL\"\nVAR main ups.status \"OL\"\nVAR main ups.status \"OL\"\nERR VAR-NOT-SUPPORTED\n"},
		{"crlf", "VER\r\nNETVER\r\n", ver + "1.3\n"},
		{"tracking off", "GET TRACKING\nGET TRACKING x\n", "OFF\nERR FEATURE-NOT-CONFIGURED\n"},
		{"login needs user", "LOGIN main\nPRIMARY main\nFSD main\nSET VAR main ups.id x\nINSTCMD main load.off\nPASSWORD pw\nLOGIN main\n",
			"ERR USERNAME-REQUIRED\nERR USERNAME-REQUIRED\nERR USERNAME-REQUIRED\nERR USERNAME-REQUIRED\nERR USERNAME-REQUIRED\nOK\nERR USERNAME-REQUIRED\n"},
		{"password needed", "USERNAME mon\nLOGIN main\nUSERNAME x\n", "OK\nERR PASSWORD-REQUIRED\nERR ALREADY-SET-USERNAME\n"},
		{"arity", "USERNAME\nUSERNAME a b\nPASSWORD\nUSERNAME mon\nPASSWORD pw\nLOGIN\nLOGIN a b\nPRIMARY\nFSD\nSET\nSET VAR main x\nINSTCMD main\nLOGOUT x\nSET TRACKING\nSET TRACKING BOGUS\nSET FOO bar\n",
			"ERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nOK\nOK\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\nERR INVALID-ARGUMENT\n"},
		{"wrong password", "USERNAME mon\nPASSWORD bad\nLOGIN main\nPRIMARY main\nPASSWORD again\n", "OK\nOK\nERR ACCESS-DENIED\nERR ACCESS-DENIED\nERR ALREADY-SET-PASSWORD\n"},
		{"unknown user", "USERNAME bob\nPASSWORD pw\nLOGIN main\nFSD main\nSET VAR main ups.id x\nINSTCMD main load.off\nINSTCMD main nope\nINSTCMD gone load.off\nSET VAR gone x y\nFSD gone\n",
			"OK\nOK\nERR ACCESS-DENIED\nERR ACCESS-DENIED\nERR ACCESS-DENIED\nERR ACCESS-DENIED\nERR CMD-NOT-SUPPORTED\nERR DRIVER-NOT-CONNECTED\nERR DRIVER-NOT-CONNECTED\nERR ACCESS-DENIED\n"},
		{"secondary", "USERNAME sec\nPASSWORD pw\nLOGIN main\nPRIMARY main\nMASTER main\nFSD main\nLOGIN main\n", "OK\nOK\nOK\nERR ACCESS-DENIED\nERR ACCESS-DENIED\nERR ACCESS-DENIED\nERR ALREADY-LOGGED-IN\n"},
		{"primary", "USERNAME mon\nPASSWORD pw\nLOGIN nope\nPRIMARY main\nMASTER MAIN\nPRIMARY nope\nLOGIN gone\n",
			"OK\nOK\nERR UNKNOWN-UPS\nOK PRIMARY-GRANTED\nOK MASTER-GRANTED\nERR UNKNOWN-UPS\nOK\n"},
		{"admin checks", "USERNAME admin\nPASSWORD secret\nLOGIN main\nSET VAR main nope x\nSET VAR main device.model x\nSET VAR main ups.id 123456789\nSET VAR main input.transfer.low 97\nSET VAR main ups.delay.shutdown 601\nINSTCMD main test.battery.start\n",
			"OK\nOK\nERR ACCESS-DENIED\nERR VAR-NOT-SUPPORTED\nERR READONLY\nERR TOO-LONG\nERR INVALID-VALUE\nERR INVALID-VALUE\nERR ACCESS-DENIED\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := f.dial()
			if got := s.exchange(tt.req, tt.want); got != tt.want {
				t.Errorf("request %q\n got %q\nwant %q", tt.req, got, tt.want)
			}
		})
	}
}

func TestLoginsAndClients(t *testing.T) {
	f := newFixture(t, nil)
	a := f.dial()
	b := f.dial()
	login := "USERNAME mon\nPASSWORD pw\nLOGIN main\n"
	a.exchange(login, "OK\nOK\nOK\n")
	b.exchange(login, "OK\nOK\nOK\n")
	c := f.dial()
	want := "NUMLOGINS main 2\nBEGIN LIST CLIENT main\nCLIENT main 127.0.0.1\nCLIENT main 127.0.0.1\nEND LIST CLIENT main\n"
	if got := c.exchange("GET NUMLOGINS main\nLIST CLIENT main\n", want); got != want {
		t.Errorf("got %q", got)
	}
	// LOGOUT answers what came with it, then hangs up; the login is gone.
	if got := a.exchange("LOGOUT\nVER\n", "OK Goodbye\nx\n"); !strings.HasPrefix(got, "OK Goodbye\nNetwork UPS Tools") {
		t.Errorf("LOGOUT then VER: %q", got)
	}
	if _, err := a.r.ReadString('\n'); err != io.EOF {
		t.Errorf("connection open after LOGOUT: %v", err)
	}
	waitReply(t, c, "GET NUMLOGINS main\n", "NUMLOGINS main 1\n")
	// A dropped connection loses its login too.
	b.c.Close()
	waitReply(t, c, "GET NUMLOGINS main\n", "NUMLOGINS main 0\n")
}

func waitReply(t *testing.T, s *session, req, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := s.exchange(req, want)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q -> %q, want %q", req, got, want)
		}
		s.redial()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFSD(t *testing.T) {
	f := newFixture(t, nil)
	s := f.dial()
	s.exchange("USERNAME admin\nPASSWORD secret\n", "OK\nOK\n")
	want := "OK FSD-SET\nVAR main ups.status \"FSD OL\"\n"
	if got := s.exchange("FSD main\nGET VAR main ups.status\n", want); got != want {
		t.Errorf("got %q", got)
	}
	list := s.exchange("LIST VAR main\nLIST RW main\n", strings.Repeat("x\n", 14))
	if !strings.Contains(list, "VAR main ups.status \"FSD OL\"\n") {
		t.Errorf("LIST VAR without FSD: %q", list)
	}
	if strings.Contains(list, "RW main ups.status") {
		t.Errorf("LIST RW shows a read-only variable: %q", list)
	}
}

func TestWritePath(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		users := c.Users
		users.List = append(users.List, &conf.User{Name: "rw", Password: "x", HasPassword: true, Actions: []string{"SET"}, InstCmds: []string{"all"}})
	})
	s := f.dial()
	s.exchange("USERNAME rw\nPASSWORD x\n", "OK\nOK\n")
	if got := s.exchange("SET VAR main ups.id \"new id\"\nINSTCMD main load.off 5\n", "OK\nOK\n"); got != "OK\nOK\n" {
		t.Fatalf("got %q", got)
	}
	got := s.exchange("SET TRACKING ON\nGET TRACKING\nINSTCMD main LOAD.OFF\n", "OK\nON\nOK TRACKING x\n")
	lines := strings.Split(got, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[2], "OK TRACKING ") {
		t.Fatalf("got %q", got)
	}
	id := strings.TrimPrefix(lines[2], "OK TRACKING ")
	if len(id) != 36 || strings.ToUpper(id) != id {
		t.Errorf("tracking id %q is not an upper-case UUID", id)
	}
	waitReply(t, s, "GET TRACKING "+id+"\n", "PENDING\n")
	deadline := time.Now().Add(5 * time.Second)
	for len(f.handler.requests()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("driver got %q", f.handler.requests())
		}
		time.Sleep(5 * time.Millisecond)
	}
	want := []string{"SET ups.id new id ", "INSTCMD load.off 5 ", "INSTCMD LOAD.OFF  " + id}
	if got := f.handler.requests(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("driver got %q, want %q", got, want)
	}
	f.drivers["main"].Tracking(id, 3)
	// One-line replies: poll on the same session, which holds TRACKING ON.
	deadline = time.Now().Add(5 * time.Second)
	for {
		got := s.exchange("GET TRACKING "+strings.ToLower(id)+"\n", "ERR FAILED\n")
		if got == "ERR FAILED\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET TRACKING after the driver's result: %q", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAvailability(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxAge = 1500 * time.Millisecond })
	s := f.dial()
	// The driver says its data is stale, then fine again.
	_ = f.drivers["main"].Update([]string{"DATASTALE"})
	waitReply(t, s, "GET VAR main ups.status\n", "ERR DATA-STALE\n")
	want := "ERR DATA-STALE\nERR DATA-STALE\nUPSDESC main \"Main \\\"rack\\\" \\\\ UPS\"\nBEGIN LIST CLIENT main\nEND LIST CLIENT main\n"
	if got := s.exchange("LIST VAR main\nGET NUMLOGINS main\nGET UPSDESC main\nLIST CLIENT main\n", want); got != want {
		t.Errorf("while stale: %q", got)
	}
	_ = f.drivers["main"].Update([]string{"DATAOK"})
	waitReply(t, s, "GET VAR main ups.status\n", "VAR main ups.status \"OL\"\n")

	// A driver that accepts but never answers: WAIT until MAXAGE, then
	// stale. It is pinged meanwhile.
	ln, err := net.Listen("unix", filepath.Join(f.dir, "fake-gone"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 10)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			got <- l
		}
	}()
	waitReply(t, s, "LIST VAR gone\n", "BEGIN LIST VAR gone\nVAR gone ups.status \"WAIT\"\nEND LIST VAR gone\n")
	if l := <-got; l != "DUMPALL\n" {
		t.Errorf("driver got %q first", l)
	}
	waitReply(t, s, "GET VAR gone ups.status\n", "ERR DATA-STALE\n")
	select {
	case l := <-got:
		if l != "PING\n" {
			t.Errorf("silent driver got %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Error("silent driver not pinged")
	}

	// The real driver goes away and comes back.
	f.drivers["main"].Close()
	waitReply(t, s, "GET VAR main ups.status\n", "ERR DRIVER-NOT-CONNECTED\n")
	d, err := sockproto.Listen(filepath.Join(f.dir, "fake-main"), f.handler, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_ = d.Update(split(t, "SETINFO ups.status \"OB\"\nDATAOK")...)
	waitReply(t, s, "GET VAR main ups.status\n", "VAR main ups.status \"OB\"\n")
}

func TestMaxConnAndIdle(t *testing.T) {
	// 2 devices + 1 listener + 2 clients.
	f := newFixture(t, func(c *Config) { c.MaxConn = 5; c.IdleTimeout = 300 * time.Millisecond })
	a := f.dial()
	b := f.dial()
	a.exchange("VER\n", "x\n")
	b.exchange("VER\n", "x\n")
	c := f.dial()
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l, err := c.r.ReadString('\n'); err != io.EOF {
		t.Errorf("client past MAXCONN got %q, %v; want the connection closed", l, err)
	}
	// Silent clients are shed, which makes room again.
	_ = a.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := a.r.ReadString('\n'); err != io.EOF {
		t.Errorf("idle client not dropped: %v", err)
	}
	b.c.Close()
	waitConns(t, f.srv, 0)
	d := f.dial()
	if got := d.exchange("NETVER\n", "1.3\n"); got != "1.3\n" {
		t.Errorf("after idle clients left: %q", got)
	}
}

func waitConns(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.RLock()
		got := len(s.conns)
		s.mu.RUnlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPanicStaysWithClient(t *testing.T) {
	commands["TESTPANIC"] = command{handle: func(c *conn, args []string) { panic("boom") }}
	// Removed after the fixture's server has stopped (cleanups run last
	// first): its loops read the table until then.
	t.Cleanup(func() { delete(commands, "TESTPANIC") })
	f := newFixture(t, nil)
	a := f.dial()
	b := f.dial()
	_, _ = io.WriteString(a.c, "TESTPANIC\n")
	_ = a.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := a.r.ReadString('\n'); err != io.EOF {
		t.Errorf("panicking client not disconnected: %v", err)
	}
	if got := b.exchange("NETVER\n", "1.3\n"); got != "1.3\n" {
		t.Errorf("other client after a panic: %q", got)
	}
}

func TestReload(t *testing.T) {
	f := newFixture(t, nil)
	s := f.dial()
	s.exchange("USERNAME mon\nPASSWORD pw\nLOGIN gone\n", "OK\nOK\nOK\n")
	watcher := f.dial()
	cfg := *f.srv.config()
	cfg.Devices = []Device{{Name: "main", Driver: "fake", Desc: "renamed"}, {Name: "new", Driver: "fake"}}
	cfg.Users = nil
	f.srv.Reload(cfg)
	want := "BEGIN LIST UPS\nUPS main \"renamed\"\nUPS new \"Description unavailable\"\nEND LIST UPS\n"
	if got := watcher.exchange("LIST UPS\n", want); got != want {
		t.Errorf("after reload: %q", got)
	}
	// The client logged into a removed UPS is disconnected.
	_ = s.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.r.ReadString('\n'); err != io.EOF {
		t.Errorf("client of a removed UPS kept: %v", err)
	}
	// The kept device kept its connection; users are gone.
	if got := watcher.exchange("GET VAR main ups.status\nUSERNAME mon\nPASSWORD pw\nLOGIN main\n", "x\nx\nx\nx\n"); got != "VAR main ups.status \"OL\"\nOK\nOK\nERR ACCESS-DENIED\n" {
		t.Errorf("after reload: %q", got)
	}
}

func TestListen(t *testing.T) {
	// Port 0 everywhere: the default addresses and "*".
	for _, tt := range []struct {
		name   string
		listen []Listen
		fam    Family
		want   int
	}{
		{"any", []Listen{{Addr: "*", Port: "0"}}, AnyFamily, 2},
		{"any v4", []Listen{{Addr: "*", Port: "0"}}, IPv4Only, 1},
		{"localhost name", []Listen{{Addr: "localhost", Port: "0"}}, IPv4Only, 1},
		{"two", []Listen{{Addr: "127.0.0.1", Port: "0"}, {Addr: "127.0.0.1", Port: "0"}}, AnyFamily, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lns, err := Bind(Config{Listen: tt.listen, Family: tt.fam})
			if err != nil {
				if strings.Contains(err.Error(), "::") {
					t.Skipf("no IPv6 here: %v", err)
				}
				t.Fatal(err)
			}
			for _, ln := range lns {
				ln.Close()
			}
			if len(lns) != tt.want {
				t.Errorf("%d listeners, want %d", len(lns), tt.want)
			}
		})
	}
	// A non-loopback address that cannot be bound is fatal unless allowed.
	bad := []Listen{{Addr: "127.0.0.1", Port: "0"}, {Addr: "192.0.2.1", Port: "0"}}
	if _, err := Bind(Config{Listen: bad}); err == nil {
		t.Error("an unavailable address was accepted")
	}
	lns, err := Bind(Config{Listen: bad, AllowNotAllListeners: true})
	if err != nil || len(lns) != 1 {
		t.Errorf("ALLOW_NOT_ALL_LISTENERS: %v, %d listeners", err, len(lns))
	}
	for _, ln := range lns {
		ln.Close()
	}
	if _, err := Bind(Config{Listen: []Listen{{Addr: "192.0.2.1", Port: "0"}}, AllowNotAllListeners: true}); err == nil {
		t.Error("no listener at all was accepted")
	}
}

func TestCAtoi(t *testing.T) {
	for in, want := range map[string]int{"": 0, "12": 12, " -3x": -3, "x1": 0, "4294967297": 1, "99999999999999999999": -1} {
		if got := cAtoi(in); got != want {
			t.Errorf("cAtoi(%q) = %d, want %d", in, got, want)
		}
	}
}

// FuzzRequest feeds arbitrary bytes to a client connection: no panic, and
// every request line gets at least one reply line, all newline-terminated.
func FuzzRequest(f *testing.F) {
	for _, seed := range []string{
		"VER\n", "LIST VAR main\n", "GET VAR main ups.status\n", "USERNAME mon\nPASSWORD pw\nLOGIN main\nFSD main\n",
		"GET \"VAR\" main \"ups.\\status\n", "\x00\xff\r\n\n#\n", "SET VAR main ups.id \"x\"\nINSTCMD main load.off\n",
		"LIST RANGE main ups.delay.shutdown\nGET TYPE main input.transfer.low\nLOGOUT\nVER\n",
	} {
		f.Add(seed)
	}
	fx := newFixture(f, nil)
	f.Fuzz(func(t *testing.T, input string) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		c := newConn(fx.srv, a, 1)
		lines := 0
		for i := 0; i < len(input); i++ {
			words, done, _ := c.sc.Feed(input[i])
			if !done {
				continue
			}
			lines++
			before := c.pendingOut()
			c.dispatch(words)
			if c.pendingOut() == before {
				t.Fatalf("no reply to %q", words)
			}
		}
		out := ""
		if c.out != nil {
			out = c.out.String()
		}
		if lines > 0 && !strings.HasSuffix(out, "\n") {
			t.Fatalf("reply not newline-terminated: %q", out)
		}
		c.logout()
	})
}

func nopLogger() hclog.Logger { return hclog.NewNullLogger() }

// TestWrongPasswordLooksLikeUnknownUser: whatever a client asks, a known
// user with a wrong password and an unknown user get the same replies
// (the comparison itself is constant-time; see conn.user).
func TestWrongPasswordLooksLikeUnknownUser(t *testing.T) {
	f := newFixture(t, nil)
	script := "LOGIN main\nPRIMARY main\nMASTER main\nFSD main\nSET VAR main ups.id x\nSET VAR main nope x\nINSTCMD main load.off\nINSTCMD main nope\nGET NUMLOGINS main\nLOGOUT\n"
	var replies []string
	for _, creds := range []string{"USERNAME admin\nPASSWORD wrong\n", "USERNAME nobody\nPASSWORD secret\n", "USERNAME admin\nPASSWORD secre\n", "USERNAME admin\nPASSWORD secrett\n"} {
		c, err := net.Dial("tcp", f.srv.Addrs()[0].String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, creds+script); err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		replies = append(replies, string(out))
	}
	for i := 1; i < len(replies); i++ {
		if replies[i] != replies[0] {
			t.Errorf("credentials %d answered differently:\n%q\n%q", i, replies[0], replies[i])
		}
	}
	if !strings.Contains(replies[0], "ERR ACCESS-DENIED") {
		t.Errorf("no refusal in %q", replies[0])
	}
}
