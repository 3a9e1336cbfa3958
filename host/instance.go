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

// State is an instance's supervision state, as status shows it. (It is
// not published as a variable: NUT 2.8.0 drivers have no driver.state,
// and upsc output stays byte-identical to NUT's.)
type State string

// The states an instance goes through.
const (
	StateStarting   State = "starting"
	StateRunning    State = "running"
	StateStale      State = "stale"
	StateRestarting State = "restarting"
	StateFailed     State = "failed"
	StateStopped    State = "stopped"
)

// Timing of supervision. The zero value of each field in Config gets these.
const (
	defaultFirstRetry  = 100 * time.Millisecond
	defaultMaxBackoff  = 30 * time.Second
	defaultHealthyRun  = 10 * time.Second
	defaultHangMinimum = 5 * time.Second
)

// Instance supervises one ups.conf section: the plugin process, its state
// socket and its restarts.
type Instance struct {
	h       *Host
	sec     *nutconf.UPSSection
	path    string // the driver executable
	sock    *sockproto.Server
	log     hclog.Logger
	started chan error // first snapshot (nil) or the first start's failure

	mu        sync.Mutex
	state     State
	lastErr   error
	restarts  int
	pid       int
	inst      plugin.Instance
	cancel    context.CancelFunc
	done      chan struct{}
	startOnce sync.Once
}

// SocketPath is where an instance is served: STATEPATH/<driver>-<ups>.
func SocketPath(statePath, driver, ups string) string {
	return filepath.Join(statePath, driver+"-"+ups)
}

// Status is a snapshot of an instance for status listings.
type Status struct {
	UPS, Driver, Path string
	State             State
	PID               int
	Restarts          int
	LastError         string
}

// Status returns the instance's current status.
func (in *Instance) Status() Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := Status{UPS: in.sec.Name, Driver: in.sec.Driver, Path: in.path, State: in.state, PID: in.pid, Restarts: in.restarts}
	if in.lastErr != nil {
		s.LastError = in.lastErr.Error()
	}
	return s
}

func (in *Instance) setState(s State, err error) {
	in.mu.Lock()
	changed := in.state != s
	in.state = s
	if err != nil {
		in.lastErr = err
	}
	in.mu.Unlock()
	if changed {
		// Logged once per change, never once per poll.
		if err != nil {
			in.log.Warn("state", "state", s, "error", err)
		} else {
			in.log.Info("state", "state", s)
		}
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
	failures := 0
	for {
		in.setState(map[bool]State{true: StateStarting, false: StateRestarting}[failures == 0 && in.restarts == 0], nil)
		began := time.Now()
		err := in.once(ctx)
		if ctx.Err() != nil {
			in.setState(StateStopped, nil)
			return
		}
		// The plugin is gone: say so at once, so upsd stops serving its
		// last values as fresh.
		_ = in.sock.Update([]string{"DATASTALE"})
		in.startOnce.Do(func() { in.started <- err })
		if time.Since(began) >= in.h.cfg.HealthyRun {
			failures = 0
		}
		failures++
		in.mu.Lock()
		in.restarts++
		in.mu.Unlock()
		delay := in.backoff(failures)
		in.setState(StateRestarting, err)
		in.log.Warn("driver stopped; restarting", "error", err, "in", delay.Round(time.Millisecond), "attempt", failures)
		select {
		case <-ctx.Done():
			in.setState(StateStopped, nil)
			return
		case <-time.After(delay):
		}
	}
}

// backoff is exponential with ±20% jitter, starting fast so that a single
// crash costs clients well under a second of stale data.
func (in *Instance) backoff(n int) time.Duration {
	d := in.h.cfg.FirstRetry
	for i := 1; i < n && d < in.h.cfg.MaxBackoff; i++ {
		d *= 2
	}
	if d > in.h.cfg.MaxBackoff {
		d = in.h.cfg.MaxBackoff
	}
	j := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * j)
}

func (in *Instance) options() (sec, glob []plugin.Option) {
	for _, o := range in.sec.Options {
		sec = append(sec, plugin.Option{Key: o.Key, Value: o.Value, HasValue: o.HasValue})
	}
	for _, o := range in.h.conf.Global {
		glob = append(glob, plugin.Option{Key: o.Key, Value: o.Value, HasValue: o.HasValue})
	}
	return sec, glob
}

func (in *Instance) maxStartDelay() time.Duration {
	n := in.sec.MaxStartDelay
	if n <= 0 {
		n = in.h.conf.MaxStartDelay
	}
	if n <= 0 {
		n = 75
	}
	return time.Duration(n) * time.Second
}

// once runs the plugin one time, until it fails or ctx ends.
func (in *Instance) once(ctx context.Context) error {
	cmd := exec.Command(in.path)
	cmd.Env = append(os.Environ(),
		sdk.HostPIDEnv+"="+strconv.Itoa(os.Getpid()),
		"NUT_CONFPATH="+in.h.cfg.ConfPath,
		"NUT_STATEPATH="+in.h.cfg.StatePath,
	)
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake,
		VersionedPlugins: plugin.PluginSets(nil),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           in.log,
		StartTimeout:     in.maxStartDelay(),
		Managed:          false,
	})
	hung := false
	defer func() { in.kill(client, hung) }()
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
		UPS: in.sec.Name, Driver: in.sec.Driver, Options: sec, Global: glob,
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
			if err := in.sock.Replace(u.Msgs...); err != nil {
				return fmt.Errorf("%s: bad snapshot: %w", in.sec.Driver, err)
			}
			if !gotSnapshot.Load() {
				gotSnapshot.Store(true)
				in.mu.Lock()
				in.inst = p
				in.mu.Unlock()
				in.setState(StateRunning, nil)
				in.startOnce.Do(func() { in.started <- nil })
			}
		case len(u.Msgs) > 0:
			if !gotSnapshot.Load() {
				return fmt.Errorf("%s sent changes before its snapshot", in.sec.Driver)
			}
			if err := in.sock.Update(u.Msgs...); err != nil {
				// One bad message must not take the instance down; the
				// plugin's author needs to hear about it.
				in.log.Error("driver sent an invalid update", "error", err)
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
				err = fmt.Errorf("%s exited: %w", in.sec.Driver, err)
			} else {
				err = fmt.Errorf("%s: %w", in.sec.Driver, err)
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
				return fmt.Errorf("%s did not publish its state within maxstartdelay %s", in.sec.Driver, deadline)
			}
			return fmt.Errorf("%s hung: no heartbeat for %s; killing it", in.sec.Driver, deadline)
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
	select {
	case <-done:
	case <-time.After(in.h.cfg.StopTimeout):
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

// stop ends supervision and waits for the plugin to be gone.
func (in *Instance) stop() {
	in.mu.Lock()
	cancel, done := in.cancel, in.done
	in.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	in.sock.Close()
}

var errStopped = errors.New("stopped")
