package drivertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/plugin"
	"github.com/gonut/gonut/sdk/sockproto"
)

// Names Conformance uses for what no driver has; the suite expects
// STAT_*_UNKNOWN for them.
const (
	unknownCmd = "experimental.drivertest.no-such-command"
	unknownVar = "experimental.drivertest.no-such-variable"
)

// StatName returns the name of NUT's STAT_INSTCMD_* / STAT_SET_* code, as
// upsd's GET TRACKING shows it.
func StatName(status int) string {
	switch status {
	case plugin.StatHandled:
		return "HANDLED"
	case plugin.StatUnknown:
		return "UNKNOWN"
	case plugin.StatInvalid:
		return "INVALID"
	case plugin.StatFailed:
		return "FAILED"
	case plugin.StatConversion:
		return "CONVERSION_FAILED"
	}
	return fmt.Sprintf("not a NUT status code (%d)", status)
}

// Conformance runs the conformance suite (see the package documentation)
// against fresh drivers from newDriver, configured by cfg. Every failure
// names the rule in brackets, then the variable or command, then what is
// wrong. It takes about two poll intervals plus the time the driver's
// commands take.
func Conformance(t testing.TB, info sdk.Info, newDriver func() sdk.Driver, cfg Config) {
	t.Helper()
	if info.Name == "" {
		t.Fatal("[start] sdk.Info.Name is empty: it is the NUT driver name (driver = ... in ups.conf)")
	}
	c := &conformance{t: t, info: info, newDriver: newDriver, cfg: cfg}
	if !c.main() {
		return
	}
	c.cancellation()
}

type conformance struct {
	t         testing.TB
	info      sdk.Info
	newDriver func() sdk.Driver
	cfg       Config
	reported  map[string]bool
}

// check is CheckState that reports each problem and note once, although
// the state is checked after Init, after polls and after commands.
func (c *conformance) check(st *sockproto.State) {
	c.t.Helper()
	if c.reported == nil {
		c.reported = map[string]bool{}
	}
	problems, notes := Check(st)
	for _, n := range notes {
		if s := n.String(); !c.reported[s] {
			c.reported[s] = true
			c.t.Log(s)
		}
	}
	for _, p := range problems {
		if s := p.String(); !c.reported[s] {
			c.reported[s] = true
			c.t.Error(s)
		}
	}
}

func (c *conformance) errorf(rule, format string, args ...any) {
	c.t.Helper()
	c.t.Errorf("[%s] %s: %s", rule, c.info.Name, fmt.Sprintf(format, args...))
}

// main runs one driver through the host's whole life cycle: start,
// snapshot, heartbeats, commands, SETs, Reload, Shutdown, stop and Close.
// It reports false when the driver failed, so that the cancellation
// checks do not pile more failures on a broken driver.
func (c *conformance) main() bool {
	t := c.t
	t.Helper()
	failedBefore := t.Failed() // the caller's own failures are not the driver's
	h, err := start(t, c.info, c.newDriver(), c.cfg, "pollinterval", "1")
	if err != nil {
		c.errorf("start", "the driver did not start: %v%s", err, h.logTail())
		return false
	}
	if h.caps.Version == "" {
		c.errorf("start", "Capabilities answered without an SDK version")
	}
	if h.caps.Minor > plugin.ProtocolMinor {
		c.errorf("start", "the plugin claims protocol minor %d, above the SDK's %d", h.caps.Minor, plugin.ProtocolMinor)
	}
	t.Logf("%s %s: plugin protocol %d.%d, SDK %s", c.info.Name, c.info.Version, plugin.ProtocolMajor, h.caps.Minor, h.caps.Version)

	snap := h.State()
	if snap.Len() == 0 {
		c.errorf("start", "the snapshot after Init holds no variables")
	}
	if v, _ := snap.Value("driver.name"); v != c.info.Name {
		c.errorf("start", "driver.name is %q, want %q: is Init deleting the SDK's driver.* variables?", v, c.info.Name)
	}
	c.check(snap)

	// The heartbeat: one update per completed poll.
	if err := h.waitHeartbeats(2, h.pollLimit(2)); err != nil {
		c.errorf("heartbeat", "%v%s", err, h.srv.busyNote())
	} else {
		// What the polls published is checked as well as the snapshot.
		c.check(h.State())
	}

	stuck := c.commands(h)
	if !stuck {
		stuck = c.sets(h)
	}
	if !stuck {
		stuck = c.optional(h)
	}
	if !stuck {
		// A final look: commands and SETs may have changed the state.
		c.check(h.State())
	}
	for _, e := range h.ProtocolErrors() {
		c.errorf("protocol", "upsd could not apply %s", e)
	}

	if err := h.Stop(); err != nil {
		c.errorf("close", "Close: %v", err)
	}
	return failedBefore || !t.Failed()
}

