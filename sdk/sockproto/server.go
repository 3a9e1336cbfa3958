package sockproto

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Handler receives the requests a socket client (upsd) makes of the driver.
// Its methods are called from the goroutine serving that client, one request
// at a time per client: a slow handler delays that client's later requests
// (PING included), so long work belongs in the background, its result
// reported with Server.Tracking. A Handler may call Update, Replace and
// Tracking, but not Close, which waits for the goroutine calling it.
type Handler interface {
	// InstCmd runs an instant command; param and trackingID are "" when
	// the request had none.
	InstCmd(cmd, param, trackingID string)
	// SetVar sets a variable; trackingID is "" when the request had none.
	SetVar(name, value, trackingID string)
}

// Limits NUT applies to every line on a state socket (parseconf defaults).
const (
	MaxWords   = 32
	MaxWordLen = 512
)

// maxClientQueue is how many bytes may wait for one client before the
// server drops it as too slow. A variable so tests can lower it.
var maxClientQueue = 4 << 20

// Server serves one driver instance's state socket. It owns the instance's
// State: Update and Replace change it and tell every connected client, in
// order, and each client's DUMPALL sees the state between two updates,
// never inside one. Writes to clients go through a bounded queue per
// client, so a slow or dead client never blocks Update; it is dropped when
// its queue overflows.
type Server struct {
	path string
	h    Handler
	log  hclog.Logger
	ln   *net.UnixListener

	mu       sync.Mutex // guards everything below
	state    *State
	conns    map[*serverConn]struct{}
	tracking map[string]*serverConn // tracking id -> the client that asked
	closed   bool

	wg sync.WaitGroup
}

// Listen creates the unix socket at path (removing a stale one left by a
// dead driver, refusing if a live server answers there), makes it
// readable and writable by owner and group as NUT does, and serves it in
// the background until Close. h receives INSTCMD and SET requests; a nil
// logger discards logs.
func Listen(path string, h Handler, logger hclog.Logger) (*Server, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if h == nil {
		return nil, fmt.Errorf("listen on %s: nil Handler", path)
	}
	// sun_path holds 108 bytes on Linux, the terminating NUL included.
	if len(path) > 107 {
		return nil, fmt.Errorf("listen on %s: socket path is %d bytes long, the system allows 107; use a shorter STATEPATH", path, len(path))
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	// Owner and group only, as NUT's drivers: upsd runs as another user of
	// the same group. The umask is process-wide, so set the mode after.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on state socket %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod 0660 %s: %w", path, err)
	}
	s := &Server{
		path:     path,
		h:        h,
		log:      logger.With("socket", path),
		ln:       ln,
		state:    NewState(),
		conns:    make(map[*serverConn]struct{}),
		tracking: make(map[string]*serverConn),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// removeStale removes a socket left at path by a driver that is gone.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("state socket %s: a %s is in the way, not a socket; remove it", path, fi.Mode().Type())
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("state socket %s: another driver is serving it (is a copy of this driver already running?)", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale state socket %s: %w", path, err)
	}
	return nil
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

// Update applies messages (SETINFO, ADDCMD, DATAOK, ... as for State.Apply)
// to the server's state and sends those that changed something to every
// client that has not asked for NOBROADCAST, in one write per client. If a
// message is invalid, Update applies and sends nothing and returns the
// error.
func (s *Server) Update(msgs ...[]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("update of " + s.path + ": server closed")
	}
	// Validate on a copy first so that an update is all or nothing.
	if err := validate(s.state, msgs); err != nil {
		return fmt.Errorf("update of %s: %w", s.path, err)
	}
	var b strings.Builder
	for _, m := range msgs {
		changed, _ := s.state.apply(m)
		if changed {
			b.WriteString(Encode(m...))
		}
	}
	s.broadcastLocked(b.String())
	return nil
}

// validate checks that all messages apply to st in sequence, without
// changing st (and without copying it: Update is the host's hot path).
func validate(st *State, msgs [][]string) error {
	exists := make(map[string]bool) // variables set or deleted earlier in msgs
	for _, m := range msgs {
		if err := st.check(m, exists); err != nil {
			return err
		}
	}
	return nil
}

// Replace makes the server's state the one the messages build from empty
// (a full snapshot, e.g. from a restarted driver) and sends clients only
// the difference: DELINFO and DELCMD for what is gone, then what is new or
// changed. If a message is invalid, nothing changes.
func (s *Server) Replace(msgs ...[]string) error {
	next := NewState()
	for _, m := range msgs {
		if _, err := next.apply(m); err != nil {
			return fmt.Errorf("replace state of %s: %w", s.path, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("replace state of " + s.path + ": server closed")
	}
	var b strings.Builder
	for _, m := range s.state.Diff(next) {
		b.WriteString(Encode(m...))
	}
	s.state = next
	s.broadcastLocked(b.String())
	return nil
}

// broadcastLocked queues text for every broadcast client; s.mu is held.
func (s *Server) broadcastLocked(text string) {
	if text == "" {
		return
	}
	for c := range s.conns {
		if !c.nobroadcast {
			s.sendLocked(c, text)
		}
	}
}

// sendLocked queues text for one client, dropping the client if its queue
// overflows; s.mu is held.
func (s *Server) sendLocked(c *serverConn, text string) {
	if !c.out.push(text) {
		s.log.Warn("dropping state socket client: it does not read what it is sent",
			"client", c.name, "queued_bytes", c.out.size(), "limit", maxClientQueue)
		s.dropLocked(c)
	}
}

// Tracking sends "TRACKING id status" to the client whose INSTCMD or SET
// carried that tracking id; status is the driver handler's result (NUT's
// STAT_INSTCMD_* / STAT_SET_* value). An unknown id, or one whose client has
// gone, is logged and ignored.
func (s *Server) Tracking(id string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.tracking[id]
	if !ok {
		s.log.Debug("tracking result for an unknown or gone client", "id", id, "status", status)
		return
	}
	delete(s.tracking, id)
	s.sendLocked(c, Encode("TRACKING", id, strconv.Itoa(status)))
}

// Snapshot returns a copy of the current state.
func (s *Server) Snapshot() *State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.Clone()
}

// Close stops serving: it closes the listener (removing the socket file)
// and every client connection, and waits for the server's goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		s.dropLocked(c)
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("close state socket %s: %w", s.path, err)
	}
	return nil
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return
			}
			// Out of file descriptors and the like: back off rather
			// than spin, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Error("accept on state socket failed; retrying", "error", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		c := newServerConn(conn)
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.log.Debug("client connected", "client", c.name)
		s.wg.Add(2)
		go s.writeLoop(c)
		go s.readLoop(c)
	}
}

