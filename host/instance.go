package host

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/gonut/gonut/sdk/plugin"
	"github.com/gonut/gonut/sdk/sockproto"
)

// State is an instance's supervision state. It shows in status listings
// and, for gonut plugins, as the variable driver.state on the instance's
// socket (NUT 2.8.0 has no such variable; the differential tests drop it).
type State string

// The states an instance goes through.
const (
	StateStarting   State = "starting"   // first start, no data yet
	StateRunning    State = "running"    // the driver serves fresh data
	StateStale      State = "stale"      // the driver runs but says its data is stale
	StateRestarting State = "restarting" // the driver died; a new one is on its way
	StateFailed     State = "failed"     // crash loop: retried after a cool-down
	StateStopped    State = "stopped"    // supervision ended
)

// StateVar is the variable that publishes an instance's State.
const StateVar = "driver.state"

// Timing of supervision. The zero value of each field in Config gets these.
const (
	defaultFirstRetry  = 100 * time.Millisecond
	defaultMaxBackoff  = 30 * time.Second
	defaultHealthyRun  = 10 * time.Second
	defaultHangMinimum = 5 * time.Second
	defaultCrashLoop   = 5
	defaultCooldown    = 60 * time.Second
)

// Kind tells how an instance's executable is driven.
type Kind string

// The kinds of driver executables.
const (
	KindPlugin Kind = "gonut" // a gonut plugin: go-plugin over gRPC, served by the host
	KindNUT    Kind = "nut"   // a NUT driver: started as `<exe> -a <ups> -F`, serves its own socket
)

// Instance supervises one ups.conf section: the driver process, its state
// socket and its restarts.
type Instance struct {
	h            *Host
	name, driver string // never change: another driver is another instance
	path         string // the driver executable
	sock         *sockproto.Server
	log          hclog.Logger
	started      chan error // first snapshot (nil) or the first start's failure

	mu         sync.Mutex
	sec        *nutconf.UPSSection // replaced by a resync that reloads in place
	kind       Kind
	state      State
	since      time.Time
	lastErr    error
	exitStatus string
	restarts   int
	failures   int
	pid        int
	nutStatus  string // a NUT driver's ups.status, from the heartbeat connection
	inst       plugin.Instance
	cancel     context.CancelFunc
	done       chan struct{}
	startOnce  sync.Once
}

// SocketPath is where an instance is served: STATEPATH/<driver>-<ups>.
func SocketPath(statePath, driver, ups string) string {
	return filepath.Join(statePath, driver+"-"+ups)
}

// Status is a snapshot of an instance for status listings.
type Status struct {
	UPS, Driver, Path string
	Kind              Kind
	State             State
	Since             time.Time // when State was entered
	PID               int
	Restarts          int // restarts since the instance was started
	Failures          int // consecutive failed runs (0 after a healthy run)
	LastError         string
	ExitStatus        string // how the last driver process ended ("exit status 3", "signal: killed")
	UPSStatus         string // ups.status as last published, "" if unknown
	SDOrder           int
}

// Status returns the instance's current status.
func (in *Instance) Status() Status {
	in.mu.Lock()
	s := Status{UPS: in.name, Driver: in.driver, Path: in.path, Kind: in.kind, State: in.state,
		Since: in.since, PID: in.pid, Restarts: in.restarts, Failures: in.failures,
		ExitStatus: in.exitStatus, SDOrder: in.sec.SDOrder}
	if in.lastErr != nil {
		s.LastError = in.lastErr.Error()
	}
	if in.pid > 0 {
		s.UPSStatus = in.nutStatus
	}
	in.mu.Unlock()
	if in.sock != nil {
		s.UPSStatus, _ = in.sock.Snapshot().Value("ups.status")
	}
	return s
}

// setState records a new state; it is logged once per change, never once
// per poll or per retry, and published as driver.state.
func (in *Instance) setState(s State, err error) {
	in.mu.Lock()
	changed := in.state != s
	in.state = s
	if changed {
		in.since = time.Now()
	}
	if err != nil {
		in.lastErr = err
	}
	kind, failures, exit := in.kind, in.failures, in.exitStatus
	in.mu.Unlock()
	if !changed {
		return
	}
	if in.sock != nil && s != StateStopped {
		// Publishing a variable is not a sign of life: only the
		// driver's DATAOK makes data fresh, so this never hides a
		// DATASTALE.
		_ = in.sock.Update([]string{"SETINFO", StateVar, string(s)})
	}
	switch {
	case s == StateFailed:
		in.log.Error("state", "state", s, "error", err, "exit", exit, "failures", failures,
			"retry_in", in.h.cfg.Cooldown)
	case err != nil:
		in.log.Warn("state", "state", s, "error", err, "exit", exit)
	default:
		in.log.Info("state", "state", s, "kind", kind)
	}
}

