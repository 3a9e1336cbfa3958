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

// predictReply is what upsd answers to one request line of these tests,
// given the words the Scanner found: only GET DESC is used.
func predictReply(words []string) string {
	switch {
	case len(words) == 0 || !strings.EqualFold(words[0], "GET"):
		return "ERR UNKNOWN-COMMAND"
	case len(words) < 2 || !strings.EqualFold(words[1], "DESC"):
		return "ERR INVALID-ARGUMENT"
	case len(words) < 4:
		return "ERR INVALID-ARGUMENT"
	case !strings.EqualFold(words[2], "d"):
		return "ERR UNKNOWN-UPS"
	}
	return fmt.Sprintf("DESC %s %s \"Description unavailable\"", words[2], words[3])
}

// TestScannerAgainstRealUpsd sends request bytes to NUT 2.8.0's upsd and
// checks that it split them into the words the Scanner finds: upsd echoes the
// UPS and variable words of GET DESC back verbatim.
func TestScannerAgainstRealUpsd(t *testing.T) {
	conn := startRealUpsd(t)
	r := bufio.NewReader(conn)
	payloads := []string{
		"zz\n", "zz a b\n", "\"zz a\"\n", "\n", "\"\"\n", "zz\\=x\n", "zz=x\n", "zz#x\n", "zz\\#x\n",
		"zz\"x\n", "\"zz\"x\n", "zz\\\\x\n", "\"zz\\\"x\"\n", "zz\\ x\n", "zz\x01x\n", "zz\xffx\n",
		"\"zz\tx\"\n", "\"zz\rx\"\n", "zz\rx\n", "zz\x7fx\n", "zz\\\nx\n", "\\\n zz\n", "\"zz\nx\"\n",
		"\"zz\\\nx\"\n", "\xff zz\n", "\x01zz\n", "zz\vx\n", "zz\fx\n", "=\n", "zz==\n", "Bü\n",
		"zz \\\n\n", "zz # c \\\nGET DESC d yy\n", "\\\"zz\n", "zz\x00x\n",
	}
	var cases []string
	for _, p := range payloads {
		cases = append(cases, "GET DESC d "+p, p)
	}
	cases = append(cases,
		"\x01GET DESC d zz\n", "\xff GET DESC d zz\n", "gEt dEsC D zz\n", "\tGET\tDESC\td\tzz\t\n",
		"GET DESC d zz\r\n", "GET\\\n DESC d zz\n", "\"GET\" \"DESC\" \"d\" \"zz\"\n", "GET=DESC d zz\n",
		"GET DESC "+strings.Repeat("a ", 40)+"\n",
	)
	for _, in := range cases {
		sc := Scanner{MaxWordLen: DefaultMaxWordLen, MaxWords: DefaultMaxWords}
		var want []string
		for i := 0; i < len(in); i++ {
			if words, done, _ := sc.Feed(in[i]); done {
				want = append(want, predictReply(words))
			}
		}
		if sc.Pending() {
			t.Fatalf("test case %q leaves a line open", in)
		}
		// A sentinel request proves no extra reply was pending.
		want = append(want, predictReply([]string{"GET", "DESC", "d", "sync"}))
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte(in + "GET DESC d sync\n")); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			got, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("request %q: reading reply: %v", in, err)
			}
			if got = strings.TrimSuffix(got, "\n"); got != w {
				t.Errorf("request %q: upsd said %q, Scanner predicts %q", in, got, w)
			}
		}
	}
}
