package nuttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/host/control"
	"github.com/gonut/gonut/sdk/nutconf"
)

// StartTimeout bounds how long the Start* helpers wait for a program to
// answer.
const StartTimeout = 20 * time.Second

// RunAsUser is the user the Start* helpers pass to -u: NUT's daemons drop root for user "nut" unless
// told otherwise, and in a test sandbox that user cannot reach the files.
func RunAsUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

// waitFor polls cond every 10 ms until it holds, the process exits or
// timeout passes; it returns the last error cond gave.
func waitFor(p *Proc, timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited (%s) while waiting: %w", p.Name, p.exitString(), err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dialUnix reports whether a process listens on the unix socket at path,
// without connecting to it: NUT 2.8.0's drivers keep a client that hung up
// in their list and abort ("bit out of range 0 - FD_SETSIZE on fd_set")
// on their next broadcast to it, so a connect-and-close probe would plant
// a crash. The kernel's table of unix sockets says whether one listens.
func dialUnix(path string) error {
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		// Num RefCount Protocol Flags Type St Inode Path
		if len(f) < 8 || f[7] != path {
			continue
		}
		flags, err := strconv.ParseUint(f[3], 16, 32)
		if err == nil && flags&0x10000 != 0 { // __SO_ACCEPTCON: listening
			return nil
		}
	}
	return fmt.Errorf("nothing listens on %s", path)
}

// StartNUTDriver starts NUT's C driver for one section of the directory's
// ups.conf (/lib/nut/<driver> -a <ups> -u <user> -F) and waits until its
// state socket accepts connections.
func StartNUTDriver(tb testing.TB, d *Dir, s Section) *Proc {
	tb.Helper()
	p := startNUTDriver(tb, d, s)
	waitNUTDriver(tb, d, s, p)
	return p
}

func startNUTDriver(tb testing.TB, d *Dir, s Section) *Proc {
	tb.Helper()
	RequireNUT(tb)
	return d.Start(tb, filepath.Join(NUTDriverDir, s.Driver), "-a", s.Name, "-u", RunAsUser(), "-F")
}

func waitNUTDriver(tb testing.TB, d *Dir, s Section, p *Proc) {
	tb.Helper()
	if err := waitFor(p, StartTimeout, func() error { return dialUnix(d.Socket(s)) }); err != nil {
		tb.Fatalf("nuttest: NUT driver %s for [%s]: socket %s: %v\n%s", s.Driver, s.Name, d.Socket(s), err, p.Output())
	}
}

// StartNUTUpsdrvctl starts every section of the directory's ups.conf with
// NUT's own upsdrvctl (`upsdrvctl -u <user> start`), which puts the
// drivers in the background. It returns the drivers' pids, read from
// their pid files; they are stopped by pid when the test ends.
func StartNUTUpsdrvctl(tb testing.TB, d *Dir) map[string]int {
	tb.Helper()
	RequireNUT(tb)
	conf, err := nutconf.LoadUPSConf(d.Join("ups.conf"))
	if err != nil {
		tb.Fatalf("nuttest: %v", err)
	}
	r := d.Run(tb, NUTUpsdrvctl, "-u", RunAsUser(), "start")
	// upsdrvctl returns once each driver has gone to the background; the
	// pid file may still name the process that forked, so a pid counts
	// only once it names a live driver whose socket answers.
	pids := map[string]int{}
	for _, s := range conf.Sections {
		pidFile := d.Join(s.Driver + "-" + s.Name + ".pid")
		sock := d.Join(s.Driver + "-" + s.Name)
		exe := filepath.Join(NUTDriverDir, s.Driver)
		var pid int
		err := waitFor(nil, StartTimeout, func() error {
			b, err := os.ReadFile(pidFile)
			if err != nil {
				return err
			}
			pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || pid <= 0 {
				return fmt.Errorf("pid file %s holds %q", pidFile, b)
			}
			if !isProgram(pid, exe) {
				return fmt.Errorf("pid %d from %s is not a running %s", pid, pidFile, exe)
			}
			return dialUnix(sock)
		})
		if pid > 0 && isProgram(pid, exe) {
			tb.Cleanup(func() { stopPID(pid, exe) })
		}
		if err != nil {
			tb.Fatalf("nuttest: upsdrvctl start of [%s] (driver %s): %v\nupsdrvctl: %s", s.Name, s.Driver, err, r)
		}
		pids[s.Name] = pid
	}
	if r.Code != 0 {
		tb.Fatalf("nuttest: %s -u %s start: %s", NUTUpsdrvctl, RunAsUser(), r)
	}
	return pids
}

