// Command upsdrvctl starts, stops and queries UPS drivers as NUT's
// upsdrvctl does, through nut-driver-host: `upsdrvctl start` brings the
// host up in the background when it is not running and asks it to start
// the drivers; every other command talks to the running host over its
// control socket (STATEPATH/nut-driver-host.ctl).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gonut/gonut/host"
	"github.com/gonut/gonut/host/control"
	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/nutconf"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type counter int

func (c *counter) String() string   { return fmt.Sprint(int(*c)) }
func (c *counter) Set(string) error { *c++; return nil }
func (c *counter) IsBoolFlag() bool { return true }

func usage(w io.Writer) {
	fmt.Fprint(w, `UPS driver controller: Starts and stops UPS drivers via ups.conf.

usage: upsdrvctl [OPTIONS] (start | stop | shutdown | status) [<ups>]

usage: upsdrvctl [OPTIONS] (list | -l) [<ups>]

usage: upsdrvctl [OPTIONS] -c <command> [<ups>]

Common options:
  -h			display this help
  -r <path>		drivers will chroot to <path>
  -t			testing mode - prints actions without doing them
  -u <user>		drivers started will switch from root to <user>
  -D			raise debugging level
  -d			pass debugging level from upsdrvctl to driver
  -F			driver stays foregrounded even if no debugging is enabled
  -FF			driver stays foregrounded and still saves the PID file
  -B			driver(s) stay backgrounded even if debugging is bumped

Listing known driver(s):
  -l | list		list all device driver confgurations that can be managed
  -l | list <ups>	only try to list the specified device driver confgurations
              		(error out if the device name is unresolved)

Signalling a running driver:
  -c <command>		send <command> via signal to running driver(s)
              		supported commands:
              		- data-dump: dump the driver's currently collected information
              		  (here: to upsdrvctl's standard output)
              		- reload: re-read configuration files (nut-driver-host hands
              		  each changed ups.conf section to its running driver, and
              		  restarts the driver if it cannot take it in place)
              		- reload-or-error, reload-or-exit, reload-or-restart: as reload
              		- exit: tell the currently running driver instance to just exit

Driver life cycle options:
  start			start all UPS drivers in ups.conf
  start <ups>		only start driver for UPS <ups>
  stop			stop all UPS drivers in ups.conf
  stop <ups>		only stop driver for UPS <ups>
  shutdown		shutdown all UPS drivers in ups.conf
  shutdown <ups>	only shutdown UPS <ups>
  status		query status for all UPS drivers in ups.conf
  status <ups>		only query status for driver for UPS <ups>
              		Fields: UPSNAME UPSDRV RUNNING PF_PID S_RESPONSIVE S_PID S_STATUS
              		(PF_* = according to PID file, if any; S_* = via socket protocol)

All drivers run under nut-driver-host; see upsdrvsvcctl for its view of each
instance (state, restarts, last error).
`)
}

// signalCommands maps -c arguments (and NUT's unambiguous prefixes of
// them) to what the host does.
var signalCommands = []string{"data-dump", "dump", "reload", "reload-or-error", "reload-or-exit", "reload-or-restart", "exit"}

func resolveSignal(arg string) (string, error) {
	for _, c := range signalCommands {
		if arg == c {
			return c, nil
		}
	}
	var hits []string
	for _, c := range signalCommands {
		if arg != "" && strings.HasPrefix(c, arg) {
			hits = append(hits, c)
		}
	}
	if len(hits) == 1 {
		return hits[0], nil
	}
	return "", fmt.Errorf("Error: unknown argument to option -c. Try -h for help.")
}

type options struct {
	testing   bool
	runAs     string
	debug     int
	signal    string
	statePath string
	conf      *nutconf.UPSConf
}

