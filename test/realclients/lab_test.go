package realclients

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

func TestMain(m *testing.M) { nuttest.Main(m) }

// The real NUT 2.8.0 clients (Debian nut-client, nut-server, python3-nut).
const (
	nutUpscmd = "/usr/bin/upscmd"
	nutUpsrw  = "/usr/bin/upsrw"
	nutUpslog = "/usr/bin/upslog"
	nutUpsmon = "/lib/nut/upsmon"
	python3   = "/usr/bin/python3"
	pynut     = "/usr/lib/python3/dist-packages/PyNUT.py"
)

// nssBanner is what Debian's NSS-built NUT clients print on stderr on
// every connection, whatever the server.
const nssBanner = "Init SSL without certificate database\n"

// requireClients fails in CI and skips elsewhere when a real client is
// missing.
func requireClients(t *testing.T, paths ...string) {
	t.Helper()
	nuttest.RequireNUT(t)
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil || (st.Mode()&0o111 == 0 && !strings.HasSuffix(p, ".py")) {
			nuttest.Missing(t, "%s is not installed (apt-get install nut-client nut-server python3-nut)", p)
		}
	}
}

// kind is which stack serves the device.
type kind int

const (
	nutStack   kind = iota // NUT's dummy-ups and NUT's upsd: the reference
	gonutUpsd              // NUT's dummy-ups under gonut's upsd
	gonutStack             // gonut's nut-driver-host and dummy-ups under gonut's upsd
)

func (k kind) String() string {
	return [...]string{"NUT upsd", "gonut upsd", "gonut stack"}[k]
}

// labDev is the device every stack serves.
const labDev = `battery.charge: 95
battery.runtime: 1800
input.voltage: 230.5
input.frequency: 50.0
ups.load: 23
ups.status: OL
ups.delay.shutdown: 20
ups.id: "quote \" and back\\slash"
`

// users are the upsd.users of every stack: an administrator, the upsmon
// primary and secondary, and an administrator with no upsmon right.
const users = `[admin]
	password = adminpass
	actions = SET FSD
	instcmds = all
[monp]
	password = monpass
	upsmon primary
[mons]
	password = monspass
	upsmon secondary
[setter]
	password = setterpass
	actions = SET
`

// stack is one data server with its driver: [ups] serves labDev and
// [dead] has no driver at all (DRIVER-NOT-CONNECTED).
type stack struct {
	kind kind
	upsd *nuttest.Server
	// drivers is the directory the drivers run in; upsd has its own,
	// whose ups.conf also names [dead].
	drivers *nuttest.Dir
}

func startStack(t *testing.T, k kind) *stack {
	t.Helper()
	drv := nuttest.NewDir(t)
	drv.WriteFile(t, "lab.dev", labDev)
	ups := nuttest.Section{Name: "ups", Driver: "dummy-ups", Port: "lab.dev", Options: []string{`desc = "Lab UPS"`}}
	drv.WriteUPSConf(t, nil, ups)
	switch k {
	case nutStack, gonutUpsd:
		startNUTDriver(t, drv, ups)
	case gonutStack:
		nuttest.Build(t, nuttest.PkgHost, nuttest.PkgDummyUPS)
		nuttest.StartHost(t, drv)
	}
	srvDir := nuttest.NewDir(t)
	srvDir.WriteUPSConf(t, nil, ups, nuttest.Section{Name: "dead", Driver: "dummy-ups", Port: "lab.dev"})
	cfg := nuttest.UpsdConfig{Users: users, StatePath: drv.Path}
	var srv *nuttest.Server
	if k == nutStack {
		srv = nuttest.StartNUTUpsd(t, srvDir, cfg)
	} else {
		srv = nuttest.StartUpsd(t, srvDir, cfg)
	}
	srv.WaitUPS(t, "ups")
	return &stack{kind: k, upsd: srv, drivers: drv}
}

// startNUTDriver starts NUT's C driver for a section and waits until its
// state socket exists. It does not connect to the socket to check, as
// nuttest.StartNUTDriver does: NUT 2.8.0's dummy-ups keeps such a closed
// connection until it next broadcasts (a SET, a TRACKING reply), then
// fails to write to it and may abort ("bit out of range 0 - FD_SETSIZE on
// fd_set"). upsd connects when the socket is there, or retries.
func startNUTDriver(t *testing.T, d *nuttest.Dir, s nuttest.Section) *nuttest.Proc {
	t.Helper()
	p := d.Start(t, filepath.Join(nuttest.NUTDriverDir, s.Driver), "-a", s.Name, "-u", nuttest.RunAsUser(), "-F")
	waitFor(t, nuttest.StartTimeout, "the socket of NUT's "+s.Driver+" for ["+s.Name+"]", func() bool {
		st, err := os.Stat(d.Socket(s))
		if p.Exited() {
			t.Fatalf("NUT's %s for [%s] exited:\n%s", s.Driver, s.Name, p.Output())
		}
		return err == nil && st.Mode()&os.ModeSocket != 0
	})
	return p
}

// waitVar waits until upsd serves ups's variable with the value want.
func (s *stack) waitVar(t *testing.T, ups, name, want string) {
	t.Helper()
	c := s.upsd.Dial(t)
	deadline := time.Now().Add(10 * time.Second)
	var got string
	var err error
	for time.Now().Before(deadline) {
		got, err = c.GetVar(ups, name)
		if err == nil && got == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %s %s never became %q (last %q, %v)", s.kind, ups, name, want, got, err)
}

// clientOutput runs a real NUT client to completion and returns what it
// said as one string: exit status, stdout, stderr (without NSS's line).
func clientOutput(t *testing.T, bin string, args ...string) string {
	t.Helper()
	r := nuttest.Run(t, append(os.Environ(), "LC_ALL=C"), bin, args...)
	return fmt.Sprintf("exit %d\n%s%s", r.Code, r.Stdout, strings.ReplaceAll(r.Stderr, nssBanner, ""))
}

// proxy sits between a client and upsd and records every line each way,
// so a test sees exactly what a real client asked and was told.
type proxy struct {
	Addr   string
	target string
	ln     net.Listener

	mu       sync.Mutex
	sessions []*session
	conns    []net.Conn
}

// session is one client connection's transcript: "> request" and
// "< reply" lines in the order they crossed the proxy.
type session struct {
	mu    sync.Mutex
	lines []string
}

func (s *session) add(line string) {
	s.mu.Lock()
	s.lines = append(s.lines, line)
	s.mu.Unlock()
}

// Lines returns the transcript so far.
func (s *session) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	var ln net.Listener
	var err error
	for range 20 {
		ln, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(nuttest.FreePort(t)))
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("proxy: listen: %v", err)
	}
	p := &proxy{Addr: ln.Addr().String(), target: target, ln: ln}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		s := &session{}
		p.mu.Lock()
		p.sessions = append(p.sessions, s)
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(s, "> ", c, up)
		go p.pipe(s, "< ", up, c)
	}
}

// pipe copies src to dst line by line, recording each line.
func (p *proxy) pipe(s *session, dir string, src, dst net.Conn) {
	defer dst.Close()
	defer src.Close()
	r := bufio.NewReader(src)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			s.add(dir + strings.TrimSuffix(line, "\n"))
			if _, werr := io.WriteString(dst, line); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Sessions returns the transcripts of every connection so far.
func (p *proxy) Sessions() []*session {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*session(nil), p.sessions...)
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