// InstCmd forwards an instant command from upsd to the plugin (sockproto.Handler).
func (in *Instance) InstCmd(cmd, param, trackingID string) {
	go in.forward(trackingID, "instcmd "+cmd, func(ctx context.Context, p plugin.Instance) (plugin.Result, error) {
		return p.InstCmd(ctx, cmd, param)
	})
}

// SetVar forwards a SET from upsd to the plugin (sockproto.Handler).
func (in *Instance) SetVar(name, value, trackingID string) {
	go in.forward(trackingID, "set "+name, func(ctx context.Context, p plugin.Instance) (plugin.Result, error) {
		return p.SetVar(ctx, name, value)
	})
}

func (in *Instance) forward(trackingID, what string, call func(context.Context, plugin.Instance) (plugin.Result, error)) {
	in.mu.Lock()
	p := in.inst
	in.mu.Unlock()
	status := plugin.StatFailed
	if p == nil {
		in.log.Warn("driver not running; request dropped", "request", what)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), in.h.cfg.CommandTimeout)
		r, err := call(ctx, p)
		cancel()
		switch {
		case err != nil:
			in.log.Warn("request failed", "request", what, "error", err)
		default:
			status = r.Status
			if r.Status != plugin.StatHandled {
				in.log.Info("request refused by driver", "request", what, "status", r.Status, "message", r.Message)
			}
		}
	}
	if trackingID != "" {
		in.sock.Tracking(trackingID, status)
	}
}

// run supervises the instance until ctx ends.
func (in *Instance) run(ctx context.Context) {
	defer close(in.done)
	for {
		began := time.Now()
		err := in.once(ctx)
		if ctx.Err() != nil {
			in.setState(StateStopped, nil)
			return
		}
		// The driver is gone: say so at once, so upsd stops serving its
		// last values as fresh.
		if in.sock != nil {
			_ = in.sock.Update([]string{"DATASTALE"})
		}
		in.startOnce.Do(func() { in.started <- err })
		in.mu.Lock()
		wasRunning := in.state == StateRunning || in.state == StateStale
		if wasRunning && time.Since(began) >= in.h.cfg.HealthyRun {
			in.failures = 0
		}
		in.failures++
		in.restarts++
		failures := in.failures
		in.mu.Unlock()

		next, delay := StateRestarting, in.backoff(failures)
		if failures >= in.h.cfg.CrashLoop {
			// A crash loop: stop hammering the device, but never give
			// up; the cause (a cable, a device, a config) may be fixed.
			next, delay = StateFailed, jitter(in.h.cfg.Cooldown)
		}
		in.setState(next, err)
		in.log.Debug("driver stopped; restarting", "error", err, "in", delay.Round(time.Millisecond), "attempt", failures)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			in.setState(StateStopped, nil)
			return
		case <-t.C:
		}
	}
}

