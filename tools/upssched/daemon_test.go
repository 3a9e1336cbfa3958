package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonut/gonut/sdk/nutconf"
)

func splitLine(line string) ([]string, error) {
	return nutconf.Split(line)
}

// recorder is a Runner that notes each command.
type recorder struct {
	mu   sync.Mutex
	runs []string
	ch   chan string
}

func newRecorder() *recorder { return &recorder{ch: make(chan string, 100)} }

func (r *recorder) run(arg string, env []string) {
	s := arg + " " + strings.Join(env, " ")
	r.mu.Lock()
	r.runs = append(r.runs, s)
	r.mu.Unlock()
	r.ch <- s
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.runs...)
}

// wait returns the next command run, failing after a generous time.
func (r *recorder) wait(t *testing.T) string {
	t.Helper()
	select {
	case s := <-r.ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("no command ran; ran so far: %q", r.got())
		return ""
	}
}

// startDaemon runs a Daemon in-process on a temporary PIPEFN and returns a
// Client for it, and a channel closed when Serve returns.
func startDaemon(t *testing.T, idle time.Duration) (*Client, *recorder, chan struct{}) {
	t.Helper()
	dir := t.TempDir()
	cfg := &Config{PipeFn: filepath.Join(dir, "pipe"), LockFn: filepath.Join(dir, "lock"), CmdScript: "unused"}
	rec := newRecorder()
	log := &Logger{}
	done := make(chan struct{})
	started := false
	c := &Client{Cfg: cfg, Log: log, StartDaemon: func(cfg *Config) error {
		if started {
			t.Errorf("a second daemon was started")
			return fmt.Errorf("second daemon")
		}
		started = true
		l, err := Listen(cfg.PipeFn)
		if err != nil {
			return err
		}
		d := &Daemon{PipeFn: cfg.PipeFn, Run: rec.run, Idle: idle, Log: log}
		go func() {
			d.Serve(l)
			close(done)
		}()
		return nil
	}}
	t.Cleanup(func() {
		if !started {
			return
		}
		select {
		case <-done:
		case <-time.After(idle + 10*time.Second):
			t.Errorf("daemon still running at the end of the test")
		}
	})
	return c, rec, done
}

func send(t *testing.T, c *Client, cancelOnly bool, cmd string, args ...string) {
	t.Helper()
	if _, err := c.Send(encode(cmd, args...), cancelOnly); err != nil {
		t.Fatal(err)
	}
}

func TestStartThenCancelRunsNothing(t *testing.T) {
	c, rec, done := startDaemon(t, 200*time.Millisecond)
	send(t, c, false, "START", "onbatt", "1", "ups1", "ONBATT")
	send(t, c, true, "CANCEL", "onbatt", "", "ups1", "ONLINE")
	<-done // the daemon leaves once idle: nothing can fire any more
	if got := rec.got(); len(got) != 0 {
		t.Errorf("ran %q, want nothing", got)
	}
}

func TestCancelWithoutDaemonStartsNone(t *testing.T) {
	c, _, _ := startDaemon(t, time.Second)
	started := false
	c.StartDaemon = func(*Config) error { started = true; return fmt.Errorf("must not start") }
	send(t, c, true, "CANCEL", "onbatt", "", "ups1", "ONLINE")
	if started {
		t.Error("a CANCEL without command started a daemon")
	}
}

func TestTimerSemantics(t *testing.T) {
	for _, tc := range []struct {
		name string
		reqs [][]string // "START"... (the last word of START is the caller's UPS)
		want []string
	}{
		{"expiry runs the timer name with the starter's UPS",
			[][]string{{"START", "t", "0", "ups1", "ONBATT"}},
			[]string{"t UPSNAME=ups1 NOTIFYTYPE=ONBATT"}},
		{"two STARTs of one name: both fire (NUT)",
			[][]string{{"START", "t", "0", "a", "ONBATT"}, {"START", "t", "0", "b", "ONBATT"}},
			[]string{"t UPSNAME=a NOTIFYTYPE=ONBATT", "t UPSNAME=b NOTIFYTYPE=ONBATT"}},
		{"CANCEL removes only the oldest of that name (NUT)",
			[][]string{{"START", "t", "1", "a", "ONBATT"}, {"START", "t", "1", "b", "ONBATT"}, {"CANCEL", "t", "", "c", "ONLINE"}},
			[]string{"t UPSNAME=b NOTIFYTYPE=ONBATT"}},
		{"START-SHARED keeps the first timer of that name",
			[][]string{{"START-SHARED", "t", "1", "a", "ONBATT"}, {"START-SHARED", "t", "0", "b", "ONBATT"}},
			[]string{"t UPSNAME=a NOTIFYTYPE=ONBATT"}},
		{"START-SHARED after START does not add one",
			[][]string{{"START", "t", "1", "a", "ONBATT"}, {"START-SHARED", "t", "0", "b", "ONBATT"}},
			[]string{"t UPSNAME=a NOTIFYTYPE=ONBATT"}},
		{"CANCEL-MATCHED removes every match",
			[][]string{{"START", "onbatt-a", "1", "a", "ONBATT"}, {"START", "onbatt-b", "1", "b", "ONBATT"},
				{"START", "other", "1", "c", "ONBATT"}, {"START", "onbatt-a", "1", "a", "ONBATT"},
				{"CANCEL-MATCHED", "onbatt-*", "", "x", "ONLINE"}},
			[]string{"other UPSNAME=c NOTIFYTYPE=ONBATT"}},
		{"CANCEL of nothing runs its command at once, with the caller's UPS",
			[][]string{{"CANCEL", "t", "gone", "u", "ONLINE"}},
			[]string{"gone UPSNAME=u NOTIFYTYPE=ONLINE"}},
		{"CANCEL that found its timer does not run the command",
			[][]string{{"START", "t", "1", "a", "ONBATT"}, {"CANCEL", "t", "gone", "u", "ONLINE"}},
			nil},
		{"CANCEL-MATCHED of nothing runs its command",
			[][]string{{"START", "x", "1", "a", "ONBATT"}, {"CANCEL-MATCHED", "t*", "none", "u", "ONLINE"}},
			[]string{"none UPSNAME=u NOTIFYTYPE=ONLINE", "x UPSNAME=a NOTIFYTYPE=ONBATT"}},
		{"timers fire in deadline order, not start order",
			[][]string{{"START", "late", "2", "a", "ONBATT"}, {"START", "early", "1", "a", "ONBATT"}},
			[]string{"early UPSNAME=a NOTIFYTYPE=ONBATT", "late UPSNAME=a NOTIFYTYPE=ONBATT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, rec, done := startDaemon(t, 100*time.Millisecond)
			for _, r := range tc.reqs {
				send(t, c, false, r[0], r[1:]...)
			}
			<-done
			if got := rec.got(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ran\n %q\nwant\n %q", got, tc.want)
			}
		})
	}
}

