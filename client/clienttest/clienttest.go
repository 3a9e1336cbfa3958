// Package clienttest runs fake upsd servers on loopback for the tests of
// programs built on package client (upsc, upscmd, upsrw, upsmon): a
// scripted server whose every reply a test controls, hostile ones included;
// Fake, a small in-memory upsd that answers the read-only protocol the way
// NUT 2.8's upsd does; and UPSD, which adds what needs a session to it
// (USERNAME/PASSWORD against users, LOGIN, PRIMARY, FSD, SET VAR, INSTCMD,
// status tracking). Any of them can offer STARTTLS (WithTLS) with a
// throw-away certificate from NewCertificate.
package clienttest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonut/gonut/sdk/nutconf"
)

// Reply is what the server does in answer to one request line.
type Reply struct {
	Data   string // bytes written verbatim (include the "\n")
	HangUp bool   // close the connection after Data
	Hang   bool   // after Data, read and answer nothing more on this connection
}

// Handler answers one request, given its words as upsd's parser splits them.
type Handler func(words []string) Reply

// Server is a fake upsd listening on 127.0.0.1.
type Server struct {
	Addr string // host:port to Dial

	ln         net.Listener
	newHandler func() Handler // one per connection
	tls        *tls.Config

	mu       sync.Mutex
	requests []string
	plain    []string // the requests received before STARTTLS
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

// ServerOption configures a Server.
type ServerOption func(*Server)

// WithTLS makes the server accept STARTTLS with cert: it answers
// "OK STARTTLS" and runs the TLS handshake itself, without asking the
// handler, and answers a second STARTTLS with ERR ALREADY-SSL-MODE, as
// upsd does. Without it, STARTTLS goes to the handler like any request.
func WithTLS(cert tls.Certificate) ServerOption {
	return func(s *Server) {
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
}

// WithTLSConfig is WithTLS with a complete server configuration, e.g. one
// that asks for client certificates.
func WithTLSConfig(cfg *tls.Config) ServerOption { return func(s *Server) { s.tls = cfg } }

// NewServer starts a Server answering every connection with h; it stops
// when the test ends.
func NewServer(t testing.TB, h Handler, opts ...ServerOption) *Server {
	t.Helper()
	return NewSessionServer(t, func() Handler { return h }, opts...)
}

// NewSessionServer starts a Server that calls newSession for each
// connection and answers that connection's requests with the Handler it
// returns, so that a handler can keep per-connection state (credentials,
// SET TRACKING). It stops when the test ends.
func NewSessionServer(t testing.TB, newSession func() Handler, opts ...ServerOption) *Server {
	t.Helper()
	s, err := Listen(newSession, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Listen is NewSessionServer for code without a testing.TB, such as
// Example functions: the caller must Close the Server.
func Listen(newSession func() Handler, opts ...ServerOption) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("clienttest: listen on 127.0.0.1: %w", err)
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln, newHandler: newSession, conns: map[net.Conn]bool{}}
	for _, o := range opts {
		o(s)
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Requests returns the request lines received so far, without newlines, in
// the order they arrived.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// PlainRequests returns the request lines that arrived in plain text,
// before a STARTTLS handshake (all of them on a connection that never
// started TLS): what an eavesdropper could have read.
func (s *Server) PlainRequests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.plain...)
}

// Close stops the server and drops every connection.
func (s *Server) Close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *Server) serve(raw net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, raw)
		s.mu.Unlock()
		_ = raw.Close()
	}()
	handler := s.newHandler()
	var c net.Conn = raw
	br := bufio.NewReader(c)
	hung, inTLS := false, false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		s.mu.Lock()
		s.requests = append(s.requests, line)
		if !inTLS {
			s.plain = append(s.plain, line)
		}
		s.mu.Unlock()
		if hung {
			continue
		}
		words, _ := nutconf.Split(line)
		if s.tls != nil && len(words) > 0 && strings.EqualFold(words[0], "STARTTLS") {
			if inTLS {
				if _, err := c.Write([]byte("ERR ALREADY-SSL-MODE\n")); err != nil {
					return
				}
				continue
			}
			if _, err := c.Write([]byte("OK STARTTLS\n")); err != nil {
				return
			}
			if br.Buffered() > 0 {
				return // plain text sent after STARTTLS would bypass the encryption
			}
			tc := tls.Server(raw, s.tls)
			_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
			if err := tc.Handshake(); err != nil {
				return
			}
			_ = raw.SetDeadline(time.Time{})
			c, br, inTLS = tc, bufio.NewReader(tc), true
			continue
		}
		r := handler(words)
		if r.Data != "" {
			if _, err := c.Write([]byte(r.Data)); err != nil {
				return
			}
		}
		if r.HangUp {
			return
		}
		hung = r.Hang
	}
}

// Script answers requests by their text: the words joined with single
// spaces (so `GET VAR ups "a b"` is keyed "GET VAR ups a b"). A request not
// in the map gets "ERR UNKNOWN-COMMAND".
func Script(replies map[string]Reply) Handler {
	return func(words []string) Reply {
		if r, ok := replies[strings.Join(words, " ")]; ok {
			return r
		}
		return Reply{Data: "ERR UNKNOWN-COMMAND\n"}
	}
}
