package upsc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/client"
)

// Real NUT 2.8.0 binaries (Debian nut-server, nut-client).
const (
	realUpsc     = "/usr/bin/upsc"
	realUpsd     = "/lib/nut/upsd"
	realDummyUPS = "/lib/nut/dummy-ups"
)

// requireNUT fails in CI and skips elsewhere when the reference binaries are
// missing.
func requireNUT(t *testing.T) {
	t.Helper()
	for _, p := range []string{realUpsc, realUpsd, realDummyUPS} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("NUT 2.8.0 is missing in CI (%v): apt-get install nut-server nut-client", err)
			}
			t.Skipf("NUT 2.8.0 not installed (%v)", err)
		}
	}
}

// buildUpsc builds gonut's upsc into the test's temp dir.
func buildUpsc(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "upsc")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/gonut/gonut/tools/upsc")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build tools/upsc: %v\n%s", err, out)
	}
	return bin
}

// ddl returns the path of a device dump of the shared NUT DDL, which lives
// beside the repository (../shared/ddl from its root).
func ddl(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "ddl", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("device dump %s: %v", name, err)
	}
	return p
}

// section is one [ups] of the lab's ups.conf, served by NUT's dummy-ups.
type section struct {
	name string
	port string // the .dev file
	desc string // written raw after "desc = "
}

// lab is NUT 2.8.0's upsd fed by NUT's dummy-ups drivers, in a temp dir,
// on a free loopback port.
type lab struct {
	dir     string
	env     []string
	port    int
	v6      bool // upsd also listens on [::1]
	upsd    *proc
	drivers map[string]*proc
}

// proc is a process this test started, reaped by one goroutine.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
}

func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p
}

func (l *lab) host() string { return "127.0.0.1:" + strconv.Itoa(l.port) }

func startLab(t *testing.T, sections []section, maxage int) *lab {
	t.Helper()
	dir := t.TempDir()
	conf, state := filepath.Join(dir, "conf"), filepath.Join(dir, "state")
	for _, d := range []string{conf, state} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var ups strings.Builder
	for _, s := range sections {
		fmt.Fprintf(&ups, "[%s]\n  driver = dummy-ups\n  port = %s\n", s.name, s.port)
		if s.desc != "" {
			fmt.Fprintf(&ups, "  desc = %s\n", s.desc)
		}
	}
	writeFile(t, filepath.Join(conf, "ups.conf"), ups.String())
	writeFile(t, filepath.Join(conf, "upsd.users"), "[mon]\n  password = monpass\n  upsmon primary\n")
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{
		dir:     dir,
		env:     append(os.Environ(), "NUT_CONFPATH="+conf, "NUT_STATEPATH="+state, "NUT_ALTPIDPATH="+state, "LC_ALL=C"),
		drivers: map[string]*proc{},
	}
	t.Cleanup(l.stop)
	for _, s := range sections {
		cmd := exec.Command(realDummyUPS, "-a", s.name, "-F", "-u", u.Username)
		cmd.Env = l.env
		log := logFile(t, dir, "driver-"+s.name)
		cmd.Stdout, cmd.Stderr = log, log
		l.drivers[s.name] = startProc(t, cmd)
	}
	l.v6 = canListen("[::1]:0")
	// A port may be taken between our check and upsd's bind: retry.
	for attempt := 0; ; attempt++ {
		l.port = freePort(t)
		cfg := fmt.Sprintf("MAXAGE %d\nLISTEN 127.0.0.1 %d\n", maxage, l.port)
		if l.v6 {
			cfg += fmt.Sprintf("LISTEN ::1 %d\n", l.port)
		}
		writeFile(t, filepath.Join(conf, "upsd.conf"), cfg)
		cmd := exec.Command(realUpsd, "-F", "-u", u.Username)
		cmd.Env = l.env
		log := logFile(t, dir, "upsd")
		cmd.Stdout, cmd.Stderr = log, log
		l.upsd = startProc(t, cmd)
		err := l.waitReady(sections)
		if err == nil {
			return l
		}
		if errors.Is(err, errDriverExited) {
			for name, d := range l.drivers {
				select {
				case <-d.done:
					logs, _ := os.ReadFile(filepath.Join(dir, "driver-"+name+".log"))
					t.Fatalf("NUT dummy-ups -a %s exited: %v\n%s", name, d.cmd.ProcessState, logs)
				default:
				}
			}
		}
		stopCmd(l.upsd)
		if attempt == 4 {
			logs, _ := os.ReadFile(filepath.Join(dir, "upsd.log"))
			t.Fatalf("NUT upsd did not come up on port %d: %v\nupsd log:\n%s", l.port, err, logs)
		}
	}
}

