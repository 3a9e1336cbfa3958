// Command upsmon is gonut's UPS monitor and shutdown controller, a drop-in
// for NUT 2.8's upsmon: the same flags, upsmon.conf (in NUT_CONFPATH), pid
// file, signals and notifications. The work is done by package upsmon;
// this file is flags, the pid file, signals, going to the background and
// the split into a privileged parent and an unprivileged child.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/gonut/gonut/sdk/daemon"
	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/gonut/gonut/sdk/version"
	"github.com/gonut/gonut/upsmon"
)

const progname = "upsmon"

// Environment of re-executed children: Go cannot fork, so upsmon starts
// itself again, for the background (envReadyFD, see sdk/daemon) and
// for the unprivileged monitoring child (envChild: its pipe to the parent
// is fd 3, upsmon.conf as the parent read it comes on fd 4, fd 5 is the
// executable itself).
const (
	envReadyFD = "GONUT_UPSMON_READY_FD"
	envChild   = "GONUT_UPSMON_CHILD"
)

// DryRunFlag is gonut's own flag: NUT's upsmon takes single-letter flags
// only, so a long flag cannot collide with one NUT adds later.
const DryRunFlag = "--dry-run"

// defaultUser is the unprivileged user when neither -u nor RUN_AS_USER
// names one (Debian builds NUT with "nut").
const defaultUser = "nut"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	command    string // -c fsd|stop|reload
	pid        int    // -P
	debug      int    // -D count
	foreground int    // -1 unset, 1 -F, 0 -B
	checkFlag  bool   // -K
	privileged bool   // -p
	user       string // -u
	help       bool
	version    bool
	dryRun     bool
}

// parseArgs reads NUT's getopt string "+DFBhic:P:f:pu:VK46W:": clustered
// flags (-DDF), arguments attached or separate (-uroot, -u root).
func parseArgs(args []string) (options, error) {
	o := options{foreground: -1}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == DryRunFlag {
			o.dryRun = true
			continue
		}
		if a == "--" {
			if i+1 < len(args) {
				return o, fmt.Errorf("unexpected argument %q", args[i+1])
			}
			break
		}
		if len(a) < 2 || a[0] != '-' {
			return o, fmt.Errorf("unexpected argument %q", a)
		}
		for j := 1; j < len(a); j++ {
			f := a[j]
			var val string
			if strings.IndexByte("cPfuW", f) >= 0 {
				if j+1 < len(a) {
					val = a[j+1:]
				} else if i+1 < len(args) {
					i++
					val = args[i]
				} else {
					return o, fmt.Errorf("option requires an argument -- '%c'", f)
				}
				j = len(a)
			}
			switch f {
			case 'c':
				switch val {
				case "fsd", "stop", "reload":
					o.command = val
				default:
					return o, fmt.Errorf("invalid command %q (want fsd, stop or reload)", val)
				}
			case 'P':
				n, err := strconv.Atoi(val)
				if err != nil || n < 1 {
					return o, fmt.Errorf("-P %q is not a process id", val)
				}
				o.pid = n
			case 'D':
				o.debug++
			case 'F':
				o.foreground = 1
			case 'B':
				o.foreground = 0
			case 'K':
				o.checkFlag = true
			case 'p':
				o.privileged = true
			case 'u':
				o.user = val
			case 'h':
				o.help = true
			case 'V':
				o.version = true
			case 'i', 'f', '4', '6', 'W':
				// Accepted as NUT's getopt does; nothing to do here.
			default:
				return o, fmt.Errorf("invalid option -- '%c'", f)
			}
		}
	}
	if o.foreground < 0 {
		o.foreground = 0
		if o.debug > 0 {
			o.foreground = 1
		}
	}
	return o, nil
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `Monitors UPS servers and may initiate shutdown if necessary.

usage: %s [OPTIONS]

  -c <cmd>	send command to running process
		commands:
		 - fsd: shutdown all primary-mode UPSes (use with caution)
		 - reload: reread configuration
		 - stop: stop monitoring and exit
  -P <pid>	send the signal above to specified PID (bypassing PID file)
  -D		raise debugging level (and stay foreground by default)
  -F		stay foregrounded even if no debugging is enabled
  -B		stay backgrounded even if debugging is bumped
  -K		checks POWERDOWNFLAG (if set), sets exit code to 0 if set
  -p		always run privileged (disable privileged parent)
  -u <user>	run child as user <user> (ignored when using -p)
  -h		display this help
  -V		display the version of this software
  %s	gonut: log every decision and notification, but set no FSD,
		write no POWERDOWNFLAG and run no SHUTDOWNCMD (a rehearsal)
`, progname, DryRunFlag)
}