func TestListAndIdleExit(t *testing.T) {
	c, rec, done := startDaemon(t, 300*time.Millisecond)
	if ts, err := c.List(); err != nil || len(ts) != 0 {
		t.Fatalf("List with no daemon = %v, %v; want nothing", ts, err)
	}
	send(t, c, false, "START", "b", "60", "ups2", "LOWBATT")
	send(t, c, false, "START", "a", "1", "ups1", "ONBATT")
	ts, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Name != "a" || ts[0].UPS != "ups1" || ts[0].NotifyType != "ONBATT" ||
		ts[1].Name != "b" || ts[1].UPS != "ups2" || ts[1].NotifyType != "LOWBATT" {
		t.Fatalf("List = %+v", ts)
	}
	if ts[0].Left > time.Second || ts[1].Left <= 50*time.Second {
		t.Errorf("time left: %v, %v", ts[0].Left, ts[1].Left)
	}
	if got := rec.wait(t); got != "a UPSNAME=ups1 NOTIFYTYPE=ONBATT" {
		t.Errorf("fired %q", got)
	}
	select {
	case <-done:
		t.Fatal("daemon left with timer b still running")
	default:
	}
	send(t, c, true, "CANCEL", "b", "", "ups2", "ONLINE")
	<-done
	if _, err := c.List(); err != nil {
		t.Errorf("List after exit: %v", err)
	}
}

func TestUnknownRequest(t *testing.T) {
	c, rec, done := startDaemon(t, 100*time.Millisecond)
	send(t, c, false, "START", "x", "60", "a", "ONBATT") // starts the daemon
	_, err := c.Send("BOGUS \"x\"\n", false)
	if err == nil || !strings.Contains(err.Error(), "ERR UNKNOWN") {
		t.Errorf("err = %v, want the daemon's ERR UNKNOWN", err)
	}
	send(t, c, true, "CANCEL", "x", "", "a", "ONLINE")
	<-done
	if got := rec.got(); len(got) != 0 {
		t.Errorf("ran %q", got)
	}
}

func TestListenPermissions(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pipe")
	if err := os.WriteFile(p, nil, 0o644); err != nil { // a stale file in the way
		t.Fatal(err)
	}
	l, err := Listen(p)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o660 {
		t.Errorf("PIPEFN mode %v, want a socket with 0660", st.Mode())
	}
}

func TestStaleLock(t *testing.T) {
	dir := t.TempDir()
	cfg := &Config{PipeFn: filepath.Join(dir, "pipe"), LockFn: filepath.Join(dir, "lock")}
	c := &Client{Cfg: cfg, Log: &Logger{}, StartDaemon: func(*Config) error {
		t.Error("a daemon was started while LOCKFN was held")
		return nil
	}}
	if err := os.WriteFile(cfg.LockFn, nil, 0); err != nil {
		t.Fatal(err)
	}
	// A fresh lock belongs to a caller starting a daemon: wait, keep it.
	if err := c.startOrWait(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.LockFn); err != nil {
		t.Fatalf("a fresh LOCKFN was removed: %v", err)
	}
	// One older than a start may take was left by a caller that died.
	old := time.Now().Add(-2 * startTimeout)
	if err := os.Chtimes(cfg.LockFn, old, old); err != nil {
		t.Fatal(err)
	}
	if err := c.startOrWait(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.LockFn); !os.IsNotExist(err) {
		t.Errorf("a stale LOCKFN was kept: %v", err)
	}
}
