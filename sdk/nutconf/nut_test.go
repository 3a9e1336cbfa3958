package nutconf

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
	"testing"
	"time"
)

const (
	realUpsd     = "/lib/nut/upsd"
	realDummyUPS = "/lib/nut/dummy-ups"
)

// startProcess starts a NUT program with its files in dir and stops it when
// the test ends; the returned channel is closed when it exits.
func startProcess(t *testing.T, dir string, out *strings.Builder, name string, args ...string) (stop func(), exited chan struct{}) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "NUT_CONFPATH="+dir, "NUT_STATEPATH="+dir, "NUT_ALTPIDPATH="+dir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited = make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() {
		cmd.Process.Kill()
		<-exited
	}
	t.Cleanup(stop)
	return stop, exited
}

// startRealUpsd runs NUT 2.8.0's dummy-ups and upsd in a temporary directory
// with one UPS [d] and returns a connection to upsd once it serves [d].
func startRealUpsd(t *testing.T) net.Conn {
	t.Helper()
	if testing.Short() {
		t.Skip("differential test against real upsd skipped in -short mode")
	}
	for _, bin := range []string{realUpsd, realDummyUPS} {
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true but NUT 2.8.0 is missing: %v", err)
			}
			t.Skipf("NUT 2.8.0 not installed: %v", err)
		}
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ups.conf", "[d]\n\tdriver = dummy-ups\n\tport = d.dev\n")
	write("upsd.users", "")
	write("d.dev", "ups.status: OL\n")
	var drvOut strings.Builder
	_, drvExited := startProcess(t, dir, &drvOut, realDummyUPS, "-a", "d", "-F", "-u", me.Username)
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "dummy-ups-d")); err == nil {
			break
		}
		select {
		case <-drvExited:
			t.Fatalf("dummy-ups exited: %s", drvOut.String())
		default:
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("dummy-ups made no socket: %s", drvOut.String())
		}
	}
	for attempt := 0; attempt < 5; attempt++ {
		port := 20000 + rand.IntN(12000)
		write("upsd.conf", fmt.Sprintf("LISTEN 127.0.0.1 %d\n", port))
		var out strings.Builder
		stop, exited := startProcess(t, dir, &out, realUpsd, "-F", "-u", me.Username)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				t.Logf("upsd exited (port %d busy?): %s", port, out.String())
				deadline = time.Time{}
				continue
			default:
			}
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				t.Cleanup(func() { c.Close() })
				waitServed(t, c)
				return c
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop()
	}
	t.Fatal("could not start NUT's upsd")
	return nil
}

// waitServed waits until upsd has the driver's data: before that GET DESC
// answers ERR DATA-STALE or DRIVER-NOT-CONNECTED.
func waitServed(t *testing.T, c net.Conn) {
	t.Helper()
	r := bufio.NewReader(c)
	for start := time.Now(); time.Since(start) < 15*time.Second; time.Sleep(100 * time.Millisecond) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("GET DESC d sync\n")); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "DESC ") {
			return
		}
	}
	t.Fatal("upsd never served UPS [d]")
}

// verBanner is NUT 2.8.0's answer to VER.
const verBanner = "Network UPS Tools upsd 2.8.0 - http://www.networkupstools.org/"

// predictReply is what upsd answers to one request line of these tests,
// given the words the Scanner found: only VER, GET DESC and GET VAR of
// ups.status (the one variable the dummy device has) are used.
func predictReply(words []string) string {
	switch {
	case len(words) == 1 && strings.EqualFold(words[0], "VER"):
		return verBanner
	case len(words) == 0 || !strings.EqualFold(words[0], "GET"):
		return "ERR UNKNOWN-COMMAND"
	case len(words) < 2 || !strings.EqualFold(words[1], "DESC") && !strings.EqualFold(words[1], "VAR"):
		return "ERR INVALID-ARGUMENT"
	case len(words) < 4:
		return "ERR INVALID-ARGUMENT"
	case !strings.EqualFold(words[2], "d"):
		return "ERR UNKNOWN-UPS"
	case strings.EqualFold(words[1], "VAR"):
		if words[3] != "ups.status" {
			return "ERR VAR-NOT-SUPPORTED"
		}
		return fmt.Sprintf("VAR %s %s \"OL\"", words[2], words[3])
	}
	return fmt.Sprintf("DESC %s %s \"Description unavailable\"", words[2], words[3])
}