// dropLocked disconnects a client; s.mu is held. Closing the connection
// ends its read and write loops.
func (s *Server) dropLocked(c *serverConn) {
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	for id, tc := range s.tracking {
		if tc == c {
			delete(s.tracking, id)
		}
	}
	c.out.close()
	c.conn.Close()
}

func (s *Server) drop(c *serverConn) {
	s.mu.Lock()
	s.dropLocked(c)
	s.mu.Unlock()
}

func (s *Server) writeLoop(c *serverConn) {
	defer s.wg.Done()
	for {
		bufs, closing, ok := c.out.wait()
		if len(bufs) > 0 {
			if _, err := bufs.WriteTo(c.conn); err != nil {
				s.log.Debug("write to client failed; disconnecting", "client", c.name, "error", err)
				s.drop(c)
				return
			}
		}
		if !ok {
			return
		}
		if closing {
			// LOGOUT: the goodbye is written, now hang up.
			s.drop(c)
			return
		}
	}
}

func (s *Server) readLoop(c *serverConn) {
	defer s.wg.Done()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic while serving a state socket client; disconnecting it", "client", c.name, "panic", r)
			s.drop(c)
		}
	}()
	sc := newScanner()
	r := bufio.NewReader(c.conn)
	for {
		b, err := r.ReadByte()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("read from client failed", "client", c.name, "error", err)
			}
			s.drop(c)
			return
		}
		words, done, err := sc.Feed(b)
		if err != nil {
			s.log.Warn("unparsable line from client", "client", c.name, "error", err)
			continue
		}
		if !done || len(words) == 0 {
			continue
		}
		if !s.handle(c, words) {
			return
		}
	}
}

// handle answers one request; it returns false when the client is done.
func (s *Server) handle(c *serverConn, w []string) bool {
	switch strings.ToUpper(w[0]) {
	case "PING":
		s.reply(c, "PONG\n")
	case "DUMPALL":
		s.mu.Lock()
		var b strings.Builder
		for _, line := range s.state.Dump() {
			b.WriteString(line)
		}
		b.WriteString("DUMPDONE\n")
		s.sendLocked(c, b.String())
		s.mu.Unlock()
	case "GETPID":
		s.reply(c, Encode("PID", strconv.Itoa(os.Getpid())))
	case "NOBROADCAST":
		s.setBroadcast(c, false)
	case "BROADCAST":
		// BROADCAST [n]: n < 1 turns broadcasts off, as in NUT.
		on := true
		if len(w) > 1 {
			if n, err := strconv.Atoi(w[1]); err == nil && n < 1 {
				on = false
			}
		}
		s.setBroadcast(c, on)
	case "LOGOUT":
		s.mu.Lock()
		s.sendLocked(c, "OK Goodbye\n")
		c.out.closeAfterFlush()
		s.mu.Unlock()
		return false
	case "INSTCMD":
		s.instcmd(c, w)
	case "SET":
		s.setvar(c, w)
	default:
		s.log.Info("unknown command on state socket", "client", c.name, "command", strings.Join(w, " "))
	}
	return true
}

