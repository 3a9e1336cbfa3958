package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/syslog"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/gonut/gonut/sdk/daemon"
	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/gonut/gonut/sdk/plugin"
	"github.com/gonut/gonut/sdk/sockproto"
)

// Standalone mode: a driver binary started without the plugin handshake
// (by hand, by NUT's own upsdrvctl, by a NUT init script) behaves as a
// classic NUT 2.8.0 driver: same flags, same files, same exit codes.

// daemonEnv marks the background copy of a standalone driver (Go cannot
// fork, so going to the background means starting ourselves again).
const daemonEnv = "GONUT_DRIVER_DAEMON"

// Defaults of Debian's NUT 2.8.0 build.
const (
	defaultConfPath  = "/etc/nut"
	defaultStatePath = "/run/nut"
	defaultUser      = "nut"
	defaultGroup     = "nut"
)

// cmdline is a standalone driver's command line (NUT's main.c getopt).
type cmdline struct {
	ups        string
	direct     bool     // -s: no ups.conf, everything from -x
	extra      []Option // -x, in order; they override ups.conf
	debug      int      // -D count
	foreground bool     // -F
	background bool     // -B
	kill       bool     // -k
	list       bool     // -L
	help       bool     // -h
	version    bool     // -V
	dump       int      // -d count
	interval   string   // -i
	chroot     string   // -r
	user       string   // -u
	group      string   // -g
	command    string   // -c
}

// usageError is a command line NUT's getopt would refuse: text is what
// getopt prints, then the driver's own line.
type usageError struct{ text string }

func (e *usageError) Error() string {
	return e.text + "\nError: unknown option -?. Try -h for help."
}

// parseCmdline reads args as POSIX getopt does with NUT's option string:
// flags may be grouped (-DDF), an option's argument may be attached (-aups)
// or the next word, and parsing stops at "--" or the first non-option.
func parseCmdline(prog string, args []string) (cmdline, error) {
	const withArg = "asdxrugic"
	const bare = "kDFBhLqV"
	var c cmdline
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			args = args[i+1:]
			break
		}
		if len(a) < 2 || a[0] != '-' {
			return c, fmt.Errorf("Error: unexpected argument '%s'. Try -h for help.", a)
		}
		for j := 1; j < len(a); j++ {
			o := a[j]
			switch {
			case strings.IndexByte(bare, o) >= 0:
				switch o {
				case 'k':
					c.kill = true
				case 'D':
					c.debug++
				case 'F':
					c.foreground = true
				case 'B':
					c.background = true
				case 'h':
					c.help = true
				case 'L':
					c.list = true
				case 'V':
					c.version = true
				case 'q': // raises the syslog threshold; logs are filtered by level anyway
				}
				continue
			case strings.IndexByte(withArg, o) >= 0:
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return c, &usageError{fmt.Sprintf("%s: option requires an argument -- '%c'", prog, o)}
					}
					i++
					val = args[i]
				}
				if err := c.set(o, val); err != nil {
					return c, err
				}
			default:
				return c, &usageError{fmt.Sprintf("%s: invalid option -- '%c'", prog, o)}
			}
			break // the rest of the word was the argument
		}
	}
	return c, nil
}

func (c *cmdline) set(o byte, val string) error {
	switch o {
	case 'a':
		c.ups = val
	case 's':
		c.ups, c.direct = val, true
	case 'd':
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 {
			return fmt.Errorf("Error: -d needs a count of update loops of at least 1, not '%s'", val)
		}
		c.dump = n
	case 'x':
		k, v, ok := strings.Cut(val, "=")
		c.extra = append(c.extra, Option{Key: k, Value: v, HasValue: ok})
	case 'r':
		c.chroot = val
	case 'u':
		c.user = val
	case 'g':
		c.group = val
	case 'i':
		c.interval = val
	case 'c':
		c.command = val
	}
	return nil
}

