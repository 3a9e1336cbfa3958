// Command nut-driver-host supervises gonut driver plugins: one per ups.conf
// section, each served as a NUT driver state socket for upsd. upsdrvctl
// starts it in the background when it is not running.
package main

import (
	"context"
	"flag"
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
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/gonut/gonut/host"
	"github.com/gonut/gonut/host/control"
	"github.com/gonut/gonut/sdk"
)

type debugFlag int

func (d *debugFlag) String() string   { return strconv.Itoa(int(*d)) }
func (d *debugFlag) Set(string) error { *d++; return nil }
func (d *debugFlag) IsBoolFlag() bool { return true }

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("nut-driver-host", flag.ContinueOnError)
	var debug debugFlag
	fg := fs.Bool("F", false, "stay in the foreground")
	fs.Bool("B", false, "go to the background (the default)")
	idle := fs.Bool("idle", false, "start no driver; wait for upsdrvctl")
	runAs := fs.String("u", "", "run as this user (must be the current user for now)")
	jsonLog := fs.Bool("json", false, "log as JSON")
	showVer := fs.Bool("V", false, "print the version and exit")
	fs.Var(&debug, "D", "raise the debug level (repeatable)")
	firstRetry := fs.Duration("first-retry", 0, "delay before restarting a driver after a healthy run (default 100ms)")
	maxBackoff := fs.Duration("max-backoff", 0, "longest delay between restarts (default 30s)")
	healthyRun := fs.Duration("healthy-run", 0, "a run this long resets the backoff (default 10s)")
	crashLoop := fs.Int("crash-loop", 0, "failed runs in a row that make an instance 'failed' (default 5)")
	cooldown := fs.Duration("cooldown", 0, "a failed instance is retried after this (default 60s)")
	hangMin := fs.Duration("hang-min", 0, "shortest heartbeat deadline before a plugin counts as hung (default 5s)")
	watch := fs.Duration("watch", time.Second, "check ups.conf for changes this often and resync (0: only on SIGHUP)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: nut-driver-host [-F|-B] [-D] [-u user] [-idle] [-json] [ups ...]\n\n"+
			"Starts a driver for every section of NUT_CONFPATH/ups.conf (or the named ones) and\n"+
			"supervises it: a gonut plugin is served as NUT_STATEPATH/<driver>-<ups> for upsd; a\n"+
			"NUT driver runs as `<driver> -a <ups> -F` and serves that socket itself. SIGHUP or a\n"+
			"change of ups.conf on disk resyncs the instances with the file.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVer {
		fmt.Printf("Network UPS Tools - gonut nut-driver-host %s\n", sdk.Version)
		return 0
	}
	if *runAs != "" {
		if u, err := user.Current(); err != nil || u.Username != *runAs {
			fmt.Fprintf(os.Stderr, "nut-driver-host: -u %s: running as another user than the one that starts the host is not supported yet; start it as %s\n", *runAs, *runAs)
			return 1
		}
	}
	if !*fg && os.Getenv("GONUT_HOST_CHILD") == "" {
		return daemonize(args)
	}
	level := hclog.Info
	if debug > 0 {
		level = hclog.Debug
	}
	if debug > 1 {
		level = hclog.Trace
	}
	var out io.Writer = os.Stderr
	if os.Getenv("GONUT_HOST_CHILD") != "" && !*fg {
		if w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "nut-driver-host"); err == nil {
			out = w
		} else {
			out = io.Discard
		}
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "host", Level: level, Output: out, JSONFormat: *jsonLog})

	h, err := host.New(host.Config{Logger: log, Debug: int(debug), User: *runAs, Idle: *idle || len(fs.Args()) > 0,
		FirstRetry: *firstRetry, MaxBackoff: *maxBackoff, HealthyRun: *healthyRun, CrashLoop: *crashLoop,
		Cooldown: *cooldown, HangMinimum: *hangMin})
	if err != nil {
		fmt.Fprintf(os.Stderr, "nut-driver-host: %v\n", err)
		return 1
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	b := &backend{h: h, exit: stop}

	pidFile := filepath.Join(h.StatePath(), control.PIDName)
	if err := os.MkdirAll(h.StatePath(), 0o770); err != nil {
		fmt.Fprintf(os.Stderr, "nut-driver-host: statepath: %v\n", err)
		return 1
	}
	ctlErr := make(chan error, 1)
	owner := control.Owner{User: h.Conf().User, Group: h.Conf().Group}
	go func() { ctlErr <- control.Serve(ctx, h.StatePath(), owner, b) }()
	select {
	case err := <-ctlErr:
		if err != nil {
			fmt.Fprintf(os.Stderr, "nut-driver-host: %v\n", err)
			return 1
		}
	case <-time.After(50 * time.Millisecond):
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		log.Warn("cannot write pid file", "path", pidFile, "error", err)
	}
	defer os.Remove(pidFile)
	if os.Getenv("GONUT_HOST_CHILD") != "" && !*fg {
		// Up and running: detach from the starter's stderr pipe, which
		// closes when it exits (a later write would raise SIGPIPE).
		if devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0); err == nil {
			_ = syscall.Dup3(int(devnull.Fd()), 2, 0)
		}
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		for s := range sigs {
			if s == syscall.SIGHUP {
				log.Info("SIGHUP: resyncing with ups.conf")
				go func() {
					if _, err := h.Resync(ctx); err != nil {
						log.Error("resync", "error", err)
					}
				}()
				continue
			}
			log.Info("signal; stopping every driver", "signal", s)
			stop()
			return
		}
	}()

	if !*idle {
		if err := h.Start(ctx, fs.Args()...); err != nil {
			// Failed instances keep being retried; say which and go on.
			for _, e := range strings.Split(err.Error(), "\n") {
				log.Error("driver failed to start", "error", e)
			}
		}
	}
	if *watch > 0 {
		go h.Watch(ctx, *watch)
	}
	<-ctx.Done()
	h.Stop()
	return 0
}