// predictWrite is what NUT's upsd answers to bytes arriving in one write:
// it reads them ReadBufSize bytes at a time, answers each line completed,
// and after a parse error drops the rest of that read. parseErr says
// whether an error happened.
func predictWrite(sc *Scanner, w string) (replies []string, parseErr bool) {
	for len(w) > 0 {
		chunk := w[:min(len(w), ReadBufSize)]
		w = w[len(chunk):]
		for i := 0; i < len(chunk); i++ {
			words, done, err := sc.Feed(chunk[i])
			if err != nil {
				parseErr = true
				break
			}
			if done {
				replies = append(replies, predictReply(words))
			}
		}
	}
	return replies, parseErr
}

// upsdWire is a connection to a real upsd whose replies a goroutine reads.
type upsdWire struct {
	t       *testing.T
	conn    net.Conn
	lines   chan string
	readErr error // why lines was closed
	sent    int   // sentinel requests sent so far
}

func newUpsdWire(t *testing.T, conn net.Conn) *upsdWire {
	u := &upsdWire{t: t, conn: conn, lines: make(chan string, 64)}
	// Waits are the select timers in replies, not read deadlines.
	conn.SetReadDeadline(time.Time{})
	go func() {
		defer close(u.lines)
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				u.readErr = err
				return
			}
			u.lines <- strings.TrimSuffix(line, "\n")
		}
	}()
	return u
}

func (u *upsdWire) write(s string) {
	u.t.Helper()
	u.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := u.conn.Write([]byte(s)); err != nil {
		u.t.Fatal(err)
	}
}

// sentinel returns a new numbered request whose answer marks a point in
// the reply stream.
func (u *upsdWire) sentinel() string {
	u.sent++
	return fmt.Sprintf("GET DESC d sync%d\n", u.sent)
}

// sentinelNum returns the number of the sentinel a reply answers.
func sentinelNum(reply string) (int, bool) {
	rest, ok := strings.CutPrefix(reply, "DESC d sync")
	if !ok {
		return 0, false
	}
	num, _, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(num)
	return n, err == nil
}

// replies returns the replies up to the answer to a sentinel, which the
// caller has sent already unless resend is set. After a parse error upsd
// drops the rest of its read, and a sentinel written just after the bad
// bytes may arrive in that same read; so with resend, sentinels are sent
// (again) whenever upsd stays silent for a while, until one is answered.
// Answers to the later ones are then read and checked too, so the stream
// is in step for the next request. The pauses only pace the retries.
func (u *upsdWire) replies(requests []string, resend bool) []string {
	u.t.Helper()
	var got []string
	pause := time.Duration(0)
	if resend {
		pause = 10 * time.Millisecond // let upsd read the bad bytes alone
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var timer <-chan time.Time
		if resend {
			timer = time.After(pause)
		} else {
			timer = time.After(time.Until(deadline))
		}
		select {
		case line, ok := <-u.lines:
			if !ok {
				u.t.Fatalf("requests %q: reading from upsd: %v; replies so far %q", requests, u.readErr, got)
			}
			n, ok := sentinelNum(line)
			if !ok {
				got = append(got, line)
				continue
			}
			for n < u.sent {
				line, ok := <-u.lines
				if m, isSentinel := sentinelNum(line); !ok || !isSentinel || m <= n {
					u.t.Fatalf("requests %q: after sentinel %d of %d: upsd said %q", requests, n, u.sent, line)
				} else {
					n = m
				}
			}
			return got
		case <-timer:
			u.write(u.sentinel())
			pause = 200 * time.Millisecond
		}
	}
	u.t.Fatalf("requests %q: upsd answered no sentinel; replies so far %q", requests, got)
	return nil
}

