// Package clienttest runs fake upsd servers on loopback for the tests of
// programs built on package client (upsc, upscmd, upsrw, upsmon): a
// scripted server whose every reply a test controls, hostile ones included,
// and Fake, a small in-memory upsd that answers the read-only protocol the
// way NUT 2.8's upsd does.
package clienttest

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"

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

	ln      net.Listener
	handler Handler

	mu       sync.Mutex
	requests []string
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

// NewServer starts a Server answering with h; it stops when the test ends.
func NewServer(t testing.TB, h Handler) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("clienttest: listen on 127.0.0.1: %v", err)
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln, handler: h, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Requests returns the request lines received so far, without newlines, in
// the order they arrived.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
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

func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	br := bufio.NewReader(c)
	hung := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		s.mu.Lock()
		s.requests = append(s.requests, line)
		s.mu.Unlock()
		if hung {
			continue
		}
		words, _ := nutconf.Split(line)
		r := s.handler(words)
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
