package upsdload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/upsd"
)

// raiseNoFile makes room for n more open files in this process.
func raiseNoFile(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	lim.Cur = n
	if lim.Max < n {
		lim.Max = n // only root may raise the hard limit
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("this test holds %d connections and needs RLIMIT_NOFILE >= %d: %v", n, n, err)
	}
}

// dialMany opens n connections to addr, 64 at a time, each asking NETVER
// once so that it is known to be accepted and served before the next is
// opened (a burst past the listen backlog would leave connections waiting
// for the kernel's SYN-ACK retransmissions instead). They stay idle after.
func dialMany(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	err := forEach(n, func(i int) error {
		var c net.Conn
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			if c, err = net.DialTimeout("tcp", addr, 10*time.Second); err == nil {
				break
			}
			time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns[i] = c
		if got, err := (&client{c: c, r: bufio.NewReader(c)}).ask("NETVER\n"); got != "1.3\n" {
			return fmt.Errorf("connection %d: NETVER: %q, %v", i, got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return conns
}

// forEach calls fn(0..n-1) from 64 goroutines and returns the first error.
func forEach(n int, fn func(i int) error) error {
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := fn(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return firstErr
}

// TestTenThousandIdleClients holds 10,000 concurrent idle clients with
// MAXCONN raised, then checks that a new client is served and that idle
// ones still are.
func TestTenThousandIdleClients(t *testing.T) {
	const n = 10000
	raiseNoFile(t, n+1000)
	dir := shortDir(t)
	startDriver(t, dir, 10)
	p := startUpsd(t, dir, "MAXCONN 10100\n")
	conns := dialMany(t, p.addr, n)
	if fds := p.openFDs(); fds < n {
		t.Errorf("server holds %d descriptors for %d clients", fds, n)
	}
	if got, err := dial(t, p.addr).ask("GET VAR wr ups.status\n"); got != "VAR wr ups.status \"OL\"\n" {
		t.Errorf("new client next to %d idle ones: %q, %v", n, got, err)
	}
	// All of them at once are still connected and served.
	err := forEach(n, func(i int) error {
		c := &client{c: conns[i], r: bufio.NewReader(conns[i])}
		if got, err := c.ask("GET VAR wr ups.status\n"); got != "VAR wr ups.status \"OL\"\n" {
			return fmt.Errorf("idle client %d: %q, %v", i, got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !p.alive() {
		t.Fatal("upsd exited")
	}
	t.Logf("server resident size with %d idle clients: %d KiB", n, p.rssKiB())
}

// TestMaxConnRefusal fills MAXCONN: one more client is refused cleanly
// (closed at once, no bytes sent, no hanging), the others carry on, and
// room made by one leaving is taken by the next.
func TestMaxConnRefusal(t *testing.T) {
	dir := shortDir(t)
	startDriver(t, dir, 10)
	// MAXCONN counts the driver and the listener too: 18 clients fit.
	p := startUpsd(t, dir, "MAXCONN 20\n")
	var held []*client
	for i := 0; i < 18; i++ {
		c := dial(t, p.addr)
		if got, err := c.ask("NETVER\n"); got != "1.3\n" {
			t.Fatalf("client %d of 18: %q, %v", i, got, err)
		}
		held = append(held, c)
	}
	for i := 0; i < 5; i++ {
		c := dial(t, p.addr)
		_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c.r)
		if len(b) > 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
			t.Errorf("client past MAXCONN: got %q, %v; want the connection closed at once", b, err)
		}
	}
	for i, c := range held {
		if got, err := c.ask("GET VAR wr ups.status\n"); got != "VAR wr ups.status \"OL\"\n" {
			t.Errorf("held client %d after refusals: %q, %v", i, got, err)
		}
	}
	held[0].c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c, "NETVER\n")
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if l == "1.3\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no room after a client left")
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(p.log)
	if !strings.Contains(string(log), "MAXCONN reached") {
		t.Errorf("refusals not logged:\n%s", log)
	}
}

// TestAbusiveClients runs a client sending a 1 MiB line, one sending 1 MiB
// of words, one sending 1 MiB of binary garbage and a slowloris (one byte
// a second) against the server while a well-behaved client asks 300
// questions: the well-behaved client gets every answer, and gets them all
// while the slowloris is still dribbling; each abuser is answered or
// dropped; the server stays up.
func TestAbusiveClients(t *testing.T) {
	dir := shortDir(t)
	startDriver(t, dir, 100)
	p := startUpsd(t, dir, "")
	const mib = 1 << 20
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	run := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	// answers sends req (which ends with NETVER) and checks the replies.
	answers := func(req string, want ...string) func() error {
		return func() error {
			c, err := net.Dial("tcp", p.addr)
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			go func() { _, _ = io.WriteString(c, req) }()
			r := bufio.NewReader(c)
			for _, w := range want {
				l, err := r.ReadString('\n')
				if l != w {
					return fmt.Errorf("got %q, %v; want %q", l, err, w)
				}
			}
			return nil
		}
	}
	run("1 MiB line", answers(strings.Repeat("A", mib)+"\nNETVER\n", "ERR UNKNOWN-COMMAND\n", "1.3\n"))
	run("1 MiB of words", answers(strings.Repeat("a ", mib/2)+"\nNETVER\n", "ERR UNKNOWN-COMMAND\n", "1.3\n"))
	run("1 MiB of garbage", func() error {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		garbage := make([]byte, mib)
		rng := rand.New(rand.NewPCG(7, 11))
		for i := range garbage {
			garbage[i] = byte(rng.UintN(256))
		}
		go func() {
			_, _ = c.Write(garbage)
			_ = c.(*net.TCPConn).CloseWrite()
		}()
		// Whatever comes back is whole lines, until the server hangs up
		// after our end of input.
		out, err := io.ReadAll(c)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			return err
		}
		if len(out) > 0 && out[len(out)-1] != '\n' {
			return fmt.Errorf("reply ends in a partial line: %q", out[max(0, len(out)-80):])
		}
		return nil
	})
	slowDone := make(chan struct{})
	run("slowloris", func() error {
		defer close(slowDone)
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			return err
		}
		defer c.Close()
		for _, b := range []byte("NETVER\n") {
			if _, err := c.Write([]byte{b}); err != nil {
				return err
			}
			time.Sleep(time.Second)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		l, err := bufio.NewReader(c).ReadString('\n')
		if l != "1.3\n" {
			return fmt.Errorf("after seven seconds of one byte a second: %q, %v", l, err)
		}
		return nil
	})
	good := dial(t, p.addr)
	for i := 0; i < 300; i++ {
		if got, err := good.ask("GET VAR wr ups.status\n"); got != "VAR wr ups.status \"OL\"\n" {
			t.Fatalf("well-behaved client, request %d: %q, %v", i, got, err)
		}
	}
	select {
	case <-slowDone:
		t.Error("the well-behaved client finished only after the slowloris")
	default:
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if !p.alive() {
		t.Fatal("upsd died")
	}
	if got, err := dial(t, p.addr).ask("NETVER\n"); got != "1.3\n" {
		t.Errorf("after the abuse: %q, %v", got, err)
	}
}

// TestSlowClientsDropped uses a short idle time: a client that trickles
// bytes without ever finishing a line, and a client that asks and never
// reads its answers, are both dropped after the idle time, while a client
// asking a question every 200 ms is kept throughout.
func TestSlowClientsDropped(t *testing.T) {
	dir := shortDir(t)
	startDriver(t, dir, 100)
	srv, err := upsd.Start(upsd.Config{
		Listen:      []upsd.Listen{{Addr: "127.0.0.1", Port: "0"}},
		StatePath:   dir,
		Devices:     []upsd.Device{{Name: "wr", Driver: "fake"}},
		IdleTimeout: 1500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	}()
	addr := srv.Addrs()[0].String()
	steady := dial(t, addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := steady.ask("GET VAR wr ups.status\n")
		if got == "VAR wr ups.status \"OL\"\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("driver data not served: %q", got)
		}
		steady = dial(t, addr)
		time.Sleep(20 * time.Millisecond)
	}

	trickle := dial(t, addr)
	trickleGone := make(chan error, 1)
	go func() {
		for i := 0; i < 100; i++ {
			if _, err := trickle.c.Write([]byte{'x'}); err != nil {
				trickleGone <- nil
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		trickleGone <- errors.New("still connected after 10 s of trickling")
	}()

	mute := dial(t, addr)
	go func() {
		req := []byte(strings.Repeat("LIST VAR wr\n", 1000))
		_ = mute.c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		for {
			if _, err := mute.c.Write(req); err != nil {
				return
			}
		}
	}()

	// The steady client keeps talking until both are gone.
	stop := time.Now().Add(15 * time.Second)
	var trickleErr error
	trickleDone := false
	for !trickleDone && time.Now().Before(stop) {
		if got, err := steady.ask("GET VAR wr ups.status\n"); got != "VAR wr ups.status \"OL\"\n" {
			t.Fatalf("steady client: %q, %v", got, err)
		}
		select {
		case trickleErr = <-trickleGone:
			trickleDone = true
		case <-time.After(200 * time.Millisecond):
		}
	}
	if !trickleDone || trickleErr != nil {
		t.Errorf("trickling client not dropped: %v", trickleErr)
	}
	// The mute client's answers are stuck in its socket; the server gave
	// up writing them and hung up, which shows as the end of the stream
	// once they are drained.
	_ = mute.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.Copy(io.Discard, mute.c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("client that never reads not dropped")
	}
	if got, err := steady.ask("NETVER\n"); got != "1.3\n" {
		t.Errorf("steady client at the end: %q, %v", got, err)
	}
}