func run(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintf(stderr, "Network UPS Tools - UPS driver controller %s\n", sdk.Version)
	fs := flag.NewFlagSet("upsdrvctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var debug, passDebug counter
	testing := fs.Bool("t", false, "")
	runAs := fs.String("u", "", "")
	chroot := fs.String("r", "", "")
	help := fs.Bool("h", false, "")
	list := fs.Bool("l", false, "")
	sig := fs.String("c", "", "")
	fs.Bool("F", false, "")
	fs.Bool("FF", false, "")
	fs.Bool("B", false, "")
	showVer := fs.Bool("V", false, "")
	fs.Var(&debug, "D", "")
	fs.Var(&passDebug, "d", "")
	if err := fs.Parse(args); err != nil || *help {
		usage(stdout)
		if *help {
			return 0
		}
		return 1
	}
	if *showVer {
		return 0
	}
	if *chroot != "" {
		fmt.Fprintf(stderr, "upsdrvctl: -r %s: chroot is not supported by nut-driver-host\n", *chroot)
		return 1
	}
	rest := fs.Args()
	var cmd string
	switch {
	case *sig != "":
		c, err := resolveSignal(*sig)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		cmd = "signal"
		*sig = c
	case *list:
		cmd = "list"
	case len(rest) > 0:
		cmd, rest = rest[0], rest[1:]
	default:
		usage(stdout)
		return 1
	}
	if len(rest) > 1 {
		usage(stdout)
		return 1
	}
	ups := rest

	h, err := host.New(host.Config{})
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	conf := h.Conf()
	if len(conf.Sections) == 0 {
		fmt.Fprintln(stderr, "Error: no UPS definitions found in ups.conf")
		return 1
	}
	for _, u := range ups {
		if conf.Section(u) == nil {
			fmt.Fprintf(stderr, "UPS %s not found in ups.conf\n", u)
			return 1
		}
	}
	o := &options{testing: *testing, runAs: *runAs, debug: int(debug), signal: *sig, statePath: h.StatePath(), conf: conf}
	if o.testing {
		return plan(h, cmd, ups, o, stdout, stderr)
	}
	ctx := context.Background()
	switch cmd {
	case "list":
		for _, s := range conf.Sections {
			if len(ups) == 0 || s.Name == ups[0] {
				fmt.Fprintln(stdout, s.Name)
			}
		}
		return 0
	case "status":
		return status(ctx, o, ups, stdout)
	case "start":
		c, err := dialOrStart(o)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return 1
		}
		defer c.Close()
		errs := c.Start(ctx, ups...)
		for _, e := range errs {
			fmt.Fprintf(stderr, "Driver failed to start: %v\n", e)
		}
		if len(errs) > 0 {
			return 1
		}
		return 0
	case "stop":
		c, err := control.Dial(o.statePath)
		if err != nil {
			// Nothing running: nothing to stop, as NUT's upsdrvctl.
			return 0
		}
		defer c.Close()
		if len(ups) == 0 {
			return exitHost(ctx, c, o.statePath, stderr)
		}
		for _, e := range c.Stop(ctx, ups...) {
			fmt.Fprintf(stderr, "%v\n", e)
			return 1
		}
		return 0
	case "shutdown":
		return shutdown(ctx, o, ups, stderr)
	case "signal":
		return signal(ctx, o, ups, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "Error: unrecognized command [%s]\n", cmd)
		return 1
	}
}

