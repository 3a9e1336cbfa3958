package nuttest

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// DefaultReplyTimeout bounds each read of a reply line.
const DefaultReplyTimeout = 10 * time.Second

// Conn is a raw connection to a upsd (NUT network protocol). It sends
// lines and returns reply lines exactly as received, without interpreting
// them, so that a test sees the bytes a client sees. A Conn is for one
// goroutine at a time.
type Conn struct {
	Addr    string
	Timeout time.Duration // per reply line; DefaultReplyTimeout when zero

	c net.Conn
	r *bufio.Reader
}

// Connect opens a connection without a test (for goroutines that must not
// call t.Fatal); the caller closes it.
func Connect(addr string) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &Conn{Addr: addr, c: c, r: bufio.NewReader(c)}, nil
}

// Dial opens a connection that is closed when the test ends.
func Dial(tb testing.TB, addr string) *Conn {
	tb.Helper()
	c, err := Connect(addr)
	if err != nil {
		tb.Fatalf("nuttest: connect to upsd at %s: %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// Send writes one request line; the newline is added.
func (c *Conn) Send(line string) error {
	_ = c.c.SetWriteDeadline(time.Now().Add(c.timeout()))
	_, err := c.c.Write([]byte(line + "\n"))
	return err
}

func (c *Conn) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultReplyTimeout
}

// ReadLine reads one reply line, without its newline.
func (c *Conn) ReadLine() (string, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(c.timeout()))
	s, err := c.r.ReadString('\n')
	if err != nil {
		return s, fmt.Errorf("upsd %s: reading a reply: %w (got %q)", c.Addr, err, s)
	}
	return strings.TrimSuffix(s, "\n"), nil
}

// Cmd sends a request that has a one-line reply and returns that line.
func (c *Conn) Cmd(line string) (string, error) {
	if err := c.Send(line); err != nil {
		return "", err
	}
	return c.ReadLine()
}

// List sends a LIST request and returns every reply line, BEGIN and END
// included, or the single ERR line.
func (c *Conn) List(line string) ([]string, error) {
	if err := c.Send(line); err != nil {
		return nil, err
	}
	var out []string
	for {
		l, err := c.ReadLine()
		if err != nil {
			return out, err
		}
		out = append(out, l)
		if len(out) == 1 && strings.HasPrefix(l, "ERR ") {
			return out, nil
		}
		if strings.HasPrefix(l, "END LIST") {
			return out, nil
		}
	}
}

// GetVar asks GET VAR and returns the value, or the ERR line as an error
// of type *ProtoError.
func (c *Conn) GetVar(ups, name string) (string, error) {
	l, err := c.Cmd("GET VAR " + ups + " " + name)
	if err != nil {
		return "", err
	}
	return parseVar(ups, name, l)
}

func parseVar(ups, name, l string) (string, error) {
	if strings.HasPrefix(l, "ERR ") {
		return "", &ProtoError{Code: strings.TrimPrefix(l, "ERR "), Request: "GET VAR " + ups + " " + name}
	}
	prefix := "VAR " + ups + " " + name + " "
	if !strings.HasPrefix(l, prefix) {
		return "", fmt.Errorf("GET VAR %s %s: unexpected reply %q", ups, name, l)
	}
	v := strings.TrimPrefix(l, prefix)
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", fmt.Errorf("GET VAR %s %s: value not quoted in %q", ups, name, l)
	}
	// upsd escapes only backslash and double quote.
	return strings.NewReplacer(`\\`, `\`, `\"`, `"`).Replace(v[1 : len(v)-1]), nil
}

// ProtoError is an ERR reply.
type ProtoError struct {
	Code    string // e.g. "DATA-STALE"
	Request string
}

func (e *ProtoError) Error() string { return e.Request + ": ERR " + e.Code }
