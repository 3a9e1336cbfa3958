// Command apcsmart-sim is a simulated APC Smart-UPS on a pseudo-terminal,
// for trying the apcsmart driver (gonut's or NUT's) without hardware.
//
//	apcsmart-sim -link /tmp/apcsmart [-profile name] [-v] [-script file]
//
// It prints the link to put in ups.conf (port = /tmp/apcsmart), then reads
// script commands from -script, then from standard input (type "help").
// With -v it logs every byte the driver sends and every reply.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/gonut/gonut/tools/apcsmart-sim/sim"
)

func main() {
	link := flag.String("link", "/tmp/apcsmart", "symlink to create for the pseudo-terminal (the driver's port)")
	script := flag.String("script", "", "script to run first (see -help-script)")
	verbose := flag.Bool("v", false, "log every byte received and sent")
	profile := flag.String("profile", "smart-ups-3000", "model to simulate: smart-ups-3000, measure-ups (with an environmental probe), smart-ups-1250 (old firmware, no 'a') or smart-ups-old (answers neither 'a' nor its firmware)")
	helpScript := flag.Bool("help-script", false, "describe the script commands and exit")
	flag.Parse()
	if *helpScript {
		fmt.Print(sim.ScriptHelp)
		return
	}
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	mk, ok := sim.Profiles[*profile]
	if !ok {
		logger.Fatalf("unknown profile %q (want smart-ups-3000, measure-ups, smart-ups-1250 or smart-ups-old)", *profile)
	}
	p := mk()
	opts := sim.Options{Link: *link, Profile: &p}
	if *verbose {
		opts.Logf = logger.Printf
	}
	s, err := sim.Start(opts)
	if err != nil {
		logger.Fatal(err)
	}
	defer s.Close()
	fmt.Printf("APC Smart-UPS simulator on %s (ups.conf: driver = apcsmart, port = %s)\n", *link, *link)

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if *script != "" {
		f, err := os.Open(*script)
		if err != nil {
			logger.Fatal(err)
		}
		err = sim.RunScript(ctx, s, f, *script, os.Stdout)
		f.Close()
		if err != nil && ctx.Err() == nil {
			logger.Print(err)
			return
		}
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case l, ok := <-lines:
			if !ok {
				// Without a terminal, keep serving until killed.
				<-ctx.Done()
				return
			}
			if err := sim.Exec(ctx, s, l, os.Stdout); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}
	}
}