// backoff is the delay before restart attempt n (1 = the first after a
// healthy run): FirstRetry at once, so that a single crash costs clients
// well under a second of stale data, then exponential from ups.conf's
// retrydelay (never below FirstRetry), capped at MaxBackoff, ±20% jitter.
func (in *Instance) backoff(n int) time.Duration {
	d := in.h.cfg.FirstRetry
	if n > 1 {
		base := time.Duration(in.retryDelay()) * time.Second
		if base < d {
			base = d
		}
		d = base
		for i := 2; i < n && d < in.h.cfg.MaxBackoff; i++ {
			d *= 2
		}
	}
	if d > in.h.cfg.MaxBackoff {
		d = in.h.cfg.MaxBackoff
	}
	return jitter(d)
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// section is the instance's current ups.conf section.
func (in *Instance) section() *nutconf.UPSSection {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.sec
}

func (in *Instance) retryDelay() int {
	if d := in.section().RetryDelay; d > 0 {
		return d
	}
	return in.h.Conf().RetryDelay
}

func (in *Instance) options() (sec, glob []plugin.Option) {
	return pluginOptions(in.section(), in.h.Conf())
}

func pluginOptions(s *nutconf.UPSSection, c *nutconf.UPSConf) (sec, glob []plugin.Option) {
	for _, o := range s.Options {
		sec = append(sec, plugin.Option{Key: o.Key, Value: o.Value, HasValue: o.HasValue})
	}
	for _, o := range c.Global {
		glob = append(glob, plugin.Option{Key: o.Key, Value: o.Value, HasValue: o.HasValue})
	}
	return sec, glob
}

func (in *Instance) maxStartDelay() time.Duration {
	n := in.section().MaxStartDelay
	if n <= 0 {
		n = in.h.Conf().MaxStartDelay
	}
	if n <= 0 {
		n = 75
	}
	return time.Duration(n) * time.Second
}

// once runs the driver one time, until it fails or ctx ends. The
// executable is checked on every start: it may have been replaced.
func (in *Instance) once(ctx context.Context) error {
	info, err := in.h.inspect(in.path)
	if err != nil {
		return err
	}
	in.mu.Lock()
	in.kind = info.kind
	in.mu.Unlock()
	if info.kind == KindNUT {
		return in.onceNUT(ctx)
	}
	return in.oncePlugin(ctx)
}

func (in *Instance) oncePlugin(ctx context.Context) error {
	cmd := exec.Command(in.path)
	cmd.Env = append(pluginEnv(os.Environ()),
		sdk.HostPIDEnv+"="+strconv.Itoa(os.Getpid()),
		"NUT_CONFPATH="+in.h.cfg.ConfPath,
		"NUT_STATEPATH="+in.h.cfg.StatePath,
	)
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake,
		VersionedPlugins: plugin.PluginSets(nil),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           quietExit{in.log},
		StartTimeout:     in.maxStartDelay(),
		Managed:          false,
		Stderr:           &stderrLines{in: in},
	})
	hung := false
	defer func() {
		in.kill(client, hung)
		// go-plugin has waited for the process by now.
		if ps := cmd.ProcessState; ps != nil {
			in.mu.Lock()
			in.exitStatus = ps.String()
			in.mu.Unlock()
		}
	}()
	rpc, err := client.Client()
	if err != nil {
		return fmt.Errorf("starting %s: %w", in.path, err)
	}
	raw, err := rpc.Dispense(plugin.PluginName)
	if err != nil {
		return fmt.Errorf("%s: %w", in.path, err)
	}
	p, ok := raw.(plugin.Instance)
	if !ok {
		return fmt.Errorf("%s: unexpected plugin type %T", in.path, raw)
	}
	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	capCtx, capCancel := context.WithTimeout(runCtx, 10*time.Second)
	caps, err := p.Capabilities(capCtx, plugin.Capabilities{Minor: plugin.ProtocolMinor, Version: sdk.Version})
	capCancel()
	if err != nil {
		return fmt.Errorf("%s: capabilities: %w", in.path, err)
	}
	in.log.Debug("plugin started", "pid", pid, "minor", caps.Minor, "sdk", caps.Version)

	sec, glob := in.options()
	recv, err := p.Run(runCtx, plugin.RunRequest{
		UPS: in.name, Driver: in.driver, Options: sec, Global: glob,
		ConfPath: in.h.cfg.ConfPath, StatePath: in.h.cfg.StatePath, Debug: in.h.cfg.Debug,
	})
	if err != nil {
		return fmt.Errorf("%s: run: %w", in.path, err)
	}
	in.mu.Lock()
	in.pid = pid
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		in.inst, in.pid = nil, 0
		in.mu.Unlock()
	}()

	// The receiving goroutine applies each update to the socket itself:
	// the path from plugin to upsd has no extra hand-off. It only kicks
	// the supervising loop below, which keeps the heartbeat deadline.
	// applyMu and stopped make sure nothing is applied once this run is
	// over, so a late update can never undo the DATASTALE that follows.
	var (
		applyMu     sync.Mutex
		stopped     bool
		gotSnapshot atomic.Bool
	)
	defer func() {
		applyMu.Lock()
		stopped = true
		applyMu.Unlock()
	}()
	errc := make(chan error, 1)
	beat := make(chan int64, 1)
	apply := func(u plugin.Update) error {
		applyMu.Lock()
		defer applyMu.Unlock()
		if stopped {
			return errStopped
		}
		switch {
		case u.Snapshot:
			fresh := dataState(u.Msgs, true)
			state := StateRunning
			if !fresh {
				state = StateStale
			}
			msgs := append(u.Msgs[:len(u.Msgs):len(u.Msgs)], []string{"SETINFO", StateVar, string(state)})
			if err := in.sock.Replace(msgs...); err != nil {
				return fmt.Errorf("%s: bad snapshot: %w", in.driver, err)
			}
			in.mu.Lock()
			in.state = state // published with the snapshot above
			in.since = time.Now()
			in.mu.Unlock()
			if !gotSnapshot.Load() {
				gotSnapshot.Store(true)
				in.mu.Lock()
				in.inst = p
				in.mu.Unlock()
				in.log.Info("state", "state", state, "kind", KindPlugin, "pid", pid)
				in.startOnce.Do(func() { in.started <- nil })
			}
		case len(u.Msgs) > 0:
			if !gotSnapshot.Load() {
				return fmt.Errorf("%s sent changes before its snapshot", in.driver)
			}
			if err := in.sock.Update(u.Msgs...); err != nil {
				// One bad message must not take the instance down; the
				// plugin's author needs to hear about it.
				in.log.Error("driver sent an invalid update", "error", err)
			}
			in.mu.Lock()
			cur := in.state
			in.mu.Unlock()
			if fresh := dataState(u.Msgs, cur == StateRunning); fresh != (cur == StateRunning) {
				in.setState(map[bool]State{true: StateRunning, false: StateStale}[fresh], nil)
			}
		}
		return nil
	}
	go func() {
		for {
			u, err := recv()
			if err == nil {
				err = apply(u)
			} else if client.Exited() {
				err = fmt.Errorf("%s exited: %w", in.driver, err)
			} else {
				err = fmt.Errorf("%s: %w", in.driver, err)
			}
			if err != nil {
				errc <- err
				return
			}
			select {
			case beat <- u.PollInterval:
			default: // a kick is already pending
			}
		}
	}()

	// Until the first snapshot, the plugin has maxstartdelay; afterwards
	// the heartbeat deadline follows its poll interval.
	deadline := in.maxStartDelay()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		case <-timer.C:
			hung = true
			if !gotSnapshot.Load() {
				return fmt.Errorf("%s did not publish its state within maxstartdelay %s", in.driver, deadline)
			}
			return fmt.Errorf("%s hung: no heartbeat for %s; killed it", in.driver, deadline)
		case pollMS := <-beat:
			if gotSnapshot.Load() {
				deadline = in.hangDeadline(pollMS)
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			timer.Reset(deadline)
		}
	}
}

