package upsd

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/hashicorp/go-hclog"
)

// flushAt is the reply size past which a batch of pipelined requests is
// written out before the next request is handled, bounding memory.
const flushAt = 64 << 10

// conn is one network client.
type conn struct {
	srv *Server
	// raw is the TCP connection; deadlines are set on it (from any
	// goroutine, by kick). rw is what requests are read from and replies
	// written to: raw, or the TLS session on it after STARTTLS. Only the
	// serve goroutine touches rw.
	raw  net.Conn
	rw   net.Conn
	seq  uint64 // connection order; LIST CLIENT shows newest first
	addr string // the client's IP address as NUT prints it

	sc  nutconf.Scanner
	buf []byte // one read, at most NUT's read size
	// out holds the replies of the current batch, written in one go; it
	// comes from outPool and goes back after the write, so that an idle
	// client holds no reply buffer.
	out *bytes.Buffer
	lg  hclog.Logger // see logger

	username, password       string
	haveUsername, havePasswd bool
	tracking                 bool // SET TRACKING ON
	loginUPS                 atomic.Pointer[device]
	closing                  bool // LOGOUT: close once this batch is answered
	kicked                   atomic.Bool

	// startTLS: STARTTLS was accepted; the handshake follows once
	// "OK STARTTLS" is out, and pending plain-text bytes read after it
	// are dropped. inTLS: the session is encrypted.
	startTLS, inTLS bool
	pending         int

	// lastHeard is when the last complete request line came. The read
	// and write deadlines are moved in steps of at least deadlineStep,
	// not on every request: each move is a timer operation.
	lastHeard       time.Time
	readDL, writeDL time.Time
	readErr         error // why the last read ended the connection

	// Event-loop clients (poll_linux.go): loop serves the socket fd, and
	// raw and rw stay nil until a STARTTLS hands the client over to a
	// goroutine. kickMu orders that hand-over against kick. blockedAt is
	// when a reply write stopped on a full socket (zero: none pending).
	loop      *eventLoop
	fd        int
	kickMu    sync.Mutex
	blockedAt time.Time
}

// deadlineStep is how far the idle deadline may lag behind the last
// request: the deadline is re-armed only when it would move by more.
const deadlineStep = time.Second

func newConn(s *Server, nc net.Conn, seq uint64) *conn {
	addr := nc.RemoteAddr().String()
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		addr = ta.IP.String()
	}
	c := newConnAddr(s, addr, seq)
	c.raw, c.rw = nc, nc
	return c
}

// newConnAddr makes a client with no connection yet; addr is its IP
// address as NUT prints it.
func newConnAddr(s *Server, addr string, seq uint64) *conn {
	return &conn{
		srv:  s,
		fd:   -1,
		seq:  seq,
		addr: addr,
		sc:   nutconf.Scanner{MaxWordLen: nutconf.DefaultMaxWordLen, MaxWords: nutconf.DefaultMaxWords},
	}
}

// kick makes the client's serve loop end after its current batch.
func (c *conn) kick() {
	c.kicked.Store(true)
	c.kickMu.Lock()
	raw, loop := c.raw, c.loop
	c.kickMu.Unlock()
	switch {
	case raw != nil:
		_ = raw.SetReadDeadline(time.Now())
	case loop != nil:
		loop.kick(c)
	}
}

