package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"
)

// Defaults for the limits a Client puts on the server.
const (
	// DefaultTimeout bounds one call (request written, whole reply read)
	// when the context has no earlier deadline.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxLineLength bounds one reply line. NUT's upsd never sends
	// more than 512 bytes; values are at most 256 bytes before escaping.
	DefaultMaxLineLength = 8 << 10
	// DefaultMaxListSize bounds the bytes of one LIST reply. A 600-variable
	// PDU lists in about 40 KiB.
	DefaultMaxListSize = 8 << 20
)

// Option configures a Client.
type Option func(*options)

type options struct {
	timeout  time.Duration
	maxLine  int
	maxList  int
	dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)
	tls      *tls.Config // STARTTLS in Dial when set
	tryTLS   bool        // go on in plain text if upsd refuses STARTTLS
}

// WithTimeout bounds each call, and the connection set-up in Dial: the
// request must be written and the complete reply read within d, unless the
// context's deadline is earlier. d <= 0 leaves only the context's deadline.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithMaxLineLength bounds the length of one reply line in bytes; a longer
// line is a protocol error.
func WithMaxLineLength(n int) Option { return func(o *options) { o.maxLine = n } }

// WithMaxListSize bounds the total size of one LIST reply in bytes; a larger
// list is a protocol error.
func WithMaxListSize(n int) Option { return func(o *options) { o.maxList = n } }

// WithDialFunc replaces the net.Dialer Dial uses, e.g. to go through a proxy
// or to pick a source address.
func WithDialFunc(f func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(o *options) { o.dialFunc = f }
}

func buildOptions(opts []Option) options {
	o := options{timeout: DefaultTimeout, maxLine: DefaultMaxLineLength, maxList: DefaultMaxListSize}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxLine <= 0 {
		o.maxLine = DefaultMaxLineLength
	}
	if o.maxList <= 0 {
		o.maxList = DefaultMaxListSize
	}
	return o
}

// Client is one connection to upsd. Its methods are safe for concurrent
// use: requests are sent one at a time and each waits for its complete reply
// before the next is written, since the protocol has no request ids.
//
// A call whose context ends, or that times out, fails a reply half-read; the
// Client then closes the connection and every later call fails with an error
// matching ErrClosed (and the original failure). Dial again to recover. An
// "ERR ..." reply is an ordinary answer and leaves the connection usable.
type Client struct {
	// raw is the TCP connection: deadlines are set and the connection is
	// closed on it, from any goroutine. conn is what requests are written
	// to and replies read from: raw, or the TLS session on it after
	// STARTTLS. conn and lr are only touched by the goroutine holding sem.
	raw    net.Conn
	conn   net.Conn
	server string // for error messages
	opts   options
	lr     lineReader

	// sem is held for one request/reply exchange. It is a channel rather
	// than a mutex so that waiting for it respects the caller's context.
	sem chan struct{}

	mu       sync.Mutex
	done     chan struct{} // closed when the Client is closed
	closeBy  error         // why it was closed
	tlsState *tls.ConnectionState
	tracking bool // SET TRACKING ON was answered OK
}

// Dial connects to upsd at addr, "host", "host:port", "[ipv6]" or
// "[ipv6]:port" (as NUT's upscli_splitaddr reads it; a bare IPv6 address is
// also accepted). The port defaults to 3493.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	o := buildOptions(opts)
	host, port, err := splitDialAddr(addr)
	if err != nil {
		return nil, err
	}
	hostport := net.JoinHostPort(host, strconv.Itoa(port))
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	dial := o.dialFunc
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", hostport)
	if err != nil {
		return nil, fmt.Errorf("connect to upsd %s: %w", hostport, err)
	}
	c := newClient(conn, hostport, o)
	if o.tls != nil {
		// Nothing else goes out before the session is encrypted, so a
		// server that cannot do TLS never sees a password.
		err := c.StartTLS(ctx, o.tls)
		var nerr *Error
		if err != nil && !(o.tryTLS && errors.As(err, &nerr)) {
			c.abort(err)
			return nil, err
		}
	}
	return c, nil
}

func splitDialAddr(addr string) (string, int, error) {
	if a, err := netip.ParseAddr(addr); err == nil && a.Is6() {
		return addr, DefaultPort, nil
	}
	return ParseHostPort(addr)
}

// NewClient speaks the NUT protocol over an established connection, for
// transports Dial does not cover. The Client owns conn from then on.
func NewClient(conn net.Conn, opts ...Option) *Client {
	server := "?"
	if a := conn.RemoteAddr(); a != nil {
		server = a.String()
	}
	return newClient(conn, server, buildOptions(opts))
}

