package upsd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gonut/gonut/internal/conf"
	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/gonut/gonut/sdk/sockproto"
	"github.com/gonut/gonut/sdk/version"
	"github.com/hashicorp/go-hclog"
)

// DefaultPort is NUT's network port.
const DefaultPort = "3493"

// Family restricts listeners to one IP version, as upsd's -4 and -6 do.
type Family int

// Address families for Config.Family.
const (
	AnyFamily Family = iota
	IPv4Only
	IPv6Only
)

// Listen is one LISTEN line of upsd.conf.
type Listen struct {
	Addr string // host name, address, or "*" for every address
	Port string // "" means DefaultPort
}

// Device is one UPS from ups.conf.
type Device struct {
	Name   string // the [section] name
	Driver string // driver = ...
	Desc   string // desc = ..., "" when unset
	// Socket overrides the state socket path, which is otherwise
	// Config.StatePath/<Driver>-<Name>.
	Socket string
}

// Config is what a Server needs; upsd/cmd/upsd builds it from upsd.conf,
// ups.conf and upsd.users. Zero values get NUT's defaults.
type Config struct {
	// Listeners, when set, are already bound (by Bind, typically before
	// dropping privileges) and are served instead of binding Listen.
	Listeners []net.Listener
	// Listen addresses; none means 127.0.0.1 and ::1 on port 3493.
	Listen []Listen
	// Family limits listeners to IPv4 or IPv6 (-4, -6).
	Family Family
	// AllowNotAllListeners keeps the server running when some LISTEN
	// addresses cannot be bound (ALLOW_NOT_ALL_LISTENERS).
	AllowNotAllListeners bool
	// MaxAge is how long a driver may stay silent before its data is
	// stale (MAXAGE). [15s]
	MaxAge time.Duration
	// MaxConn bounds drivers plus listeners plus clients, as NUT counts
	// MAXCONN. [1024]
	MaxConn int
	// TrackingDelay is how long a TRACKING result is kept
	// (TRACKINGDELAY). [1h]
	TrackingDelay time.Duration
	// StatePath is where driver sockets are (STATEPATH).
	StatePath string
	// Devices in ups.conf order (the order of LIST UPS).
	Devices []Device
	// Users from upsd.users; nil means none, so no login succeeds.
	Users *conf.Users
	// TLS, when set, enables STARTTLS with this configuration (build it
	// from upsd.conf with LoadTLS); nil makes STARTTLS answer
	// ERR FEATURE-NOT-CONFIGURED, as NUT does without a certificate.
	TLS *tls.Config
	// IdleTimeout drops a client that sends no complete request for this
	// long. [60s, NUT's fixed value]
	IdleTimeout time.Duration
	// Logger receives the server's logs; nil discards them.
	Logger hclog.Logger
}

func (c *Config) setDefaults() {
	if c.MaxAge <= 0 {
		c.MaxAge = 15 * time.Second
	}
	if c.MaxConn <= 0 {
		c.MaxConn = 1024
	}
	if c.TrackingDelay <= 0 {
		c.TrackingDelay = time.Hour
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
}

// Version is the version upsd reports in VER and server.version.
var Version = version.Version

// Server is a running upsd. Create it with Start.
type Server struct {
	log hclog.Logger

	listeners []net.Listener

	mu       sync.RWMutex // guards cfg, devices, byName, conns, connSeq
	cfg      Config
	devices  []*device          // ups.conf order
	byName   map[string]*device // by lower-case name: NUT matches UPS names without case
	conns    map[*conn]struct{}
	connSeq  uint64
	shutdown atomic.Bool

	// Lock-free copies of cfg and byName for the request path, replaced
	// (never modified) under mu by Start and Reload: every request reads
	// them, and a shared lock's cache line bouncing between cores costs
	// more than the request.
	cfgSnap    atomic.Pointer[Config]
	byNameSnap atomic.Pointer[map[string]*device]

	tracking *trackingTable

	// Event loops serving plain-TCP clients (poll_linux.go), and the
	// listeners they accept from: those are closed only once the loops
	// have ended, since the loops use their descriptors.
	loops         []*eventLoop
	loopListeners []net.Listener
	loopWG        sync.WaitGroup

	wg       sync.WaitGroup // accept loops and device clients
	connWG   sync.WaitGroup // client connections
	stopping chan struct{}  // closed by Shutdown
}

// Start binds the listeners, starts reading every device's socket and
// serves clients in the background until Shutdown.
func Start(cfg Config) (*Server, error) {
	cfg.setDefaults()
	s := &Server{
		log:      cfg.Logger,
		cfg:      cfg,
		byName:   make(map[string]*device),
		conns:    make(map[*conn]struct{}),
		stopping: make(chan struct{}),
		tracking: newTrackingTable(),
	}
	lns := cfg.Listeners
	if len(lns) == 0 {
		var err error
		if lns, err = Bind(cfg); err != nil {
			return nil, err
		}
	}
	s.listeners = lns
	s.cfg.Listeners = nil // owned by the Server from here on
	s.mu.Lock()
	s.setDevicesLocked(cfg.Devices)
	s.publishLocked()
	s.mu.Unlock()
	for _, ln := range s.startLoops(lns) {
		s.wg.Add(1)
		go s.acceptLoop(ln)
	}
	return s, nil
}

// Addrs returns the addresses the server listens on.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, 0, len(s.listeners))
	for _, ln := range s.listeners {
		out = append(out, ln.Addr())
	}
	return out
}

