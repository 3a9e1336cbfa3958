// Command upsd is gonut's NUT data server, a drop-in for NUT 2.8's upsd: the
// same flags, configuration files (upsd.conf, ups.conf, upsd.users in
// NUT_CONFPATH), pid file and signals. The work is done by package upsd.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gonut/gonut/internal/conf"
	"github.com/gonut/gonut/sdk/daemon"
	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/gonut/gonut/upsd"
	"github.com/hashicorp/go-hclog"
)

const progname = "upsd"

// Environment of a re-executed background child: the descriptor to report
// readiness on (NUT forks; Go re-executes itself instead).
const envReadyFD = "GONUT_UPSD_READY_FD"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// options are the parsed command-line flags.
type options struct {
	signal     string // -c: "stop" or "reload"
	pid        int    // -P
	debug      int    // -D count
	quiet      int    // -q count
	foreground int    // -F count, -1 unset, 0 after -B
	chroot     string // -r
	user       string // -u
	family     upsd.Family
	help       bool
	version    bool
}

// parseArgs parses upsd's flags the way NUT's getopt string
// "+h46p:qr:i:fu:Vc:P:DFB" does: clustered flags (-DDF), arguments attached
// or separate (-uroot, -u root), and no operands.
func parseArgs(args []string) (options, error) {
	o := options{foreground: -1, user: "nut"}
	for i := 0; i < len(args); i++ {
		a := args[i]
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
			if strings.IndexByte("pirucP", f) >= 0 {
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
			case 'h':
				o.help = true
			case '4':
				o.family = upsd.IPv4Only
			case '6':
				o.family = upsd.IPv6Only
			case 'p', 'i':
				return o, errors.New("Specifying a listening addresses with '-i <address>' and '-p <port>'\n" +
					"is deprecated. Use 'LISTEN <address> [<port>]' in 'upsd.conf' instead.\n" +
					"See 'man 8 upsd.conf' for more information.")
			case 'q':
				o.quiet++
			case 'r':
				o.chroot = val
			case 'u':
				o.user = val
			case 'V':
				o.version = true
			case 'c':
				// NUT accepts any prefix: -c r, -c st.
				switch {
				case val != "" && strings.HasPrefix("reload", val):
					o.signal = "reload"
				case val != "" && strings.HasPrefix("stop", val):
					o.signal = "stop"
				default:
					o.help = true
				}
			case 'P':
				n, err := strconv.Atoi(val)
				if err != nil || n < 1 {
					o.help = true
				}
				o.pid = n
			case 'D':
				o.debug++
			case 'F':
				if o.foreground > 0 {
					o.foreground = 2
				} else {
					o.foreground = 1
				}
			case 'B':
				o.foreground = 0
			case 'f':
				// accepted and ignored, as by NUT's getopt string
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
	fmt.Fprintf(w, `Network server for UPS data.

usage: %s [OPTIONS]

  -c <command>	send <command> via signal to background process
		commands:
		 - reload: reread configuration files
		 - stop: stop process and exit
  -P <pid>	send the signal above to specified PID (bypassing PID file)
  -D		raise debugging level (and stay foreground by default)
  -F		stay foregrounded even if no debugging is enabled
  -FF		stay foregrounded and still save the PID file
  -B		stay backgrounded even if debugging is bumped
  -h		display this help
  -r <dir>	chroots to <dir>
  -q		raise log level threshold
  -u <user>	switch to <user> (if started as root)
  -V		display the version of this software
  -4		IPv4 only
  -6		IPv6 only
`, progname)
}

// pidPath is where upsd's pid file lives: $NUT_ALTPIDPATH, else the state
// path, as NUT's altpidpath().
func pidPath() string {
	if p := os.Getenv("NUT_ALTPIDPATH"); p != "" {
		return filepath.Join(p, progname+".pid")
	}
	return filepath.Join(nutconf.StatePath(), progname+".pid")
}

func run(args []string, stdout, stderr io.Writer) int {
	background := os.Getenv(envReadyFD) != ""
	if !background {
		fmt.Fprintf(stdout, "Network UPS Tools %s %s\n", progname, upsd.Version)
	}
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", progname, err)
		usage(stdout)
		return 1
	}
	if o.version {
		return 0
	}
	if o.help {
		usage(stdout)
		return 0
	}
	if o.signal != "" {
		return sendSignal(o, stderr)
	}
	if !background {
		if pid, alive := runningPid(pidPath()); alive {
			fmt.Fprintf(stdout, "Fatal error: A previous upsd instance (pid %d) is already running!\n", pid)
			fmt.Fprintf(stdout, "Either stop the previous instance first, or use the 'reload' command.\n")
			return 1
		}
	}
	if o.foreground == 0 && !background {
		return daemonize(stderr)
	}
	return serve(o, stderr, background)
}

// sendSignal implements -c stop|reload [-P pid].
func sendSignal(o options, stderr io.Writer) int {
	sig := syscall.SIGTERM
	if o.signal == "reload" {
		sig = syscall.SIGHUP
	}
	pid := o.pid
	if pid == 0 {
		fn := pidPath()
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

// runningPid reads a pid file and reports whether its process is alive.
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

// daemonize starts this program again in the background, detached from the
// terminal, and waits until it is serving (exit 0) or has failed (exit 1,
// its errors shown on our stderr), as NUT's upsd returns only once it
// listens.
func daemonize(stderr io.Writer) int {
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

// logger builds the daemon's logger: stderr in the foreground, syslog in the
// background; -D raises and -q lowers the verbosity.
func logger(o options, background bool) hclog.Logger {
	level := hclog.Info
	switch {
	case o.debug >= 2:
		level = hclog.Trace
	case o.debug == 1:
		level = hclog.Debug
	case o.quiet > 0:
		level = hclog.Warn
	}
	var out io.Writer = os.Stderr
	if background {
		if sl, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, progname); err == nil {
			out = sl
		} else {
			out = io.Discard
		}
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:            progname,
		Level:           level,
		Output:          out,
		DisableTime:     background, // syslog stamps its lines
		IncludeLocation: o.debug >= 2,
	})
}

// readUpsdConf reads upsd.conf from NUT_CONFPATH into the settings that
// binding needs (LISTEN, -4/-6, ALLOW_NOT_ALL_LISTENERS) and the rest.
// NUT reads it as root, before binding; the other files are read later,
// as the -u user.
func readUpsdConf(o options, log hclog.Logger) (*conf.UpsdConf, upsd.Config, error) {
	cfg := upsd.Config{Family: o.family, Logger: log}
	uc, err := conf.LoadUpsdConf(filepath.Join(nutconf.ConfPath(), "upsd.conf"))
	if err != nil {
		return nil, cfg, err
	}
	for _, w := range uc.Warnings {
		log.Warn(w)
	}
	warnWorldReadable(uc.File, log)
	// The environment takes precedence over upsd.conf, as in NUT.
	cfg.AllowNotAllListeners = envBool("ALLOW_NOT_ALL_LISTENERS", uc.AllowNotAllListeners)
	for _, l := range uc.Listen {
		cfg.Listen = append(cfg.Listen, upsd.Listen{Addr: l.Addr, Port: l.Port})
	}
	cfg.StatePath = nutconf.StatePath()
	if uc.StatePath != "" {
		cfg.StatePath = uc.StatePath
	}
	return uc, cfg, nil
}

// loadConfig completes cfg from upsd.conf's other settings, ups.conf,
// upsd.users and the TLS files. Each file is required, as in NUT 2.8.
func loadConfig(uc *conf.UpsdConf, cfg upsd.Config, log hclog.Logger) (upsd.Config, error) {
	dir := nutconf.ConfPath()
	if lim := openFileLimit(); uc.MaxConn > lim {
		// NUT refuses to start here too: past the limit, accept fails.
		return cfg, fmt.Errorf("%s: MAXCONN %d is more than the %d files this process may open; raise the limit (ulimit -n, LimitNOFILE= in the service unit) or lower MAXCONN", uc.File, uc.MaxConn, lim)
	}
	cfg.MaxAge = time.Duration(uc.MaxAge) * time.Second
	cfg.MaxConn = uc.MaxConn
	cfg.TrackingDelay = time.Duration(uc.TrackingDelay) * time.Second

	ups, err := nutconf.LoadUPSConf(filepath.Join(dir, "ups.conf"))
	if err != nil {
		return cfg, err
	}
	for _, w := range ups.Warnings {
		log.Warn(w)
	}
	cfg.Devices = nil
	for _, s := range ups.Sections {
		cfg.Devices = append(cfg.Devices, upsd.Device{Name: s.Name, Driver: s.Driver, Desc: s.Desc})
	}
	if len(cfg.Devices) == 0 {
		if !envBool("ALLOW_NO_DEVICE", uc.AllowNoDevice) {
			return cfg, fmt.Errorf("%s: at least one UPS must be defined in ups.conf (or set ALLOW_NO_DEVICE in upsd.conf)", ups.File)
		}
		log.Warn("Normally at least one UPS must be defined in ups.conf, currently there are none (please configure the file and reload the service)", "file", ups.File)
	} else {
		log.Info(fmt.Sprintf("Found %d UPS defined in ups.conf", len(cfg.Devices)))
	}

	users, err := conf.LoadUpsdUsers(filepath.Join(dir, "upsd.users"))
	if err != nil {
		return cfg, err
	}
	for _, w := range users.Warnings {
		log.Warn(w)
	}
	warnWorldReadable(users.File, log)
	cfg.Users = users

	req, err := upsd.ParseCertRequest(uc.CertRequest)
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", uc.File, err)
	}
	if uc.CertFile != "" {
		warnWorldReadable(uc.CertFile, log)
	}
	tlsCfg, warnings, err := upsd.LoadTLS(upsd.TLSSettings{
		CertFile:       uc.CertFile,
		CertPath:       uc.CertPath,
		CertIdentName:  uc.CertIdentName,
		CertIdentPass:  uc.CertIdentPass,
		CertRequest:    req,
		DisableWeakSSL: uc.DisableWeakSSL,
	})
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", uc.File, err)
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	cfg.TLS = tlsCfg
	return cfg, nil
}

// openFileLimit is RLIMIT_NOFILE's soft limit (NUT's sysconf(_SC_OPEN_MAX));
// Go has raised it to the hard limit at start-up.
func openFileLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<31-1 {
		return 1<<31 - 1
	}
	return int(lim.Cur)
}