func newClient(conn net.Conn, server string, o options) *Client {
	return &Client{
		raw:    conn,
		conn:   conn,
		server: server,
		opts:   o,
		lr:     lineReader{br: bufio.NewReaderSize(conn, 4096), max: o.maxLine},
		sem:    make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
}

// Server returns the address of the upsd this Client talks to.
func (c *Client) Server() string { return c.server }

// Close ends the session the way NUT's clients do: it sends LOGOUT without
// waiting for the answer and closes the connection. A call in progress in
// another goroutine fails with ErrClosed.
func (c *Client) Close() error {
	select {
	case c.sem <- struct{}{}:
		// Idle: say goodbye so upsd logs a clean logout. Never released,
		// so no later exchange can start on the closed connection.
		if c.setClosed(nil) {
			_ = c.raw.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = io.WriteString(c.conn, "LOGOUT\n")
		}
		// A TLS session is closed with its close_notify alert; that alert
		// may fail when upsd hung up first, and the connection is closed
		// all the same.
		err := c.conn.Close()
		if c.conn != c.raw || errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	default:
		c.setClosed(nil)
	}
	// An exchange is under way in another goroutine: closing the TCP
	// connection under it makes it fail at once.
	err := c.raw.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// abort closes a Client that failed before it was handed out.
func (c *Client) abort(reason error) {
	c.setClosed(reason)
	_ = c.raw.Close()
}

// setClosed marks the Client closed for reason (nil for Close) and reports
// whether this call did it.
func (c *Client) setClosed(reason error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
		return false
	default:
	}
	c.closeBy = reason
	close(c.done)
	return true
}

func (c *Client) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeBy == nil {
		return fmt.Errorf("upsd %s: %w", c.server, ErrClosed)
	}
	return fmt.Errorf("%w after an earlier failure: %w", ErrClosed, c.closeBy)
}

// exchange sends req and hands the reply to read, one exchange at a time.
// read returns an *Error for an ERR reply that leaves the connection in step;
// any other error closes the connection.
func (c *Client) exchange(ctx context.Context, req request, read func() error) error {
	line, err := req.encode()
	if err != nil {
		return fmt.Errorf("upsd %s: %w", c.server, err)
	}
	ctxErr := func() error { return fmt.Errorf("upsd %s: %s: %w", c.server, req.shown, ctx.Err()) }
	if ctx.Err() != nil {
		return ctxErr()
	}
	select {
	case c.sem <- struct{}{}:
	case <-c.done:
		return c.closedErr()
	case <-ctx.Done():
		return ctxErr()
	}
	defer func() { <-c.sem }()
	select {
	case <-c.done:
		return c.closedErr()
	default:
	}
	if ctx.Err() != nil { // nothing sent yet: the connection is still in step
		return ctxErr()
	}

	deadline := time.Time{}
	if c.opts.timeout > 0 {
		deadline = time.Now().Add(c.opts.timeout)
	}
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}
	if err := c.raw.SetDeadline(deadline); err != nil {
		return c.fail(ctx, req, err)
	}
	// Cancelling the context interrupts blocked I/O by moving the deadline
	// into the past; the exchange then fails and the connection is dropped.
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = c.raw.SetDeadline(time.Unix(1, 0))
		close(interrupted)
	})
	defer func() {
		if !stop() {
			<-interrupted
		}
	}()

	if _, err := c.conn.Write(line); err != nil {
		return c.fail(ctx, req, err)
	}
	err = read()
	var nerr *Error
	if err == nil || errors.As(err, &nerr) {
		if nerr != nil {
			nerr.Request, nerr.Server = req.shown, c.server
		}
		return err
	}
	return c.fail(ctx, req, err)
}

// fail closes the connection after a failed exchange and returns the error
// the caller sees, naming the server and the request.
func (c *Client) fail(ctx context.Context, req request, err error) error {
	var perr *ProtocolError
	switch {
	case errors.As(err, &perr):
		perr.Server, perr.Request = c.server, req.shown
	case ctx.Err() != nil:
		err = fmt.Errorf("upsd %s: %s: %w", c.server, req.shown, ctx.Err())
	case errors.Is(err, os.ErrDeadlineExceeded):
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			// The context's deadline, which the connection's mirrors,
			// fired first.
			err = fmt.Errorf("upsd %s: %s: %w", c.server, req.shown, context.DeadlineExceeded)
			break
		}
		err = fmt.Errorf("upsd %s: %s: no complete reply within %v: %w", c.server, req.shown, c.opts.timeout, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("upsd %s: %s: %w", c.server, req.shown, ErrServerDisconnected)
	case errors.Is(err, net.ErrClosed):
		select {
		case <-c.done:
			return c.closedErr()
		default:
		}
		err = fmt.Errorf("upsd %s: %s: %w", c.server, req.shown, err)
	default:
		err = fmt.Errorf("upsd %s: %s: %w", c.server, req.shown, err)
	}
	if c.setClosed(err) {
		_ = c.raw.Close()
	}
	return err
}

// readLine reads one reply line and splits it into words.
func (c *Client) readLine() (string, []string, error) {
	line, err := c.lr.readLine()
	if errors.Is(err, errLineTooLong) {
		return "", nil, &ProtocolError{Reason: fmt.Sprintf("reply line longer than %d bytes", c.opts.maxLine)}
	}
	if err != nil {
		return "", nil, err
	}
	words := splitReply(line)
	if len(words) == 0 {
		// upsd never sends one; NUT's client would fail to parse it too.
		return "", nil, &ProtocolError{Line: line, Reason: "empty reply line"}
	}
	return line, words, nil
}
