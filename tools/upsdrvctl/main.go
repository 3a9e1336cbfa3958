// Command upsdrvctl starts and stops UPS drivers as NUT's upsdrvctl does,
// through nut-driver-host: `upsdrvctl start` brings the host up in the
// background when it is not running and asks it to start the drivers.
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
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type counter int

func (c *counter) String() string   { return fmt.Sprint(int(*c)) }
func (c *counter) Set(string) error { *c++; return nil }
func (c *counter) IsBoolFlag() bool { return true }

func usage(w io.Writer) {
	fmt.Fprint(w, `Starts and stops UPS drivers via ups.conf.

usage: upsdrvctl [OPTIONS] (start | stop | shutdown) [<ups>]

  -h			display this help
  -r <path>		drivers will chroot to <path>
  -t			testing mode - prints actions without doing them
  -u <user>		drivers started will switch from root to <user>
  -D            	raise debugging level
  -d            	pass debugging level from upsdrvctl to driver
  start			start all UPS drivers in ups.conf
  start	<ups>		only start driver for UPS <ups>
  stop			stop all UPS drivers in ups.conf
  stop <ups>		only stop driver for UPS <ups>
  shutdown		shutdown all UPS drivers in ups.conf
  shutdown <ups>	only shutdown UPS <ups>
`)
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
	fs.Var(&debug, "D", "")
	fs.Var(&passDebug, "d", "")
	if err := fs.Parse(args); err != nil || *help {
		usage(stdout)
		if *help {
			return 0
		}
		return 1
	}
	if *chroot != "" {
		fmt.Fprintf(stderr, "upsdrvctl: -r %s: chroot is not supported by nut-driver-host yet\n", *chroot)
		return 1
	}
	rest := fs.Args()
	if len(rest) < 1 || len(rest) > 2 {
		usage(stdout)
		return 1
	}
	cmd, ups := rest[0], rest[1:]

	h, err := host.New(host.Config{})
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	for _, u := range ups {
		if h.Conf().Section(u) == nil {
			fmt.Fprintf(stderr, "UPS %s not found in ups.conf\n", u)
			return 1
		}
	}
	if *testing {
		return plan(h, cmd, ups, stdout, stderr)
	}
	ctx := context.Background()
	switch cmd {
	case "start":
		c, err := control.Dial(h.StatePath())
		if err != nil {
			if err := startHost(*runAs, int(debug)); err != nil {
				fmt.Fprintf(stderr, "%v\n", err)
				return 1
			}
			if c, err = control.Dial(h.StatePath()); err != nil {
				fmt.Fprintf(stderr, "%v\n", err)
				return 1
			}
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
		c, err := control.Dial(h.StatePath())
		if err != nil {
			// Nothing running: nothing to stop, as NUT's upsdrvctl.
			return 0
		}
		defer c.Close()
		if len(ups) == 0 {
			return exitHost(ctx, c, h.StatePath(), stderr)
		}
		for _, e := range c.Stop(ctx, ups...) {
			fmt.Fprintf(stderr, "%v\n", e)
			return 1
		}
		return 0
	case "shutdown":
		fmt.Fprintln(stderr, "upsdrvctl shutdown: powering a UPS off through gonut drivers is not supported yet")
		return 1
	default:
		fmt.Fprintf(stderr, "Error: unrecognized command [%s]\n", cmd)
		return 1
	}
}

// plan prints what start/stop would do (-t).
func plan(h *host.Host, cmd string, ups []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stdout, "*** Testing mode: not calling exec/kill")
	secs := h.Conf().Sections
	for _, s := range secs {
		if len(ups) > 0 && s.Name != ups[0] {
			continue
		}
		switch cmd {
		case "start":
			fmt.Fprintf(stdout, "Starting UPS: %s\n", s.Name)
			p, err := host.FindDriver(s.Driver, driverPath(h))
			if err != nil {
				fmt.Fprintf(stderr, "Can't start %s: %v\n", s.Driver, err)
				continue
			}
			fmt.Fprintf(stdout, "plugin: %s (served on %s by nut-driver-host)\n", p, host.SocketPath(h.StatePath(), s.Driver, s.Name))
		case "stop":
			fmt.Fprintf(stdout, "Stopping UPS: %s\n", s.Name)
		}
	}
	return 0
}

func driverPath(h *host.Host) []string {
	if p := h.Conf().DriverPath; p != "" {
		return []string{p}
	}
	return []string{hostDir()}
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

// startHost runs nut-driver-host in the background with no instance; the
// caller then starts the ones it wants through the control socket.
func startHost(runAs string, debug int) error {
	bin := filepath.Join(hostDir(), "nut-driver-host")
	if _, err := os.Stat(bin); err != nil {
		p, lerr := exec.LookPath("nut-driver-host")
		if lerr != nil {
			return fmt.Errorf("cannot find nut-driver-host next to upsdrvctl (%s) or in PATH", bin)
		}
		bin = p
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
