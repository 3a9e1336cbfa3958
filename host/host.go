package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/gonut/gonut/sdk/sockproto"
)

// Config is the host's configuration. The zero value of every field gets a
// sane default in New.
type Config struct {
	ConfPath   string // NUT_CONFPATH; default nutconf.ConfPath()
	StatePath  string // where sockets go; default ups.conf statepath, then nutconf.StatePath()
	DriverPath []string
	Debug      int
	Logger     hclog.Logger

	FirstRetry     time.Duration // first restart delay after a crash [100ms]
	MaxBackoff     time.Duration // restart delay cap [30s]
	HealthyRun     time.Duration // a run this long resets the backoff [10s]
	HangMinimum    time.Duration // shortest heartbeat deadline [5s]
	HangGrace      time.Duration // added to three poll intervals [2s]
	CommandTimeout time.Duration // INSTCMD/SET forwarding [10s]
	StopTimeout    time.Duration // a stopping driver's Close, before SIGKILL [5s]
	CrashLoop      int           // this many failed runs in a row: state failed [5]
	Cooldown       time.Duration // a failed instance is retried after this [60s]
	ShutdownWait   time.Duration // how long one driver's shutdown may take [maxstartdelay]

	// User is passed to NUT drivers as -u (NUT's drivers drop root for
	// their compiled-in user otherwise).
	User string
	// Idle starts nothing until told to; sections then count as held.
	Idle bool
}

// Host supervises every driver instance of one ups.conf.
type Host struct {
	cfg  Config
	conf *nutconf.UPSConf
	log  hclog.Logger

	exes exeCache
	// resyncMu makes resyncs (file watcher, SIGHUP, control API) run one
	// at a time: each sees the instances the previous one left.
	resyncMu sync.Mutex

	mu        sync.Mutex
	instances map[string]*Instance
	// held are sections stopped on purpose (upsdrvctl stop <ups>, -idle):
	// a resync leaves them stopped until they are started again.
	held map[string]bool
}

// New reads ups.conf and prepares the host; it starts nothing.
func New(cfg Config) (*Host, error) {
	if cfg.ConfPath == "" {
		cfg.ConfPath = nutconf.ConfPath()
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "host", Output: os.Stderr})
	}
	conf, err := nutconf.LoadUPSConf(filepath.Join(cfg.ConfPath, "ups.conf"))
	if err != nil {
		return nil, err
	}
	if cfg.StatePath == "" {
		cfg.StatePath = conf.StatePath
	}
	if cfg.StatePath == "" {
		cfg.StatePath = nutconf.StatePath()
	}
	if len(cfg.DriverPath) == 0 {
		if conf.DriverPath != "" {
			cfg.DriverPath = []string{conf.DriverPath}
		} else {
			cfg.DriverPath = []string{DefaultDriverPath()}
		}
	}
	setDur(&cfg.FirstRetry, defaultFirstRetry)
	setDur(&cfg.MaxBackoff, defaultMaxBackoff)
	setDur(&cfg.HealthyRun, defaultHealthyRun)
	setDur(&cfg.HangMinimum, defaultHangMinimum)
	setDur(&cfg.HangGrace, 2*time.Second)
	setDur(&cfg.CommandTimeout, 10*time.Second)
	setDur(&cfg.StopTimeout, 5*time.Second)
	setDur(&cfg.Cooldown, defaultCooldown)
	if cfg.CrashLoop <= 0 {
		cfg.CrashLoop = defaultCrashLoop
	}
	h := &Host{cfg: cfg, conf: conf, log: cfg.Logger, instances: map[string]*Instance{}, held: map[string]bool{}}
	if cfg.Idle {
		for _, s := range conf.Sections {
			h.held[s.Name] = true
		}
	}
	return h, nil
}