// TestScannerAgainstRealUpsd sends request bytes to NUT 2.8.0's upsd and
// checks that it split them into the words the Scanner finds: upsd echoes the
// UPS and variable words of GET DESC back verbatim. Each case is a list of
// writes; what upsd answers to a write depends on how it reads it (see
// predictWrite), so a write that the Scanner says holds a parse error is
// not followed by anything until upsd has provably read it.
func TestScannerAgainstRealUpsd(t *testing.T) {
	u := newUpsdWire(t, startRealUpsd(t))
	payloads := []string{
		"zz\n", "zz a b\n", "\"zz a\"\n", "\n", "\"\"\n", "zz\\=x\n", "zz=x\n", "zz#x\n", "zz\\#x\n",
		"zz\"x\n", "\"zz\"x\n", "zz\\\\x\n", "\"zz\\\"x\"\n", "zz\\ x\n", "zz\x01x\n", "zz\xffx\n",
		"\"zz\tx\"\n", "\"zz\rx\"\n", "zz\rx\n", "zz\x7fx\n", "zz\\\nx\n", "\\\n zz\n", "\"zz\nx\"\n",
		"\"zz\\\nx\"\n", "\xff zz\n", "\x01zz\n", "zz\vx\n", "zz\fx\n", "=\n", "zz==\n", "Bü\n",
		"zz \\\n\n", "zz # c \\\nGET DESC d yy\n", "\\\"zz\n", "zz\x00x\n",
		// # in quotes: an error unless escaped.
		"\"zz#x\"\n", "\"zz\\#x\"\n", "\"#\"\n", "zz\"#x\"\n", "\"zz\"#x\"\n", "\"zz\nx#\"\n",
		"zz # \"x#y\"\n", "\\\"#x\n",
	}
	var cases [][]string
	for _, p := range payloads {
		cases = append(cases, []string{"GET DESC d " + p}, []string{p})
	}
	for _, p := range []string{
		"\x01GET DESC d zz\n", "\xff GET DESC d zz\n", "gEt dEsC D zz\n", "\tGET\tDESC\td\tzz\t\n",
		"GET DESC d zz\r\n", "GET\\\n DESC d zz\n", "\"GET\" \"DESC\" \"d\" \"zz\"\n", "GET=DESC d zz\n",
		"GET DESC " + strings.Repeat("a ", 40) + "\n",
		"GET DESC " + strings.Repeat("a ", 40) + "\"#\"\n",
	} {
		cases = append(cases, []string{p})
	}
	cases = append(cases,
		// No answer to a line with # in quotes, and the rest of upsd's
		// read is dropped: a VER in the same write is lost, one in a
		// later read is answered.
		[]string{"GET VAR \"d#1\" ups.status\nVER\n"},
		[]string{"GET VAR \"d#1\" ups.status\n", "VER\n"},
		[]string{"GET VAR d \"ups.st#atus\"\nVER\n"},
		[]string{"GET VAR d \"ups.st#atus\"\n", "VER\n"},
		[]string{"GET VAR \"d\" \"ups.status#\"\nVER\n"},
		[]string{"GET VAR \"d\" \"ups.status#\"\n", "VER\n"},
		// Lines before the bad one in the same read are answered.
		[]string{"GET VAR d ups.status\nGET DESC \"d#x\nGET DESC d zz\n"},
		// The next read starts a new line between words, with no open
		// quote and no words kept from the bad line.
		[]string{"GET DESC \"d#", "GET DESC d zz\"\n"},
		[]string{"GET DESC \"d#", "1\" zz\n"},
		[]string{"GET DESC \"d#", "\n"},
		// What followed the # in the bad read is gone: the quote closing
		// the bad word is not there to pair with the next read's quote.
		[]string{"GET DESC d \"zz#\"\n", "\"\n", "GET DESC d zz\n", "\"\n"},
		// upsd reads ReadBufSize bytes at a time: only the rest of the
		// read holding the error is dropped.
		[]string{"GET DESC \"d#" + strings.Repeat("x", ReadBufSize-len("GET DESC \"d#")) + "\nGET DESC d zz\n"},
		[]string{"GET DESC \"d#" + strings.Repeat("x", ReadBufSize-1-len("GET DESC \"d#")) + "\nGET DESC d zz\n"},
		[]string{"GET DESC d \"" + strings.Repeat("x", ReadBufSize) + "#\"\nVER\n"},
		// Byte by byte the line after the bad one is answered, and so is
		// what followed the #, as a line of its own.
		strings.Split("GET DESC \"d#x\" zz\nVER\n", ""),
	)
	for _, tc := range cases {
		sc := Scanner{MaxWordLen: DefaultMaxWordLen, MaxWords: DefaultMaxWords}
		var want []string
		for _, w := range tc {
			replies, parseErr := predictWrite(&sc, w)
			want = append(want, replies...)
			switch {
			case parseErr:
				if sc.Pending() {
					t.Fatalf("test case %q: write %q leaves a line open after its error; sentinels would join it", tc, w)
				}
				u.write(w)
				got := u.replies(tc, true)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("requests %q: upsd said %q, Scanner predicts %q", tc, got, want)
				}
				want = nil
			case sc.Pending():
				// The sentinel would join the open line; the next write
				// carries on with it.
				u.write(w)
			default:
				u.write(w + u.sentinel())
				got := u.replies(tc, false)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("requests %q: upsd said %q, Scanner predicts %q", tc, got, want)
				}
				want = nil
			}
		}
		if sc.Pending() {
			t.Fatalf("test case %q leaves a line open", tc)
		}
	}
}
