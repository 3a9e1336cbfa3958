package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/sdk/nutconf"
)

// replayConn is a net.Conn whose peer has sent data and then closed; what
// the client writes is kept.
type replayConn struct {
	r       *bytes.Reader
	written bytes.Buffer
}

func (c *replayConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *replayConn) Write(p []byte) (int, error)      { return c.written.Write(p) }
func (c *replayConn) Close() error                     { return nil }
func (c *replayConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *replayConn) RemoteAddr() net.Addr             { return &net.TCPAddr{Port: 3493} }
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }

// calls are the requests the fuzzer can pair with a reply.
var fuzzCalls = []func(context.Context, *Client) (any, error){
	func(ctx context.Context, c *Client) (any, error) { return c.ListUPS(ctx) },
	func(ctx context.Context, c *Client) (any, error) { return c.ListVars(ctx, "ups") },
	func(ctx context.Context, c *Client) (any, error) { return c.ListRange(ctx, "ups", "v.x") },
	func(ctx context.Context, c *Client) (any, error) { return c.ListClients(ctx, "ups") },
	func(ctx context.Context, c *Client) (any, error) { return c.GetVar(ctx, "ups", "v.x") },
	func(ctx context.Context, c *Client) (any, error) { return c.GetType(ctx, "ups", "v.x") },
	func(ctx context.Context, c *Client) (any, error) { return c.GetNumLogins(ctx, "ups") },
	func(ctx context.Context, c *Client) (any, error) { return c.Version(ctx) },
	func(ctx context.Context, c *Client) (any, error) { return nil, c.Login(ctx, "ups") },
	func(ctx context.Context, c *Client) (any, error) { return nil, c.Logout(ctx) },
	func(ctx context.Context, c *Client) (any, error) { return nil, c.SetVar(ctx, "ups", "v.x", "a \"b\"") },
	func(ctx context.Context, c *Client) (any, error) { return nil, c.InstCmd(ctx, "ups", "load.off", "30") },
	func(ctx context.Context, c *Client) (any, error) { return c.GetTracking(ctx, "id") },
	func(ctx context.Context, c *Client) (any, error) { return c.TrackingEnabled(ctx) },
	func(ctx context.Context, c *Client) (any, error) { return nil, c.Primary(ctx, "ups") },
	func(ctx context.Context, c *Client) (any, error) { return nil, c.FSD(ctx, "ups") },
	func(ctx context.Context, c *Client) (any, error) {
		return nil, c.StartTLS(ctx, &tls.Config{InsecureSkipVerify: true})
	},
}

// startTLSCall is the index of the StartTLS call in fuzzCalls: after its
// request it may write a TLS ClientHello, which is not a line.
const startTLSCall = 16

