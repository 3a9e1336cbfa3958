package drivertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/gonut/gonut/sdk/plugin"
	"github.com/gonut/gonut/sdk/sockproto"
)

// DefaultTimeout is Config.Timeout when it is zero.
const DefaultTimeout = 5 * time.Second

// Config says how a driver is run. The zero value runs it as section
// [test] with only driver = <name> in its ups.conf section.
type Config struct {
	// UPS is the ups.conf section name (default "test").
	UPS string
	// Options are the section's lines as written in ups.conf:
	// "port = /dev/ttyS0", "desc = \"Server room\"", "nolock". A
	// "driver = <Info.Name>" line is added in front unless one is given.
	// Conformance also adds "pollinterval = 1" unless one is given, so
	// that it sees the heartbeat within a second or two.
	Options []string
	// Global are lines of the global part of ups.conf (before the first
	// section), e.g. "pollinterval = 5".
	Global []string
	// ConfPath is the configuration directory the driver resolves
	// relative paths against (NUT_CONFPATH); default: the test's working
	// directory, which is the package directory under go test.
	ConfPath string
	// Timeout bounds each step that must not hang: each instant command,
	// SET, Reload and Shutdown, each Wait, Run's return after its context
	// ends, and Close (default DefaultTimeout). Start-up, up to the first
	// snapshot, gets at least DefaultTimeout.
	Timeout time.Duration
	// Debug is the debug level the host would pass (upsdrvctl -D).
	Debug int
	// Logger receives the driver's log. By default the log is kept and
	// printed with the test's output when the test fails.
	Logger hclog.Logger

	// SkipCmds are instant commands Conformance must not run: say why in
	// a comment (a command the simulator cannot take back, for example).
	SkipCmds []string
	// CmdParams are the parameters Conformance passes to instant
	// commands that need one (default: none).
	CmdParams map[string]string
	// SetValues are the values Conformance writes to writable variables
	// (default: the variable's current value, which every driver should
	// accept). A variable listed with an empty value is not written.
	SetValues map[string]string
	// SkipShutdown keeps Conformance from calling the driver's shutdown
	// sequence (sdk.Shutdowner), which it otherwise runs last, once.
	SkipShutdown bool
}