func printHelp(w io.Writer, info Info) {
	fmt.Fprintf(w, `
usage: %s (-a <id>|-s <id>) [OPTIONS]
  -a <id>        - autoconfig using ups.conf section <id>
                 - note: -x after -a overrides ups.conf settings

  -s <id>        - configure directly from cmd line arguments
                 - note: must specify all driver parameters with successive -x
                 - note: at least 'port' variable should be set

  -V             - print version, then exit
  -L             - print parseable list of driver variables
  -D             - raise debugging level (and stay foreground by default)
  -d <count>     - dump data to stdout after 'count' updates loop and exit
  -F             - stay foregrounded even if no debugging is enabled
  -B             - stay backgrounded even if debugging is bumped
  -q             - raise log level threshold
  -h             - display this help
  -k             - force shutdown
  -i <int>       - poll interval
  -u <user>      - switch to <user> (if started as root)
  -g <group>     - set pipe access to <group> (if started as root)
  -x <var>=<val> - set driver variable <var> to <val>
                 - example: -x cable=940-0095B
  -c <command>   - send <command> via signal to the background instance
                   (found through its pid file), then exit:
                   - reload: re-read ups.conf and apply it
                   - exit: tell the running instance to exit
`, info.Name)
	if len(info.Options) == 0 {
		return
	}
	fmt.Fprintf(w, "\nAcceptable values for -x or ups.conf in this driver:\n\n")
	for _, o := range info.Options {
		if o.Flag {
			fmt.Fprintf(w, "%s : -x %s\n", o.Help, o.Name)
		} else {
			fmt.Fprintf(w, "%s : -x %s=<value>\n", o.Help, o.Name)
		}
	}
}

// printList is -L: one parseable line per driver option, as NUT's.
func printList(w io.Writer, info Info) {
	for _, o := range info.Options {
		kind := "VALUE"
		if o.Flag {
			kind = "FLAG"
		}
		fmt.Fprintf(w, "%s %s \"%s\"\n", kind, o.Name, o.Help)
	}
}

// paths are where a standalone driver finds its files, as NUT's
// confpath(), dflt_statepath() and altpidpath() find them.
type paths struct {
	conf, state, pid string
}

func getPaths() paths {
	p := paths{conf: os.Getenv("NUT_CONFPATH"), state: os.Getenv("NUT_STATEPATH"), pid: os.Getenv("NUT_ALTPIDPATH")}
	if p.conf == "" {
		p.conf = defaultConfPath
	}
	if p.pid == "" {
		p.pid = p.state
	}
	if p.state == "" {
		p.state = defaultStatePath
	}
	if p.pid == "" {
		p.pid = defaultStatePath
	}
	return p
}

func pidFileOf(p paths, driver, ups string) string {
	return filepath.Join(p.pid, driver+"-"+ups+".pid")
}

// setup is what the command line and ups.conf say about the instance.
type setup struct {
	req           plugin.RunRequest
	user, group   string
	explicitGroup bool // -g or ups.conf group, rather than the default
}

