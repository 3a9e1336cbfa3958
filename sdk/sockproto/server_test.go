package sockproto

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a Handler that records its calls.
type recorder struct {
	mu    sync.Mutex
	calls []string
	ch    chan string
}

func newRecorder() *recorder { return &recorder{ch: make(chan string, 100)} }

func (r *recorder) InstCmd(cmd, param, id string) {
	r.add(fmt.Sprintf("INSTCMD %q %q %q", cmd, param, id))
}

func (r *recorder) SetVar(name, value, id string) {
	r.add(fmt.Sprintf("SET %q %q %q", name, value, id))
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
	r.ch <- s
}

func (r *recorder) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-r.ch:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("handler not called")
		return ""
	}
}

// sockDir returns a short temporary directory: socket paths are limited to
// 107 bytes and t.TempDir's can be long.
func sockDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "sp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func startServer(t *testing.T, h Handler) *Server {
	t.Helper()
	if h == nil {
		h = newRecorder()
	}
	s, err := Listen(filepath.Join(sockDir(t), "drv-ups"), h, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawClient is a test client reading whole lines.
type rawClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, path string) *rawClient {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, r: bufio.NewReader(c)}
}

func (rc *rawClient) send(line string) {
	rc.t.Helper()
	if _, err := rc.c.Write([]byte(line + "\n")); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawClient) line() string {
	rc.t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := rc.r.ReadString('\n')
	if err != nil {
		rc.t.Fatalf("read: %v (got %q)", err, l)
	}
	return l
}

// dump sends DUMPALL and returns the lines before DUMPDONE, applying any
// broadcast lines that come first is not expected here.
func (rc *rawClient) dump() []string {
	rc.t.Helper()
	rc.send("DUMPALL")
	var out []string
	for {
		l := rc.line()
		if l == "DUMPDONE\n" {
			return out
		}
		out = append(out, l)
	}
}

func TestServerRequests(t *testing.T) {
	rec := newRecorder()
	s := startServer(t, rec)
	fi, err := os.Stat(s.Path())
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket %s: %v %v", s.Path(), fi.Mode(), err)
	}
	if err := s.Update(msgs(t, `SETINFO ups.status "OL"
SETFLAGS ups.status RW STRING
SETAUX ups.status 8
ADDCMD load.off
DATAOK`)...); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, s.Path())
	if got, want := c.dump(), s.Snapshot().Dump(); !reflect.DeepEqual(got, want) {
		t.Errorf("DUMPALL = %q, want %q", got, want)
	}
	c.send("PING")
	if l := c.line(); l != "PONG\n" {
		t.Errorf("PING -> %q", l)
	}
	c.send("GETPID")
	if l := c.line(); l != "PID "+strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("GETPID -> %q", l)
	}

	// INSTCMD and SET in every form NUT's drivers accept.
	for _, tt := range []struct{ line, want string }{
		{`INSTCMD load.off`, `INSTCMD "load.off" "" ""`},
		{`INSTCMD load.off 10`, `INSTCMD "load.off" "10" ""`},
		{`INSTCMD load.off TRACKING id1`, `INSTCMD "load.off" "" "id1"`},
		{`instcmd load.off "a b" tracking id2`, `INSTCMD "load.off" "a b" "id2"`},
		{`SET ups.id "Data room"`, `SET "ups.id" "Data room" ""`},
		{`SET ups.id "x" TRACKING id3`, `SET "ups.id" "x" "id3"`},
		{`SET ups.id "x" extra`, `SET "ups.id" "x" ""`},
	} {
		c.send(tt.line)
		if got := rec.next(t); got != tt.want {
			t.Errorf("%s -> %s, want %s", tt.line, got, tt.want)
		}
	}
	// Malformed ones never reach the handler; an unknown command gets no
	// answer. PING proves they were read.
	for _, l := range []string{"INSTCMD", "INSTCMD a b c", "INSTCMD a b c d e f", "SET x", "SET x y z w", "BOGUS"} {
		c.send(l)
	}
	c.send("PING")
	if l := c.line(); l != "PONG\n" {
		t.Errorf("after malformed requests: %q", l)
	}
	if len(rec.ch) != 0 {
		t.Errorf("malformed request reached the handler: %s", <-rec.ch)
	}

	// TRACKING goes to the client that asked, and only once.
	other := dialRaw(t, s.Path())
	other.send("PING")
	other.line()
	s.Tracking("id2", 3)
	s.Tracking("id2", 0)     // already answered
	s.Tracking("unknown", 1) // never asked
	if l := c.line(); l != "TRACKING id2 3\n" {
		t.Errorf("tracking -> %q", l)
	}
	other.send("PING")
	if l := other.line(); l != "PONG\n" {
		t.Errorf("tracking went to another client: %q", l)
	}
	c.send("PING")
	if l := c.line(); l != "PONG\n" {
		t.Errorf("tracking sent twice: %q", l)
	}

	c.send("LOGOUT")
	if l := c.line(); l != "OK Goodbye\n" {
		t.Errorf("LOGOUT -> %q", l)
	}
	if l, err := c.r.ReadString('\n'); err == nil {
		t.Errorf("connection still open after LOGOUT: %q", l)
	}
}