func setDur(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Conf is the ups.conf the host read last.
func (h *Host) Conf() *nutconf.UPSConf {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conf
}

// Config is the host's configuration after defaults.
func (h *Host) Config() Config { return h.cfg }

// StatePath is where the host puts sockets.
func (h *Host) StatePath() string { return h.cfg.StatePath }

// sections resolves names (all sections when empty) in ups.conf order.
func (h *Host) sections(names []string) ([]*nutconf.UPSSection, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(names) == 0 {
		return h.conf.Sections, nil
	}
	var out []*nutconf.UPSSection
	for _, n := range names {
		s := h.conf.Section(n)
		if s == nil {
			return nil, fmt.Errorf("UPS %q is not in %s", n, h.conf.File)
		}
		out = append(out, s)
	}
	return out, nil
}

// Start starts the named instances (all when names is empty) in parallel
// and waits until each has published its first state or failed its first
// start. Instances already running are left alone. The returned error
// joins every instance's failure; those instances keep being retried.
func (h *Host) Start(ctx context.Context, names ...string) error {
	secs, err := h.sections(names)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(secs))
	for i, s := range secs {
		in, err := h.startInstance(s)
		if err != nil {
			errs[i] = err
			continue
		}
		if in == nil {
			continue
		}
		wg.Add(1)
		go func(i int, in *Instance) {
			defer wg.Done()
			select {
			case err := <-in.started:
				if err != nil {
					errs[i] = fmt.Errorf("UPS %s (driver %s): %w", in.name, in.driver, err)
				}
			case <-ctx.Done():
				errs[i] = fmt.Errorf("UPS %s: %w", in.name, ctx.Err())
			}
		}(i, in)
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (h *Host) startInstance(s *nutconf.UPSSection) (*Instance, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.held, s.Name)
	if _, ok := h.instances[s.Name]; ok {
		return nil, nil
	}
	if s.Driver == "" {
		return nil, fmt.Errorf("%s:%d: UPS %s has no driver", s.File, s.Line, s.Name)
	}
	if s.Port == "" {
		return nil, fmt.Errorf("%s:%d: UPS %s has no port", s.File, s.Line, s.Name)
	}
	path, err := FindDriver(s.Driver, h.cfg.DriverPath)
	if err != nil {
		line := s.Line
		for _, o := range s.Options {
			if o.Key == "driver" {
				line = o.Line
			}
		}
		return nil, fmt.Errorf("%s:%d: UPS %s: %w", s.File, line, s.Name, err)
	}
	info, err := h.inspect(path)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: UPS %s: %w", s.File, s.Line, s.Name, err)
	}
	log := h.log.ResetNamed(fmt.Sprintf("host.%s.%s", s.Name, s.Driver))
	in := &Instance{h: h, name: s.Name, driver: s.Driver, sec: s, path: path, log: log, started: make(chan error, 1), done: make(chan struct{}),
		state: StateStarting, since: time.Now(), kind: info.kind}
	if err := os.MkdirAll(h.cfg.StatePath, 0o770); err != nil {
		return nil, fmt.Errorf("statepath %s: %w", h.cfg.StatePath, err)
	}
	if info.kind == KindPlugin {
		sock, err := sockproto.Listen(SocketPath(h.cfg.StatePath, s.Driver, s.Name), in, log)
		if err != nil {
			return nil, fmt.Errorf("UPS %s: %w", s.Name, err)
		}
		in.sock = sock
		// Until the plugin's first snapshot, upsd sees a driver that is
		// connected but has no data yet: stale.
		_ = sock.Update([]string{"DATASTALE"}, []string{"SETINFO", StateVar, string(StateStarting)})
	}
	log.Info("state", "state", StateStarting, "kind", info.kind, "path", path)
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	h.instances[s.Name] = in
	go in.run(ctx)
	return in, nil
}

// Stop stops the named instances (all when names is empty) and removes
// their sockets.
func (h *Host) Stop(names ...string) error {
	h.mu.Lock()
	var stop []*Instance
	if len(names) == 0 {
		for n, in := range h.instances {
			stop = append(stop, in)
			delete(h.instances, n)
			h.held[n] = true
		}
	} else {
		for _, n := range names {
			in, ok := h.instances[n]
			if !ok {
				h.mu.Unlock()
				return fmt.Errorf("UPS %q is not running", n)
			}
			stop = append(stop, in)
			delete(h.instances, n)
			h.held[n] = true
		}
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range stop {
		wg.Add(1)
		go func(in *Instance) { defer wg.Done(); in.stop() }(in)
	}
	wg.Wait()
	return nil
}

// Status lists every instance, in ups.conf order.
func (h *Host) Status() []Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	order := map[string]int{}
	for i, s := range h.conf.Sections {
		order[s.Name] = i
	}
	var out []Status
	ins := make([]*Instance, 0, len(h.instances))
	for _, in := range h.instances {
		ins = append(ins, in)
	}
	h.mu.Unlock()
	for _, in := range ins {
		out = append(out, in.Status())
	}
	h.mu.Lock()
	sort.Slice(out, func(i, j int) bool { return order[out[i].UPS] < order[out[j].UPS] })
	return out
}

// Running reports how many instances are supervised.
func (h *Host) Running() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.instances)
}

// String names the host for logs.
func (h *Host) String() string {
	return "nut-driver-host(" + strings.Join(h.cfg.DriverPath, ":") + ")"
}