// plan prints what a command would do (-t) and touches nothing: no
// process is started or signalled, no socket is opened.
func plan(h *host.Host, cmd string, ups []string, o *options, stdout, stderr io.Writer) int {
	fmt.Fprintln(stdout, "*** Testing mode: not calling exec/kill")
	conf := o.conf
	secs := conf.Sections
	if cmd == "shutdown" {
		var err error
		if secs, err = host.ShutdownOrder(conf, ups); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	hostExe := hostBinary()
	for _, s := range secs {
		if len(ups) > 0 && s.Name != ups[0] {
			continue
		}
		path, err := host.FindDriver(s.Driver, h.Config().DriverPath)
		switch cmd {
		case "start":
			fmt.Fprintf(stdout, "Starting UPS: %s\n", s.Name)
			if err != nil {
				fmt.Fprintf(stderr, "Can't start %s: %v\n", s.Driver, err)
				continue
			}
			kind, err := h.Inspect(path)
			switch {
			case err != nil:
				fmt.Fprintf(stderr, "Can't start %s: %v\n", s.Driver, err)
			case kind == host.KindNUT:
				fmt.Fprintf(stdout, "\texec: %s -a %s -F, supervised by %s\n", path, s.Name, hostExe)
			default:
				fmt.Fprintf(stdout, "\tgonut plugin: %s, supervised by %s, served on %s\n", path, hostExe, host.SocketPath(o.statePath, s.Driver, s.Name))
			}
		case "stop":
			fmt.Fprintf(stdout, "Stopping UPS: %s\n", s.Name)
		case "shutdown":
			fmt.Fprintf(stdout, "Shutdown UPS: %s (sdorder %d)\n", s.Name, s.SDOrder)
			if err != nil {
				fmt.Fprintf(stderr, "Can't shut down %s: %v\n", s.Driver, err)
				continue
			}
			fmt.Fprintf(stdout, "\tdriver: %s: its shutdown sequence through nut-driver-host\n", path)
		case "status", "list":
			fmt.Fprintf(stdout, "Query UPS: %s\n", s.Name)
		case "signal":
			fmt.Fprintf(stdout, "Signal UPS: %s: %s\n", s.Name, o.signal)
		default:
			fmt.Fprintf(stderr, "Error: unrecognized command [%s]\n", cmd)
			return 1
		}
	}
	if cmd == "shutdown" {
		for _, s := range conf.Sections {
			if s.SDOrder < 0 && (len(ups) == 0 || s.Name == ups[0]) {
				fmt.Fprintf(stdout, "Skipping UPS: %s (sdorder -1: never shut down by upsdrvctl)\n", s.Name)
			}
		}
	}
	return 0
}

// status prints NUT's table (NUT 2.8.3's upsdrvctl status): one row per
// ups.conf section, tab separated. PF_PID is the driver process's pid
// (the host keeps no pid file per driver); S_* are answered by the host
// for gonut plugins and by the driver itself for NUT drivers.
func status(ctx context.Context, o *options, ups []string, stdout io.Writer) int {
	byUPS := map[string]control.Instance{}
	if c, err := control.Dial(o.statePath); err == nil {
		st, _, err := c.Status(ctx)
		c.Close()
		if err == nil {
			for _, in := range st {
				byUPS[in.UPS] = in
			}
		}
	}
	fmt.Fprintf(stdout, "%-11s\t%11s\t%s\t%s\t%s\t%s\t%s\n", "UPSNAME", "UPSDRV", "RUNNING", "PF_PID", "S_RESPONSIVE", "S_PID", "S_STATUS")
	for _, s := range o.conf.Sections {
		if len(ups) > 0 && s.Name != ups[0] {
			continue
		}
		in, ok := byUPS[s.Name]
		running, pfPID, resp, sPID, sStatus := "N/A", -1, "NOT_RESPONSIVE", "N/A", ""
		if ok {
			running = "STOPPED"
			if in.PID > 0 {
				running, pfPID, sPID = "RUNNING", in.PID, fmt.Sprint(in.PID)
			}
			if in.State == string(host.StateRunning) || in.State == string(host.StateStale) {
				resp, sStatus = "RESPONSIVE", in.UPSStatus
			}
		}
		fmt.Fprintf(stdout, "%-11s\t%11s\t%s\t%d\t%s\t%s\t%s\n", s.Name, s.Driver, running, pfPID, resp, sPID, sStatus)
	}
	return 0
}

// shutdown runs the drivers' shutdown sequences in sdorder through the
// host, starting the host (and the drivers) first if it is not running.
func shutdown(ctx context.Context, o *options, ups []string, stderr io.Writer) int {
	secs, err := host.ShutdownOrder(o.conf, ups)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if len(secs) == 0 {
		return 0
	}
	c, err := dialOrStart(o)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	defer c.Close()
	var names []string
	for _, s := range secs {
		names = append(names, s.Name)
	}
	// A driver must run to be asked; starting one that runs is a no-op.
	for _, e := range c.Start(ctx, names...) {
		fmt.Fprintf(stderr, "Driver failed to start: %v\n", e)
	}
	steps, errs := c.Shutdown(ctx, ups...)
	code := 0
	for _, e := range errs {
		fmt.Fprintf(stderr, "%v\n", e)
		code = 1
	}
	for _, st := range steps {
		if st.Err != nil {
			fmt.Fprintf(stderr, "Shutdown failed for UPS %s: %v\n", st.UPS, st.Err)
			code = 1
		}
	}
	return code
}

// signal handles -c: data-dump prints the instances' state; the reload
// family resyncs the host with ups.conf; exit stops the instance (the
// host with all of them when no UPS is named).
func signal(ctx context.Context, o *options, ups []string, stdout, stderr io.Writer) int {
	c, err := control.Dial(o.statePath)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	defer c.Close()
	switch o.signal {
	case "data-dump", "dump":
		_, stats, err := c.StatusStats(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return 1
		}
		order, dumps, errs := c.Dump(ctx, ups...)
		for _, e := range errs {
			fmt.Fprintf(stderr, "%v\n", e)
		}
		fmt.Fprintf(stdout, "# nut-driver-host pid %d: goroutines %d, open fds %d, rss %d bytes\n",
			stats.PID, stats.Goroutines, stats.FDs, stats.RSSBytes)
		for _, n := range order {
			fmt.Fprintf(stdout, "# UPS %s\n", n)
			for _, l := range dumps[n] {
				fmt.Fprintln(stdout, strings.TrimRight(l, "\n"))
			}
		}
		if len(errs) > 0 {
			return 1
		}
		return 0
	case "exit":
		if len(ups) == 0 {
			return exitHost(ctx, c, o.statePath, stderr)
		}
		for _, e := range c.Stop(ctx, ups...) {
			fmt.Fprintf(stderr, "%v\n", e)
			return 1
		}
		return 0
	default: // the reload family
		r, errs := c.Resync(ctx)
		if o.debug > 0 {
			fmt.Fprintf(stderr, "resync: added %v, removed %v, restarted %v, reloaded %v\n", r.Added, r.Removed, r.Restarted, r.Reloaded)
		}
		for _, e := range errs {
			fmt.Fprintf(stderr, "%v\n", e)
		}
		if len(errs) > 0 {
			return 1
		}
		return 0
	}
}

func hostDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Dir(exe)
}