// loadSetup reads ups.conf (unless -s) and merges the command line into
// the instance's request. Its errors are the lines NUT prints.
func loadSetup(info Info, cl cmdline, p paths) (setup, error) {
	s := setup{req: plugin.RunRequest{UPS: cl.ups, Driver: info.Name, ConfPath: p.conf, StatePath: p.state, Debug: cl.debug}}
	var sec *nutconf.UPSSection
	var conf *nutconf.UPSConf
	if !cl.direct {
		file := filepath.Join(p.conf, "ups.conf")
		var err error
		conf, err = nutconf.LoadUPSConf(file)
		if errors.Is(err, fs.ErrNotExist) {
			return s, fmt.Errorf("Can't open %s: %w", file, err)
		}
		if err != nil {
			return s, fmt.Errorf("Error: %w", err)
		}
		if sec = conf.Section(cl.ups); sec == nil {
			return s, fmt.Errorf("Error: Section %s not found in ups.conf", cl.ups)
		}
		if sec.Driver != "" && sec.Driver != info.Name {
			return s, fmt.Errorf("Error: UPS [%s] is for driver %s, but I'm %s!\n", cl.ups, sec.Driver, info.Name)
		}
		for _, o := range sec.Options {
			s.req.Options = append(s.req.Options, Option{Key: o.Key, Value: o.Value, HasValue: o.HasValue})
		}
		for _, o := range conf.Global {
			s.req.Global = append(s.req.Global, Option{Key: o.Key, Value: o.Value, HasValue: o.HasValue})
		}
		if os.Getenv("NUT_STATEPATH") == "" && conf.StatePath != "" {
			s.req.StatePath = conf.StatePath
		}
		s.user, s.group = conf.User, conf.Group
		s.req.Debug = max(s.req.Debug, conf.DebugMin)
		if v, ok := sec.Get("debug_min"); ok {
			s.req.Debug = max(s.req.Debug, cAtoi(v))
		}
		if v, ok := sec.Get("user"); ok {
			s.user = v
		}
		if v, ok := sec.Get("group"); ok {
			s.group = v
		}
	}
	// -x after -a overrides ups.conf: Options.Get takes the last value.
	s.req.Options = append(s.req.Options, cl.extra...)
	if cl.interval != "" {
		s.req.Options = append(s.req.Options, Option{Key: "pollinterval", Value: cl.interval, HasValue: true})
	}
	if cl.user != "" {
		s.user = cl.user
	}
	if cl.group != "" {
		s.group = cl.group
	}
	if s.user == "" {
		s.user = defaultUser
	}
	s.explicitGroup = s.group != ""
	if s.group == "" {
		s.group = defaultGroup
	}
	if err := knownNames(info, s.req.Options); err != nil {
		return s, err
	}
	opts := Options{UPS: cl.ups, Driver: info.Name, Section: s.req.Options, Global: s.req.Global, ConfPath: p.conf}
	if err := opts.validate(info); err != nil {
		return s, fmt.Errorf("Error: %w", err)
	}
	if _, err := opts.PollInterval(); err != nil {
		return s, fmt.Errorf("Error: %w", err)
	}
	return s, nil
}

// stdoutError is a refusal NUT's drivers print on stdout rather than
// stderr.
type stdoutError struct{ text string }

func (e *stdoutError) Error() string { return e.text }

// knownNames refuses a key that is neither common to all drivers nor in
// the driver's option table, with NUT's words.
func knownNames(info Info, opts []Option) error {
	for _, o := range opts {
		if commonKeys[o.Key] || hasPrefixFold(o.Key, "default.") || hasPrefixFold(o.Key, "override.") ||
			slices.ContainsFunc(info.Options, func(oi OptionInfo) bool { return oi.Name == o.Key }) {
			continue
		}
		kind := "flag"
		if o.HasValue {
			kind = "variable name"
		}
		return &stdoutError{fmt.Sprintf("\nFatal error: '%s' is not a valid %s for this driver.\n\n"+
			"Look in the man page or call this driver with -h for a list of\nvalid variable names and flags.", o.Key, kind)}
	}
	return nil
}

// runStandalone runs a driver as a classic NUT driver and returns its exit
// status.
func runStandalone(info Info, drv Driver, cfg serveConfig, args []string) int {
	child := daemon.IsChild(daemonEnv)
	if !child {
		fmt.Printf("Network UPS Tools - %s %s (%s)\n", info.Description, info.Version, Version)
	}
	cl, err := parseCmdline(os.Args[0], args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	switch {
	case cl.help:
		printHelp(os.Stdout, info)
		return 0
	case cl.version:
		return 0
	case cl.list:
		printList(os.Stdout, info)
		return 0
	case cl.chroot != "":
		fmt.Fprintln(os.Stderr, "Error: -r (chroot) is not supported by gonut drivers; run the driver in a container or under systemd's RootDirectory= instead")
		return 1
	case cl.ups == "":
		fmt.Fprintln(os.Stderr, "Error: specifying '-a id' or '-s id' is now mandatory. Try -h for help.")
		return 1
	}
	p := getPaths()
	if cl.command != "" {
		return sendCommand(info, cl, p)
	}
	st, err := loadSetup(info, cl, p)
	var out *stdoutError
	switch {
	case errors.As(err, &out):
		// NUT exits 0 here, as if the driver had started; gonut does not.
		fmt.Println(out.text)
		return 1
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logOut := &switchWriter{w: os.Stderr}
	if cfg.logger == nil {
		level := hclog.Info
		if cl.kill || cl.dump > 0 {
			// One-shot modes print their own result; logs only for -D.
			level = hclog.Error
		}
		switch {
		case st.req.Debug == 1:
			level = hclog.Debug
		case st.req.Debug > 1:
			level = hclog.Trace
		}
		cfg.logger = hclog.New(&hclog.LoggerOptions{Name: info.Name, Output: logOut, Level: level})
	}
	// As NUT's become_user: before the device is opened, in every mode.
	// A device the driver's user cannot open needs its permissions fixed
	// (udev rules), not a driver running as root.
	if err := dropPrivileges(st.user); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		return 1
	}
	switch {
	case cl.kill:
		return forceShutdown(info, drv, cfg, st.req)
	case cl.dump > 0:
		return dumpData(info, drv, cfg, st.req, cl.dump)
	}
	pidFile := pidFileOf(p, info.Name, cl.ups)
	if !child {
		stopDuplicate(pidFile, info.Name)
	}
	foreground := cl.foreground || (st.req.Debug > 0 && !cl.background)
	if !foreground && !child {
		ready, err := daemon.Start(daemonEnv, os.Stderr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "Error: going to the background: %v\n", err)
			return 1
		}
		if ready {
			return 0
		}
		return 1
	}
	if foreground {
		pidFile = "" // NUT writes the pid file only when it goes to the background
	}
	return serveStandalone(info, drv, cfg, cl, st, pidFile, logOut)
}

