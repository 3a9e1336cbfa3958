package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/gonut/gonut/sdk/plugin"
)

// HostPIDEnv names the environment variable in which the host passes its
// pid, so that a plugin notices the host's death even if it died before the
// plugin first looked.
const HostPIDEnv = "GONUT_HOST_PID"

// ServeOption changes how Serve runs.
type ServeOption func(*serveConfig)

type serveConfig struct {
	logger        hclog.Logger
	closeTimeout  time.Duration
	lifelineEvery time.Duration
}

// WithLogger replaces the default JSON logger on stderr.
func WithLogger(l hclog.Logger) ServeOption { return func(c *serveConfig) { c.logger = l } }

// WithCloseTimeout bounds Driver.Close on shutdown (default 5 s).
func WithCloseTimeout(d time.Duration) ServeOption {
	return func(c *serveConfig) { c.closeTimeout = d }
}

// Describe is what `<driver> describe` prints as JSON.
type Describe struct {
	Info
	SDKVersion    string
	ProtocolMajor int
	ProtocolMinor int
	// Features are the optional calls the driver supports, as its
	// Capabilities list them (plugin.FeatureShutdown, ...).
	Features []string `json:",omitempty"`
}

// Serve runs drv as a gonut driver plugin and does not return. Call it from
// main:
//
//	func main() { sdk.Serve(sdk.Info{Name: "mydriver", Version: "0.1"}, &MyDriver{}) }
//
// Run as `<driver> describe` it prints the driver's metadata as JSON.
// Started by nut-driver-host it serves the plugin protocol; it exits within
// a second of its host dying (the lifeline), and closes the driver cleanly
// on SIGTERM. Started any other way (by hand, by NUT's upsdrvctl) it is a
// classic NUT 2.8.0 driver: `-a <ups>`, its own state socket, pid file,
// background, -k, -c exit|reload (see docs/DRIVER-PROTOCOL.md).
func Serve(info Info, drv Driver, opts ...ServeOption) {
	cfg := serveConfig{closeTimeout: 5 * time.Second, lifelineEvery: 200 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	if len(os.Args) > 1 && os.Args[1] == "describe" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(Describe{Info: info, SDKVersion: Version, ProtocolMajor: plugin.ProtocolMajor,
			ProtocolMinor: plugin.ProtocolMinor, Features: features(drv)}); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv(plugin.Handshake.MagicCookieKey) != plugin.Handshake.MagicCookieValue {
		// Started by hand or by NUT's upsdrvctl: be a classic NUT driver.
		os.Exit(runStandalone(info, drv, cfg, os.Args[1:]))
	}
	if cfg.logger == nil {
		// JSON on stderr: go-plugin on the host side parses it and re-logs
		// each line under the instance's name with its level.
		cfg.logger = hclog.New(&hclog.LoggerOptions{
			Name: info.Name, Output: os.Stderr, JSONFormat: true, Level: hclog.Info,
		})
	}
	if majors, ok := plugin.HostMajors(os.Getenv("PLUGIN_PROTOCOL_VERSIONS")); ok && !slices.Contains(majors, plugin.ProtocolMajor) {
		// go-plugin goes on with our own major and the host refuses it
		// with its own error; this line tells whoever reads the host's
		// log which side to rebuild.
		cfg.logger.Error(fmt.Sprintf("this driver speaks gonut driver protocol %d (SDK %s) but its host offers protocol %v: "+
			"rebuild the driver against the host's SDK, or run a host that speaks protocol %d",
			plugin.ProtocolMajor, Version, majors, plugin.ProtocolMajor))
	}
	rt := newRuntime(info, drv, cfg)
	go rt.lifeline()
	go rt.onSignals()
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  plugin.Handshake,
		VersionedPlugins: plugin.PluginSets(rt),
		GRPCServer:       goplugin.DefaultGRPCServer,
		Logger:           cfg.logger,
	})
	rt.shutdown(0)
}

// NewServer returns the plugin-side implementation that Serve runs, for
// in-process harnesses (sdk/drivertest) that drive it without a process.
func NewServer(info Info, drv Driver, opts ...ServeOption) plugin.Server {
	cfg := serveConfig{closeTimeout: 5 * time.Second, lifelineEvery: 200 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = hclog.New(&hclog.LoggerOptions{Name: info.Name, Output: os.Stderr, Level: hclog.Warn})
	}
	return newRuntime(info, drv, cfg)
}

