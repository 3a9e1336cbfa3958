package sim

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// talk feeds bytes to a UPS and returns everything it sent back.
func talk(u *UPS, out *[]byte, in string) string {
	n := len(*out)
	for i := 0; i < len(in); i++ {
		u.Receive(in[i])
	}
	return string((*out)[n:])
}

func newTestUPS(t *testing.T) (*UPS, *[]byte, *time.Time) {
	var out []byte
	var mu sync.Mutex
	u := NewUPS(DefaultProfile(), func(b []byte) { mu.Lock(); out = append(out, b...); mu.Unlock() })
	now := time.Now()
	u.now = func() time.Time { return now }
	return u, &out, &now
}

func TestDialogue(t *testing.T) {
	u, out, now := newTestUPS(t)
	for _, c := range []struct {
		in, want string
		advance  time.Duration
	}{
		{"Q", "", 0}, // dumb mode: only Y counts
		{"Y", "SM\r\n", 0},
		{"Q", "08\r\n", 0},
		{"b", "92.11.D\r\n", 0},
		{"V", "NA\r\n", 0},
		{"\x01", "SMART-UPS 3000 RM\r\n", 0},
		{"u-", "133\r\nOK\r\n", 0},
		{"u-u", "136\r\nOK\r\n127\r\n", 0}, // round the list
		{"l", "103\r\n", 0},
		{"E-E", "336\r\nOK\r\n168\r\n", 0},
		{"c-SERVER\r\r", "UPS_IDEN\r\nOK\r\n", 0},
		{"c", "SERVER\r\n", 0},
		{"P-", "016.0\r\nNO\r\n", 0}, // not a setting
		{"@005", "OK\r\n", 0},
		{"@0x", "NO\r\n", 0},
		{"K", "", 0},
		{"K", "OK\r\n", time.Second},
		{"Z", "", 0},
		{"Z", "", 5 * time.Second}, // too late: this one only arms
		{"Z", "", time.Second},     // off
		{"Q", "00\r\n", 0},
		{"\x0e\x0e", "", 0},
		{"S", "NA\r\n", 0}, // on line
		{"W", "OK\r\n", 0},
		{"Q", "10\r\n", 0},
		{"S", "OK\r\n", 0},
		{"W", "OK\r\n", 0},
		{"X", "OK\r\n", 0},
		{"D", "OK\r\n", 0},
		{"Q", "09\r\n", 0},
		{"^^", "BYP\r\nINV\r\n", 0},
		{"?", "NA\r\n", 0},
		{"R", "BYE\r\n", 0},
		{"Q", "", 0},
	} {
		*now = now.Add(c.advance)
		if got := talk(u, out, c.in); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
	want := []string{"set u 136", "set u 127", "set E 168", "set c SERVER", "shutdown.return @005", "shutdown.stayoff K",
		"load.off Z", "load.on ^N", "test.battery.start W", "shutdown.return S", "test.battery.stop W",
		"calibrate.start D", "bypass.start ^", "bypass.stop ^"}
	if got := u.Actions(); !slices.Equal(got, want) {
		t.Errorf("actions %q, want %q", got, want)
	}
}

func TestModesAndScenarios(t *testing.T) {
	u, out, _ := newTestUPS(t)
	talk(u, out, "Y")
	u.SetMode(NoReply)
	if got := talk(u, out, "QQQ"); got != "" {
		t.Errorf("noreply answered %q", got)
	}
	u.SetMode(Partial)
	if got := talk(u, out, "\x01"); got != "SMART-UPS" {
		t.Errorf("partial answered %q", got)
	}
	u.SetMode(Garbage)
	if got := talk(u, out, "Q"); got == "08\r\n" || got == "" {
		t.Errorf("garbage answered %q", got)
	}
	u.SetMode(Normal)
	for _, c := range []struct {
		do     func()
		alert  string
		status byte
		vars   map[byte]string
	}{
		{u.PowerFail, "!", StatOB, map[byte]string{'L': "000.0", 'G': "L"}},
		{u.LowBattery, "%", StatOB | StatLB, map[byte]string{'f': "009.0"}},
		{u.PowerRestore, "$", StatOL, map[byte]string{'L': "121.5"}},
		{u.BatteryCharged, "+", StatOL, map[byte]string{'f': "100.0"}},
		{u.StartBatteryTest, "", StatOB, map[byte]string{'G': "S"}},
		{u.EndBatteryTest, "", StatOL, map[byte]string{'X': "OK"}},
	} {
		n := len(*out)
		c.do()
		if got := string((*out)[n:]); got != c.alert {
			t.Errorf("alert %q, want %q", got, c.alert)
		}
		if u.Status() != c.status {
			t.Errorf("status %02X, want %02X", u.Status(), c.status)
		}
		for k, want := range c.vars {
			if got, _ := u.Get(k); got != want {
				t.Errorf("%q = %q, want %q", k, got, want)
			}
		}
	}
	if u.Count('Q') != 4 {
		t.Errorf("Count('Q') = %d, want 4", u.Count('Q'))
	}
}

func TestDelayedAndTimedTest(t *testing.T) {
	var mu sync.Mutex
	var out []byte
	got := make(chan struct{}, 4)
	u := NewUPS(DefaultProfile(), func(b []byte) { mu.Lock(); out = append(out, b...); mu.Unlock(); got <- struct{}{} })
	u.Receive('Y')
	<-got
	u.SetDelay(50 * time.Millisecond)
	u.SetMode(Delayed)
	start := time.Now()
	u.Receive('Q')
	<-got
	if time.Since(start) < 50*time.Millisecond {
		t.Error("delayed mode answered at once")
	}
	u.SetMode(Normal)
	u.SetTestLength(10 * time.Millisecond)
	u.StartBatteryTest()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for u.Status() != StatOL {
		if ctx.Err() != nil {
			t.Fatal("the battery test never ended by itself")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSimOnPseudoTerminal(t *testing.T) {
	link := filepath.Join(t.TempDir(), "ups")
	var logMu sync.Mutex
	var logged []string
	s, err := Start(Options{Link: link, Logf: func(f string, a ...any) {
		logMu.Lock()
		logged = append(logged, f)
		logMu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ask := func(f *os.File, r *bufio.Reader, q string) string {
		t.Helper()
		if _, err := f.WriteString(q); err != nil {
			t.Fatal(err)
		}
		f.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		return strings.TrimRight(l, "\r\n")
	}
	f, err := os.OpenFile(link, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(f)
	if got := ask(f, r, "Y"); got != "SM" {
		t.Errorf("Y: %q", got)
	}
	if got := ask(f, r, "n"); got != "WS9951003031" {
		t.Errorf("n: %q", got)
	}
	if err := s.Disconnect(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(link); !os.IsNotExist(err) {
		t.Errorf("link still there after Disconnect: %v", err)
	}
	f.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := f.Read(make([]byte, 10)); err == nil {
		t.Error("read from a vanished pseudo-terminal succeeded")
	}
	f.Close()
	if err := s.Reconnect(); err != nil {
		t.Fatal(err)
	}
	f, err = os.OpenFile(link, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r = bufio.NewReader(f)
	if got := ask(f, r, "Y"); got != "SM" { // dumb again after the reconnect
		t.Errorf("Y after reconnect: %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitCount(ctx, 'Y', 2); err != nil {
		t.Error(err)
	}
	if got := string(s.Received()); got != "YnY" {
		t.Errorf("received %q", got)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if len(logged) == 0 {
		t.Error("nothing logged")
	}
}

func TestScript(t *testing.T) {
	s, err := Start(Options{Link: filepath.Join(t.TempDir(), "ups")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out strings.Builder
	script := "# a mains failure\npowerfail\nset f 045.0\nset \\x01 My UPS\nstatus 50\nmode noreply\nmode normal\ndelay 1s\nsleep 1ms\nalert #\nshow\n"
	if err := RunScript(context.Background(), s, strings.NewReader(script), "test.script", &out); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get('f'); v != "045.0" {
		t.Errorf("f = %q", v)
	}
	if v, _ := s.Get(0x01); v != "My UPS" {
		t.Errorf("model = %q", v)
	}
	if s.Status() != StatOB|StatLB {
		t.Errorf("status %02X", s.Status())
	}
	if !strings.Contains(out.String(), "status 50") {
		t.Errorf("show printed %q", out.String())
	}
	for _, bad := range []string{"bogus", "status zz", "mode fast", "set", "sleep x"} {
		err := RunScript(context.Background(), s, strings.NewReader(bad), "bad.script", &out)
		if err == nil || !strings.HasPrefix(err.Error(), "bad.script:1: ") {
			t.Errorf("%q: error %v, want one naming bad.script:1", bad, err)
		}
	}
}