// call runs one bounded call through the gRPC path and reports hangs and
// transport errors. It returns false when the driver is stuck.
func (c *conformance) call(h *Harness, rule, kind, name string, fn func(ctx context.Context) (plugin.Result, error)) (plugin.Result, bool, bool) {
	c.t.Helper()
	limit := h.cfg.timeout()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	res, err := fn(ctx)
	switch {
	case err == nil:
	case ctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded:
		// The deadline travels with the call: the plugin side may end
		// the stream before the host's own timer fires.
		c.t.Errorf("[%s] %s %q: no answer within %v: the driver must answer (HANDLED, or FAILED after its own device timeout) before upsd gives up%s",
			rule, kind, name, limit, h.srv.busyNote())
		return res, false, false
	default:
		c.t.Errorf("[%s] %s %q: the call failed instead of answering with a NUT status: %v", rule, kind, name, err)
		return res, false, true
	}
	if res.Status < plugin.StatHandled || res.Status > plugin.StatConversion {
		c.t.Errorf("[%s] %s %q: answered status %d, which is %s", rule, kind, name, res.Status, StatName(res.Status))
		return res, false, true
	}
	return res, true, true
}

// commands runs every listed instant command. It returns true when the
// driver got stuck, after which nothing else can be asked of it.
func (c *conformance) commands(h *Harness) (stuck bool) {
	t := c.t
	t.Helper()
	for _, cmd := range h.State().Cmds() {
		if slices.Contains(c.cfg.SkipCmds, cmd) {
			t.Logf("[instcmd] %q skipped (Config.SkipCmds)", cmd)
			continue
		}
		param := c.cfg.CmdParams[cmd]
		res, ok, alive := c.call(h, "instcmd", "instant command", cmd, func(ctx context.Context) (plugin.Result, error) {
			return h.inst.InstCmd(ctx, cmd, param)
		})
		if !alive {
			return true
		}
		if ok {
			t.Logf("[instcmd] %q %q: %s %s", cmd, param, StatName(res.Status), res.Message)
			if res.Status == plugin.StatUnknown {
				t.Errorf("[instcmd] instant command %q: listed by the driver but answered UNKNOWN (%s): withdraw it with DelCmd or handle it in InstCmd", cmd, res.Message)
			}
		}
	}
	res, ok, alive := c.call(h, "instcmd", "instant command", unknownCmd, func(ctx context.Context) (plugin.Result, error) {
		return h.inst.InstCmd(ctx, unknownCmd, "")
	})
	if !alive {
		return true
	}
	if ok && res.Status != plugin.StatUnknown {
		t.Errorf("[instcmd] instant command %q: not listed, answered %s; want UNKNOWN (STAT_INSTCMD_UNKNOWN)", unknownCmd, StatName(res.Status))
	}
	return false
}