func TestServerBroadcast(t *testing.T) {
	s := startServer(t, nil)
	a := dialRaw(t, s.Path())
	b := dialRaw(t, s.Path())
	a.dump()
	b.dump()
	b.send("NOBROADCAST")
	b.send("PING")
	b.line()
	if err := s.Update([]string{"SETINFO", "x", "1"}, []string{"SETINFO", "x", "1"}, []string{"ADDCMD", "c"}); err != nil {
		t.Fatal(err)
	}
	// Unchanged values are not sent again.
	if l := a.line() + a.line(); l != "SETINFO x \"1\"\nADDCMD c\n" {
		t.Errorf("broadcast = %q", l)
	}
	b.send("PING")
	if l := b.line(); l != "PONG\n" {
		t.Errorf("NOBROADCAST client got %q", l)
	}
	b.send("BROADCAST")
	b.send("PING")
	b.line()
	_ = s.Update([]string{"SETINFO", "x", "2"})
	if l := b.line(); l != "SETINFO x \"2\"\n" {
		t.Errorf("after BROADCAST got %q", l)
	}
	a.line()
	b.send("BROADCAST 0")
	b.send("PING")
	b.line()
	_ = s.Update([]string{"SETINFO", "x", "3"})
	a.line()
	b.send("PING")
	if l := b.line(); l != "PONG\n" {
		t.Errorf("BROADCAST 0 client got %q", l)
	}

	// An invalid update changes and sends nothing.
	if err := s.Update([]string{"SETINFO", "y", "1"}, []string{"ADDENUM", "nope", "v"}); err == nil {
		t.Error("Update with a message about a missing variable succeeded")
	}
	if _, ok := s.Snapshot().Var("y"); ok {
		t.Error("a failed Update was half applied")
	}
	// Later messages may refer to variables set earlier in the same update,
	// and not to ones deleted earlier.
	if err := s.Update([]string{"SETINFO", "z", "1"}, []string{"SETFLAGS", "z", "RW"}); err != nil {
		t.Errorf("SETFLAGS after SETINFO in one update: %v", err)
	}
	if err := s.Update([]string{"DELINFO", "z"}, []string{"SETFLAGS", "z", "RW"}); err == nil {
		t.Error("SETFLAGS after DELINFO in one update succeeded")
	}
	a.send("PING")
	if l := a.line() + a.line(); l != "SETINFO z \"1\"\nSETFLAGS z RW\n" {
		t.Errorf("after failed updates a got %q", l)
	}
	if l := a.line(); l != "PONG\n" {
		t.Errorf("after failed updates a got %q", l)
	}
}