func (c Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// startTimeout bounds start-up (connecting, Init, the first snapshot):
// Config.Timeout, but never less than DefaultTimeout, so that a short
// Timeout meant for commands does not fail a start on a busy machine.
func (c Config) startTimeout() time.Duration {
	return max(c.timeout(), DefaultTimeout)
}

func (c Config) ups() string {
	if c.UPS != "" {
		return c.UPS
	}
	return "test"
}

// request builds the RunRequest the host would send for this Config.
func (c Config) request(driver string, extra ...string) (plugin.RunRequest, error) {
	section, err := parseOptions("Options", c.Options)
	if err != nil {
		return plugin.RunRequest{}, err
	}
	global, err := parseOptions("Global", c.Global)
	if err != nil {
		return plugin.RunRequest{}, err
	}
	has := func(key string) bool {
		for _, o := range section {
			if o.Key == key {
				return true
			}
		}
		return false
	}
	if !has("driver") {
		section = append([]plugin.Option{{Key: "driver", Value: driver, HasValue: true}}, section...)
	}
	inGlobal := func(key string) bool {
		for _, o := range global {
			if o.Key == key {
				return true
			}
		}
		return false
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if !has(extra[i]) && !inGlobal(extra[i]) {
			section = append(section, plugin.Option{Key: extra[i], Value: extra[i+1], HasValue: true})
		}
	}
	conf := c.ConfPath
	if conf == "" {
		if conf, err = os.Getwd(); err != nil {
			return plugin.RunRequest{}, fmt.Errorf("drivertest: Config.ConfPath is empty and the working directory is unknown: %w", err)
		}
	}
	return plugin.RunRequest{UPS: c.ups(), Driver: driver, Options: section, Global: global, ConfPath: conf, Debug: c.Debug}, nil
}

// parseOptions reads ups.conf lines by NUT's parseconf rules.
func parseOptions(field string, lines []string) ([]plugin.Option, error) {
	var out []plugin.Option
	for i, l := range lines {
		w, err := nutconf.Split(l)
		if err != nil {
			return nil, fmt.Errorf("drivertest: Config.%s[%d] %q: %v", field, i, l, err)
		}
		switch {
		case len(w) == 3 && w[1] == "=":
			out = append(out, plugin.Option{Key: w[0], Value: w[2], HasValue: true})
		case len(w) == 1:
			out = append(out, plugin.Option{Key: w[0]})
		default:
			return nil, fmt.Errorf("drivertest: Config.%s[%d] %q: want \"key = value\" or a bare flag, as in ups.conf", field, i, l)
		}
	}
	return out, nil
}

// Harness is one driver instance run through the plugin protocol in
// process: the driver behind sdk.NewServer, served by go-plugin's gRPC
// transport, with the harness as the host. It mirrors the instance's
// updates into the state upsd would see.
type Harness struct {
	t    testing.TB
	info sdk.Info
	drv  sdk.Driver
	cfg  Config
	srv  *guardedServer
	inst plugin.Instance
	caps plugin.Capabilities
	req  plugin.RunRequest
	logs *syncBuffer

	cancel   context.CancelFunc
	recvDone chan struct{}

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every update
	st         *sockproto.State
	snapshots  int
	heartbeats int
	protoErrs  []string
	streamErr  error
	stopped    bool
	stopErr    error
}

// Start runs drv as instance Config.UPS and returns once its first
// snapshot has arrived. It fails the test if the driver does not start
// within Config.Timeout. The instance is stopped (Run cancelled, then
// Close) when the test ends, or earlier by Stop.
func Start(t testing.TB, info sdk.Info, drv sdk.Driver, cfg Config) *Harness {
	t.Helper()
	h, err := start(t, info, drv, cfg)
	if err != nil {
		t.Fatalf("[start] %s: %v%s", info.Name, err, h.logTail())
	}
	return h
}

// StartErr is Start for a driver that may fail to start: it returns the
// error Init (or the SDK's option check) ended Run with, and a nil
// Harness, instead of failing the test.
func StartErr(t testing.TB, info sdk.Info, drv sdk.Driver, cfg Config) (*Harness, error) {
	t.Helper()
	h, err := start(t, info, drv, cfg)
	if err != nil {
		return nil, err
	}
	return h, nil
}

func start(t testing.TB, info sdk.Info, drv sdk.Driver, cfg Config, extra ...string) (*Harness, error) {
	req, err := cfg.request(info.Name, extra...)
	if err != nil {
		t.Fatal(err)
	}
	h := &Harness{t: t, info: info, drv: drv, cfg: cfg, changed: make(chan struct{}), recvDone: make(chan struct{})}
	log := cfg.Logger
	if log == nil {
		h.logs = &syncBuffer{}
		log = hclog.New(&hclog.LoggerOptions{Name: info.Name, Output: h.logs, Level: hclog.Debug})
	}
	h.srv = guard(sdk.NewServer(info, drv, sdk.WithLogger(log), sdk.WithCloseTimeout(cfg.timeout())))

	inst, closeConn, err := connect(h.srv)
	if err != nil {
		t.Fatalf("[start] %s: %v", info.Name, err)
	}
	h.inst = inst
	t.Cleanup(func() {
		h.Stop()
		closeConn()
		if t.Failed() && h.logs != nil && h.logs.Len() > 0 {
			t.Logf("%s log:\n%s", info.Name, h.logs.String())
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), cfg.startTimeout())
	defer cancel()
	if h.caps, err = h.inst.Capabilities(ctx, plugin.Capabilities{Minor: plugin.ProtocolMinor, Version: sdk.Version}); err != nil {
		return h, fmt.Errorf("Capabilities: %w", err)
	}

	h.req = req
	runCtx, runCancel := context.WithCancel(context.Background())
	h.cancel = runCancel
	recv, err := h.inst.Run(runCtx, req)
	if err != nil {
		return h, fmt.Errorf("Run: %w", err)
	}
	first := make(chan error, 1)
	go h.receive(recv, first)
	select {
	case err := <-first:
		if err != nil {
			h.markStopped()
			return h, err
		}
		return h, nil
	case <-time.After(cfg.startTimeout()):
		return h, fmt.Errorf("no snapshot within %v: Init is slow or stuck (Config.Timeout)", cfg.startTimeout())
	}
}

// markStopped records that Run already ended, so Stop only closes.
func (h *Harness) markStopped() {
	h.mu.Lock()
	h.stopped = true
	h.mu.Unlock()
	h.closeDriver()
}

// receive mirrors updates into the state; first gets the outcome of the
// first update.
func (h *Harness) receive(recv func() (plugin.Update, error), first chan<- error) {
	defer close(h.recvDone)
	n := 0
	for {
		u, err := recv()
		if err != nil {
			if n == 0 {
				first <- h.srv.runError(err)
			}
			h.mu.Lock()
			h.streamErr = err
			h.notifyLocked()
			h.mu.Unlock()
			return
		}
		h.mu.Lock()
		switch {
		case u.Snapshot:
			h.snapshots++
			h.st = sockproto.NewState()
		case len(u.Msgs) == 0:
			h.heartbeats++
		}
		if h.st == nil {
			h.protoErrs = append(h.protoErrs, fmt.Sprintf("an update arrived before the snapshot: %q", u.Msgs))
		} else {
			for _, m := range u.Msgs {
				if err := h.st.Apply(m); err != nil {
					h.protoErrs = append(h.protoErrs, fmt.Sprintf("%s: %v", sockproto.Encode(m...), err))
				}
			}
		}
		h.notifyLocked()
		h.mu.Unlock()
		if n == 0 {
			if !u.Snapshot {
				first <- errors.New("the first update is not a snapshot: the SDK's runtime is broken")
			} else {
				first <- nil
			}
		}
		n++
	}
}

func (h *Harness) notifyLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// Instance is the plugin as the host sees it, for calls the Harness does
// not wrap.
func (h *Harness) Instance() plugin.Instance { return h.inst }

// Capabilities is what the plugin answered to the host's Capabilities call.
func (h *Harness) Capabilities() plugin.Capabilities { return h.caps }

// State returns a copy of the instance's state as upsd would mirror it.
func (h *Harness) State() *sockproto.State {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.st == nil {
		return sockproto.NewState()
	}
	return h.st.Clone()
}

// Value returns one variable as upsd would see it.
func (h *Harness) Value(name string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.st == nil {
		return "", false
	}
	return h.st.Value(name)
}

// Heartbeats returns how many heartbeats (one per completed poll) have
// arrived.
func (h *Harness) Heartbeats() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.heartbeats
}

// ProtocolErrors returns the messages the driver sent that upsd could not
// apply (an ADDENUM for a variable that does not exist, for example).
func (h *Harness) ProtocolErrors() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.protoErrs...)
}