// sendCommand is -c: signal the background instance named by its pid file.
func sendCommand(info Info, cl cmdline, p paths) int {
	var sig syscall.Signal
	switch cl.command {
	case "exit":
		sig = syscall.SIGTERM
	case "reload":
		sig = syscall.SIGHUP
	default:
		fmt.Fprintf(os.Stderr, "Error: unknown command '%s' for -c: use reload or exit\n", cl.command)
		return 1
	}
	pidFile := pidFileOf(p, info.Name, cl.ups)
	pid, err := readPID(pidFile)
	if err == nil && !isDriver(pid, info.Name) {
		err = fmt.Errorf("pid %d is not a running %s (a stale pid file?)", pid, info.Name)
	}
	if err == nil {
		err = syscall.Kill(pid, sig)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Failed to signal the currently running daemon for [%s] (pid file %s): %v\n", cl.ups, pidFile, err)
		return 1
	}
	return 0
}

func readPID(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s holds %q, not a process id", file, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

// stopDuplicate terminates an instance already running for the same UPS,
// as NUT's drivers do: the newest start wins.
func stopDuplicate(pidFile, name string) {
	pid, err := readPID(pidFile)
	if err != nil || pid == os.Getpid() {
		return
	}
	if syscall.Kill(pid, 0) != nil || !isDriver(pid, name) {
		_ = os.Remove(pidFile) // left by a driver that died; the pid may be reused
		return
	}
	fmt.Fprintf(os.Stderr, "Duplicate driver instance detected (PID file %s exists)! Terminating other driver!\n", pidFile)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
}

// isDriver reports whether process pid runs this driver (gonut's build or
// NUT's C one, which share the pid file's name): its command name, as the
// kernel keeps it (15 bytes at most), is the driver's or this
// executable's. A pid file can outlive its driver and the pid be reused,
// so a pid read from one is checked before it is signalled.
func isDriver(pid int, name string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return false
	}
	comm := strings.TrimSuffix(string(b), "\n")
	for _, n := range []string{name, filepath.Base(os.Args[0])} {
		if len(n) > 15 {
			n = n[:15]
		}
		if comm == n {
			return true
		}
	}
	return false
}

// runUntilSnapshot starts rt.Run in the background and waits for its first
// snapshot. onUpdate sees every update; runErr delivers Run's result.
func runUntilSnapshot(ctx context.Context, rt *runtime, req plugin.RunRequest, onUpdate func(plugin.Update) error) (runErr <-chan error, err error) {
	ready := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		errc <- rt.Run(ctx, req, func(u plugin.Update) error {
			if err := onUpdate(u); err != nil {
				return err
			}
			if u.Snapshot {
				once.Do(func() { close(ready) })
			}
			return nil
		})
	}()
	select {
	case <-ready:
		return errc, nil
	case err := <-errc:
		if err == nil {
			err = errors.New("driver stopped before publishing its state")
		}
		return nil, err
	}
}

