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
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: nut-driver-host [-F|-B] [-D] [-u user] [-idle] [ups ...]\n\n"+
			"Starts a gonut driver plugin for every section of NUT_CONFPATH/ups.conf (or the named\n"+
			"ones) and serves each as NUT_STATEPATH/<driver>-<ups> for upsd.\n\n")
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

	h, err := host.New(host.Config{Logger: log, Debug: int(debug)})
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
	go func() { ctlErr <- control.Serve(ctx, h.StatePath(), b) }()
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
				log.Info("SIGHUP: ups.conf resync is not implemented yet; restart the host to apply changes")
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

func (b *backend) Start(ctx context.Context, ups ...string) error { return b.h.Start(ctx, ups...) }
func (b *backend) Stop(ups ...string) error                       { return b.h.Stop(ups...) }
func (b *backend) Exit()                                          { b.exit() }
func (b *backend) Status() []control.Instance {
	var out []control.Instance
	for _, s := range b.h.Status() {
		out = append(out, control.Instance{UPS: s.UPS, Driver: s.Driver, Path: s.Path, State: string(s.State),
			PID: s.PID, Restarts: s.Restarts, LastError: s.LastError})
	}
	return out
}