// sets writes every writable variable, with its current value unless
// Config.SetValues says otherwise.
func (c *conformance) sets(h *Harness) (stuck bool) {
	t := c.t
	t.Helper()
	var rw []sockproto.Var
	h.State().Each(func(v sockproto.Var) bool {
		if v.Flags&sockproto.FlagRW != 0 {
			rw = append(rw, v)
		}
		return true
	})
	for _, v := range rw {
		value := v.Value
		if s, ok := c.cfg.SetValues[v.Name]; ok {
			if s == "" {
				t.Logf("[set] %q skipped (Config.SetValues)", v.Name)
				continue
			}
			value = s
		}
		res, ok, alive := c.call(h, "set", "variable", v.Name, func(ctx context.Context) (plugin.Result, error) {
			return h.inst.SetVar(ctx, v.Name, value)
		})
		if !alive {
			return true
		}
		if ok {
			t.Logf("[set] %q = %q: %s %s", v.Name, value, StatName(res.Status), res.Message)
			if res.Status == plugin.StatUnknown {
				t.Errorf("[set] variable %q: flagged RW but SET answered UNKNOWN (%s): implement sdk.Setter for it or drop FlagRW", v.Name, res.Message)
			}
		}
	}
	if len(rw) > 0 {
		res, ok, alive := c.call(h, "set", "variable", unknownVar, func(ctx context.Context) (plugin.Result, error) {
			return h.inst.SetVar(ctx, unknownVar, "1")
		})
		if !alive {
			return true
		}
		if ok && res.Status != plugin.StatUnknown {
			t.Errorf("[set] variable %q: does not exist, SET answered %s; want UNKNOWN (STAT_SET_UNKNOWN)", unknownVar, StatName(res.Status))
		}
	}
	return false
}

// optional checks Reload and Shutdown against what the plugin announced
// in Capabilities: a driver without the optional interface answers
// UNKNOWN, one with Reloader accepts the configuration it runs with, and
// Shutdown answers with a NUT code in time.
func (c *conformance) optional(h *Harness) (stuck bool) {
	t := c.t
	t.Helper()
	res, ok, alive := c.call(h, "reload", "call", "Reload", func(ctx context.Context) (plugin.Result, error) {
		return h.inst.Reload(ctx, h.req)
	})
	if !alive {
		return true
	}
	if ok {
		t.Logf("[reload] the unchanged configuration: %s %s", StatName(res.Status), res.Message)
		switch has := h.caps.HasFeature(plugin.FeatureReload); {
		case has && res.Status != plugin.StatHandled:
			t.Errorf("[reload] %s: reloading the configuration it runs with answered %s (%s): Reload must accept it", c.info.Name, StatName(res.Status), res.Message)
		case !has && res.Status != plugin.StatUnknown:
			t.Errorf("[reload] %s: Reload answered %s without %q in Capabilities; want UNKNOWN", c.info.Name, StatName(res.Status), plugin.FeatureReload)
		}
	}
	if c.cfg.SkipShutdown {
		t.Logf("[shutdown] skipped (Config.SkipShutdown)")
		return false
	}
	res, ok, alive = c.call(h, "shutdown", "call", "Shutdown", func(ctx context.Context) (plugin.Result, error) {
		return h.inst.Shutdown(ctx)
	})
	if !alive {
		return true
	}
	if ok {
		t.Logf("[shutdown] %s %s", StatName(res.Status), res.Message)
		if !h.caps.HasFeature(plugin.FeatureShutdown) && res.Status != plugin.StatUnknown {
			t.Errorf("[shutdown] %s: Shutdown answered %s without %q in Capabilities; want UNKNOWN", c.info.Name, StatName(res.Status), plugin.FeatureShutdown)
		}
	}
	return false
}

