package control

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// fake records calls and answers with fixed data.
type fake struct {
	calls []string
	exit  chan struct{}
}

func (f *fake) Start(_ context.Context, ups ...string) error {
	f.calls = append(f.calls, "start "+join(ups))
	return errors.Join(errors.New("UPS x: boom"), errors.New("UPS y: bang"))
}
func (f *fake) Stop(ups ...string) error { f.calls = append(f.calls, "stop "+join(ups)); return nil }
func (f *fake) Restart(_ context.Context, ups ...string) error {
	f.calls = append(f.calls, "restart "+join(ups))
	return nil
}
func (f *fake) Status() []Instance {
	return []Instance{{UPS: "a", Driver: "d", Path: "/p", State: "failed", PID: 0, Restarts: 7, LastError: "no device",
		Kind: "gonut", Since: time.UnixMilli(1700000000123), Failures: 5, ExitStatus: "exit status 3", UPSStatus: "OL", SDOrder: 2}}
}
func (f *fake) Stats() HostStats { return HostStats{Goroutines: 12, FDs: 9, RSSBytes: 1 << 20} }
func (f *fake) Resync(context.Context) (ResyncResult, error) {
	return ResyncResult{Added: []string{"n"}, Removed: []string{"o"}, Restarted: []string{"c"}, Reloaded: []string{"r"}, UpsdPID: 42}, nil
}
func (f *fake) Shutdown(_ context.Context, ups ...string) ([]ShutdownStep, error) {
	return []ShutdownStep{{UPS: "b", Driver: "d", SDOrder: 0}, {UPS: "a", Driver: "d", SDOrder: 2, Err: errors.New("refused")}}, nil
}
func (f *fake) Dump(ups ...string) (map[string][]string, error) {
	return map[string][]string{"b": {"SETINFO x \"1\"\n"}, "a": {"DATAOK\n"}}, nil
}
func (f *fake) Exit() { close(f.exit) }

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

func TestControlRoundTrip(t *testing.T) {
	dir := t.TempDir()
	f := &fake{exit: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, dir, Owner{}, f) }()
	var c *Client
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err = Dial(dir); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer c.Close()
	st, err := os.Stat(SocketPath(dir))
	if err != nil || st.Mode().Perm() != 0o660 {
		t.Errorf("control socket mode: %v %v", st.Mode(), err)
	}
	// A second host on the same directory is refused.
	if err := Serve(ctx, dir, Owner{}, f); err == nil {
		t.Error("a second Serve on a live socket succeeded")
	}

	if errs := c.Start(ctx, "x", "y"); len(errs) != 2 || errs[1].Error() != "UPS y: bang" {
		t.Errorf("start errors: %v", errs)
	}
	if errs := c.Restart(ctx); len(errs) != 0 {
		t.Errorf("restart: %v", errs)
	}
	ins, hs, err := c.StatusStats(ctx)
	if err != nil || !reflect.DeepEqual(ins, f.Status()) || hs.Goroutines != 12 || hs.FDs != 9 || hs.RSSBytes != 1<<20 || hs.PID != os.Getpid() {
		t.Errorf("status: %+v %+v %v", ins, hs, err)
	}
	r, errs := c.Resync(ctx)
	if len(errs) != 0 || !reflect.DeepEqual(r, ResyncResult{Added: []string{"n"}, Removed: []string{"o"}, Restarted: []string{"c"}, Reloaded: []string{"r"}, UpsdPID: 42}) {
		t.Errorf("resync: %+v %v", r, errs)
	}
	steps, errs := c.Shutdown(ctx)
	if len(errs) != 0 || len(steps) != 2 || steps[0].UPS != "b" || steps[0].Err != nil || steps[1].Err == nil || steps[1].Err.Error() != "refused" {
		t.Errorf("shutdown: %+v %v", steps, errs)
	}
	order, dumps, errs := c.Dump(ctx)
	if len(errs) != 0 || !reflect.DeepEqual(order, []string{"a", "b"}) || dumps["a"][0] != "DATAOK\n" {
		t.Errorf("dump: %v %v %v", order, dumps, errs)
	}
	if err := c.Exit(ctx); err != nil {
		t.Fatal(err)
	}
	<-f.exit
	if !reflect.DeepEqual(f.calls, []string{"start x,y", "restart "}) {
		t.Errorf("calls: %q", f.calls)
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
	if _, err := os.Stat(SocketPath(dir)); err == nil {
		t.Error("control socket left behind")
	}
}

// TestOwner: run as root, the socket goes to ups.conf's user and group.
func TestOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	p := filepath.Join(t.TempDir(), "sock")
	if err := os.WriteFile(p, nil, 0o660); err != nil {
		t.Fatal(err)
	}
	if err := (Owner{User: "nobody"}).chown(p); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if strconv.Itoa(int(st.Uid)) != u.Uid || strconv.Itoa(int(st.Gid)) != u.Gid {
		t.Errorf("owner %d:%d, want %s:%s", st.Uid, st.Gid, u.Uid, u.Gid)
	}
	if err := (Owner{User: "no-such-user-gonut"}).chown(p); err == nil {
		t.Error("unknown user accepted")
	}
}