func (s *Server) reply(c *serverConn, text string) {
	s.mu.Lock()
	s.sendLocked(c, text)
	s.mu.Unlock()
}

func (s *Server) setBroadcast(c *serverConn, on bool) {
	s.mu.Lock()
	c.nobroadcast = !on
	s.mu.Unlock()
}

// instcmd handles INSTCMD <cmd> [<param>] [TRACKING <id>], the forms NUT's
// drivers accept (drivers/dstate.c); others are logged and ignored.
func (s *Server) instcmd(c *serverConn, w []string) {
	var cmd, param, id string
	switch {
	case len(w) == 2:
		cmd = w[1]
	case len(w) == 3:
		cmd, param = w[1], w[2]
	case len(w) == 4 && strings.EqualFold(w[2], "TRACKING"):
		cmd, id = w[1], w[3]
	case len(w) == 5 && strings.EqualFold(w[3], "TRACKING"):
		cmd, param, id = w[1], w[2], w[4]
	default:
		s.log.Warn("malformed INSTCMD request ignored", "client", c.name, "request", strings.Join(w, " "))
		return
	}
	s.remember(c, id)
	s.h.InstCmd(cmd, param, id)
}

// setvar handles SET <var> <value> [TRACKING <id>] like NUT's drivers: with
// five words the fourth must be TRACKING; other extra words are ignored.
func (s *Server) setvar(c *serverConn, w []string) {
	if len(w) < 3 {
		s.log.Warn("malformed SET request ignored", "client", c.name, "request", strings.Join(w, " "))
		return
	}
	var id string
	if len(w) == 5 {
		if !strings.EqualFold(w[3], "TRACKING") {
			s.log.Warn("SET with unsupported parameters ignored", "client", c.name, "request", strings.Join(w, " "))
			return
		}
		id = w[4]
	}
	s.remember(c, id)
	s.h.SetVar(w[1], w[2], id)
}

func (s *Server) remember(c *serverConn, id string) {
	if id == "" {
		return
	}
	s.mu.Lock()
	if _, ok := s.conns[c]; ok {
		s.tracking[id] = c
	}
	s.mu.Unlock()
}

// serverConn is one client of a Server.
type serverConn struct {
	conn        *net.UnixConn
	name        string
	out         *outQueue
	nobroadcast bool // guarded by Server.mu
}

var connSeq struct {
	sync.Mutex
	n int
}

func newServerConn(conn *net.UnixConn) *serverConn {
	connSeq.Lock()
	connSeq.n++
	n := connSeq.n
	connSeq.Unlock()
	name := "#" + strconv.Itoa(n)
	if raw, err := conn.SyscallConn(); err == nil {
		// The peer's pid makes "which client" answerable in the logs.
		_ = raw.Control(func(fd uintptr) {
			if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
				name += " (pid " + strconv.Itoa(int(cred.Pid)) + ")"
			}
		})
	}
	return &serverConn{conn: conn, name: name, out: newOutQueue(maxClientQueue)}
}

// outQueue is a client's bounded queue of text waiting to be written.
type outQueue struct {
	mu      sync.Mutex
	bufs    net.Buffers
	n       int
	limit   int
	closed  bool
	closing bool // close once what is queued is written (LOGOUT)
	wake    chan struct{}
}

func newOutQueue(limit int) *outQueue {
	return &outQueue{limit: limit, wake: make(chan struct{}, 1)}
}

// push queues text; it reports false when that would pass the limit.
func (q *outQueue) push(text string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.closing {
		return true
	}
	if q.n+len(text) > q.limit {
		return false
	}
	q.bufs = append(q.bufs, []byte(text))
	q.n += len(text)
	q.signal()
	return true
}

func (q *outQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *outQueue) size() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.bufs, q.n = nil, 0
	q.mu.Unlock()
	q.signal()
}

func (q *outQueue) closeAfterFlush() {
	q.mu.Lock()
	q.closing = true
	q.mu.Unlock()
	q.signal()
}

// wait blocks until there is something to write or the queue is closed. It
// returns what to write, whether the connection should close once that is
// written, and ok=false when the queue is closed.
func (q *outQueue) wait() (bufs net.Buffers, closing, ok bool) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, false, false
		}
		if len(q.bufs) > 0 || q.closing {
			bufs, q.bufs, q.n = q.bufs, nil, 0
			closing = q.closing
			q.mu.Unlock()
			return bufs, closing, true
		}
		q.mu.Unlock()
		<-q.wake
	}
}