// StartHost starts gonut's nut-driver-host in the foreground on the
// directory (`nut-driver-host -F`) and waits until every section of its
// ups.conf runs. The drivers must have been built into the same directory
// first (Build), because the host looks for them next to itself.
func StartHost(tb testing.TB, d *Dir) *Proc {
	tb.Helper()
	return StartHostArgs(tb, d)
}

// StartHostArgs is StartHost with further nut-driver-host flags, e.g.
// "-healthy-run", "1ms" or "-watch", "100ms".
func StartHostArgs(tb testing.TB, d *Dir, args ...string) *Proc {
	tb.Helper()
	p := d.Start(tb, Program(tb, PkgHost), append([]string{"-F"}, args...)...)
	conf, err := nutconf.LoadUPSConf(d.Join("ups.conf"))
	if err != nil {
		tb.Fatalf("nuttest: %v", err)
	}
	err = waitFor(p, StartTimeout, func() error {
		st, _, err := HostStatus(d)
		if err != nil {
			return err
		}
		running := map[string]bool{}
		for _, in := range st {
			if in.State == "running" && in.PID > 0 {
				running[in.UPS] = true
			}
		}
		for _, s := range conf.Sections {
			if !running[s.Name] {
				return fmt.Errorf("[%s] is not running yet (%+v)", s.Name, st)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("nuttest: nut-driver-host: %v", err)
	}
	return p
}

// StartHostOnly starts nut-driver-host in the foreground with args and
// waits only until its control socket answers, not for its instances: for
// tests of instances that fail.
func StartHostOnly(tb testing.TB, d *Dir, args ...string) *Proc {
	tb.Helper()
	p := d.Start(tb, Program(tb, PkgHost), append([]string{"-F"}, args...)...)
	if err := waitFor(p, StartTimeout, func() error { _, _, err := HostStatus(d); return err }); err != nil {
		tb.Fatalf("nuttest: nut-driver-host: %v\n%s", err, p.Output())
	}
	return p
}

// HostStats asks a running nut-driver-host (through its control socket in
// the directory) for its instances and its own resource use.
func HostStats(d *Dir) ([]control.Instance, control.HostStats, error) {
	c, err := control.Dial(d.Path)
	if err != nil {
		return nil, control.HostStats{}, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.StatusStats(ctx)
}

// WaitHostState waits until the host reports the instance for ups in
// state (e.g. "failed", "running") and returns its status.
func WaitHostState(tb testing.TB, d *Dir, ups, state string, timeout time.Duration) control.Instance {
	tb.Helper()
	var got control.Instance
	err := waitFor(nil, timeout, func() error {
		st, _, err := HostStatus(d)
		if err != nil {
			return err
		}
		for _, in := range st {
			if in.UPS == ups {
				got = in
				if in.State == state {
					return nil
				}
				return fmt.Errorf("[%s] is %s (last error %q)", ups, in.State, in.LastError)
			}
		}
		return fmt.Errorf("the host has no instance [%s]", ups)
	})
	if err != nil {
		tb.Fatalf("nuttest: waiting for [%s] to be %s: %v", ups, state, err)
	}
	return got
}

// HostStatus asks a running nut-driver-host (through its control socket in
// the directory) for its instances and its own pid.
func HostStatus(d *Dir) ([]control.Instance, int, error) {
	c, err := control.Dial(d.Path)
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Status(ctx)
}

// PluginPID waits until the host runs the instance for ups and returns the
// pid of its plugin process. A pid in not is not accepted: pass the pid of
// a plugin just killed to wait for its successor.
func PluginPID(tb testing.TB, d *Dir, ups string, timeout time.Duration, not ...int) int {
	tb.Helper()
	pid, err := WaitPluginPID(d, ups, timeout, not...)
	if err != nil {
		tb.Fatalf("nuttest: %v", err)
	}
	return pid
}

// WaitPluginPID is PluginPID for goroutines that must not call t.Fatal.
func WaitPluginPID(d *Dir, ups string, timeout time.Duration, not ...int) (int, error) {
	var pid int
	err := waitFor(nil, timeout, func() error {
		st, _, err := HostStatus(d)
		if err != nil {
			return err
		}
		for _, in := range st {
			if in.UPS != ups {
				continue
			}
			if in.State != "running" || in.PID <= 0 || containsInt(not, in.PID) {
				return fmt.Errorf("[%s] is %s (pid %d, last error %q)", ups, in.State, in.PID, in.LastError)
			}
			pid = in.PID
			return nil
		}
		return fmt.Errorf("the host has no instance [%s]", ups)
	})
	if err != nil {
		return 0, fmt.Errorf("plugin for [%s]: %w", ups, err)
	}
	return pid, nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// UpsdConfig is what a upsd is started with besides its LISTEN line.
type UpsdConfig struct {
	Conf  string // further upsd.conf directives, e.g. "MAXAGE 5\n"
	Users string // upsd.users; an empty file when ""
	// StatePath, when set, is where the upsd finds the driver sockets
	// instead of its own directory (STATEPATH in upsd.conf, and
	// NUT_STATEPATH): two upsds, each with its own directory, can then
	// read the same drivers.
	StatePath string
	// PIDFile runs the upsd with -FF instead of -F: in the foreground,
	// but with its pid file (NUT_ALTPIDPATH/upsd.pid), so that `upsd -c
	// reload` and nut-driver-host's resync can signal it.
	PIDFile bool
}

// Server is a running upsd, NUT's or gonut's, listening on 127.0.0.1.
type Server struct {
	*Proc
	Port int
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// Target is ups@127.0.0.1:port, as upsc and the other clients take it.
func (s *Server) Target(ups string) string { return ups + "@" + s.Addr() }

// Dial opens a protocol connection, closed when the test ends.
func (s *Server) Dial(tb testing.TB) *Conn {
	tb.Helper()
	return Dial(tb, s.Addr())
}

// WaitUPS waits until the server serves ups's data: GET VAR <ups>
// driver.name answers a value rather than an error. Every driver, NUT's and
// gonut's, publishes driver.name, and a upsd answers it only once the
// driver's dump is in.
func (s *Server) WaitUPS(tb testing.TB, ups string) {
	tb.Helper()
	var last string
	err := waitFor(s.Proc, StartTimeout, func() error {
		c, err := Connect(s.Addr())
		if err != nil {
			return err
		}
		defer c.Close()
		l, err := c.Cmd("GET VAR " + ups + " driver.name")
		if err != nil {
			return err
		}
		last = l
		if !strings.HasPrefix(l, "VAR ") {
			return errors.New(l)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("nuttest: %s never served [%s]: %v (last reply %q)", s.Name, ups, err, last)
	}
}

// StartNUTUpsd starts NUT's upsd (`/lib/nut/upsd -u <user> -F`) on a free
// loopback port and waits until it accepts connections. It does not wait
// for the drivers: use WaitUPS.
func StartNUTUpsd(tb testing.TB, d *Dir, cfg UpsdConfig) *Server {
	tb.Helper()
	RequireNUT(tb)
	return startUpsd(tb, d, cfg, NUTUpsd, "-u", RunAsUser(), "-F")
}

// StartUpsd starts gonut's upsd (`upsd -u <user> -F`) on a free loopback
// port and waits until it accepts connections. It does not wait for the
// drivers: use WaitUPS.
func StartUpsd(tb testing.TB, d *Dir, cfg UpsdConfig) *Server {
	tb.Helper()
	fg := "-F"
	if cfg.PIDFile {
		fg = "-FF"
	}
	return startUpsd(tb, d, cfg, Program(tb, PkgUpsd), "-u", RunAsUser(), fg)
}

func startUpsd(tb testing.TB, d *Dir, cfg UpsdConfig, prog string, args ...string) *Server {
	tb.Helper()
	d.WriteFile(tb, "upsd.users", cfg.Users)
	env, conf := d.Env(), cfg.Conf
	if cfg.StatePath != "" {
		env = append(env, "NUT_STATEPATH="+cfg.StatePath) // the last one counts
		conf = "STATEPATH " + cfg.StatePath + "\n" + conf
	}
	for attempt := 1; ; attempt++ {
		port := FreePort(tb)
		d.WriteFile(tb, "upsd.conf", fmt.Sprintf("LISTEN 127.0.0.1 %d\n%s", port, conf))
		p := StartProc(tb, env, prog, args...)
		s := &Server{Proc: p, Port: port}
		err := waitFor(p, StartTimeout, func() error {
			c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
			if err != nil {
				return err
			}
			return c.Close()
		})
		if err == nil {
			return s
		}
		// Another process may have taken the port between FreePort and
		// the bind; try another one.
		out := strings.ToLower(p.Output())
		if p.Exited() && attempt < 5 && (strings.Contains(out, "in use") || strings.Contains(out, "bind")) {
			tb.Logf("nuttest: %s could not bind port %d; retrying on another", p.Name, port)
			continue
		}
		tb.Fatalf("nuttest: %s on port %d: %v\n%s", p.Name, port, err, p.Output())
	}
}

// Impl selects whose implementation runs a layer of the stack.
type Impl int

// The two implementations a differential test compares.
const (
	NUT   Impl = iota // NUT 2.8.0's C programs from the Debian packages
	Gonut             // gonut's programs, built by Build
)

func (i Impl) String() string {
	if i == NUT {
		return "NUT"
	}
	return "gonut"
}

// DriverPackages maps NUT driver names to the gonut packages that build
// them, for StartStack.
var DriverPackages = map[string]string{
	"dummy-ups": PkgDummyUPS,
}

// StartStack serves every section of the directory's ups.conf: drivers
// from one implementation (NUT's C drivers, one process per section, or
// gonut's nut-driver-host with its plugins, built as needed from
// DriverPackages), read by the upsd of another; then it waits until the
// upsd serves every UPS. It is the building block of differential tests:
// the same directory contents served by each combination.
func StartStack(tb testing.TB, d *Dir, drivers, upsd Impl, cfg UpsdConfig) *Server {
	tb.Helper()
	conf, err := nutconf.LoadUPSConf(d.Join("ups.conf"))
	if err != nil {
		tb.Fatalf("nuttest: %v", err)
	}
	if drivers == NUT {
		// All at once, then wait: each takes a moment to come up.
		procs := make([]*Proc, len(conf.Sections))
		for i, s := range conf.Sections {
			procs[i] = startNUTDriver(tb, d, Section{Name: s.Name, Driver: s.Driver, Port: s.Port})
		}
		for i, s := range conf.Sections {
			waitNUTDriver(tb, d, Section{Name: s.Name, Driver: s.Driver, Port: s.Port}, procs[i])
		}
	} else {
		pkgs := []string{PkgHost}
		for _, s := range conf.Sections {
			if p, ok := DriverPackages[s.Driver]; ok {
				pkgs = append(pkgs, p)
			}
		}
		Build(tb, pkgs...)
		StartHost(tb, d)
	}
	var s *Server
	if upsd == NUT {
		s = StartNUTUpsd(tb, d, cfg)
	} else {
		s = StartUpsd(tb, d, cfg)
	}
	for _, sec := range conf.Sections {
		s.WaitUPS(tb, sec.Name)
	}
	return s
}