// Wait waits until cond holds for the state, and returns that state. It
// fails the test, naming what, when Config.Timeout passes first or the
// stream ends.
func (h *Harness) Wait(what string, cond func(st *sockproto.State) bool) *sockproto.State {
	h.t.Helper()
	st, err := h.wait(h.cfg.timeout(), cond)
	if err != nil {
		h.t.Fatalf("waiting for %s: %v\nstate:\n%s", what, err, dumpString(st))
	}
	return st
}

func (h *Harness) wait(limit time.Duration, cond func(st *sockproto.State) bool) (*sockproto.State, error) {
	deadline := time.After(limit)
	for {
		h.mu.Lock()
		st := sockproto.NewState()
		if h.st != nil {
			st = h.st.Clone()
		}
		ch, serr := h.changed, h.streamErr
		h.mu.Unlock()
		if cond(st) {
			return st, nil
		}
		if serr != nil {
			return st, fmt.Errorf("the update stream ended: %v", h.srv.runError(serr))
		}
		select {
		case <-ch:
		case <-deadline:
			return st, fmt.Errorf("not reached within %v", limit)
		}
	}
}

// WaitHeartbeats waits for n more heartbeats, i.e. n more completed polls.
func (h *Harness) WaitHeartbeats(n int) {
	h.t.Helper()
	if err := h.waitHeartbeats(n, h.pollLimit(n)); err != nil {
		h.t.Fatalf("[heartbeat] %v", err)
	}
}

// pollLimit allows n+1 poll intervals plus Config.Timeout for n polls.
func (h *Harness) pollLimit(n int) time.Duration {
	poll := 2 * time.Second // NUT's default pollinterval
	if req, err := h.cfg.request(h.info.Name); err == nil {
		o := sdk.Options{UPS: req.UPS, Section: req.Options, Global: req.Global}
		if p, err := o.PollInterval(); err == nil {
			poll = p
		}
	}
	return time.Duration(n+1)*poll + h.cfg.timeout()
}

func (h *Harness) waitHeartbeats(n int, limit time.Duration) error {
	h.mu.Lock()
	want := h.heartbeats + n
	h.mu.Unlock()
	deadline := time.After(limit)
	for {
		h.mu.Lock()
		got, ch, serr := h.heartbeats, h.changed, h.streamErr
		h.mu.Unlock()
		if got >= want {
			return nil
		}
		if serr != nil {
			return fmt.Errorf("the update stream ended after %d of %d heartbeats: %v", n-(want-got), n, h.srv.runError(serr))
		}
		select {
		case <-ch:
		case <-deadline:
			return fmt.Errorf("%d of %d heartbeats within %v: Poll is stuck or the poll loop stopped", n-(want-got), n, limit)
		}
	}
}

// InstCmd sends an instant command as upsd would (INSTCMD), bounded by
// Config.Timeout.
func (h *Harness) InstCmd(cmd, param string) (plugin.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.timeout())
	defer cancel()
	return h.inst.InstCmd(ctx, cmd, param)
}