func confFile() string { return filepath.Join(nutconf.ConfPath(), "upsmon.conf") }

// pidFile is NUT_ALTPIDPATH/upsmon.pid, else in the state path.
func pidFile() string {
	if p := os.Getenv("NUT_ALTPIDPATH"); p != "" {
		return filepath.Join(p, progname+".pid")
	}
	return filepath.Join(nutconf.StatePath(), progname+".pid")
}

func run(args []string, stdout, stderr io.Writer) int {
	child := os.Getenv(envChild) != ""
	background := os.Getenv(envReadyFD) != ""
	if !child && !background {
		fmt.Fprintf(stdout, "Network UPS Tools %s %s\n", progname, version.Version)
	}
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", progname, err)
		usage(stdout)
		return 1
	}
	switch {
	case o.version:
		return 0
	case o.help:
		usage(stdout)
		return 0
	case o.command != "":
		return sendCommand(o, stderr)
	case child:
		return runChild(o, stdout, stderr)
	}

	raw, err := os.ReadFile(confFile())
	if err != nil {
		fmt.Fprintf(stderr, "%s: Fatal error: cannot read %s: %v\n", progname, confFile(), err)
		return 1
	}
	cfg, err := upsmon.ParseConfig(bytes.NewReader(raw), confFile())
	if err != nil {
		fmt.Fprintf(stderr, "%s: Fatal error: %v\n", progname, err)
		return 1
	}
	if o.checkFlag {
		if err := upsmon.CheckPowerDownFlag(cfg.PowerDownFlag); err != nil {
			fmt.Fprintf(stdout, "%v\n", err)
			return 1
		}
		return 0
	}
	if !background {
		if pid, alive := runningPid(pidFile()); alive {
			fmt.Fprintf(stderr, "Fatal error: A previous upsmon instance (pid %d) is already running!\n", pid)
			fmt.Fprintf(stderr, "Either stop the previous instance first, or use the 'reload' command.\n")
			return 1
		}
		if o.foreground == 0 {
			ok, err := daemon.Start(envReadyFD, stderr)
			if err != nil {
				fmt.Fprintf(stderr, "%s: cannot go to the background: %v\n", progname, err)
				return 1
			}
			if ok {
				return 0
			}
			return 1
		}
	}
	log := newLogger(o, cfg, background, stderr)
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	for _, m := range cfg.Monitors {
		role := "secondary"
		if m.Primary {
			role = "primary"
		}
		if m.PowerValue == 0 {
			log.Info(fmt.Sprintf("UPS: %s (monitoring only)", m.System))
		} else {
			log.Info(fmt.Sprintf("UPS: %s (%s) (power value %d)", m.System, role, m.PowerValue))
		}
	}
	if cfg.ShutdownCmd == "" {
		log.Warn("Warning: no shutdown command defined!")
	}
	if err := upsmon.ClearPowerDownFlag(cfg.PowerDownFlag); err != nil {
		log.Error(err.Error())
		if errors.Is(err, upsmon.ErrForeignPowerDownFlag) {
			cfg.PowerDownFlag = ""
			raw = append(raw, "\nPOWERDOWNFLAG \"\"\n"...) // the child too
		}
	}
	if o.dryRun {
		log.Notice("dry run: decisions and notifications are shown; no FSD is set, no POWERDOWNFLAG written, no SHUTDOWNCMD run")
	}
	if os.Geteuid() == 0 && !o.privileged {
		return runParent(o, cfg, raw, log, background)
	}
	if os.Geteuid() != 0 && !o.privileged {
		log.Debug(1, "Not started as root: monitoring and shutting down from one process")
	}
	if err := writePid(pidFile(), os.Getpid()); err != nil {
		log.Error(err.Error())
	}
	defer os.Remove(pidFile())
	if background {
		daemon.Ready(envReadyFD)
	}
	return monitor(o, cfg, log, &upsmon.Direct{Cmd: cfg.ShutdownCmd, PowerDownFlag: cfg.PowerDownFlag, Log: log}, 0, stdout)
}

