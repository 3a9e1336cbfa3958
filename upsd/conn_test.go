package upsd

import (
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// scriptConn is a client connection that sends one request batch, then
// waits, and records every Write upsd makes.
type scriptConn struct {
	mu       sync.Mutex
	req      []byte
	writes   []string
	deadline time.Time
	closed   chan struct{}
	once     sync.Once
	wrote    chan struct{}
}

func newScriptConn(req string) *scriptConn {
	return &scriptConn{req: []byte(req), closed: make(chan struct{}), wrote: make(chan struct{}, 100)}
}

func (c *scriptConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	if len(c.req) > 0 {
		n := copy(b, c.req)
		c.req = c.req[n:]
		c.mu.Unlock()
		return n, nil
	}
	d := c.deadline
	c.mu.Unlock()
	var timeout <-chan time.Time
	if !d.IsZero() {
		timeout = time.After(time.Until(d))
	}
	select {
	case <-c.closed:
		return 0, io.EOF
	case <-timeout:
		return 0, os.ErrDeadlineExceeded
	}
}

func (c *scriptConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, string(b))
	c.mu.Unlock()
	c.wrote <- struct{}{}
	return len(b), nil
}

func (c *scriptConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *scriptConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3493}
}
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *scriptConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }
func (c *scriptConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// TestOneWritePerBatch checks docs/COMPATIBILITY.md "One write per batch
// of replies": the answers to everything a client sent at once, lists
// included, leave in a single write (NUT 2.8 writes each line separately,
// which with Nagle and delayed ACKs stalls every LIST by ~40 ms).
func TestOneWritePerBatch(t *testing.T) {
	f := newFixture(t, nil)
	c := newScriptConn("LIST VAR main\nLIST CMD main\nGET VAR main ups.status\nBOGUS\n")
	f.srv.startConn(c)
	select {
	case <-c.wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("no reply")
	}
	c.Close()
	waitConns(t, f.srv, 0)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.writes) != 1 {
		t.Fatalf("%d writes, want 1: %q", len(c.writes), c.writes)
	}
	for _, want := range []string{"BEGIN LIST VAR main\n", "END LIST CMD main\n", "VAR main ups.status \"OL\"\n", "ERR UNKNOWN-COMMAND\n"} {
		if !strings.Contains(c.writes[0], want) {
			t.Errorf("reply lacks %q", want)
		}
	}
}

// flakyListener fails its first Accepts the way a process out of file
// descriptors does, then hands out one connection, then reports closed.
type flakyListener struct {
	mu    sync.Mutex
	fails int
	conn  net.Conn
	done  chan struct{}
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.fails > 0 {
		l.fails--
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	c := l.conn
	l.conn = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *flakyListener) Close() error   { return nil }
func (l *flakyListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestAcceptErrors checks docs/COMPATIBILITY.md "Out of file descriptors":
// accept errors do not end the accept loop, which backs off and then
// serves the next client.
func TestAcceptErrors(t *testing.T) {
	f := newFixture(t, nil)
	c := newScriptConn("NETVER\n")
	ln := &flakyListener{fails: 5, conn: c, done: make(chan struct{})}
	f.srv.wg.Add(1)
	go f.srv.acceptLoop(ln)
	select {
	case <-c.wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("the client after the accept errors was not served")
	}
	c.mu.Lock()
	got := c.writes
	c.mu.Unlock()
	if len(got) != 1 || got[0] != "1.3\n" {
		t.Errorf("writes = %q", got)
	}
	c.Close()
	close(ln.done)
}

func TestTrackingIDs(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		id := newTrackingID()
		if len(id) != 36 || id[14] != '4' || strings.ToUpper(id) != id || seen[id] {
			t.Fatalf("bad or repeated tracking id %q", id)
		}
		seen[id] = true
	}
	tt := newTrackingTable()
	now := time.Now()
	tt.add("A-1", now)
	tt.set("a-1", "2")
	if got := tt.get("A-1"); got != "ERR INVALID-ARGUMENT" {
		t.Errorf("get = %q", got)
	}
	tt.set("nope", "0")
	for status, want := range map[string]string{"0": "SUCCESS", "1": "ERR UNKNOWN", "3": "ERR FAILED", "4": "ERR INVALID-ARGUMENT", "x": "SUCCESS", "9": "ERR UNKNOWN"} {
		tt.set("A-1", status)
		if got := tt.get("a-1"); got != want {
			t.Errorf("status %s: get = %q, want %q", status, got, want)
		}
	}
	tt.expire(now.Add(2*time.Hour), time.Hour)
	if got := tt.get("A-1"); got != "ERR UNKNOWN" {
		t.Errorf("expired entry: %q", got)
	}
}

// TestSlowReaderGetsEverything: a client that sends many requests at once
// and reads the answers only later, when the server has long filled its
// socket, gets every answer in order, and is read from again afterwards
// (the event loop stops reading a client whose answers wait, then goes on).
func TestSlowReaderGetsEverything(t *testing.T) {
	f := newFixture(t, nil)
	s := f.dial()
	const n = 20000 // answers of several MB: more than socket buffers hold
	wrote := make(chan error, 1)
	go func() {
		// In the background: once the server waits for this client to
		// read, it stops reading too, and this write blocks.
		_, err := io.WriteString(s.c, strings.Repeat("LIST VAR main\n", n)+"NETVER\n")
		wrote <- err
	}()
	// Enough for the server to fill the socket buffers and wait.
	time.Sleep(300 * time.Millisecond)
	_ = s.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	ends := 0
	for ends < n {
		l, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d lists: %v", ends, err)
		}
		if l == "END LIST VAR main\n" {
			ends++
		}
	}
	if l, err := s.r.ReadString('\n'); l != "1.3\n" {
		t.Fatalf("after the lists: %q, %v", l, err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if got := s.exchange("NETVER\n", "1.3\n"); got != "1.3\n" {
		t.Errorf("later request: %q", got)
	}
}