// closeDriver stops a runtime started by runUntilSnapshot without exiting.
func closeDriver(rt *runtime, cancel context.CancelFunc, runErr <-chan error) {
	cancel()
	<-runErr
	ctx, c := context.WithTimeout(context.Background(), rt.cfg.closeTimeout)
	defer c()
	rt.callMu.Lock()
	defer rt.callMu.Unlock()
	if err := rt.drv.Close(ctx); err != nil {
		rt.log.Error("close failed", "error", err)
	}
}

// forceShutdown is -k: open the device, run the driver's shutdown
// sequence, exit (0 when the UPS accepted it, 1 otherwise, as NUT).
func forceShutdown(info Info, drv Driver, cfg serveConfig, req plugin.RunRequest) int {
	fmt.Fprintln(os.Stderr, "Initiating UPS shutdown")
	if _, ok := drv.(Shutdowner); !ok {
		fmt.Fprintln(os.Stderr, "shutdown not supported")
		return 1
	}
	rt := newRuntime(info, drv, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr, err := runUntilSnapshot(ctx, rt, req, func(plugin.Update) error { return nil })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	res, err := rt.Shutdown(ctx)
	closeDriver(rt, cancel, runErr)
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "shutdown failed: %v\n", err)
		return 1
	case res.Status != plugin.StatHandled:
		fmt.Fprintf(os.Stderr, "shutdown failed: %s\n", res.Message)
		return 1
	}
	return 0
}

// dumpData is -d: run count update loops, print the data tree as upsc
// does, exit.
func dumpData(info Info, drv Driver, cfg serveConfig, req plugin.RunRequest, count int) int {
	rt := newRuntime(info, drv, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := sockproto.NewState()
	loops := make(chan struct{}, 1)
	var mu sync.Mutex
	n := 0
	runErr, err := runUntilSnapshot(ctx, rt, req, func(u plugin.Update) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range u.Msgs {
			if err := st.Apply(m); err != nil {
				rt.log.Warn("driver sent an invalid update", "error", err)
			}
		}
		// The snapshot ends the first loop, each heartbeat a later one.
		if u.Snapshot || len(u.Msgs) == 0 {
			if n++; n >= count {
				select {
				case loops <- struct{}{}:
				default:
				}
			}
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	select {
	case <-loops:
	case err := <-runErr:
		fmt.Fprintf(os.Stderr, "driver stopped: %v\n", err)
		return 1
	}
	mu.Lock()
	for _, v := range st.Vars() {
		fmt.Printf("%s: %s\n", v.Name, v.Value)
	}
	mu.Unlock()
	closeDriver(rt, cancel, runErr)
	return 0
}

// standalone serves one driver instance on its own state socket.
type standalone struct {
	rt *runtime
	cl cmdline
	st setup

	mu  sync.Mutex // guards srv: set by the Run goroutine, read at exit
	srv *sockproto.Server
}

func (s *standalone) server() *sockproto.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// InstCmd and SetVar come from upsd through the socket (sockproto.Handler).
// They run in the background so that upsd's other requests (PING) are
// answered meanwhile; the result goes back as TRACKING when asked for.
func (s *standalone) InstCmd(cmd, param, trackingID string) {
	go s.finish(trackingID, "instcmd "+cmd, func() (plugin.Result, error) {
		return s.rt.InstCmd(context.Background(), cmd, param)
	})
}

func (s *standalone) SetVar(name, value, trackingID string) {
	go s.finish(trackingID, "set "+name, func() (plugin.Result, error) {
		return s.rt.SetVar(context.Background(), name, value)
	})
}

func (s *standalone) finish(trackingID, what string, call func() (plugin.Result, error)) {
	r, err := call()
	status := r.Status
	if err != nil {
		s.rt.log.Warn("request failed", "request", what, "error", err)
		status = plugin.StatFailed
	}
	if trackingID != "" {
		s.server().Tracking(trackingID, status)
	}
}

func serveStandalone(info Info, drv Driver, cfg serveConfig, cl cmdline, st setup, pidFile string, logOut *switchWriter) int {
	rt := newRuntime(info, drv, cfg)
	s := &standalone{rt: rt, cl: cl, st: st}
	sock := filepath.Join(st.req.StatePath, info.Name+"-"+st.req.UPS)
	onUpdate := func(u plugin.Update) error {
		srv := s.server()
		if u.Snapshot {
			if srv == nil {
				var err error
				if srv, err = sockproto.Listen(sock, s, rt.log); err != nil {
					return err
				}
				s.mu.Lock()
				s.srv = srv
				s.mu.Unlock()
				if err := chgrp(sock, st.group); err != nil && st.explicitGroup {
					return err
				}
			}
			return srv.Replace(u.Msgs...)
		}
		if len(u.Msgs) > 0 {
			if err := srv.Update(u.Msgs...); err != nil {
				rt.log.Error("driver sent an invalid update", "error", err)
			}
		}
		return nil
	}
	rt.onExit = func() {
		if srv := s.server(); srv != nil {
			_ = srv.Close()
		}
		if pidFile != "" {
			_ = os.Remove(pidFile)
		}
	}
	// Signals are handled from the start so that a stop during Init
	// still closes the driver.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGHUP {
				s.reload()
				continue
			}
			rt.log.Info(fmt.Sprintf("Signal %d: exiting", sig))
			rt.shutdown(0)
		}
	}()
	runErr, err := runUntilSnapshot(context.Background(), rt, st.req, onUpdate)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		rt.shutdown(1) // closes the driver, removes the socket, exits
	}
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "Error: writing pid file: %v\n", err)
			go rt.shutdown(1)
			select {}
		}
	}
	if daemon.IsChild(daemonEnv) {
		daemon.Ready(daemonEnv)
		// stderr is /dev/null from here on: log to syslog as NUT does.
		if w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, info.Name); err == nil {
			logOut.set(w)
		}
	}
	rt.log.Info("driver started", "ups", st.req.UPS, "socket", sock, "pid", os.Getpid())
	err = <-runErr
	rt.mu.Lock()
	closing := rt.closed
	rt.mu.Unlock()
	if closing {
		select {} // shutdown exits the process
	}
	if err == nil {
		err = errors.New("driver loop ended")
	}
	rt.log.Error("driver stopped", "error", err)
	rt.shutdown(1)
	return 1
}

