// Command upsdrvsvcctl manages driver instances one by one, as NUT's
// upsdrvsvcctl does for systemd/SMF service units, but through
// nut-driver-host: each ups.conf section is an instance of the host, so
// the same commands work with or without a service manager.
//
//	upsdrvsvcctl [-t] [-D] (start | stop | restart | status) [<ups>]
//	upsdrvsvcctl [-t] [-D] list [<ups>]
//	upsdrvsvcctl [-t] [-D] resync
//	upsdrvsvcctl show-config [<ups>]
//	upsdrvsvcctl shutdown [<ups>]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
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
	fmt.Fprintf(w, `Network UPS Tools - UPS driver controller %s
Starts, stops and inspects UPS driver instances of nut-driver-host, one per
ups.conf section.

usage: upsdrvsvcctl [OPTIONS] (start | stop | restart | status) [<ups>]

Options:
  -h            	display this help
  -t            	testing mode - prints actions without doing them
  -D            	raise debugging level
  start         	start all UPS drivers in ups.conf
  start <ups>   	only start driver for UPS <ups>
  stop          	stop all UPS drivers in ups.conf
  stop <ups>    	only stop driver for UPS <ups>
  restart [<ups>]	stop and start again
  status [<ups>]	state, pid, restarts, last error and exit status of each instance
                	(exit code 0 only if every one listed is running)
  shutdown [<ups>]	run the drivers' shutdown sequences in sdorder (as upsdrvctl)

usage: upsdrvsvcctl [OPTIONS] resync
  resync        	compare ups.conf with the running instances: start new
                	sections, stop removed ones, reload changed ones in place
                	(or restart them when their driver cannot, or the port
                	changed), then tell upsd to reread ups.conf

usage: upsdrvsvcctl [OPTIONS] list [<ups>]
  list          	list the instances for device sections of ups.conf
  list <ups>    	(optionally only the one for device <ups>)

usage: upsdrvsvcctl [OPTIONS] show-config [<ups>]
  show-config <ups>	output config section from ups.conf for device <ups>
  show-config   	...or all devices if no <ups> argument was passed
`, sdk.Version)
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("upsdrvsvcctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var debug counter
	dry := fs.Bool("t", false, "")
	help := fs.Bool("h", false, "")
	fs.Var(&debug, "D", "")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "Unrecognized argument: %v\n", err)
		return 1
	}
	if *help {
		usage(stdout)
		return 0
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprintln(stderr, "No action was requested!")
		return 1
	}
	action, ups := rest[0], rest[1:]
	if len(ups) > 1 {
		fmt.Fprintf(stderr, "Unrecognized argument: %s\n", ups[1])
		return 1
	}
	h, err := host.New(host.Config{})
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	conf := h.Conf()
	for _, u := range ups {
		if conf.Section(u) == nil {
			fmt.Fprintf(stderr, "UPS %s not found in ups.conf\n", u)
			return 1
		}
	}
	ctx := context.Background()
	state := h.StatePath()
	switch action {
	case "list":
		for _, s := range conf.Sections {
			if len(ups) == 0 || s.Name == ups[0] {
				fmt.Fprintf(stdout, "%s\t%s\n", s.Name, s.Driver)
			}
		}
		return 0
	case "show-config":
		for _, s := range conf.Sections {
			if len(ups) == 0 || s.Name == ups[0] {
				fmt.Fprint(stdout, showConfig(s))
			}
		}
		return 0
	case "status":
		return status(ctx, state, conf, ups, stdout, stderr)
	case "start", "stop", "restart", "resync", "reconf", "reconfigure", "shutdown":
	default:
		fmt.Fprintf(stderr, "Unrecognized argument: %s\n", action)
		return 1
	}
	verb := map[string]string{"start": "Starting", "stop": "Stopping", "restart": "Restarting",
		"resync": "Resyncing", "reconf": "Resyncing", "reconfigure": "Resyncing", "shutdown": "Shutting down"}[action]
	targets := ups
	if len(targets) == 0 {
		for _, s := range conf.Sections {
			targets = append(targets, s.Name)
		}
	}
	if *dry {
		for _, t := range targets {
			fmt.Fprintf(stdout, "%s %s (nut-driver-host instance, driver %s) ...\n", verb, t, conf.Section(t).Driver)
		}
		return 0
	}
	c, err := control.Dial(state)
	if err != nil {
		if action == "stop" {
			return 0 // nothing runs
		}
		if action != "start" && action != "restart" && action != "shutdown" {
			// resync with no host: the host to start follows ups.conf.
			action, ups = "start", nil
		}
		if err := startHost(int(debug)); err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return 1
		}
		if c, err = control.Dial(state); err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return 1
		}
	}
	defer c.Close()
	var errs []error
	switch action {
	case "start":
		for _, t := range targets {
			fmt.Fprintf(stderr, "%s %s ...\n", verb, t)
		}
		errs = c.Start(ctx, ups...)
	case "stop":
		for _, t := range targets {
			fmt.Fprintf(stderr, "%s %s ...\n", verb, t)
		}
		errs = c.Stop(ctx, ups...)
	case "restart":
		for _, t := range targets {
			fmt.Fprintf(stderr, "%s %s ...\n", verb, t)
		}
		errs = c.Restart(ctx, ups...)
	case "shutdown":
		var steps []control.ShutdownStep
		steps, errs = c.Shutdown(ctx, ups...)
		for _, st := range steps {
			if st.Err != nil {
				errs = append(errs, fmt.Errorf("shutdown of %s: %w", st.UPS, st.Err))
			} else {
				fmt.Fprintf(stderr, "Shut down %s (sdorder %d)\n", st.UPS, st.SDOrder)
			}
		}
	default: // resync
		var r control.ResyncResult
		r, errs = c.Resync(ctx)
		for _, n := range r.Added {
			fmt.Fprintf(stderr, "Added %s\n", n)
		}
		for _, n := range r.Removed {
			fmt.Fprintf(stderr, "Removed %s\n", n)
		}
		for _, n := range r.Restarted {
			fmt.Fprintf(stderr, "Restarted %s (its ups.conf section changed)\n", n)
		}
		for _, n := range r.Reloaded {
			fmt.Fprintf(stderr, "Reloaded %s (its driver took the changed section in place)\n", n)
		}
		if r.UpsdPID > 0 {
			fmt.Fprintf(stderr, "Told upsd (pid %d) to reread ups.conf\n", r.UpsdPID)
		}
	}
	for _, e := range errs {
		fmt.Fprintf(stderr, "%v\n", e)
	}
	if len(errs) > 0 {
		return 1
	}
	return 0
}