// dataState reports whether data is fresh after msgs: the last DATAOK or
// DATASTALE among them decides, otherwise it stays as it was.
func dataState(msgs [][]string, was bool) bool {
	for _, m := range msgs {
		if len(m) == 1 {
			switch m[0] {
			case "DATAOK":
				was = true
			case "DATASTALE":
				was = false
			}
		}
	}
	return was
}

// kill ends the plugin process. go-plugin's Kill asks the plugin to shut
// down and waits for it, which never ends for a hung (or stopped) process,
// so a hung plugin is SIGKILLed first, and a graceful stop that takes too
// long is cut short the same way.
func (in *Instance) kill(client *goplugin.Client, hung bool) {
	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	if hung && pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	done := make(chan struct{})
	go func() { client.Kill(); close(done) }()
	t := time.NewTimer(in.h.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		if pid > 0 {
			in.log.Warn("driver did not stop in time; killing it", "pid", pid, "timeout", in.h.cfg.StopTimeout)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		<-done
	}
}

// hangDeadline derives the heartbeat deadline from the poll interval: three
// missed polls plus HangGrace, and never less than HangMinimum.
func (in *Instance) hangDeadline(pollMS int64) time.Duration {
	d := 3*time.Duration(pollMS)*time.Millisecond + in.h.cfg.HangGrace
	if d < in.h.cfg.HangMinimum {
		d = in.h.cfg.HangMinimum
	}
	return d
}

// stop ends supervision and waits for the driver to be gone.
func (in *Instance) stop() {
	in.mu.Lock()
	cancel, done := in.cancel, in.done
	in.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	if in.sock != nil {
		in.sock.Close()
	}
}

// plugin returns the running plugin, nil when none runs.
func (in *Instance) plugin() plugin.Instance {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.inst
}

var errStopped = errors.New("stopped")

// pluginEnv is the environment a plugin starts with: the host's, plus
// GOMAXPROCS=1 unless the host's environment sets it. A driver polls one
// device; one P is plenty, and it keeps each of hundreds of plugins about
// 11% smaller (docs/HOST-PERFORMANCE.md). Set GOMAXPROCS for the host to
// give plugins more.
func pluginEnv(env []string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			return env
		}
	}
	return append(env[:len(env):len(env)], "GOMAXPROCS=1")
}