// reload is SIGHUP (-c reload): read ups.conf and the command line again
// and hand the result to a driver that implements Reloader.
func (s *standalone) reload() {
	h, ok := s.rt.drv.(Reloader)
	if !ok {
		s.rt.log.Warn("reload not supported by this driver: restart it to apply a new configuration")
		return
	}
	dev := s.rt.device()
	if dev == nil {
		s.rt.log.Warn("reload ignored: the driver is still starting")
		return
	}
	st, err := loadSetup(s.rt.info, s.cl, getPaths())
	if err != nil {
		s.rt.log.Warn("reload: keeping the old configuration", "error", err)
		return
	}
	res := s.rt.reload(context.Background(), h, dev, st.req.Options, st.req.Global, st.req.ConfPath)
	if res.Status != plugin.StatHandled {
		s.rt.log.Warn("reload refused", "message", res.Message)
	}
}

// dropPrivileges switches to user when running as root (NUT's
// become_user). "root" or a user with uid 0 keeps root.
func dropPrivileges(name string) error {
	if os.Geteuid() != 0 || name == "" {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("getpwnam(%s): %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("user %s: uid %q gid %q are not numbers", name, u.Uid, u.Gid)
	}
	if uid == 0 {
		return nil
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("setgroups for user %s: %w", name, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid(%d) for user %s: %w", gid, name, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid(%d) for user %s: %w", uid, name, err)
	}
	return nil
}

// chgrp gives the socket to group (-g, ups.conf group), so that a upsd
// running as another user of that group reaches it.
func chgrp(path, group string) error {
	if group == "" || os.Geteuid() != 0 {
		return nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return fmt.Errorf("group %s for %s: %w", group, path, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return fmt.Errorf("group %s: gid %q is not a number", group, g.Gid)
	}
	if err := os.Chown(path, -1, gid); err != nil {
		return fmt.Errorf("chgrp %s %s: %w", group, path, err)
	}
	return nil
}

// switchWriter lets the log move from stderr to syslog once the driver is
// in the background.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}
