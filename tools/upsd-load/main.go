// Command upsd-load measures a NUT data server under load and compares two
// of them side by side in one run, typically NUT 2.8.0's upsd and gonut's:
// GET VAR and LIST VAR throughput and latency at several connection counts,
// connection churn, and the server's resident memory. Both servers read the
// same driver socket, which upsd-load serves itself, and are measured in
// turn (never at the same time), each phase after the same warm-up.
//
//	upsd-load -nut /lib/nut/upsd -gonut ./bin/upsd -dev ../shared/ddl/<dump>.dev
//
// prints a Markdown report: absolute figures and gonut/NUT ratios. Each
// phase is measured -rounds times on each server, alternating which goes
// first, and the round with the median throughput is reported, which
// tames a machine that is not quite quiet. It is a benchmark, not a test. See
// docs/PERFORMANCE.md ("upsd under load") for figures and the command that produced them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// options are the command line.
type options struct {
	servers      []serverSpec
	conns        []int
	duration     time.Duration
	warmup       time.Duration
	churnWorkers int
	devFile      string
	variable     string
	rounds       int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("upsd-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nut := fs.String("nut", "/lib/nut/upsd", "NUT's upsd executable (\"\" to leave it out)")
	gonut := fs.String("gonut", "./bin/upsd", "gonut's upsd executable (\"\" to leave it out)")
	conns := fs.String("conns", "1,64,1024", "connection counts to measure GET VAR and LIST VAR at")
	duration := fs.Duration("duration", 5*time.Second, "measured time of each phase")
	warmup := fs.Duration("warmup", time.Second, "unmeasured load before each phase")
	churn := fs.Int("churn-workers", 16, "clients connecting, asking one GET VAR and hanging up, in parallel")
	dev := fs.String("dev", "", "NUT device dump (.dev) to serve as the UPS's state; a built-in one if empty")
	variable := fs.String("var", "ups.status", "variable GET VAR asks for")
	rounds := fs.Int("rounds", 3, "times each phase is measured on each server (the median round is reported)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: upsd-load [flags]\n\nMeasures NUT's and gonut's upsd side by side; prints a Markdown report.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o := options{duration: *duration, warmup: *warmup, churnWorkers: *churn, devFile: *dev, variable: *variable, rounds: *rounds}
	if *nut != "" {
		o.servers = append(o.servers, serverSpec{name: "NUT 2.8.0", bin: *nut})
	}
	if *gonut != "" {
		o.servers = append(o.servers, serverSpec{name: "gonut", bin: *gonut})
	}
	if len(o.servers) == 0 {
		return o, errors.New("nothing to measure: both -nut and -gonut are empty")
	}
	for _, f := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-conns: %q is not a positive number", f)
		}
		o.conns = append(o.conns, n)
	}
	if o.duration <= 0 || o.warmup < 0 || o.churnWorkers < 1 || o.rounds < 1 {
		return o, errors.New("-duration, -churn-workers and -rounds must be positive, -warmup not negative")
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "upsd-load: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := benchmark(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "upsd-load: %v\n", err)
		return 1
	}
	rep.write(stdout)
	return 0
}