// SetVar sends a SET as upsd would, bounded by Config.Timeout.
func (h *Harness) SetVar(name, value string) (plugin.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.timeout())
	defer cancel()
	return h.inst.SetVar(ctx, name, value)
}

// Shutdown asks the driver to run its shutdown sequence (sdk.Shutdowner;
// `upsdrvctl shutdown`), bounded by Config.Timeout. A driver without it
// answers StatUnknown (Result.NotSupported).
func (h *Harness) Shutdown() (plugin.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.timeout())
	defer cancel()
	return h.inst.Shutdown(ctx)
}

// Reload hands the running instance a new ups.conf section and global
// part, built from cfg's Options and Global as Start builds them (the
// driver line is added; the poll interval the instance started with is
// kept). A driver without sdk.Reloader answers StatUnknown.
func (h *Harness) Reload(cfg Config) (plugin.Result, error) {
	req, err := cfg.request(h.info.Name)
	if err != nil {
		return plugin.Result{}, err
	}
	if cfg.ConfPath == "" {
		req.ConfPath = h.req.ConfPath
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.timeout())
	defer cancel()
	return h.inst.Reload(ctx, req)
}

// Stop ends the instance as the host does: it cancels Run, waits for it
// to return, then calls the driver's Close with a context that ends after
// Config.Timeout. It returns Close's error. A Run or Close that does not
// return in time fails the test, naming the step. Stop is idempotent and
// runs by itself when the test ends.
func (h *Harness) Stop() error {
	h.mu.Lock()
	if h.stopped {
		err := h.stopErr
		h.mu.Unlock()
		return err
	}
	h.stopped = true
	h.mu.Unlock()
	if h.cancel != nil {
		h.cancel()
	}
	limit := h.cfg.timeout()
	if !h.srv.started() {
		return h.closeDriver()
	}
	select {
	case <-h.srv.runDone:
	case <-time.After(limit):
		h.t.Errorf("[stop] %s: Run did not return within %v after its context was cancelled: "+
			"Init, Poll, InstCmd or SetVar is stuck and ignores its context%s", h.info.Name, limit, h.srv.busyNote())
	}
	if p := h.srv.panicked(); p != "" {
		h.t.Errorf("[panic] %s: %s", h.info.Name, p)
	}
	err := h.closeDriver()
	h.mu.Lock()
	h.stopErr = err
	h.mu.Unlock()
	return err
}

// closeDriver calls Close as the SDK's shutdown does, bounded, recovering
// a panic.
func (h *Harness) closeDriver() error {
	limit := h.cfg.timeout()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("Close panicked: %v\n%s", p, debug.Stack())
				h.t.Errorf("[panic] %s: Close panicked: %v", h.info.Name, p)
			}
		}()
		done <- h.drv.Close(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(limit + closeGrace(limit)):
		err := fmt.Errorf("Close did not return within %v: it must return once its context ends", limit)
		h.t.Errorf("[close] %s: %v", h.info.Name, err)
		return err
	}
}

// closeGrace is how long after its context ended Close may take to notice.
func closeGrace(limit time.Duration) time.Duration {
	return min(limit, time.Second)
}

// logTail is the captured driver log, for start-up failures.
func (h *Harness) logTail() string {
	if h == nil || h.logs == nil || h.logs.Len() == 0 {
		return ""
	}
	return "\ndriver log:\n" + h.logs.String()
}

func dumpString(st *sockproto.State) string {
	if st == nil {
		return ""
	}
	return strings.Join(st.Dump(), "")
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

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// connect serves srv over gRPC on a unix socket and returns the host's
// view of it, exactly as go-plugin wires the two sides of a driver
// (plugin.GRPCPlugin's GRPCServer and GRPCClient), minus the process and
// go-plugin's stdio and broker streams, which drivers do not use. (go-plugin's
// own TestPluginGRPCConn would do too, but logs every stream at debug level
// on the test binary's stderr.)
func connect(srv plugin.Server) (plugin.Instance, func(), error) {
	dir, err := os.MkdirTemp("", "drivertest")
	if err != nil {
		return nil, nil, err
	}
	// A short path: unix socket paths are limited to about 100 bytes.
	sock := filepath.Join(dir, "plugin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	p := &plugin.GRPCPlugin{Impl: srv}
	gs := grpc.NewServer()
	if err := p.GRPCServer(nil, gs); err != nil {
		ln.Close()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	go gs.Serve(ln)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		gs.Stop()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	raw, err := (&plugin.GRPCPlugin{}).GRPCClient(context.Background(), nil, conn)
	if err != nil {
		conn.Close()
		gs.Stop()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return raw.(plugin.Instance), func() {
		conn.Close()
		gs.Stop()
		os.RemoveAll(dir)
	}, nil
}
