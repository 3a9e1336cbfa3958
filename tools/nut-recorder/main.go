package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gonut/gonut/client"
)

// NUT's defaults: the output file and the poll interval in seconds.
const (
	defaultOutput   = "dummy-device.seq"
	defaultInterval = 5
)

const usageText = "Usage: nut-recorder <device-name> [output-file] [interval]\n" +
	"\n" +
	"  device-name   the UPS to record, upsname[@hostname[:port]] (host: localhost)\n" +
	"  output-file   the dummy-ups sequence file to write (default " + defaultOutput + ")\n" +
	"  interval      seconds between polls (default 5)\n" +
	"\n" +
	"Stop it with Ctrl-C (SIGINT) or SIGTERM; the file is complete at every poll.\n"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && (args[1] == "-h" || args[1] == "--help") {
		fmt.Fprint(stdout, usageText)
		return 0
	}
	if len(args) < 2 || len(args) > 4 || args[1] == "" {
		fmt.Fprint(stderr, usageText)
		return 1
	}
	name, err := client.ParseUPSName(args[1])
	if err != nil {
		fmt.Fprintf(stderr, "nut-recorder: %v\n", err)
		return 1
	}
	out := defaultOutput
	if len(args) >= 3 {
		out = args[2]
	}
	interval := defaultInterval
	if len(args) == 4 {
		n, err := strconv.Atoi(args[3])
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "nut-recorder: interval %q: want a whole number of seconds, 1 or more\n", args[3])
			return 1
		}
		interval = n
	}
	src := &upsdSource{name: name}
	defer src.Close()
	if err := record(ctx, src, name.String(), out, time.Duration(interval)*time.Second, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "nut-recorder: %v\n", err)
		return 1
	}
	return 0
}

// record polls src every interval into the file out until ctx ends.
func record(ctx context.Context, src Source, ups, out string, interval time.Duration, stdout, stderr io.Writer) error {
	// Like NUT's recorder, check the UPS can be read before touching the
	// output file.
	first, err := src.Vars(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", ups, err)
	}
	start := time.Now()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	r := &Recorder{Out: f, Echo: stdout}
	if err := r.Header(ups, interval, start); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := r.First(first, start); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			if err := r.Finish(time.Now()); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			return f.Close()
		case <-tick.C:
		}
		s, err := src.Vars(ctx)
		if err != nil {
			if ctx.Err() != nil {
				continue // stopping: the select above finishes the file
			}
			// Keep going: the TIMER before the next change will span the
			// gap, and the UPS is read again at the next poll.
			if !failing {
				fmt.Fprintf(stderr, "nut-recorder: %s: %v (still trying every %s)\n", ups, err, interval)
			}
			failing = true
			continue
		}
		if failing {
			fmt.Fprintf(stderr, "nut-recorder: %s: reading again\n", ups)
			failing = false
		}
		if err := r.Next(s, time.Now()); err != nil {
			return fmt.Errorf("write %s: %w", out, err)
		}
	}
}
