package sockproto

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/hashicorp/go-hclog"
)

// writeTimeout bounds one write to a driver: a driver that stopped reading
// its socket is treated as gone, as NUT's upsd does when its non-blocking
// write fails.
const writeTimeout = 2 * time.Second

// Conn is a raw connection to a driver's state socket: lines out, parsed
// messages in. Send may be called concurrently with Next; Next must not be
// called concurrently with itself.
type Conn struct {
	// OnBadLine, if set, is called with what was parsed of a malformed
	// line before it is skipped.
	OnBadLine func(words []string, err error)

	c   net.Conn
	r   *bufio.Reader
	sc  *nutconf.Scanner
	wmu sync.Mutex
}

// Dial connects to the state socket at path.
func Dial(ctx context.Context, path string) (*Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c, r: bufio.NewReader(c), sc: newScanner()}, nil
}

// Send writes one message, formatted by Encode.
func (c *Conn) Send(words ...string) error {
	return c.SendLine(Encode(words...))
}

// SendLine writes text as it is; it should be whole lines.
func (c *Conn) SendLine(text string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.c.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	_, err := io.WriteString(c.c, text)
	return err
}

// Next returns the next non-empty message from the driver. A malformed
// line (an unescaped # in quotes) is skipped, as NUT's upsd skips it,
// rather than costing the connection; OnBadLine hears of it.
func (c *Conn) Next() ([]string, error) {
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return nil, err
		}
		words, done, err := c.sc.Feed(b)
		if err != nil {
			if c.OnBadLine != nil {
				c.OnBadLine(words, err)
			}
			continue
		}
		if done && len(words) > 0 {
			return words, nil
		}
	}
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// ClientConfig configures a Client. The zero values of the optional fields
// get the defaults shown.
type ClientConfig struct {
	// Path is the driver's state socket, STATEPATH/<driver>-<ups>.
	Path string
	// Name names the device in logs (the UPS name).
	Name string
	// Logger receives connection events; nil discards them.
	Logger hclog.Logger
	// PingAfter: when nothing has been heard from the driver, and no PING
	// sent, for this long, the client sends PING so that a quiet but live
	// driver says something. NUT's upsd uses MAXAGE/3. [5s]
	PingAfter time.Duration
	// Retry is the pause between attempts to reach a driver that is not
	// there. [1s]
	Retry time.Duration
	// OnConnect, if set, is called with the new, empty State each time a
	// connection is made, before DUMPALL is sent. upsd uses it to show
	// ups.status WAIT until the dump arrives, as NUT's does. The dump is
	// applied on top of it and shown whole, once DUMPDONE arrives.
	OnConnect func(st *State)
	// OnTracking, if set, is called for each TRACKING id status message.
	OnTracking func(id, status string)
	// OnUpdate, if set, is called after each message that changed the state
	// or the connection status, with no lock held. It must not block.
	OnUpdate func()
}

// Info is the status of a Client's connection to its driver.
type Info struct {
	Connected bool      // a connection is established
	DumpDone  bool      // the driver has sent DUMPDONE since the connection was made
	DataOK    bool      // the driver's last word on its data was DATAOK
	LastHeard time.Time // when the last valid message came (or the connection was made)
}

// Client keeps a State in step with one driver socket: it connects, sends
// DUMPALL, applies every message the driver sends, pings a quiet driver and
// reconnects, with a fresh State, whenever the connection is lost. It is the
// reading side NUT's upsd implements in server/sstate.c, and works with
// NUT's C drivers and gonut's Server alike. Its methods are safe for
// concurrent use.
type Client struct {
	cfg ClientConfig
	log hclog.Logger

	mu        sync.RWMutex
	pingAfter time.Duration
	state     *State
	// dump collects the driver's answer to DUMPALL until DUMPDONE, when
	// it replaces state at once: a reader never sees half a dump (NUT's
	// upsd applies it line by line, so a client can catch a device with
	// its variables but not yet its commands). Until then readers see the
	// state OnConnect prepared (NUT's ups.status WAIT).
	dump      *State
	conn      *Conn
	dumpDone  bool
	lastHeard time.Time
	lastPing  time.Time
	failing   bool // the last connection attempt failed (log once)
}

// NewClient returns a Client for cfg.Path; Run makes it work.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.PingAfter <= 0 {
		cfg.PingAfter = 5 * time.Second
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	log := cfg.Logger.With("socket", cfg.Path)
	if cfg.Name != "" {
		log = cfg.Logger.With("ups", cfg.Name, "socket", cfg.Path)
	}
	return &Client{cfg: cfg, log: log, state: NewState(), pingAfter: cfg.PingAfter}
}

// SetPingAfter changes PingAfter (upsd does on a reload that changes
// MAXAGE); d <= 0 is ignored.
func (c *Client) SetPingAfter(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.pingAfter = d
	c.mu.Unlock()
}

// Run connects to the driver and keeps the state current, reconnecting
// after every loss, until ctx is done. It returns ctx's error.
func (c *Client) Run(ctx context.Context) error {
	for {
		if err := c.session(ctx); err != nil && ctx.Err() == nil {
			c.log.Debug("driver connection ended", "error", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.cfg.Retry):
		}
	}
}