// runtime drives one Driver for the host. Driver calls are serialised, as
// a NUT driver's main loop serialises them, so driver code needs no locks.
type runtime struct {
	info Info
	drv  Driver
	cfg  serveConfig
	log  hclog.Logger

	callMu  sync.Mutex // serialises Init, Poll, InstCmd, SetVar, Close
	mu      sync.Mutex
	dev     *Device
	running bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}

	// onExit runs after Close, just before the process exits (standalone
	// mode removes its pid file and socket there).
	onExit func()
}

func newRuntime(info Info, drv Driver, cfg serveConfig) *runtime {
	return &runtime{info: info, drv: drv, cfg: cfg, log: cfg.logger}
}

var _ plugin.Server = (*runtime)(nil)

func (r *runtime) Capabilities(_ context.Context, host plugin.Capabilities) (plugin.Capabilities, error) {
	r.log.Debug("host capabilities", "minor", host.Minor, "version", host.Version, "features", host.Features)
	return plugin.Capabilities{Minor: plugin.ProtocolMinor, Features: features(r.drv), Version: Version}, nil
}

// features lists the optional interfaces drv implements, as the plugin
// announces them in Capabilities.
func features(drv Driver) []string {
	var f []string
	if _, ok := drv.(Shutdowner); ok {
		f = append(f, plugin.FeatureShutdown)
	}
	if _, ok := drv.(Reloader); ok {
		f = append(f, plugin.FeatureReload)
	}
	return f
}

func (r *runtime) Run(ctx context.Context, req plugin.RunRequest, send func(plugin.Update) error) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("driver is already running: a plugin process serves one instance")
	}
	if r.closed {
		r.mu.Unlock()
		return errors.New("driver is shutting down")
	}
	ctx, cancel := context.WithCancel(ctx)
	r.running, r.cancel, r.done = true, cancel, make(chan struct{})
	r.mu.Unlock()
	defer func() {
		cancel()
		r.mu.Lock()
		r.running = false
		close(r.done)
		r.mu.Unlock()
	}()
	return r.run(ctx, req, send)
}

func (r *runtime) run(ctx context.Context, req plugin.RunRequest, send func(plugin.Update) error) error {
	if req.Debug > 0 {
		r.log.SetLevel(hclog.Debug)
		if req.Debug > 1 {
			r.log.SetLevel(hclog.Trace)
		}
	}
	log := r.log.With("ups", req.UPS)
	opts := &Options{UPS: req.UPS, Driver: req.Driver, Section: req.Options, Global: req.Global, ConfPath: req.ConfPath}
	if err := opts.validate(r.info); err != nil {
		return err
	}
	poll, err := opts.PollInterval()
	if err != nil {
		return err
	}
	// Standalone mode refuses this as NUT does ("UPS [x] is for driver y,
	// but I'm z!"); under the host the binary was found by the section's
	// driver name, so it runs, but a renamed binary publishing another
	// driver.name than its socket's is worth a word.
	if req.Driver != "" && req.Driver != r.info.Name {
		log.Warn("ups.conf names another driver than this binary is; driver.name shows the binary's",
			"driver", req.Driver, "binary_driver", r.info.Name)
	}
	dev := newDevice(req.UPS, opts, log)
	applyCommon(dev, r.info, opts, poll)

	var sendMu sync.Mutex
	pollMS := poll.Milliseconds()
	sendUpdate := func(u plugin.Update) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		u.PollInterval = pollMS
		return send(u)
	}

	r.callMu.Lock()
	err = r.drv.Init(ctx, dev)
	r.callMu.Unlock()
	if err != nil {
		return fmt.Errorf("%s [%s]: init: %w", r.info.Name, req.UPS, err)
	}
	// A driver that published nothing about freshness after Init is
	// treated as fresh: Init succeeded, so it talked to the device. One
	// that called DataStale in Init (it started, but the device is not
	// answering yet) stays stale until a poll succeeds.
	dev.mu.Lock()
	if !dev.dataOK && !dev.saidStale {
		dev.dataOK = true
	}
	dev.mu.Unlock()

	r.mu.Lock()
	r.dev = dev
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.dev = nil
		r.mu.Unlock()
	}()

	// The snapshot and the switch to deltas happen under both locks, so no
	// change falls between them and no delta overtakes the snapshot.
	sendMu.Lock()
	dev.mu.Lock()
	snap := dev.snapshotLocked()
	dev.publish = func(msgs [][]string) error { return sendUpdate(plugin.Update{Msgs: msgs}) }
	dev.mu.Unlock()
	err = send(plugin.Update{Snapshot: true, Msgs: snap, PollInterval: pollMS})
	sendMu.Unlock()
	if err != nil {
		return err
	}

	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	failing := false
	checkedLB := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		r.callMu.Lock()
		err := r.drv.Poll(ctx, dev)
		r.callMu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if !failing {
				log.Warn("poll failed; data is stale until the device answers", "error", err)
			}
			failing = true
			dev.DataStale()
		} else {
			if failing {
				log.Info("device answers again")
			}
			failing = false
			dev.DataOK()
		}
		if err := dev.Commit(); err != nil {
			return err
		}
		// NUT refuses ignorelb once the driver has done its first update
		// (drivers/main.c, after initinfo and updateinfo): without a
		// charge or runtime pair to compare, LB could never be raised.
		if !checkedLB {
			checkedLB = true
			if err := dev.checkIgnoreLB(); err != nil {
				return fmt.Errorf("%s [%s]: %w", r.info.Name, req.UPS, err)
			}
		}
		// The heartbeat: the poll loop is alive.
		if err := sendUpdate(plugin.Update{}); err != nil {
			return err
		}
	}
}