// daemonize re-runs the host in the background and returns once its
// control socket answers, so that the caller can use it at once.
func daemonize(args []string) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "nut-driver-host: %v\n", err)
		return 1
	}
	// Resolve STATEPATH as the child will (ups.conf statepath first); a
	// broken ups.conf is reported here, in the foreground.
	h, err := host.New(host.Config{Logger: hclog.NewNullLogger()})
	if err != nil {
		fmt.Fprintf(os.Stderr, "nut-driver-host: %v\n", err)
		return 1
	}
	statePath := h.StatePath()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "GONUT_HOST_CHILD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	cmd.Stdin, cmd.Stdout = devnull, devnull
	errR, errW, _ := os.Pipe()
	cmd.Stderr = errW
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "nut-driver-host: %v\n", err)
		return 1
	}
	errW.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Startup errors (bad ups.conf, another host) come on the child's
	// stderr before it is up; pass them on.
	early := make(chan string, 1)
	go func() { b, _ := io.ReadAll(io.LimitReader(errR, 64<<10)); early <- string(b) }()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-done:
			fmt.Fprint(os.Stderr, <-early)
			if err == nil {
				return 0
			}
			return 1
		case <-deadline:
			fmt.Fprintln(os.Stderr, "nut-driver-host: the background host did not come up within 30 s")
			return 1
		case <-time.After(20 * time.Millisecond):
		}
		if c, err := control.Dial(statePath); err == nil {
			c.Close()
			fmt.Printf("nut-driver-host started in the background (pid %d)\n", cmd.Process.Pid)
			return 0
		}
	}
}

type backend struct {
	h    *host.Host
	exit context.CancelFunc
}

func (b *backend) Start(ctx context.Context, ups ...string) error   { return b.h.Start(ctx, ups...) }
func (b *backend) Stop(ups ...string) error                         { return b.h.Stop(ups...) }
func (b *backend) Restart(ctx context.Context, ups ...string) error { return b.h.Restart(ctx, ups...) }
func (b *backend) Dump(ups ...string) (map[string][]string, error)  { return b.h.Dump(ups...) }
func (b *backend) Exit()                                            { b.exit() }

func (b *backend) Status() []control.Instance {
	var out []control.Instance
	for _, s := range b.h.Status() {
		out = append(out, control.Instance{UPS: s.UPS, Driver: s.Driver, Path: s.Path, State: string(s.State),
			PID: s.PID, Restarts: s.Restarts, LastError: s.LastError, Kind: string(s.Kind), Since: s.Since,
			Failures: s.Failures, ExitStatus: s.ExitStatus, UPSStatus: s.UPSStatus, SDOrder: s.SDOrder})
	}
	return out
}

func (b *backend) Stats() control.HostStats {
	s := host.ReadStats()
	return control.HostStats{PID: os.Getpid(), Goroutines: s.Goroutines, FDs: s.FDs, RSSBytes: s.RSSBytes}
}

func (b *backend) Resync(ctx context.Context) (control.ResyncResult, error) {
	r, err := b.h.Resync(ctx)
	return control.ResyncResult{Added: r.Added, Removed: r.Removed, Restarted: r.Restarted, Reloaded: r.Reloaded,
		UpsdPID: r.UpsdSignalled}, err
}

func (b *backend) Shutdown(ctx context.Context, ups ...string) ([]control.ShutdownStep, error) {
	steps, err := b.h.Shutdown(ctx, ups...)
	var out []control.ShutdownStep
	for _, s := range steps {
		out = append(out, control.ShutdownStep{UPS: s.UPS, Driver: s.Driver, SDOrder: s.SDOrder, Err: s.Err})
	}
	return out, err
}