// cancellation calls the driver with contexts that are already cancelled,
// directly on the SDK's server so that the driver really sees them (a
// cancelled gRPC call never reaches the plugin). Nothing may panic or hang.
func (c *conformance) cancellation() {
	t := c.t
	t.Helper()
	limit := c.cfg.timeout()
	log := hclog.NewNullLogger()
	gone, cancel := context.WithCancel(context.Background())
	cancel()

	// Run (so Init) with a context cancelled before it starts, then Close
	// with a cancelled context.
	drv := c.newDriver()
	srv := guard(sdk.NewServer(c.info, drv, sdk.WithLogger(log)))
	req, err := c.cfg.request(c.info.Name, "pollinterval", "1")
	if err != nil {
		t.Fatal(err)
	}
	if err := bounded(limit, func() error {
		return srv.Run(gone, req, func(plugin.Update) error { return nil })
	}); errors.Is(err, errTimeout) {
		c.errorf("cancel", "Run with a cancelled context did not return within %v: Init must give up once its context ends", limit)
		return
	}
	if p := srv.panicked(); p != "" {
		c.errorf("cancel", "Init with a cancelled context: %s", p)
	}
	c.closeCancelled(drv, limit)

	// A running driver: commands and SETs with a cancelled context, then
	// Run cancelled while it polls.
	drv = c.newDriver()
	srv = guard(sdk.NewServer(c.info, drv, sdk.WithLogger(log)))
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	snapshot := make(chan *sockproto.State, 1)
	runErr := make(chan error, 1)
	go func() {
		st := sockproto.NewState()
		runErr <- srv.Run(runCtx, req, func(u plugin.Update) error {
			for _, m := range u.Msgs {
				_ = st.Apply(m) // checked by the main run
			}
			if u.Snapshot {
				snapshot <- st.Clone()
			}
			return nil
		})
	}()
	var st *sockproto.State
	select {
	case st = <-snapshot:
	case err := <-runErr:
		c.errorf("cancel", "second run did not start: %v", err)
		return
	case <-time.After(c.cfg.startTimeout()):
		c.errorf("cancel", "second run published no snapshot within %v", c.cfg.startTimeout())
		return
	}
	for _, cmd := range st.Cmds() {
		if slices.Contains(c.cfg.SkipCmds, cmd) {
			continue
		}
		if err := bounded(limit, func() error {
			_, err := srv.InstCmd(gone, cmd, c.cfg.CmdParams[cmd])
			return err
		}); errors.Is(err, errTimeout) {
			c.errorf("cancel", "InstCmd(%q) with a cancelled context did not return within %v", cmd, limit)
			return
		}
	}
	var rw []sockproto.Var
	st.Each(func(v sockproto.Var) bool {
		if v.Flags&sockproto.FlagRW != 0 {
			rw = append(rw, v)
		}
		return true
	})
	sort.Slice(rw, func(i, j int) bool { return rw[i].Name < rw[j].Name })
	for _, v := range rw {
		value := v.Value
		if s, ok := c.cfg.SetValues[v.Name]; ok {
			if s == "" {
				continue
			}
			value = s
		}
		if err := bounded(limit, func() error {
			_, err := srv.SetVar(gone, v.Name, value)
			return err
		}); errors.Is(err, errTimeout) {
			c.errorf("cancel", "SetVar(%q) with a cancelled context did not return within %v", v.Name, limit)
			return
		}
	}
	stopRun()
	select {
	case <-runErr:
	case <-time.After(limit):
		c.errorf("cancel", "Run did not return within %v after its context was cancelled%s", limit, srv.busyNote())
		return
	}
	if p := srv.panicked(); p != "" {
		c.errorf("cancel", "%s", p)
	}
	c.closeCancelled(drv, limit)
}

// closeCancelled calls Close with a context that has already ended.
func (c *conformance) closeCancelled(drv sdk.Driver, limit time.Duration) {
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	err := bounded(limit, func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%w: %v", errPanic, p)
			}
		}()
		return drv.Close(gone)
	})
	switch {
	case errors.Is(err, errTimeout):
		c.errorf("cancel", "Close with a cancelled context did not return within %v", limit)
	case errors.Is(err, errPanic):
		c.errorf("cancel", "Close with a cancelled context panicked: %v", strings.TrimPrefix(err.Error(), errPanic.Error()+": "))
	}
}

var (
	errTimeout = errors.New("timed out")
	errPanic   = errors.New("panicked")
)

// bounded runs fn and gives up on it after limit.
func bounded(limit time.Duration, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		return errTimeout
	}
}