func (r *runtime) device() *Device {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dev
}

func statusOf(err error) plugin.Result {
	switch {
	case err == nil:
		return plugin.Result{Status: plugin.StatHandled}
	case errors.Is(err, ErrUnknown):
		return plugin.Result{Status: plugin.StatUnknown, Message: err.Error()}
	case errors.Is(err, ErrInvalid):
		return plugin.Result{Status: plugin.StatInvalid, Message: err.Error()}
	case errors.Is(err, ErrConversion):
		return plugin.Result{Status: plugin.StatConversion, Message: err.Error()}
	default:
		return plugin.Result{Status: plugin.StatFailed, Message: err.Error()}
	}
}

func (r *runtime) InstCmd(ctx context.Context, cmd, param string) (plugin.Result, error) {
	dev := r.device()
	h, ok := r.drv.(InstCmder)
	if dev == nil || !ok {
		return plugin.Result{Status: plugin.StatUnknown, Message: "driver has no instant commands"}, nil
	}
	dev.mu.Lock()
	known := dev.cmds[foldName(cmd)] // kept as NUT compares: ASCII case folded
	dev.mu.Unlock()
	if !known {
		return plugin.Result{Status: plugin.StatUnknown, Message: "unknown command " + cmd}, nil
	}
	r.callMu.Lock()
	err := h.InstCmd(ctx, dev, cmd, param)
	r.callMu.Unlock()
	if err != nil {
		dev.Logger().Warn("instant command failed", "cmd", cmd, "param", param, "error", err)
	}
	if cerr := dev.Commit(); cerr != nil {
		return plugin.Result{}, cerr
	}
	return statusOf(err), nil
}

func (r *runtime) SetVar(ctx context.Context, name, value string) (plugin.Result, error) {
	dev := r.device()
	h, ok := r.drv.(Setter)
	if dev == nil || !ok {
		return plugin.Result{Status: plugin.StatUnknown, Message: "driver has no writable variables"}, nil
	}
	if _, exists := dev.Info(name); !exists {
		return plugin.Result{Status: plugin.StatUnknown, Message: "unknown variable " + name}, nil
	}
	r.callMu.Lock()
	err := h.SetVar(ctx, dev, name, value)
	r.callMu.Unlock()
	if err != nil {
		dev.Logger().Warn("set failed", "var", name, "value", value, "error", err)
	}
	if cerr := dev.Commit(); cerr != nil {
		return plugin.Result{}, cerr
	}
	return statusOf(err), nil
}