// hostBinary finds nut-driver-host: next to upsdrvctl, else in PATH.
func hostBinary() string {
	bin := filepath.Join(hostDir(), "nut-driver-host")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if p, err := exec.LookPath("nut-driver-host"); err == nil {
		return p
	}
	return bin
}

// dialOrStart connects to the running host, starting one in the
// background (with no instance) when none runs.
func dialOrStart(o *options) (*control.Client, error) {
	if c, err := control.Dial(o.statePath); err == nil {
		return c, nil
	}
	if err := startHost(o.runAs, o.debug); err != nil {
		return nil, err
	}
	return control.Dial(o.statePath)
}

// startHost runs nut-driver-host in the background with no instance; the
// caller then starts the ones it wants through the control socket.
func startHost(runAs string, debug int) error {
	bin := hostBinary()
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("cannot find nut-driver-host next to upsdrvctl (%s) or in PATH", bin)
	}
	args := []string{"-B", "-idle"}
	if runAs != "" {
		args = append(args, "-u", runAs)
	}
	for i := 0; i < debug; i++ {
		args = append(args, "-D")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = io.Discard
	out := &strings.Builder{}
	cmd.Stderr = out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("starting %s: %v: %s", bin, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// exitHost stops every driver and the host, and waits for it to be gone.
func exitHost(ctx context.Context, c *control.Client, statePath string, stderr io.Writer) int {
	_, pid, err := c.Status(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	if err := c.Exit(ctx); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return 0
		}
		if _, err := os.Stat(control.SocketPath(statePath)); err != nil && os.Getppid() != pid {
			// The socket is gone; the process may linger as our zombie
			// only if we were its parent, which we are not.
			if syscall.Kill(pid, 0) != nil {
				return 0
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintf(stderr, "nut-driver-host (pid %d) did not exit within 30 s\n", pid)
	return 1
}