func TestServerReplace(t *testing.T) {
	s := startServer(t, nil)
	_ = s.Update(msgs(t, `SETINFO a "1"
SETINFO b "2"
SETFLAGS b RW
ADDCMD c1
ADDCMD c2
DATAOK`)...)
	c := dialRaw(t, s.Path())
	c.dump()
	if err := s.Replace(msgs(t, `SETINFO b "2"
SETFLAGS b RW
SETINFO d "4"
ADDCMD c2
ADDCMD c3
DATAOK`)...); err != nil {
		t.Fatal(err)
	}
	want := []string{"DELINFO a\n", "DELCMD c1\n", "SETINFO d \"4\"\n", "ADDCMD c3\n"}
	var got []string
	for range want {
		got = append(got, c.line())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Replace sent %q, want %q", got, want)
	}
	if err := s.Replace([]string{"ADDENUM", "x", "1"}); err == nil {
		t.Error("invalid Replace succeeded")
	}
	if _, ok := s.Snapshot().Var("b"); !ok {
		t.Error("invalid Replace changed the state")
	}
}

// TestServerConsistency runs updates against clients that keep asking for
// DUMPALL: every dump must show whole updates only, and a client that
// applies everything it gets must end with the server's state, so that
// nothing is lost, duplicated or reordered.
func TestServerConsistency(t *testing.T) {
	s := startServer(t, nil)
	const updates = 300
	const clients = 4
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	done := make(chan struct{})
	for i := 0; i < clients; i++ {
		c, err := Dial(context.Background(), s.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- follow(c, done)
		}()
	}
	for i := 1; i <= updates; i++ {
		v := strconv.Itoa(i)
		if err := s.Update([]string{"SETINFO", "a", v}, []string{"SETINFO", "b", v}); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Update([]string{"DATAOK"})
	close(done)
	wg.Wait()
	for i := 0; i < clients; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// follow applies everything the server sends, asks for a dump after each
// DUMPDONE until done, and checks what it sees.
func follow(c *Conn, done <-chan struct{}) error {
	st := NewState()
	if err := c.Send("DUMPALL"); err != nil {
		return err
	}
	last := 0
	for {
		w, err := c.Next()
		if err != nil {
			return err
		}
		if strings.ToUpper(w[0]) == "DUMPDONE" {
			a, _ := st.Value("a")
			b, _ := st.Value("b")
			if a != b {
				return fmt.Errorf("dump shows half an update: a=%s b=%s", a, b)
			}
			n, _ := strconv.Atoi(a)
			if n < last {
				return fmt.Errorf("state went back from %d to %d", last, n)
			}
			last = n
			select {
			case <-done:
				if st.DataOK() && a == "300" {
					return nil
				}
			default:
			}
			if err := c.Send("DUMPALL"); err != nil {
				return err
			}
			continue
		}
		if err := st.Apply(w); err != nil {
			return fmt.Errorf("apply %q: %v", w, err)
		}
	}
}

func TestServerDropsSlowClient(t *testing.T) {
	defer func(n int) { maxClientQueue = n }(maxClientQueue)
	maxClientQueue = 64 << 10
	s := startServer(t, nil)
	slow := dialRaw(t, s.Path())
	slow.send("PING") // and never read again
	good, err := Dial(context.Background(), s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	// The good client reports each update it has seen, so that the
	// writer keeps pace with it and only the slow client falls behind.
	seen := make(chan int, 1)
	go func() {
		st := NewState()
		for {
			w, err := good.Next()
			if err != nil {
				close(seen)
				return
			}
			_ = st.Apply(w)
			if strings.EqualFold(w[0], "SETINFO") && w[1] == "n" {
				n, _ := strconv.Atoi(w[2])
				seen <- n
			}
		}
	}()
	// Wait until both clients are registered.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d clients connected", n)
		}
		time.Sleep(time.Millisecond)
	}
	big := strings.Repeat("x", 400)
	// 2 MB in all, far more than the slow client's socket buffer and
	// queue can hold: if Update waited for it, this would never finish.
	for i := 1; i <= 500; i++ {
		var m [][]string
		for j := 0; j < 10; j++ {
			m = append(m, []string{"SETINFO", "v" + strconv.Itoa(j), big + strconv.Itoa(i)})
		}
		m = append(m, []string{"SETINFO", "n", strconv.Itoa(i)})
		if err := s.Update(m...); err != nil {
			t.Fatal(err)
		}
		if n, ok := <-seen; !ok || n != i {
			t.Fatalf("the reading client saw update %d (open %v), want %d", n, ok, i)
		}
	}
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	if n != 1 {
		t.Errorf("%d clients still connected, want the slow one dropped", n)
	}
	// The slow client finds its connection closed once it reads.
	_ = slow.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1<<20)
	for {
		if _, err := slow.c.Read(buf); err != nil {
			break
		}
	}
}