// envBool reads NUT's ALLOW_* environment overrides (true/yes/on/1,
// false/no/off/0, matched on the value's start as NUT does).
func envBool(name string, def bool) bool {
	v := strings.ToLower(os.Getenv(name))
	switch {
	case v == "":
		return def
	case strings.HasPrefix(v, "true"), strings.HasPrefix(v, "yes"), strings.HasPrefix(v, "on"), strings.HasPrefix(v, "1"):
		return true
	case strings.HasPrefix(v, "false"), strings.HasPrefix(v, "no"), strings.HasPrefix(v, "off"), strings.HasPrefix(v, "0"):
		return false
	}
	return def
}

// warnWorldReadable logs NUT's check_perms warning, in NUT 2.8.0's words,
// for a file or directory others may read (or a directory they may enter).
func warnWorldReadable(fn string, log hclog.Logger) {
	if fi, err := os.Stat(fn); err == nil && fi.Mode().Perm()&0o005 != 0 {
		log.Warn(fmt.Sprintf("%s is world readable", fn))
	}
}

// serve runs the daemon until SIGTERM, SIGINT or SIGQUIT.
func serve(o options, stderr io.Writer, background bool) int {
	log := logger(o, background)
	fail := func(err error) int {
		log.Error("fatal error", "error", err)
		if !background {
			fmt.Fprintf(stderr, "%s: %v\n", progname, err)
		} else {
			// Still attached to the starting terminal's stderr.
			fmt.Fprintf(os.Stderr, "%s: %v\n", progname, err)
		}
		return 1
	}
	// Look the user up before the chroot, as NUT does: the user database
	// may not be inside it.
	runAs, err := lookupUser(o.user)
	if err != nil && os.Geteuid() == 0 {
		return fail(err)
	}
	if o.chroot != "" {
		// Zone information is loaded on first use; inside the jail it
		// may be missing, and log times would turn to UTC.
		_ = time.Now().Local()
		if err := syscall.Chroot(o.chroot); err != nil {
			return fail(fmt.Errorf("chroot %s: %w", o.chroot, err))
		}
		if err := os.Chdir("/"); err != nil {
			return fail(fmt.Errorf("chdir / in chroot %s: %w", o.chroot, err))
		}
	}
	uc, base, err := readUpsdConf(o, log)
	if err != nil {
		return fail(err)
	}
	// Bind as root (ports below 1024), then become the -u user, who reads
	// everything else, as NUT does: ups.conf, upsd.users and CERTFILE must
	// be readable by that user, and stay so for a reload.
	lns, err := upsd.Bind(base)
	if err != nil {
		return fail(err)
	}
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	if err := dropPrivileges(runAs); err != nil {
		closeAll()
		return fail(err)
	}
	if err := os.Chdir(base.StatePath); err != nil {
		log.Warn("cannot chdir to the state path", "path", base.StatePath, "error", err)
	}
	warnWorldReadable(base.StatePath, log)
	cfg, err := loadConfig(uc, base, log)
	if err != nil {
		closeAll()
		return fail(err)
	}
	cfg.Listeners = lns
	srv, err := upsd.Start(cfg)
	if err != nil {
		closeAll()
		return fail(err)
	}
	memStop := make(chan struct{})
	defer close(memStop)
	go trackMemory(time.Second, memStop)
	pidfn := ""
	if o.foreground != 1 {
		pidfn = pidPath()
		if err := writePid(pidfn); err != nil {
			log.Warn("cannot write pid file", "file", pidfn, "error", err)
			pidfn = ""
		}
	} else {
		log.Info("running as foreground process, not saving a PID file")
	}
	if background {
		ready()
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP)
	signal.Ignore(syscall.SIGPIPE)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			log.Info("SIGHUP: reloading configuration")
			uc, base, err := readUpsdConf(o, log)
			var nc upsd.Config
			if err == nil {
				nc, err = loadConfig(uc, base, log)
			}
			if err != nil {
				log.Error("reload failed; keeping the current configuration", "error", err)
				continue
			}
			srv.Reload(nc)
			continue
		}
		log.Info("signal received: exiting", "signal", sig.String())
		break
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown incomplete", "error", err)
	}
	if pidfn != "" {
		_ = os.Remove(pidfn)
	}
	return 0
}

