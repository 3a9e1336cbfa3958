package blazer

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/gonut/gonut/tools/megatec-sim/sim"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newSerialTransport(t *testing.T, link string, log hclog.Logger) *SerialTransport {
	t.Helper()
	s := &SerialTransport{path: link, dtr: true, log: log, timeout: 300 * time.Millisecond}
	if err := s.open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSerialTransport(t *testing.T) {
	link := filepath.Join(t.TempDir(), "tty")
	u := sim.New()
	line, err := sim.ListenSerial(u, link)
	if err != nil {
		t.Fatal(err)
	}
	defer line.Close()
	s := newSerialTransport(t, link, hclog.NewNullLogger())
	ctx := context.Background()

	got, err := s.Command(ctx, "Q1\r")
	if err != nil || string(got) != u.Status().Q1() {
		t.Fatalf("Q1: %q, %v", got, err)
	}
	// No reply: a timeout, not an error.
	u.SetFault(sim.FaultNoReply)
	if got, err := s.Command(ctx, "Q1\r"); got != nil || err != nil {
		t.Errorf("no reply: %q, %v", got, err)
	}
	// Half a reply without CR: a timeout too.
	u.SetFault(sim.FaultPartial)
	if got, err := s.Command(ctx, "Q1\r"); got != nil || err != nil {
		t.Errorf("partial reply: %q, %v", got, err)
	}
	// Garbage: the first line, LF included, as a canonical read gives it.
	u.SetFault(sim.FaultGarbage)
	if got, err := s.Command(ctx, "F\r"); err != nil || !bytes.HasSuffix(got, []byte("\n")) || bytes.Contains(got, []byte("\r")) {
		t.Errorf("garbage: %q, %v", got, err)
	}
	// A late reply is flushed before the next command, which gets its
	// own answer.
	u.SetFault(sim.FaultNone)
	u.SetDelay(400 * time.Millisecond)
	if got, err := s.Command(ctx, "F\r"); got != nil || err != nil {
		t.Errorf("late reply within the timeout: %q, %v", got, err)
	}
	u.SetDelay(0)
	time.Sleep(500 * time.Millisecond)
	if got, err := s.Command(ctx, "I\r"); err != nil || !strings.HasPrefix(string(got), "#MEGATEC") {
		t.Errorf("after a late reply: %q, %v (want the I reply, not the late F one)", got, err)
	}
}

// TestSerialReopen: when the pty disappears the transport fails, then
// reopens it once it is back, backing off between attempts and logging
// the loss and the return once each.
func TestSerialReopen(t *testing.T) {
	link := filepath.Join(t.TempDir(), "tty")
	u := sim.New()
	line, err := sim.ListenSerial(u, link)
	if err != nil {
		t.Fatal(err)
	}
	defer line.Close()
	var logBuf syncBuf
	log := hclog.New(&hclog.LoggerOptions{Output: &logBuf, Level: hclog.Info})
	s := newSerialTransport(t, link, log)
	ctx := context.Background()
	if _, err := s.Command(ctx, "Q1\r"); err != nil {
		t.Fatal(err)
	}
	if err := line.Disconnect(); err != nil {
		t.Fatal(err)
	}
	failures := 0
	for i := 0; i < 30; i++ {
		if _, err := s.Command(ctx, "Q1\r"); err != nil {
			failures++
		}
		time.Sleep(50 * time.Millisecond)
	}
	if failures < 25 {
		t.Errorf("%d of 30 commands failed with the pty gone", failures)
	}
	if err := line.Reconnect(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := s.Command(ctx, "Q1\r")
		if err == nil && string(got) == u.Status().Q1() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the line never came back: %q, %v", got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := logBuf.String()
	if strings.Count(out, "serial line lost") != 1 || strings.Count(out, "serial line back") != 1 || strings.Count(out, "\n") != 2 {
		t.Errorf("log, want one line for the loss and one for the return:\n%s", out)
	}
}

func TestOpenSerialErrors(t *testing.T) {
	cases := []struct {
		opts []string
		want string
	}{
		{[]string{"port = /nonexistent/tty"}, "unable to open /nonexistent/tty"},
		{[]string{"port = /dev/null", "cablepower = sideways"}, "value 'sideways' not valid for 'cablepower'"},
	}
	for _, c := range cases {
		err := startErr(t, NewSerial(), c.opts...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.opts, err, c.want)
		}
	}
}