// FuzzReply feeds arbitrary server bytes to every kind of call. Whatever
// arrives, a call must return (the reply is finite), must not panic, must
// fail with a classified error, must not hand out more than the reply held,
// and must write exactly one request line.
func FuzzReply(f *testing.F) {
	seeds := []string{
		"BEGIN LIST UPS\nUPS apc \"Back-UPS \\\"ES\\\"\"\nEND LIST UPS\n",
		"BEGIN LIST VAR ups\nVAR ups battery.charge \"100\"\nVAR ups ups.status \"OL\"\nEND LIST VAR ups\n",
		"BEGIN LIST RANGE ups v.x\nRANGE ups v.x \"1\" \"2\"\nEND LIST RANGE ups v.x\n",
		"BEGIN LIST CLIENT ups\nCLIENT ups 127.0.0.1\nEND LIST CLIENT ups\n",
		"VAR ups v.x \"a \\\\ b\"\n",
		"TYPE ups v.x RW STRING:32\n",
		"NUMLOGINS ups 2\n",
		"Network UPS Tools upsd 2.8.0 - http://www.networkupstools.org/\n",
		"OK\n", "OK Goodbye\n", "ERR UNKNOWN-UPS\n", "ERR\n", "\n", "\"\n", "\\",
		"BEGIN LIST VAR ups\nERR DATA-STALE\n",
		"OK TRACKING 0F6A7C1E-3B52-4D4B-9E3A-6C1F0B2A9D11\n", "PENDING\n", "SUCCESS\n", "ERR FAILED\n",
		"ON\n", "OK PRIMARY-GRANTED\n", "OK FSD-SET\n", "OK STARTTLS\n", "OK STARTTLS\nOK\n",
		"BEGIN LIST VAR ups\nEND LIST VAR other\n",
		"VAR ups v.x \"unterminated\n",
	}
	for i, s := range seeds {
		for call := range fuzzCalls {
			if call%3 == i%3 {
				f.Add(uint8(call), []byte(s))
			}
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		conn := &replayConn{r: bytes.NewReader(data)}
		c := NewClient(conn, WithMaxLineLength(1024), WithMaxListSize(4096))
		call := fuzzCalls[int(which)%len(fuzzCalls)]
		got, err := call(context.Background(), c)

		w := conn.written.Bytes()
		if int(which)%len(fuzzCalls) == startTLSCall {
			if !bytes.HasPrefix(w, []byte("STARTTLS\n")) {
				t.Fatalf("client wrote %q, want STARTTLS first", w)
			}
		} else if n := bytes.Count(w, []byte("\n")); n != 1 {
			t.Fatalf("client wrote %q, want exactly one line", w)
		}
		if err != nil {
			var nerr *Error
			var terr *TrackingError
			if !errors.As(err, &nerr) && !errors.As(err, &terr) && !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrServerDisconnected) &&
				!strings.Contains(err.Error(), "TLS handshake") {
				t.Fatalf("unclassified error %v", err)
			}
			if Strerror(err) == "" {
				t.Fatal("Strerror returned nothing")
			}
			return
		}
		// Every word handed out came from the reply, after unescaping.
		var words []string
		for line := range strings.SplitSeq(string(data), "\n") {
			w, _ := nutconf.Split(line)
			words = append(words, w...)
		}
		has := func(s string) bool {
			for _, w := range words {
				if w == s {
					return true
				}
			}
			return false
		}
		switch v := got.(type) {
		case []UPS:
			for _, u := range v {
				if !has(u.Name) || !has(u.Desc) {
					t.Fatalf("UPS %+v not in the reply", u)
				}
			}
		case []Var:
			for _, x := range v {
				if !has(x.Name) || !has(x.Value) {
					t.Fatalf("Var %+v not in the reply", x)
				}
			}
		case string:
			if len(v) > len(data) {
				t.Fatalf("value %q longer than the reply", v)
			}
		case int:
			if v < 0 {
				t.Fatalf("negative count %d", v)
			}
		}
	})
}

// TestLineReader covers line ends and limits directly.
func TestLineReader(t *testing.T) {
	tests := []struct {
		in    string
		lines []string
		end   error
	}{
		{"a\nb\n", []string{"a", "b"}, io.EOF},
		{"a\r\nb\r\n", []string{"a", "b"}, io.EOF},
		{"a\r\r\n", []string{"a\r"}, io.EOF},
		{"a\nb", []string{"a"}, io.ErrUnexpectedEOF},
		{strings.Repeat("x", 16) + "\n", []string{strings.Repeat("x", 16)}, io.EOF},
		{strings.Repeat("x", 17) + "\n", nil, errLineTooLong},
		{strings.Repeat("x", 5000), nil, errLineTooLong},
	}
	for _, tc := range tests {
		lr := lineReader{br: bufioReader(tc.in), max: 16}
		var got []string
		var err error
		for {
			var l string
			l, err = lr.readLine()
			if err != nil {
				break
			}
			got = append(got, l)
		}
		if !errors.Is(err, tc.end) || strings.Join(got, "|") != strings.Join(tc.lines, "|") {
			t.Errorf("%q: lines %q end %v; want %q end %v", tc.in, got, err, tc.lines, tc.end)
		}
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReaderSize(strings.NewReader(s), 16) }
