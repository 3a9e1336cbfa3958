package protocol

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// What Debian's NUT 2.8.0 clients do on the wire (watched with strace
// against gonut's upsd, with and without a certificate): upsc and upslog
// (upscli_connect with UPSCLI_CONN_TRYSSL, after upscli_init) send
// STARTTLS before anything else; on "OK STARTTLS" they run the TLS
// handshake without checking the certificate (NSS without a database)
// and go on encrypted; on an ERR they go on in plain text. upscmd and
// upsrw never send STARTTLS in 2.8.0. TestToolsStartTLS requires gonut's
// four to do the same, and to print the same thing.

const (
	nutUpsc   = "/usr/bin/upsc"
	nutUpscmd = "/usr/bin/upscmd"
	nutUpsrw  = "/usr/bin/upsrw"
	nutUpslog = "/usr/bin/upslog"
)

// session is what a client sent on its first connection, as a proxy in
// front of upsd saw it.
type session struct {
	mu    sync.Mutex
	bytes []byte
	ended chan struct{} // closed when the client's side of it ends
}

// wait waits until the client has closed the recorded connection, so
// that everything it sent is in.
func (s *session) wait(t *testing.T) {
	t.Helper()
	select {
	case <-s.ended:
	case <-time.After(10 * time.Second):
		t.Error("the client did not close its connection")
	}
}

// summary is the client's plain-text requests, up to the start of a TLS
// handshake (shown as "<TLS>"), or its first three requests.
func (s *session) summary() string {
	s.mu.Lock()
	b := append([]byte(nil), s.bytes...)
	s.mu.Unlock()
	var out []string
	for len(b) > 0 && len(out) < 3 {
		if b[0] == 0x16 { // a TLS handshake record: the ClientHello
			out = append(out, "<TLS>")
			break
		}
		line, rest, ok := bytes.Cut(b, []byte("\n"))
		if !ok {
			break
		}
		out = append(out, string(line))
		b = rest
	}
	return strings.Join(out, " | ")
}

// complete reports whether the summary can no longer change.
func (s *session) complete() bool {
	sum := s.summary()
	return strings.HasSuffix(sum, "<TLS>") || strings.Count(sum, " | ") == 2
}

// recordingProxy forwards connections to upsd and records the first one's
// client-to-server bytes.
func recordingProxy(t *testing.T, upsd string) (string, *session) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &session{ended: make(chan struct{})}
	go func() {
		first := true
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upsd)
			if err != nil {
				c.Close()
				continue
			}
			rec := first
			first = false
			go func() {
				defer u.Close()
				if rec {
					defer close(s.ended)
				}
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if rec {
							s.mu.Lock()
							s.bytes = append(s.bytes, buf[:n]...)
							s.mu.Unlock()
						}
						if _, werr := u.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
	return ln.Addr().String(), s
}

// TestToolsStartTLS runs each of NUT's clients and gonut's against gonut's
// upsd with a certificate and without one, through a recording proxy, and
// requires the same requests before encryption, the same TLS decision and
// the same output.
func TestToolsStartTLS(t *testing.T) {
	requireNUT(t)
	for _, b := range []string{nutUpsc, nutUpscmd, nutUpsrw, nutUpslog} {
		if _, err := os.Stat(b); err != nil {
			skipOrFail(t, "NUT 2.8 client missing (apt-get install nut-client): "+err.Error())
		}
	}
	dir, err := os.MkdirTemp("", "gt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(dir)
		}
	})
	startFakeDriver(t, dir, "fakegon")
	upsd := map[bool]string{}
	for _, withTLS := range []bool{false, true} {
		conf := filepath.Join(dir, fmt.Sprintf("tls-%v", withTLS))
		if err := os.Mkdir(conf, 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(conf, "ups.conf"), "[wr]\n\tdriver = fakegon\n\tport = none\n", 0o644)
		write(t, filepath.Join(conf, "upsd.users"), usersConf, 0o600)
		var extra []string
		if withTLS {
			cert := filepath.Join(conf, "upsd.pem")
			writeServerPEM(t, cert)
			extra = append(extra, "CERTFILE "+cert+"\n")
		}
		upsd[withTLS] = startUpsd(t, gonutUpsd, conf, conf, "gonut-upsd", extra...)
	}

	tools := []struct {
		nut, gonut string
		args       []string // {{A}} is the proxy's address
		wantPlain  string   // NUT's first requests against upsd without TLS
		wantTLS    string   // ... and with TLS
		longRun    bool     // upslog: stopped once the session is seen
	}{
		{nutUpsc, "upsc", []string{"wr@{{A}}", "ups.status"}, "STARTTLS | GET VAR wr ups.status | LOGOUT", "STARTTLS | <TLS>", false},
		{nutUpsc, "upsc", []string{"-l", "{{A}}"}, "STARTTLS | LIST UPS | LOGOUT", "STARTTLS | <TLS>", false},
		{nutUpscmd, "upscmd", []string{"-l", "wr@{{A}}"}, "LIST CMD wr | LOGOUT", "LIST CMD wr | LOGOUT", false},
		{nutUpsrw, "upsrw", []string{"wr@{{A}}"}, "LIST RW wr | LOGOUT", "LIST RW wr | LOGOUT", false},
		{nutUpslog, "upslog", []string{"-s", "wr@{{A}}", "-l", "-", "-i", "1"}, "STARTTLS | GET VAR wr battery.charge | GET VAR wr input.voltage", "STARTTLS | <TLS>", true},
	}
	for _, tc := range tools {
		for _, withTLS := range []bool{false, true} {
			name := fmt.Sprintf("%s %s tls=%v", tc.gonut, strings.Join(tc.args, " "), withTLS)
			t.Run(name, func(t *testing.T) {
				want := tc.wantPlain
				if withTLS {
					want = tc.wantTLS
				}
				var outs [2]string
				for i, bin := range []string{tc.nut, filepath.Join(gonutTools, tc.gonut)} {
					addr, s := recordingProxy(t, upsd[withTLS])
					args := make([]string, len(tc.args))
					for j, a := range tc.args {
						args[j] = strings.ReplaceAll(a, "{{A}}", addr)
					}
					out := runTool(t, bin, args, s, tc.longRun)
					s.wait(t)
					outs[i] = strings.ReplaceAll(out, addr, "ADDR")
					if got := s.summary(); got != want {
						t.Errorf("%s sent %q, want %q", bin, got, want)
					}
				}
				if outs[0] != outs[1] {
					t.Errorf("output differs\n=== NUT 2.8.0:\n%s\n=== gonut:\n%s", outs[0], outs[1])
				}
			})
		}
	}
}

// runTool runs a client and returns its standard output (the first line
// for upslog, whose lines carry a timestamp, with the timestamp cut) and
// its exit status. A long-running one is stopped once its session is
// complete.
func runTool(t *testing.T, bin string, args []string, s *session, longRun bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout lockedBuffer
	cmd.Stdout = &stdout
	cmd.Env = append(os.Environ(), "NUT_CONFPATH=/nonexistent", "NUT_STATEPATH=/nonexistent")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !longRun {
		err := cmd.Wait()
		return fmt.Sprintf("%s(exit %v)\n", stdout.String(), err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !s.complete() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// One log line, then stop it.
	for !strings.Contains(stdout.String(), "\n") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	first, _, _ := strings.Cut(stdout.String(), "\n")
	// upslog's default format starts with the date and time.
	if f := strings.Fields(first); len(f) > 2 {
		first = strings.Join(f[2:], " ")
	}
	return first + "\n"
}

// lockedBuffer is a bytes.Buffer that a running command writes to while
// the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