// Reload applies a new configuration: devices added to ups.conf are
// connected, removed ones dropped (with their clients' logins), and users,
// MAXAGE, MAXCONN and TRACKINGDELAY take effect. Listen addresses and the
// address family need a restart, as in NUT.
func (s *Server) Reload(cfg Config) {
	cfg.setDefaults()
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg.Listen, cfg.Family, cfg.Logger, cfg.Listeners = s.cfg.Listen, s.cfg.Family, s.cfg.Logger, nil
	s.cfg = cfg
	s.setDevicesLocked(cfg.Devices)
	s.publishLocked()
	s.log.Info("configuration reloaded", "devices", len(s.devices))
}

// publishLocked refreshes the request path's snapshots; s.mu is held.
func (s *Server) publishLocked() {
	cfg := s.cfg
	s.cfgSnap.Store(&cfg)
	m := s.byName
	s.byNameSnap.Store(&m)
}

// setDevicesLocked makes the device list match devs, keeping the
// connection of every device whose socket did not change; s.mu is held.
func (s *Server) setDevicesLocked(devs []Device) {
	// A copy: the current map is also the request path's lock-free
	// snapshot (byNameSnap), which must not change under its readers.
	old := maps.Clone(s.byName)
	s.byName = make(map[string]*device, len(devs))
	s.devices = s.devices[:0:0]
	for _, d := range devs {
		key := strings.ToLower(d.Name)
		if _, dup := s.byName[key]; dup {
			s.log.Warn("duplicate UPS name in ups.conf; ignoring the later one", "ups", d.Name)
			continue
		}
		path := d.Socket
		if path == "" {
			path = filepath.Join(s.cfg.StatePath, d.Driver+"-"+d.Name)
		}
		if od := old[key]; od != nil && od.socket == path && od.name == d.Name {
			od.desc = d.Desc
			od.client.SetPingAfter(s.cfg.MaxAge / 3)
			delete(old, key)
			s.byName[key] = od
			s.devices = append(s.devices, od)
			continue
		}
		nd := s.newDevice(d.Name, d.Desc, path)
		s.byName[key] = nd
		s.devices = append(s.devices, nd)
	}
	for _, od := range old {
		s.log.Info("UPS removed from ups.conf", "ups", od.name)
		od.stop()
		for c := range s.conns {
			if c.loginUPS.Load() == od {
				c.kick()
			}
		}
	}
}

