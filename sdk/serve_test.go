package sdk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/gonut/gonut/sdk/plugin"
)

type fakeDriver struct {
	mu     sync.Mutex
	polls  int
	failAt map[int]bool
	closed bool
}

func (f *fakeDriver) Init(_ context.Context, d *Device) error {
	d.SetInfo("ups.status", "OL")
	d.SetInfo("battery.charge", "100")
	d.SetFlags("battery.charge", FlagRW|FlagNumber)
	d.AddCmd("test.battery.start")
	return nil
}

func (f *fakeDriver) Poll(_ context.Context, d *Device) error {
	f.mu.Lock()
	f.polls++
	n := f.polls
	f.mu.Unlock()
	if f.failAt[n] {
		return errors.New("device did not answer")
	}
	d.SetInfof("battery.charge", "%d", 100-n)
	return nil
}

func (f *fakeDriver) Close(context.Context) error { f.closed = true; return nil }

func (f *fakeDriver) InstCmd(_ context.Context, d *Device, cmd, param string) error {
	if param == "bad" {
		return fmt.Errorf("param %q: %w", param, ErrInvalid)
	}
	d.SetInfo("ups.test.result", "In progress")
	return nil
}

func (f *fakeDriver) SetVar(_ context.Context, d *Device, name, value string) error {
	if value == "x" {
		return ErrConversion
	}
	d.SetInfo(name, value)
	return nil
}

