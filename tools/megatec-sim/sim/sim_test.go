package sim

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestReplies(t *testing.T) {
	u := New()
	u.SetTestDuration(0)
	cases := []struct{ cmd, want string }{
		{"Q1\r", "(230.0 230.0 230.0 020 50.0 27.4 25.0 00001001\r"},
		{"F\r", "#230.0 004 024.0 50.0\r"},
		{"I\r", "#MEGATEC         SIM-1000   1.00      \r"},
		{"T\r", ""},
		{"Q1\r", "(230.0 230.0 230.0 020 50.0 27.4 25.0 00001101\r"},
		{"CT\r", ""},
		{"Q\r", ""},
		{"Q1\r", "(230.0 230.0 230.0 020 50.0 27.4 25.0 00001000\r"},
		{"S.5R0003\r", ""},
		{"Q1\r", "(230.0 230.0 230.0 020 50.0 27.4 25.0 00001010\r"},
		{"C\r", ""},
		{"T07\r", ""},
		{"Q1\r", "(230.0 230.0 230.0 020 50.0 27.4 25.0 00001100\r"},
		{"BOGUS\r", "BOGUS\r"}, // unknown commands are echoed
		{"S1R2\r", "S1R2\r"},
	}
	for _, c := range cases {
		if got := string(u.Respond(c.cmd)); got != c.want {
			t.Errorf("%q: %q, want %q", c.cmd, got, c.want)
		}
	}
	if got := u.Commands(); strings.Join(got, "") != "T\rCT\rQ\rS.5R0003\rC\rT07\rBOGUS\rS1R2\r" {
		t.Errorf("Commands() = %q", got)
	}
	u.SetAck(true)
	if got := string(u.Respond("TL\r")); got != "ACK\r" {
		t.Errorf("TL with ack: %q", got)
	}
}

func TestTestDuration(t *testing.T) {
	u := New()
	u.SetTestDuration(time.Millisecond)
	u.Respond("T\r")
	time.Sleep(5 * time.Millisecond)
	if u.Status().TestInProgress {
		t.Error("the battery test outlived its duration")
	}
}

func TestApply(t *testing.T) {
	u := New()
	steps := []struct {
		line string
		q1   string
		err  string
	}{
		{"mains off", "(000.0 000.0 230.0 020 50.0 25.2 25.0 10001001\r", ""},
		{"lowbatt on", "(000.0 000.0 230.0 020 50.0 21.8 25.0 11001001\r", ""},
		{"mains on", "(230.0 230.0 230.0 020 50.0 27.4 25.0 00001001\r", ""},
		{"set battery.voltage 2.27", "(230.0 230.0 230.0 020 50.0 2.27 25.0 00001001\r", ""},
		{"set bits 11111111", "(230.0 230.0 230.0 020 50.0 2.27 25.0 11111111\r", ""},
		{"set load 5", "(230.0 230.0 230.0 005 50.0 2.27 25.0 11111111\r", ""},
		{"set bits 2", "", "bits wants 8 digits"},
		{"set nothing 1", "", "unknown field"},
		{"set load x", "", "not a number"},
		{"mains maybe", "", "on|off"},
		{"fault bogus", "", "want fault"},
		{"delay -1s", "", "want delay"},
		{"explode", "", "unknown command"},
	}
	for _, s := range steps {
		err := u.Apply(s.line)
		if s.err != "" {
			if err == nil || !strings.Contains(err.Error(), s.err) {
				t.Errorf("%q: error %v, want %q", s.line, err, s.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", s.line, err)
		}
		if got := u.Status().Q1(); got != s.q1 {
			t.Errorf("after %q: %q, want %q", s.line, got, s.q1)
		}
	}
}

func TestFaults(t *testing.T) {
	u := New()
	u.SetFault(FaultNoReply)
	if r := u.Respond("Q1\r"); r != nil {
		t.Errorf("no reply: %q", r)
	}
	u.SetFault(FaultPartial)
	if r := string(u.Respond("Q1\r")); strings.Contains(r, "\r") || len(r) == 0 {
		t.Errorf("partial: %q", r)
	}
	u.SetFault(FaultGarbage)
	if r := u.Respond("Q1\r"); r[len(r)-1] != '\r' || r[0] != '(' {
		t.Errorf("garbage: %q", r)
	}
}

// openSlave opens the pty through the link as a driver would, raw.
func openSlave(t *testing.T, link string) *os.File {
	t.Helper()
	f, err := os.OpenFile(link, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSerialRoundTripAndReconnect(t *testing.T) {
	link := filepath.Join(t.TempDir(), "tty")
	u := New()
	s, err := ListenSerial(u, link)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := openSlave(t, link)
	if _, err := f.WriteString("Q1\r"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(f).ReadString('\r')
	if err != nil || line != u.Status().Q1() {
		t.Fatalf("read %q, %v", line, err)
	}
	first, _ := os.Readlink(link)

	if err := s.Apply(context.Background(), "disconnect"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("link still there after disconnect: %v", err)
	}
	// The driver's fd sees the hangup.
	buf := make([]byte, 8)
	if n, err := f.Read(buf); err == nil && n > 0 {
		t.Errorf("read %q from a closed pty", buf[:n])
	}
	f.Close()
	if err := s.RunScript(context.Background(), "test", strings.NewReader("# back\nsleep 1ms\nreconnect\nmains off\n")); err != nil {
		t.Fatal(err)
	}
	if second, _ := os.Readlink(link); second == "" {
		t.Fatal("no link after reconnect")
	} else if second == first {
		t.Logf("the new pty reuses %s", second)
	}
	f = openSlave(t, link)
	defer f.Close()
	f.WriteString("Q1\r")
	line, err = bufio.NewReader(f).ReadString('\r')
	if err != nil || !strings.HasSuffix(line, " 10001001\r") {
		t.Fatalf("after reconnect: %q, %v", line, err)
	}
	if err := s.RunScript(context.Background(), "bad", strings.NewReader("sleep\n")); err == nil || !strings.Contains(err.Error(), "bad:1") {
		t.Errorf("script error %v, want one naming bad:1", err)
	}
}
