// Command megatec-sim is a simulated Megatec/Q1 UPS on a pseudo-terminal,
// for trying blazer_ser (NUT's or gonut's) without hardware. It prints the
// path of its link, which ups.conf's port names, and runs a script of
// scenario steps (mains failure, low battery, no reply, disconnect, ...)
// from a file or from standard input.
//
//	megatec-sim -link /tmp/ups0 -script - <<'EOF'
//	sleep 10s
//	mains off
//	sleep 20s
//	lowbatt on
//	EOF
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gonut/gonut/tools/megatec-sim/sim"
)

func main() {
	link := flag.String("link", sim.DefaultLink(), "symlink to the pty's slave: what ups.conf's port names")
	script := flag.String("script", "", "scenario script to run (`file`, - for standard input)")
	verbose := flag.Bool("v", false, "print every command received")
	testDur := flag.Duration("test-duration", 10*time.Second, "how long a battery test (T, TL) runs; 0 until CT")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: megatec-sim [-link path] [-script file|-] [-v]\n\n")
		flag.PrintDefaults()
		fmt.Fprintf(flag.CommandLine.Output(), "\n%s\n", sim.ScriptHelp)
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*link, *script, *verbose, *testDur); err != nil {
		fmt.Fprintln(os.Stderr, "megatec-sim:", err)
		os.Exit(1)
	}
}

func run(link, script string, verbose bool, testDur time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	u := sim.New()
	u.SetTestDuration(testDur)
	s, err := sim.ListenSerial(u, link)
	if err != nil {
		return err
	}
	defer s.Close()
	target, _ := os.Readlink(link)
	fmt.Printf("megatec-sim: serving a Megatec/Q1 UPS on %s -> %s\n", link, target)
	if verbose {
		go printCommands(ctx, u)
	}
	if script != "" {
		var r io.Reader = os.Stdin
		name := "stdin"
		if script != "-" {
			f, err := os.Open(script)
			if err != nil {
				return err
			}
			defer f.Close()
			r, name = f, script
		}
		if err := s.RunScript(ctx, name, r); err != nil && ctx.Err() == nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

// printCommands prints each command as it arrives, CR shown as \r.
func printCommands(ctx context.Context, u *sim.UPS) {
	seen := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.Changed():
		}
		got := u.Received()
		for _, c := range got[seen:] {
			fmt.Printf("megatec-sim: received %q\n", strings.TrimSuffix(c, "\r"))
		}
		seen = len(got)
	}
}