func (s *Server) newDevice(name, desc, path string) *device {
	ctx, cancel := context.WithCancel(context.Background())
	d := &device{name: name, desc: desc, socket: path, cancel: cancel, done: make(chan struct{})}
	d.client = sockproto.NewClient(sockproto.ClientConfig{
		Path:      path,
		Name:      name,
		Logger:    s.log,
		PingAfter: s.cfg.MaxAge / 3,
		Retry:     time.Second,
		OnConnect: func(st *sockproto.State) {
			// NUT's upsd shows this until the driver's dump arrives.
			_ = st.Apply([]string{"SETINFO", "ups.status", "WAIT"})
		},
		OnTracking: s.tracking.set,
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(d.done)
		_ = d.client.Run(ctx)
	}()
	return d
}

// config returns the current configuration, which the caller must not
// modify.
func (s *Server) config() *Config { return s.cfgSnap.Load() }

// lookup finds a device by name, without regard to case as NUT does.
func (s *Server) lookup(name string) *device {
	m := *s.byNameSnap.Load()
	if d := m[name]; d != nil {
		return d // the common case: the name as written in ups.conf, lower case
	}
	return m[strings.ToLower(name)]
}

// deviceList returns the devices in ups.conf order.
func (s *Server) deviceList() []*device {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.devices)
}

// Shutdown stops accepting clients, closes every client connection once
// its current request is answered, stops reading drivers, and waits for
// all of it or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.shutdown.CompareAndSwap(false, true) {
		return errors.New("upsd: Shutdown called twice")
	}
	close(s.stopping)
	for _, ln := range s.listeners {
		if !slices.Contains(s.loopListeners, ln) {
			ln.Close()
		}
	}
	for _, l := range s.loops {
		l.stop()
	}
	s.mu.Lock()
	for c := range s.conns {
		c.kick()
	}
	for _, d := range s.devices {
		d.stop()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.loopWG.Wait()
		for _, ln := range s.loopListeners {
			ln.Close()
		}
		s.connWG.Wait()
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("upsd shutdown: %w", ctx.Err())
	}
}

// acceptLoop accepts clients on one listener until Shutdown.
func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return
			}
			// EMFILE and friends: back off instead of spinning, the
			// way net/http does (NUT 2.8 spins at 100 % CPU here).
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Error("accept failed; retrying", "listener", ln.Addr(), "error", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-s.stopping:
				return
			}
			continue
		}
		delay = 0
		s.startConn(nc)
	}
}

// startConn registers a new client, or refuses it past MAXCONN.
func (s *Server) startConn(nc net.Conn) {
	// Go sets TCP_NODELAY on every TCP connection: replies go out
	// without Nagle's delay (NUT's do not; docs/COMPATIBILITY.md).
	c, ok := s.admit(func(seq uint64) *conn { return newConn(s, nc, seq) }, nc.RemoteAddr().String())
	if !ok {
		nc.Close()
		return
	}
	go c.serve(false)
}

// admit registers the client that mk makes, or refuses it past MAXCONN
// (the caller then closes its socket); addr names it in the log.
func (s *Server) admit(mk func(seq uint64) *conn, addr string) (*conn, bool) {
	s.mu.Lock()
	// NUT counts every polled descriptor against MAXCONN: drivers,
	// listeners and clients.
	limit := s.cfg.MaxConn - len(s.devices) - len(s.listeners)
	if len(s.conns) >= limit || s.shutdown.Load() {
		s.mu.Unlock()
		// NUT 2.8 leaves such a client connected and unanswered; closing
		// at once tells it (docs/COMPATIBILITY.md).
		s.log.Warn("refusing client: MAXCONN reached", "client", addr, "maxconn", s.cfg.MaxConn)
		return nil, false
	}
	s.connSeq++
	c := mk(s.connSeq)
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
	return c, true
}

// removeConn forgets a client that has gone.
func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.connWG.Done()
}

// loggedIn returns the clients logged into d, newest connection first (the
// order of NUT's LIST CLIENT).
func (s *Server) loggedIn(d *device) []*conn {
	s.mu.RLock()
	var out []*conn
	for c := range s.conns {
		if c.loginUPS.Load() == d {
			out = append(out, c)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *conn) int {
		switch {
		case a.seq > b.seq:
			return -1
		case a.seq < b.seq:
			return 1
		}
		return 0
	})
	return out
}

// descOf returns a device's ups.conf description escaped for a quoted
// reply, or def when it has none.
func (s *Server) descOf(d *device, def string) string {
	s.mu.RLock()
	desc := d.desc
	s.mu.RUnlock()
	if desc == "" {
		return def
	}
	return nutconf.Quote(desc)
}