// serve reads requests and answers them until the client leaves, idles
// out, logs out or is kicked. A panic ends this client only. tlsNow: the
// client already agreed to STARTTLS on an event loop, and "OK STARTTLS"
// is out; the handshake comes first.
func (c *conn) serve(tlsNow bool) {
	defer c.srv.removeConn(c)
	defer func() { _ = c.rw.Close() }()
	defer c.logout()
	defer func() {
		if r := recover(); r != nil {
			c.logger().Error("panic while serving client; disconnecting it", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	// NUT reads a client's bytes at most ReadBufSize at a time and drops
	// the rest of a read after a parse error; reading the same way gives
	// the same answers to the same bytes.
	c.buf = make([]byte, nutconf.ReadBufSize)
	if !tlsNow {
		c.debug("client connected")
		c.lastHeard = time.Now()
	}
	if tlsNow || c.serveStream() && c.startTLS {
		// STARTTLS: the rest of the session is TLS.
		if c.handshake(c.pending) {
			c.lastHeard = time.Now()
			c.readDL, c.writeDL = time.Time{}, time.Time{}
			c.serveStream()
		}
	}
	c.logEnd()
}

// serveStream reads requests and answers them, over plain TCP or, after
// STARTTLS, over TLS. It returns true when the session is to go on as TLS.
func (c *conn) serveStream() bool {
	for {
		c.armRead()
		// Checked after setting the deadline: a kick that comes later
		// moves the deadline to now and so still ends the Read.
		if c.kicked.Load() {
			return false
		}
		n, err := c.rw.Read(c.buf)
		if n > 0 {
			if !c.consume(c.buf[:n]) {
				return false
			}
			if c.startTLS {
				return true
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !c.kicked.Load() && !c.idle() {
				c.readDL = time.Time{}
				continue
			}
			c.readErr = err
			return false
		}
	}
}

// consume answers the requests in one read's bytes and writes the
// answers out; false means the connection is to end (the client is gone,
// logged out or kicked). As NUT does, every request already received is
// answered, even after a LOGOUT in the same read.
func (c *conn) consume(data []byte) bool {
	// One clock reading per read: requests that came together arrived
	// together, and reading the clock per line is measurable.
	now := time.Now()
	for i, b := range data {
		words, done, ferr := c.sc.Feed(b)
		if ferr != nil {
			// An unescaped # inside quotes: NUT logs it, answers
			// nothing, and drops the rest of this read.
			c.logger().Info("parse error on client request; ignoring the rest of its read", "error", ferr, "dropped_bytes", len(data)-i-1)
			break
		}
		if !done {
			continue
		}
		c.lastHeard = now
		c.dispatch(words)
		if c.startTLS {
			c.pending = len(data) - i - 1
			break
		}
		// An event loop writes once per read: a read is at most
		// ReadBufSize bytes of requests, which bounds the batch.
		if c.loop == nil && c.pendingOut() >= flushAt && !c.flush() {
			return false
		}
	}
	return c.flush() && !c.closing && !c.kicked.Load()
}

// idle reports whether the client has sent no complete request for the
// idle time.
func (c *conn) idle() bool {
	return time.Since(c.lastHeard) >= c.srv.config().IdleTimeout
}

// armRead sets the read deadline to the idle limit, unless the one set is
// within deadlineStep of it.
func (c *conn) armRead() {
	want := c.lastHeard.Add(c.srv.config().IdleTimeout)
	if d := want.Sub(c.readDL); d >= deadlineStep || d < 0 {
		_ = c.raw.SetReadDeadline(want)
		c.readDL = want
	}
}

// logEnd logs why the connection ended.
func (c *conn) logEnd() {
	switch err := c.readErr; {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.debug("client disconnected")
	case errors.Is(err, os.ErrDeadlineExceeded) && !c.kicked.Load():
		// NUT sheds clients silent for a minute.
		c.debug("disconnecting idle client", "idle", c.srv.config().IdleTimeout)
	default:
		c.debug("client disconnected", "error", err)
	}
}

// flush writes the batch's replies in one write; false means the client
// is gone. A write that cannot go out within the idle time (a client that
// does not read) fails and drops the client.
func (c *conn) flush() bool {
	if c.loop != nil {
		return c.loop.write(c)
	}
	if c.pendingOut() == 0 {
		return true
	}
	idle := c.srv.config().IdleTimeout
	// lastHeard is at most one batch old here: good enough to decide
	// whether the write deadline needs moving.
	if c.writeDL.Sub(c.lastHeard) < idle/2 {
		c.writeDL = time.Now().Add(idle)
		_ = c.raw.SetWriteDeadline(c.writeDL)
	}
	_, err := c.rw.Write(c.out.Bytes())
	c.releaseOut()
	if err != nil {
		c.debug("write to client failed", "error", err)
		return false
	}
	return true
}

// releaseOut drops the reply buffer, pooling it unless it is large.
func (c *conn) releaseOut() {
	if c.out == nil {
		return
	}
	c.out.Reset()
	if c.out.Cap() <= maxKeptOut {
		// Long lists' buffers are left to the collector.
		outPool.Put(c.out)
	}
	c.out = nil
}

// outPool holds reply buffers between batches.
var outPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// buffer returns the current batch's reply buffer.
func (c *conn) buffer() *bytes.Buffer {
	if c.out == nil {
		c.out = outPool.Get().(*bytes.Buffer)
	}
	return c.out
}

// pendingOut is how many reply bytes wait to be written.
func (c *conn) pendingOut() int {
	if c.out == nil {
		return 0
	}
	return c.out.Len()
}

// debug logs at debug level, without making the client's logger when
// debug logging is off.
func (c *conn) debug(msg string, args ...any) {
	if c.srv.log.IsDebug() {
		c.logger().Debug(msg, args...)
	}
}

// logger returns the client's logger, made on first use: most clients
// never log anything, and a logger per connection is memory held by each.
func (c *conn) logger() hclog.Logger {
	if c.lg == nil {
		c.lg = c.srv.log.With("client", c.addr)
	}
	return c.lg
}

// maxKeptOut is the largest reply buffer put back in outPool.
const maxKeptOut = 4 << 10

// handshake runs the server side of the TLS handshake after "OK STARTTLS"
// has been written; false means the client is to be dropped. pending is
// how many bytes the client sent after STARTTLS in plain text before the
// handshake: they are discarded unanswered, so that nothing a third party
// could have slipped into the plain-text stream is taken as coming through
// the secure channel (the STARTTLS command injection of RFC 3207's era),
// and no reply is ever sent in the clear once TLS was agreed.
func (c *conn) handshake(pending int) bool {
	c.startTLS = false
	cfg := c.srv.config()
	if pending > 0 {
		c.logger().Warn("discarding bytes sent in plain text after STARTTLS", "bytes", pending)
	}
	c.sc = nutconf.Scanner{MaxWordLen: nutconf.DefaultMaxWordLen, MaxWords: nutconf.DefaultMaxWords}
	tc := tls.Server(c.raw, cfg.TLS)
	// A client that never completes the handshake is shed like an idle one.
	_ = c.raw.SetDeadline(time.Now().Add(cfg.IdleTimeout))
	if c.kicked.Load() {
		return false
	}
	err := tc.Handshake()
	_ = c.raw.SetWriteDeadline(time.Time{})
	if err != nil {
		c.logger().Warn("TLS handshake failed; disconnecting client", "error", err)
		return false
	}
	c.rw, c.inTLS = tc, true
	cs := tc.ConnectionState()
	if cfg.TLS.ClientAuth == tls.RequestClientCert && cfg.TLS.ClientCAs != nil {
		// CERTREQUEST REQUEST: a certificate that does not verify is
		// logged and accepted, as NUT's BadCertHandler does.
		if err := verifyClientCert(cs, cfg.TLS.ClientCAs); err != nil {
			c.logger().Warn("client certificate validation failed; accepting the client (CERTREQUEST is REQUEST)", "error", err)
		}
	}
	subject := ""
	if len(cs.PeerCertificates) > 0 {
		subject = cs.PeerCertificates[0].Subject.String()
	}
	c.logger().Info("SSL handshake done successfully with client", "version", tls.VersionName(cs.Version), "cipher", tls.CipherSuiteName(cs.CipherSuite), "client_certificate", subject)
	return true
}

// logout drops the client's login, if any.
func (c *conn) logout() {
	if d := c.loginUPS.Swap(nil); d != nil {
		d.numLogins.Add(-1)
	}
}

// send appends one reply line.
func (c *conn) send(format string, args ...any) {
	b := c.buffer()
	fmt.Fprintf(b, format, args...)
	b.WriteByte('\n')
}

// sendVar appends `<kind> <ups> <name> "<quoted>"`, the shape of VAR, RW
// and ENUM lines, without fmt: these are most of upsd's output, and fmt
// boxes every argument.
func (c *conn) sendVar(kind, ups, name, quoted string) {
	b := c.buffer()
	b.WriteString(kind)
	b.WriteByte(' ')
	b.WriteString(ups)
	b.WriteByte(' ')
	b.WriteString(name)
	b.WriteString(" \"")
	b.WriteString(quoted)
	b.WriteString("\"\n")
}

// sendWords appends words separated by spaces, and a newline.
func (c *conn) sendWords(words ...string) {
	b := c.buffer()
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w)
	}
	b.WriteByte('\n')
}

// sendErr appends "ERR <code>".
func (c *conn) sendErr(code string) {
	b := c.buffer()
	b.WriteString("ERR ")
	b.WriteString(code)
	b.WriteByte('\n')
}

// command is one entry of the verb table.
type command struct {
	handle func(c *conn, args []string)
	// needsUser: USERNAME and PASSWORD must have been given first
	// (NUT's FLAG_USER).
	needsUser bool
}

// commands is the verb table of network protocol 1.3 as NUT 2.8.0 has it
// (server/netcmds.h). Verbs match without regard to case.
var commands map[string]command

func init() {
	commands = map[string]command{
		"VER":      {handle: (*conn).cmdVer},
		"NETVER":   {handle: (*conn).cmdNetVer},
		"PROTVER":  {handle: (*conn).cmdNetVer},
		"HELP":     {handle: (*conn).cmdHelp},
		"STARTTLS": {handle: (*conn).cmdStartTLS},
		"GET":      {handle: (*conn).cmdGet},
		"LIST":     {handle: (*conn).cmdList},
		"USERNAME": {handle: (*conn).cmdUsername},
		"PASSWORD": {handle: (*conn).cmdPassword},
		"LOGIN":    {handle: (*conn).cmdLogin, needsUser: true},
		"LOGOUT":   {handle: (*conn).cmdLogout},
		"PRIMARY":  {handle: (*conn).cmdPrimary, needsUser: true},
		"MASTER":   {handle: (*conn).cmdMaster, needsUser: true},
		"FSD":      {handle: (*conn).cmdFSD, needsUser: true},
		"SET":      {handle: (*conn).cmdSet, needsUser: true},
		"INSTCMD":  {handle: (*conn).cmdInstCmd, needsUser: true},
	}
}

// dispatch answers one request line.
func (c *conn) dispatch(words []string) {
	if len(words) == 0 {
		// An empty or comment-only line: NUT answers it too.
		c.sendErr(errUnknownCommand)
		return
	}
	cmd, ok := commands[words[0]]
	if !ok {
		cmd, ok = commands[strings.ToUpper(words[0])]
	}
	if !ok {
		c.sendErr(errUnknownCommand)
		return
	}
	if cmd.needsUser {
		if !c.haveUsername {
			c.sendErr(errUsernameRequired)
			return
		}
		if !c.havePasswd {
			c.sendErr(errPasswordRequired)
			return
		}
	}
	cmd.handle(c, words[1:])
}