func TestListenSocketPath(t *testing.T) {
	dir := sockDir(t)
	path := filepath.Join(dir, "drv-ups")

	// A stale socket left by a dead driver is replaced.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	s, err := Listen(path, newRecorder(), nil)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	// A live one is not.
	if _, err := Listen(path, newRecorder(), nil); err == nil || !strings.Contains(err.Error(), "another driver") {
		t.Errorf("Listen over a live socket: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket still there after Close: %v", err)
	}
	if err := s.Update([]string{"DATAOK"}); err == nil {
		t.Error("Update after Close succeeded")
	}
	// Something that is not a socket is left alone.
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path, newRecorder(), nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file: %v", err)
	}
	long := filepath.Join(dir, strings.Repeat("l", 120))
	if _, err := Listen(long, newRecorder(), nil); err == nil || !strings.Contains(err.Error(), "107") {
		t.Errorf("Listen on a too long path: %v", err)
	}
	if _, err := Listen(filepath.Join(dir, "x"), nil, nil); err == nil {
		t.Error("Listen with a nil Handler succeeded")
	}
}

func TestClient(t *testing.T) {
	rec := newRecorder()
	dir := sockDir(t)
	path := filepath.Join(dir, "drv-ups")
	s, err := Listen(path, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Update(msgs(t, `SETINFO ups.status "OL"
ADDCMD load.off
DATAOK`)...)

	updates := make(chan struct{}, 1000)
	tracked := make(chan string, 10)
	connects := make(chan struct{}, 10)
	cl := NewClient(ClientConfig{
		Path:      path,
		Name:      "ups",
		PingAfter: 50 * time.Millisecond,
		Retry:     20 * time.Millisecond,
		OnConnect: func(st *State) {
			_ = st.Apply([]string{"SETINFO", "ups.status", "WAIT"})
			connects <- struct{}{}
		},
		OnTracking: func(id, status string) { tracked <- id + " " + status },
		OnUpdate:   func() { updates <- struct{}{} },
	})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- cl.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != context.Canceled {
			t.Errorf("Run returned %v", err)
		}
	}()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			select {
			case <-updates:
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	waitFor("dump", func() bool { return cl.Info().DumpDone })
	<-connects
	if got, want := cl.Snapshot().Dump(), s.Snapshot().Dump(); !reflect.DeepEqual(got, want) {
		t.Errorf("client state %q, want %q", got, want)
	}
	_ = s.Update([]string{"SETINFO", "ups.status", "OB"})
	waitFor("update", func() bool { v, _ := cl.Snapshot().Value("ups.status"); return v == "OB" })

	// A quiet driver is pinged, and its PONG keeps the data fresh.
	before := cl.Info().LastHeard
	waitFor("ping", func() bool { return cl.Info().LastHeard.After(before) })

	// Requests reach the driver; results come back.
	if err := cl.Send("INSTCMD", "load.off", "TRACKING", "t1"); err != nil {
		t.Fatal(err)
	}
	if got := rec.next(t); got != `INSTCMD "load.off" "" "t1"` {
		t.Errorf("driver got %s", got)
	}
	s.Tracking("t1", 0)
	select {
	case got := <-tracked:
		if got != "t1 0" {
			t.Errorf("OnTracking got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no TRACKING")
	}

	// The driver goes away: not connected, empty state. It comes back: a
	// new connection, WAIT until the dump, then its new state.
	s.Close()
	waitFor("disconnect", func() bool { return !cl.Info().Connected })
	if cl.Snapshot().Len() != 0 {
		t.Error("state kept after the driver went away")
	}
	if err := cl.Send("PING"); err == nil {
		t.Error("Send without a driver succeeded")
	}
	s2, err := Listen(path, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	_ = s2.Update([]string{"SETINFO", "ups.status", "OL CHRG"}, []string{"DATASTALE"})
	<-connects
	waitFor("second dump", func() bool { return cl.Info().DumpDone })
	info := cl.Info()
	if !info.Connected || info.DataOK {
		t.Errorf("after reconnect: %+v", info)
	}
	if v, _ := cl.Snapshot().Value("ups.status"); v != "OL CHRG" {
		t.Errorf("after reconnect ups.status = %q", v)
	}
	if cl.Path() != path {
		t.Errorf("Path = %q", cl.Path())
	}
	cl.View(func(st *State, info Info) {
		if st.Len() != 1 || !info.Connected {
			t.Errorf("View: %d vars, %+v", st.Len(), info)
		}
	})
}

func TestConnNextSkipsEmptyLines(t *testing.T) {
	a, b := net.Pipe()
	c := &Conn{c: a, r: bufio.NewReader(a), sc: newScanner()}
	go func() {
		b.Write([]byte("\n# comment\n  \nSETINFO x \"1\"\n"))
		b.Close()
	}()
	w, err := c.Next()
	if err != nil || !reflect.DeepEqual(w, []string{"SETINFO", "x", "1"}) {
		t.Errorf("Next = %q, %v", w, err)
	}
	if _, err := c.Next(); err == nil {
		t.Error("Next after EOF succeeded")
	}
}

// TestClientShowsTheDumpWhole: until DUMPDONE, readers see the state
// OnConnect made, never a dump with its variables but not its commands.
func TestClientShowsTheDumpWhole(t *testing.T) {
	dir := sockDir(t)
	path := filepath.Join(dir, "drv-ups")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl := NewClient(ClientConfig{Path: path, Retry: 20 * time.Millisecond,
		OnConnect: func(st *State) { _ = st.Apply([]string{"SETINFO", "ups.status", "WAIT"}) }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cl.Run(ctx)

	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	if l, err := br.ReadString('\n'); err != nil || l != "DUMPALL\n" {
		t.Fatalf("client sent %q, %v; want DUMPALL", l, err)
	}
	// Half the dump: variables, no commands, no DUMPDONE.
	if _, err := io.WriteString(conn, "SETINFO driver.name \"x\"\nSETINFO ups.status \"OL\"\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the client has read it by now (if it had not, the check below passes anyway)
	if v, _ := cl.Snapshot().Value("ups.status"); v != "WAIT" {
		t.Fatalf("mid-dump ups.status %q, want WAIT until DUMPDONE", v)
	}
	if _, ok := cl.Snapshot().Value("driver.name"); ok {
		t.Fatal("mid-dump driver.name visible before DUMPDONE")
	}
	if _, err := io.WriteString(conn, "ADDCMD load.off\nDUMPDONE\n"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !cl.Info().DumpDone {
		if time.Now().After(deadline) {
			t.Fatal("no DUMPDONE")
		}
		time.Sleep(5 * time.Millisecond)
	}
	st := cl.Snapshot()
	if v, _ := st.Value("ups.status"); v != "OL" || !st.HasCmd("load.off") {
		t.Fatalf("after DUMPDONE: ups.status %q, load.off %v; want the whole dump", v, st.HasCmd("load.off"))
	}
	// After the dump, changes apply as they come.
	if _, err := io.WriteString(conn, "SETINFO ups.status \"OB\"\n"); err != nil {
		t.Fatal(err)
	}
	for {
		if v, _ := cl.Snapshot().Value("ups.status"); v == "OB" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("update after the dump not applied")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