// runParent splits upsmon as NUT does: this root process keeps only the
// power to run SHUTDOWNCMD and starts the monitoring as an unprivileged
// child, which asks for the shutdown over a pipe.
func runParent(o options, cfg *upsmon.Config, raw []byte, log upsmon.Logger, background bool) int {
	name := o.user
	if name == "" {
		name = cfg.RunAsUser
	}
	if name == "" {
		name = defaultUser
	}
	cred, err := credential(name)
	if err != nil {
		log.Crit(fmt.Sprintf("Fatal error: %v (set RUN_AS_USER in %s or use -u; -p keeps all of upsmon root)", err, cfg.File))
		return 1
	}
	exe, err := os.Executable()
	if err != nil {
		log.Crit("Fatal error: cannot find own executable: " + err.Error())
		return 1
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		log.Crit(err.Error())
		return 1
	}
	cr, cw, err := os.Pipe()
	if err != nil {
		log.Crit(err.Error())
		return 1
	}
	// Exec the program through a descriptor opened as root: the user may
	// not be allowed to reach the directory it is installed in.
	self, err := os.Open(exe)
	if err != nil {
		log.Crit("Fatal error: cannot open own executable: " + err.Error())
		return 1
	}
	cmd := exec.Command("/proc/self/fd/5", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), envChild+"=1")
	cmd.ExtraFiles = []*os.File{pw, cr, self}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if background {
		// Let go of the terminal first, so the child does not hold the
		// waiting launcher's stderr open.
		daemon.Ready(envReadyFD)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		log.Crit(fmt.Sprintf("Fatal error: cannot start the monitoring child as %s: %v", name, err))
		return 1
	}
	pw.Close()
	cr.Close()
	self.Close()
	// The child reads upsmon.conf as root read it: it may not be allowed
	// to open the file itself (only reloads need that, as in NUT).
	go func() {
		_, _ = cw.Write(raw)
		cw.Close()
	}()
	log.Debug(1, fmt.Sprintf("Monitoring child %d runs as %s", cmd.Process.Pid, name))
	if err := writePid(pidFile(), cmd.Process.Pid); err != nil {
		log.Error(err.Error())
	}
	defer os.Remove(pidFile())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	code := upsmon.RunParent(pr, cfg.ShutdownCmd, cfg.PowerDownFlag, log)
	err = cmd.Wait()
	var ee *exec.ExitError
	if code == 0 && errors.As(err, &ee) && ee.ExitCode() > 0 {
		code = ee.ExitCode()
	}
	return code
}

func credential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("user %s not found", name)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	c := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				c.Groups = append(c.Groups, uint32(n))
			}
		}
	}
	return c, nil
}

// runChild is the unprivileged monitoring child.
func runChild(o options, stdout, stderr io.Writer) int {
	pipe := os.NewFile(3, "parent-pipe")
	cf := os.NewFile(4, "upsmon.conf")
	syscall.CloseOnExec(3)
	_ = syscall.Close(5) // the executable, exec'd through /proc/self/fd/5
	raw, err := io.ReadAll(cf)
	cf.Close()
	os.Unsetenv(envChild)
	if err != nil {
		fmt.Fprintf(stderr, "%s: cannot read the configuration from the parent: %v\n", progname, err)
		return 1
	}
	cfg, err := upsmon.ParseConfig(bytes.NewReader(raw), confFile())
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", progname, err)
		return 1
	}
	log := newLogger(o, cfg, o.foreground == 0, stderr)
	return monitor(o, cfg, log, &upsmon.Pipe{W: pipe}, os.Getppid(), stdout)
}