// ready tells the waiting parent that the background child serves, and
// lets go of the terminal.
func ready() { daemon.Ready(envReadyFD) }

// writePid writes "<pid>\n" with mode 0644, as NUT's writepid.
func writePid(fn string) error {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	return os.WriteFile(fn, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// lookupUser resolves -u (default "nut").
func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("user %s not found: %w", name, err)
	}
	return u, nil
}

// dropPrivileges switches to runAs when running as root, as NUT's
// become_user: a non-root start keeps its identity.
func dropPrivileges(runAs *user.User) error {
	if os.Geteuid() != 0 || runAs == nil {
		return nil
	}
	uid, err := strconv.Atoi(runAs.Uid)
	if err != nil {
		return fmt.Errorf("user %s: uid %q: %w", runAs.Username, runAs.Uid, err)
	}
	gid, err := strconv.Atoi(runAs.Gid)
	if err != nil {
		return fmt.Errorf("user %s: gid %q: %w", runAs.Username, runAs.Gid, err)
	}
	if uid == 0 {
		return nil
	}
	var groups []int
	if ids, err := runAs.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.Atoi(g); err == nil {
				groups = append(groups, n)
			}
		}
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups for user %s: %w", runAs.Username, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid %d (user %s): %w", gid, runAs.Username, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid %d (user %s): %w", uid, runAs.Username, err)
	}
	return nil
}