// Shutdown runs the driver's shutdown sequence on the running instance.
func (r *runtime) Shutdown(ctx context.Context) (plugin.Result, error) {
	h, ok := r.drv.(Shutdowner)
	if !ok {
		return plugin.Result{Status: plugin.StatUnknown, Message: "shutdown not supported by driver " + r.info.Name}, nil
	}
	dev := r.device()
	if dev == nil {
		return plugin.Result{Status: plugin.StatFailed, Message: "driver " + r.info.Name + " is not running: Run must have published its state first"}, nil
	}
	dev.Logger().Info("initiating UPS shutdown")
	r.callMu.Lock()
	err := h.Shutdown(ctx, dev)
	r.callMu.Unlock()
	if err != nil {
		dev.Logger().Warn("shutdown failed", "error", err)
	}
	if cerr := dev.Commit(); cerr != nil {
		return plugin.Result{}, cerr
	}
	return statusOf(err), nil
}

// Reload hands the running instance a re-read configuration.
func (r *runtime) Reload(ctx context.Context, req plugin.RunRequest) (plugin.Result, error) {
	h, ok := r.drv.(Reloader)
	if !ok {
		return plugin.Result{Status: plugin.StatUnknown, Message: "reload not supported by driver " + r.info.Name + ": restart it to apply a new configuration"}, nil
	}
	dev := r.device()
	if dev == nil {
		return plugin.Result{Status: plugin.StatFailed, Message: "driver " + r.info.Name + " is not running"}, nil
	}
	return r.reload(ctx, h, dev, req.Options, req.Global, req.ConfPath), nil
}

// reload checks the new options and hands them to the driver. The poll
// interval stays what the instance started with.
func (r *runtime) reload(ctx context.Context, h Reloader, dev *Device, section, global []Option, confPath string) plugin.Result {
	old := dev.Options()
	opts := Options{UPS: old.UPS, Driver: old.Driver, Section: section, Global: global, ConfPath: confPath}
	if err := opts.validate(r.info); err != nil {
		dev.Logger().Warn("reload refused", "error", err)
		return plugin.Result{Status: plugin.StatInvalid, Message: err.Error()}
	}
	r.callMu.Lock()
	err := h.Reload(ctx, opts)
	if err == nil {
		// Driver calls are serialised by callMu, so no driver call sees
		// the switch half done.
		*old = opts
	}
	r.callMu.Unlock()
	if err != nil {
		dev.Logger().Warn("reload failed; keeping the old configuration", "error", err)
	} else {
		dev.Logger().Info("configuration reloaded")
	}
	if cerr := dev.Commit(); cerr != nil {
		dev.Logger().Error("publishing the state after reload", "error", cerr)
	}
	return statusOf(err)
}

// lifeline exits the process when the host that started it is gone. The
// host may die by SIGKILL without closing anything we would notice (and a
// driver may never write to stderr), so watch the parent pid: once it
// changes, we were orphaned.
func (r *runtime) lifeline() {
	want := os.Getppid()
	if s := os.Getenv(HostPIDEnv); s != "" {
		fmt.Sscan(s, &want)
	}
	for {
		if os.Getppid() != want {
			r.log.Warn("host is gone; closing the driver and exiting", "host_pid", want)
			r.shutdown(0)
		}
		time.Sleep(r.cfg.lifelineEvery)
	}
}

func (r *runtime) onSignals() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGHUP)
	for sig := range ch {
		if sig == syscall.SIGTERM {
			r.log.Info("SIGTERM: closing the driver")
			r.shutdown(0)
		}
	}
}

// shutdown stops the poll loop, calls Close (bounded by closeTimeout) and
// exits. It runs at most once.
func (r *runtime) shutdown(code int) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		select {} // another goroutine is exiting
	}
	r.closed = true
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-time.After(r.cfg.closeTimeout):
		}
	}
	ctx, c := context.WithTimeout(context.Background(), r.cfg.closeTimeout)
	defer c()
	finished := make(chan error, 1)
	go func() {
		r.callMu.Lock()
		defer r.callMu.Unlock()
		finished <- r.drv.Close(ctx)
	}()
	select {
	case err := <-finished:
		if err != nil {
			r.log.Error("close failed", "error", err)
		}
	case <-ctx.Done():
		r.log.Error("close did not return in time", "timeout", r.cfg.closeTimeout)
	}
	if r.onExit != nil {
		r.onExit()
	}
	os.Exit(code)
}