// session runs one connection, from dial to loss.
func (c *Client) session(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.Retry+time.Second)
	conn, err := Dial(dctx, c.cfg.Path)
	cancel()
	if err == nil {
		conn.OnBadLine = func(words []string, err error) {
			c.log.Warn("driver sent a malformed line; skipped", "words", words, "error", err)
		}
	}
	if err != nil {
		c.mu.Lock()
		first := !c.failing
		c.failing = true
		c.mu.Unlock()
		if first {
			c.log.Warn("cannot connect to driver; will keep trying", "error", err)
		}
		return err
	}
	now := time.Now()
	c.mu.Lock()
	c.failing = false
	c.state = NewState()
	c.conn = conn
	c.dumpDone = false
	c.lastHeard = now
	c.lastPing = time.Time{}
	if c.cfg.OnConnect != nil {
		c.cfg.OnConnect(c.state)
	}
	// The dump starts from the same state, so what OnConnect set stays
	// unless the driver's dump replaces it, as in NUT.
	c.dump = c.state.Clone()
	c.mu.Unlock()
	c.log.Info("connected to driver")
	c.notify()

	done := make(chan struct{})
	defer func() {
		close(done)
		conn.Close()
		c.mu.Lock()
		c.conn = nil
		c.state = NewState()
		c.dump = nil
		c.dumpDone = false
		c.mu.Unlock()
		c.log.Info("lost connection to driver")
		c.notify()
	}()
	// Close the connection when ctx ends, so that Next returns.
	go func() {
		select {
		case <-ctx.Done():
			conn.Close()
		case <-done:
		}
	}()
	if err := conn.Send("DUMPALL"); err != nil {
		return fmt.Errorf("send DUMPALL: %w", err)
	}
	go c.pinger(conn, done)
	for {
		words, err := conn.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("driver closed the socket")
			}
			return err
		}
		c.handle(words)
	}
}

// pinger sends PING when the driver has been quiet for PingAfter, as NUT's
// upsd does at a third of MAXAGE: any message resets the silence.
func (c *Client) pinger(conn *Conn, done <-chan struct{}) {
	for {
		c.mu.RLock()
		after := c.pingAfter
		c.mu.RUnlock()
		// Look four times per period, so a ping goes out at most a
		// quarter period late.
		select {
		case <-done:
			return
		case <-time.After(max(after/4, 10*time.Millisecond)):
		}
		now := time.Now()
		c.mu.Lock()
		due := now.Sub(c.lastHeard) > c.pingAfter && now.Sub(c.lastPing) > c.pingAfter
		if due {
			c.lastPing = now
		}
		c.mu.Unlock()
		if !due {
			continue
		}
		if err := conn.Send("PING"); err != nil {
			c.log.Warn("cannot ping driver; reconnecting", "error", err)
			conn.Close()
			return
		}
	}
}

// handle processes one message from the driver. As in NUT's upsd, only
// messages it understands count as a sign of life.
func (c *Client) handle(w []string) {
	heard := true
	c.mu.Lock()
	switch verb := strings.ToUpper(w[0]); verb {
	case "PONG":
	case "DUMPDONE":
		if !c.dumpDone && c.dump != nil {
			c.state, c.dump = c.dump, nil
		}
		c.dumpDone = true
	case "TRACKING":
		if len(w) < 3 {
			heard = false
			break
		}
		if c.cfg.OnTracking != nil {
			defer c.cfg.OnTracking(w[1], w[2])
		}
	default:
		st := c.state
		if !c.dumpDone && c.dump != nil {
			st = c.dump
		}
		_, err := st.apply(w)
		switch {
		case errors.Is(err, ErrUnknownMessage), errors.Is(err, ErrMissingArgs):
			heard = false
			c.log.Debug("ignored message from driver", "message", strings.Join(w, " "), "error", err)
		case err != nil:
			c.log.Warn("driver message refers to nothing known", "message", strings.Join(w, " "), "error", err)
		}
	}
	if heard {
		c.lastHeard = time.Now()
	}
	c.mu.Unlock()
	if heard {
		c.notify()
	}
}

func (c *Client) notify() {
	if c.cfg.OnUpdate != nil {
		c.cfg.OnUpdate()
	}
}

// Path returns the socket path the client reads.
func (c *Client) Path() string { return c.cfg.Path }

// Info returns the connection status.
func (c *Client) Info() Info {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.infoLocked()
}

func (c *Client) infoLocked() Info {
	return Info{
		Connected: c.conn != nil,
		DumpDone:  c.dumpDone,
		DataOK:    c.state.DataOK(),
		LastHeard: c.lastHeard,
	}
}

// View calls fn with the current state and connection status, holding the
// client's read lock: fn must not keep st nor call the client's methods.
func (c *Client) View(fn func(st *State, info Info)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	fn(c.state, c.infoLocked())
}

// Snapshot returns a copy of the current state.
func (c *Client) Snapshot() *State {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state.Clone()
}

// ErrNotConnected is returned by Send when there is no driver connection.
var ErrNotConnected = errors.New("driver not connected")

// Send sends one message (INSTCMD, SET, ...) to the driver. A failed write
// drops the connection, which Run then re-establishes.
func (c *Client) Send(words ...string) error {
	c.mu.RLock()
	conn := c.conn
	c.mu.RUnlock()
	if conn == nil {
		return fmt.Errorf("send to %s: %w", c.cfg.Path, ErrNotConnected)
	}
	if err := conn.Send(words...); err != nil {
		conn.Close()
		return fmt.Errorf("send to %s: %w", c.cfg.Path, err)
	}
	return nil
}