// waitReady waits until upsd answers with every driver's data (it serves
// "ups.status: WAIT" until a driver's first dump arrives).
func (l *lab) waitReady(sections []section) error {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-l.upsd.done:
			return fmt.Errorf("upsd exited: %v", l.upsd.cmd.ProcessState)
		case <-l.anyDriverExit():
			return errDriverExited
		case <-time.After(100 * time.Millisecond):
		}
		last = func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, l.host())
			if err != nil {
				return err
			}
			defer c.Close()
			for _, s := range sections {
				v, err := c.GetVar(ctx, s.name, "driver.name")
				if err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				if v != "dummy-ups" {
					return fmt.Errorf("%s: driver.name %q", s.name, v)
				}
			}
			return nil
		}()
		if last == nil {
			return nil
		}
	}
	return fmt.Errorf("not ready after 30 s: %v", last)
}

var errDriverExited = errors.New("a driver exited")

// anyDriverExit returns a channel that is closed if some driver has exited.
func (l *lab) anyDriverExit() <-chan struct{} {
	for _, d := range l.drivers {
		select {
		case <-d.done:
			return d.done
		default:
		}
	}
	return nil
}

// killDriver stops one driver for good (upsd: DRIVER-NOT-CONNECTED).
func (l *lab) killDriver(t *testing.T, name string) {
	t.Helper()
	stopCmd(l.drivers[name])
}

// freezeDriver stops one driver with SIGSTOP (upsd: DATA-STALE after
// MAXAGE).
func (l *lab) freezeDriver(t *testing.T, name string) {
	t.Helper()
	if err := l.drivers[name].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP dummy-ups -a %s: %v", name, err)
	}
}

func (l *lab) stop() {
	if l.upsd != nil {
		stopCmd(l.upsd)
	}
	for _, d := range l.drivers {
		stopCmd(d)
	}
}

// stopCmd ends a process this test started: SIGCONT (in case it was
// frozen), SIGTERM, then SIGKILL after 5 s.
func stopCmd(p *proc) {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func logFile(t *testing.T, dir, name string) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func canListen(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// freePort picks a loopback port in 20000-32000 (below the ephemeral range,
// so no outgoing connection can hold it) that is free right now.
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		p := 20000 + rand.IntN(12000)
		if canListen(fmt.Sprintf("127.0.0.1:%d", p)) && (!canListen("[::1]:0") || canListen(fmt.Sprintf("[::1]:%d", p))) {
			return p
		}
	}
	t.Fatal("no free port in 20000-32000")
	return 0
}

// result is what one run of a upsc printed.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// runUpsc runs bin as "upsc" (argv[0] shows in getopt's messages).
func runUpsc(t *testing.T, bin string, env []string, args ...string) (result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Args[0] = "upsc"
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return result{}, fmt.Errorf("%s %q did not finish in 30 s", bin, args)
	case errors.As(err, &exit):
		if exit.ExitCode() < 0 {
			return result{}, fmt.Errorf("%s %q: %v", bin, args, err)
		}
	case err != nil:
		t.Fatalf("run %s: %v", bin, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}, nil
}