// status prints one row per instance: what NUT's service manager would
// show (active/failed, pid) and what only the host knows (restarts,
// consecutive failures, last error, how the last process ended).
func status(ctx context.Context, state string, conf *nutconf.UPSConf, ups []string, stdout, stderr io.Writer) int {
	byUPS := map[string]control.Instance{}
	c, err := control.Dial(state)
	if err == nil {
		st, _, err := c.Status(ctx)
		c.Close()
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return 1
		}
		for _, in := range st {
			byUPS[in.UPS] = in
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "UPS\tDRIVER\tKIND\tSTATE\tSINCE\tPID\tRESTARTS\tFAILURES\tLAST EXIT\tLAST ERROR")
	allRunning := true
	for _, s := range conf.Sections {
		if len(ups) > 0 && s.Name != ups[0] {
			continue
		}
		in, ok := byUPS[s.Name]
		if !ok {
			allRunning = false
			fmt.Fprintf(tw, "%s\t%s\t-\tstopped\t-\t-\t-\t-\t-\t-\n", s.Name, s.Driver)
			continue
		}
		if in.State != string(host.StateRunning) {
			allRunning = false
		}
		pid, since := "-", "-"
		if in.PID > 0 {
			pid = fmt.Sprint(in.PID)
		}
		if !in.Since.IsZero() {
			since = in.Since.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", in.UPS, in.Driver, in.Kind, in.State, since, pid,
			in.Restarts, in.Failures, dash(in.ExitStatus), dash(oneLine(in.LastError)))
	}
	tw.Flush()
	if !allRunning {
		return 1
	}
	return 0
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// showConfig renders a section as ups.conf lines.
func showConfig(s *nutconf.UPSSection) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s]\n", s.Name)
	for _, o := range s.Options {
		if !o.HasValue {
			fmt.Fprintf(&b, "\t%s\n", o.Key)
			continue
		}
		fmt.Fprintf(&b, "\t%s = %s\n", o.Key, quote(o.Value))
	}
	b.WriteString("\n")
	return b.String()
}

func quote(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\"\\#=") {
		return v
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// startHost brings nut-driver-host up in the background: it starts every
// ups.conf section itself.
func startHost(debug int) error {
	bin := filepath.Join(exeDir(), "nut-driver-host")
	if _, err := os.Stat(bin); err != nil {
		p, lerr := exec.LookPath("nut-driver-host")
		if lerr != nil {
			return fmt.Errorf("cannot find nut-driver-host next to upsdrvsvcctl (%s) or in PATH", bin)
		}
		bin = p
	}
	args := []string{"-B", "-idle"}
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

func exeDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Dir(exe)
}