// dispense runs srv through go-plugin's real gRPC path, in process.
func dispense(t *testing.T, srv plugin.Server) plugin.Instance {
	t.Helper()
	client, _ := goplugin.TestPluginGRPCConn(t, false, map[string]goplugin.Plugin{
		plugin.PluginName: &plugin.GRPCPlugin{Impl: srv},
	})
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(plugin.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(plugin.Instance)
}

func has(msgs [][]string, words ...string) bool {
	return slices.ContainsFunc(msgs, func(m []string) bool { return slices.Equal(m, words) })
}

func TestServeThroughGRPC(t *testing.T) {
	drv := &fakeDriver{failAt: map[int]bool{2: true}}
	p := dispense(t, NewServer(Info{Name: "fake", Version: "9.9"}, drv))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	caps, err := p.Capabilities(ctx, plugin.Capabilities{Minor: plugin.ProtocolMinor})
	if err != nil || caps.Version != Version {
		t.Fatalf("capabilities: %+v %v", caps, err)
	}
	recv, err := p.Run(ctx, plugin.RunRequest{UPS: "u1", Driver: "fake", Options: []plugin.Option{
		{Key: "driver", Value: "fake", HasValue: true}, {Key: "port", Value: "auto", HasValue: true},
		{Key: "pollinterval", Value: "1", HasValue: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := recv()
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Snapshot || snap.PollInterval != 1000 {
		t.Fatalf("first update is not a snapshot: %+v", snap)
	}
	for _, w := range [][]string{
		{"SETINFO", "ups.status", "OL"}, {"SETFLAGS", "battery.charge", "RW", "NUMBER"},
		{"ADDCMD", "test.battery.start"}, {"SETINFO", "driver.name", "fake"},
		{"SETINFO", "driver.version.internal", "9.9"}, {"DATAOK"},
	} {
		if !has(snap.Msgs, w...) {
			t.Errorf("snapshot lacks %q: %q", w, snap.Msgs)
		}
	}
	// Poll 1 changes the charge, poll 2 fails (stale), poll 3 recovers.
	var seen [][]string
	heartbeats := 0
	for heartbeats < 3 {
		u, err := recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(u.Msgs) == 0 {
			heartbeats++
		}
		seen = append(seen, u.Msgs...)
	}
	for _, w := range [][]string{{"SETINFO", "battery.charge", "99"}, {"DATASTALE"}, {"DATAOK"}, {"SETINFO", "battery.charge", "97"}} {
		if !has(seen, w...) {
			t.Errorf("updates lack %q: %q", w, seen)
		}
	}

	for _, tt := range []struct {
		cmd, param string
		want       int
	}{
		{"test.battery.start", "", plugin.StatHandled},
		{"test.battery.start", "bad", plugin.StatInvalid},
		{"load.off", "", plugin.StatUnknown},
	} {
		r, err := p.InstCmd(ctx, tt.cmd, tt.param)
		if err != nil || r.Status != tt.want {
			t.Errorf("InstCmd(%s, %q) = %+v, %v; want status %d", tt.cmd, tt.param, r, err, tt.want)
		}
	}
	for _, tt := range []struct {
		name, value string
		want        int
	}{
		{"battery.charge", "50", plugin.StatHandled},
		{"battery.charge", "x", plugin.StatConversion},
		{"no.such.var", "1", plugin.StatUnknown},
	} {
		r, err := p.SetVar(ctx, tt.name, tt.value)
		if err != nil || r.Status != tt.want {
			t.Errorf("SetVar(%s, %q) = %+v, %v; want status %d", tt.name, tt.value, r, err, tt.want)
		}
	}
	// The command's and the SET's effects arrive as updates.
	deadline := time.After(5 * time.Second)
	for !has(seen, "SETINFO", "ups.test.result", "In progress") || !has(seen, "SETINFO", "battery.charge", "50") {
		u, err := recv()
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, u.Msgs...)
		select {
		case <-deadline:
			t.Fatalf("command effects never arrived: %q", seen)
		default:
		}
	}
}

func TestRunRefusesUnknownOption(t *testing.T) {
	p := dispense(t, NewServer(Info{Name: "fake"}, &fakeDriver{}))
	recv, err := p.Run(context.Background(), plugin.RunRequest{UPS: "u1", Options: []plugin.Option{
		{Key: "port", Value: "x", HasValue: true}, {Key: "speed", Value: "fast", HasValue: true},
	}})
	if err == nil {
		_, err = recv()
	}
	if err == nil || !strings.Contains(err.Error(), "'speed' is not a valid variable name for driver fake") {
		t.Fatalf("got %v", err)
	}
}

// TestRunRefusesIgnoreLBWithoutLevels: NUT's check after the first update.
// fakeDriver publishes battery.charge but no battery.charge.low, so
// ignorelb alone is refused, and accepted once the low level is overridden.
func TestRunRefusesIgnoreLBWithoutLevels(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []plugin.Option
		ok   bool
	}{
		{"no low level", []plugin.Option{{Key: "ignorelb"}}, false},
		{"overridden low level", []plugin.Option{{Key: "ignorelb"},
			{Key: "override.battery.charge.low", Value: "20", HasValue: true}}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := dispense(t, NewServer(Info{Name: "fake"}, &fakeDriver{}))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			recv, err := p.Run(ctx, plugin.RunRequest{UPS: "u1", Options: append([]plugin.Option{
				{Key: "port", Value: "x", HasValue: true}, {Key: "pollinterval", Value: "1", HasValue: true}}, tt.opts...)})
			if err != nil {
				t.Fatal(err)
			}
			// Read the snapshot and the first poll's heartbeat.
			for i := 0; i < 3 && err == nil; i++ {
				_, err = recv()
			}
			if tt.ok {
				if err != nil {
					t.Fatalf("ignorelb with a low level: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "ups.conf [u1]: the 'ignorelb' flag is set") {
				t.Fatalf("got %v, want NUT's ignorelb refusal", err)
			}
		})
	}
}

// staleInitDriver starts without its device answering: Init succeeds but
// says DataStale, and the first good poll makes the data fresh.
type staleInitDriver struct{ fakeDriver }

func (s *staleInitDriver) Init(ctx context.Context, d *Device) error {
	if err := s.fakeDriver.Init(ctx, d); err != nil {
		return err
	}
	d.DataStale()
	return nil
}

func TestInitDataStaleIsKept(t *testing.T) {
	p := dispense(t, NewServer(Info{Name: "fake"}, &staleInitDriver{}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recv, err := p.Run(ctx, plugin.RunRequest{UPS: "u1", Options: []plugin.Option{
		{Key: "port", Value: "x", HasValue: true}, {Key: "pollinterval", Value: "1", HasValue: true}}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := recv()
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Snapshot || !has(snap.Msgs, "DATASTALE") || has(snap.Msgs, "DATAOK") {
		t.Fatalf("snapshot after an Init that said DataStale: %q, want DATASTALE", snap.Msgs)
	}
	u, err := recv()
	if err != nil {
		t.Fatal(err)
	}
	if !has(u.Msgs, "DATAOK") {
		t.Fatalf("first good poll sent %q, want DATAOK", u.Msgs)
	}
}

// TestRunWarnsOfARenamedBinary: under the host a section naming another
// driver than the binary's Info.Name runs, with one warning.
func TestRunWarnsOfARenamedBinary(t *testing.T) {
	var buf syncBuffer
	log := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info})
	p := dispense(t, NewServer(Info{Name: "fake"}, &fakeDriver{}, WithLogger(log)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recv, err := p.Run(ctx, plugin.RunRequest{UPS: "u1", Driver: "powerbox", Options: []plugin.Option{
		{Key: "port", Value: "x", HasValue: true}}})
	if err == nil {
		_, err = recv()
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !strings.Contains(got, "ups.conf names another driver than this binary is") ||
		!strings.Contains(got, "driver=powerbox") || !strings.Contains(got, "binary_driver=fake") {
		t.Fatalf("log %q lacks the renamed-binary warning", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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