// monitor runs the monitoring loop with upsmon's signals: TERM and INT
// stop, HUP reloads upsmon.conf, USR1 forces a shutdown.
func monitor(o options, cfg *upsmon.Config, log upsmon.Logger, sd upsmon.Shutdowner, ppid int, stdout io.Writer) int {
	n := &upsmon.Notifier{Cmd: cfg.NotifyCmd, Log: log}
	if o.dryRun {
		n.Observe = func(x upsmon.Notification) {
			fmt.Fprintf(stdout, "dry run: notify %s [%s] (%s): %s\n", x.Type, x.UPS, x.Flags, x.Message)
		}
	}
	m := upsmon.New(upsmon.Options{Config: cfg, Log: log, Shutdown: sd, DryRun: o.dryRun, Notifier: n, ParentPID: ppid})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	signal.Ignore(syscall.SIGUSR2, syscall.SIGPIPE)
	go func() {
		for s := range sigs {
			switch s {
			case syscall.SIGHUP:
				log.Notice("Signal received: reloading " + cfg.File)
				c, err := upsmon.LoadConfig(cfg.File)
				if err != nil {
					log.Error(fmt.Sprintf("Reload failed: %v; keeping the running configuration", err))
					continue
				}
				for _, w := range c.Warnings {
					log.Warn(w)
				}
				m.Reload(c)
			case syscall.SIGUSR1:
				m.RequestFSD()
			default:
				log.Notice(fmt.Sprintf("Signal %d: exiting", s.(syscall.Signal)))
				cancel()
			}
		}
	}()
	err := m.Run(ctx)
	if errors.Is(err, upsmon.ErrShutdown) {
		return 0
	}
	if err != nil {
		log.Crit(err.Error())
		return 1
	}
	return 0
}

func newLogger(o options, cfg *upsmon.Config, background bool, stderr io.Writer) upsmon.Logger {
	level := o.debug
	if cfg.DebugMinSet && cfg.DebugMin > level {
		level = cfg.DebugMin
	}
	if background {
		if sl, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_NOTICE, progname); err == nil {
			return &syslogLogger{w: sl, debugs: level}
		}
	}
	return &upsmon.WriterLogger{W: stderr, Debugs: level}
}

// syslogLogger sends each message at its own syslog level.
type syslogLogger struct {
	w      *syslog.Writer
	debugs int
}

func (l *syslogLogger) Debug(level int, msg string) {
	if level <= l.debugs {
		_ = l.w.Debug(msg)
	}
}
func (l *syslogLogger) Info(msg string)   { _ = l.w.Info(msg) }
func (l *syslogLogger) Notice(msg string) { _ = l.w.Notice(msg) }
func (l *syslogLogger) Warn(msg string)   { _ = l.w.Warning(msg) }
func (l *syslogLogger) Error(msg string)  { _ = l.w.Err(msg) }
func (l *syslogLogger) Crit(msg string)   { _ = l.w.Crit(msg) }

// sendCommand is -c fsd|stop|reload [-P pid].
func sendCommand(o options, stderr io.Writer) int {
	sig := map[string]syscall.Signal{"fsd": syscall.SIGUSR1, "stop": syscall.SIGTERM, "reload": syscall.SIGHUP}[o.command]
	pid := o.pid
	if pid == 0 {
		fn := pidFile()
		data, err := os.ReadFile(fn)
		if err != nil {
			fmt.Fprintf(stderr, "%s: cannot read pid file: %v\nFailed to signal the currently running daemon (if any); try adding '-P $PID'\n", progname, err)
			return 1
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid < 1 {
			fmt.Fprintf(stderr, "%s: pid file %s does not hold a process id: %q\n", progname, fn, strings.TrimSpace(string(data)))
			return 1
		}
	}
	if err := syscall.Kill(pid, sig); err != nil {
		fmt.Fprintf(stderr, "%s: cannot send %s to pid %d: %v\nFailed to signal the currently running daemon (if any)\n", progname, sig, pid, err)
		return 1
	}
	return 0
}

func writePid(fn string, pid int) error {
	if err := os.WriteFile(fn, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("cannot write pid file: %w", err)
	}
	return nil
}

func runningPid(fn string) (int, bool) {
	data, err := os.ReadFile(fn)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid < 1 || pid == os.Getpid() {
		return 0, false
	}
	err = syscall.Kill(pid, 0)
	return pid, err == nil || errors.Is(err, syscall.EPERM)
}
