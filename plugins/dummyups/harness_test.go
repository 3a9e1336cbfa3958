package dummyups

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/gonut/gonut/sdk/plugin"
	"github.com/gonut/gonut/sdk/sockproto"
)

// fakeClock is a settable clock for TIMER tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// captured is the driver under test; it keeps the Device the SDK hands to
// Init so that a test can poll by hand.
type captured struct {
	*Driver
	dev chan *sdk.Device
}

func (c *captured) Init(ctx context.Context, d *sdk.Device) error {
	err := c.Driver.Init(ctx, d)
	c.dev <- d
	return err
}

// instance is one dummy-ups run in-process through sdk.NewServer, with the
// socket state its updates build (what upsd would mirror).
type instance struct {
	t     *testing.T
	srv   plugin.Server
	drv   *Driver
	dev   *sdk.Device
	clock *fakeClock
	logs  *syncBuffer

	mu      sync.Mutex
	st      *sockproto.State
	updates int
	runErr  chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// opts turns "key = value" and "flag" lines into ups.conf options.
func opts(t *testing.T, lines ...string) []plugin.Option {
	t.Helper()
	var out []plugin.Option
	for _, l := range lines {
		w, err := nutconf.Split(l)
		if err != nil {
			t.Fatalf("option %q: %v", l, err)
		}
		switch {
		case len(w) == 3 && w[1] == "=":
			out = append(out, plugin.Option{Key: w[0], Value: w[2], HasValue: true})
		case len(w) == 1:
			out = append(out, plugin.Option{Key: w[0]})
		default:
			t.Fatalf("option %q: want key = value or a flag", l)
		}
	}
	return out
}

// startErr runs dummy-ups on confDir with a ups.conf section made of
// options (driver = dummy-ups is added) and returns its Run error if it
// ends before publishing.
func startErr(t *testing.T, confDir string, options ...string) (*instance, error) {
	t.Helper()
	return startSetup(t, confDir, nil, options...)
}

// startSetup is startErr with a hook that prepares the driver before it
// starts (e.g. its dialer in repeater mode).
func startSetup(t *testing.T, confDir string, setup func(*Driver), options ...string) (*instance, error) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	drv := New()
	drv.now = clock.Now
	if setup != nil {
		setup(drv)
	}
	logs := &syncBuffer{}
	log := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})
	c := &captured{Driver: drv, dev: make(chan *sdk.Device, 1)}
	in := &instance{t: t, srv: sdk.NewServer(Info, c, sdk.WithLogger(log)), drv: drv, clock: clock, logs: logs, runErr: make(chan error, 1)}
	// The SDK polls every pollinterval; an hour keeps it from polling on
	// its own, so that the test decides when the driver polls.
	o := append(opts(t, "driver = dummy-ups", "pollinterval = 3600"), opts(t, options...)...)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		in.runErr <- in.srv.Run(ctx, plugin.RunRequest{UPS: "dummy", Driver: "dummy-ups", Options: o, ConfPath: confDir}, in.send)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-in.runErr:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
		if t.Failed() {
			t.Logf("driver log:\n%s", logs.String())
		}
	})
	select {
	case in.dev = <-c.dev:
	case err := <-in.runErr:
		in.runErr <- err
		return nil, err
	case <-time.After(10 * time.Second):
		t.Fatal("dummy-ups did not initialise")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		in.mu.Lock()
		ok := in.st != nil
		in.mu.Unlock()
		if ok {
			return in, nil
		}
		select {
		case err := <-in.runErr:
			in.runErr <- err
			return nil, err
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("dummy-ups published no snapshot")
		}
	}
}

// start is startErr for a run that must succeed.
func start(t *testing.T, confDir string, options ...string) *instance {
	t.Helper()
	in, err := startErr(t, confDir, options...)
	if err != nil {
		t.Fatalf("dummy-ups: %v\nlog:\n", err)
	}
	return in
}

func (in *instance) send(u plugin.Update) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if u.Snapshot {
		in.st = sockproto.NewState()
	}
	if in.st == nil {
		return errors.New("update before the snapshot")
	}
	for _, m := range u.Msgs {
		if err := in.st.Apply(m); err != nil {
			in.t.Errorf("driver sent %q: %v", m, err)
		}
	}
	in.updates++
	return nil
}

// poll runs one update as the SDK's poll loop does and publishes it.
func (in *instance) poll() error {
	in.t.Helper()
	err := in.drv.Poll(context.Background(), in.dev)
	if err != nil {
		in.dev.DataStale()
	} else {
		in.dev.DataOK()
	}
	if cerr := in.dev.Commit(); cerr != nil {
		in.t.Fatalf("commit: %v", cerr)
	}
	return err
}

// value returns a variable as upsd would see it.
func (in *instance) value(name string) (string, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.st.Value(name)
}

// dump is the socket state as DUMPALL lines, driver.version* left out
// (gonut's differ from NUT's by design).
func (in *instance) dump() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return normalDump(in.st)
}

// normalDump renders a state as DUMPALL lines without driver.version and
// driver.version.internal.
func normalDump(st *sockproto.State) string {
	var b strings.Builder
	for _, l := range st.Dump() {
		if strings.Contains(l, " driver.version ") || strings.Contains(l, " driver.version.internal ") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

// parseDump reads DUMPALL lines (as NUT's dummy-ups sends them) into a
// state.
func parseDump(t *testing.T, text string) *sockproto.State {
	t.Helper()
	st := sockproto.NewState()
	for i, l := range strings.Split(text, "\n") {
		w, err := nutconf.Split(l)
		if err != nil {
			t.Fatalf("dump line %d %q: %v", i+1, l, err)
		}
		if len(w) == 0 || w[0] == "DUMPDONE" {
			continue
		}
		if err := st.Apply(w); err != nil {
			t.Fatalf("dump line %d %q: %v", i+1, l, err)
		}
	}
	return st
}

func testdataDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return d
}
