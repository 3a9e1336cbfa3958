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
	"syscall"
	"time"

	"github.com/gonut/gonut/client"
)

// run is upslog with args[0] the program name, as in os.Args; it returns
// the exit status. Informational lines go to stdout as in NUT (the banner,
// "logging status of ..."), messages and errors to stderr.
func run(args []string, stdout, stderr io.Writer) int {
	argv0 := "upslog"
	if len(args) > 0 {
		argv0 = args[0]
		args = args[1:]
	}
	prog := filepath.Base(argv0)

	// A background child was started by daemonize after its parent had
	// checked everything and said it all; it only reports a failure.
	child := os.Getenv(envReadyFD) != ""
	out, warn := stdout, stderr
	if child {
		out, warn = io.Discard, io.Discard
	}
	fmt.Fprintf(out, "Network UPS Tools %s %s\n", prog, nutVersion)

	o, act, err := parseArgs(argv0, args, warn)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	switch act {
	case actHelp:
		usage(stdout, prog)
		return 0
	case actVersion:
		return 0
	}
	if o.pidbase == "" {
		o.pidbase = prog
	}

	ctx := context.Background()
	l := &logger{
		items:    compileFormat(o.format),
		interval: time.Duration(o.interval) * time.Second,
		count:    o.count,
		env:      env{now: time.Now, hostname: os.Hostname, pid: os.Getpid()},
	}
	defer l.close()
	debugf := func(string, ...any) {}
	if o.debug > 0 {
		debugf = func(format string, args ...any) { fmt.Fprintf(stderr, "   "+format+"\n", args...) }
	}
	targets := map[string]*target{}
	for _, t := range o.tuples {
		fmt.Fprintf(out, "logging status of %s to %s (%ds intervals)\n", t.spec, t.logfile, o.interval)
		name, err := client.ParseUPSName(t.spec)
		if err != nil {
			var nerr *client.NameError
			if errors.As(err, &nerr) {
				fmt.Fprintln(stderr, nerr.NUTMessage())
			}
			// NUT's message ends in a newline of its own, hence the blank line.
			fmt.Fprint(stderr, "Error: invalid UPS definition.  Required format: upsname[@hostname[:port]]\n\n")
			return 1
		}
		e := &entry{raw: t.spec, name: name, dial: dialer, debugf: debugf}
		l.entries = append(l.entries, e)
		if err := e.connect(ctx); err != nil {
			fmt.Fprintf(warn, "Warning: initial connect failed: %s\n", client.Strerror(err))
			debugf("%s: %v", t.spec, err)
		}
		tg, ok := targets[t.logfile]
		if !ok {
			tg, err = openTarget(t.logfile, stdout)
			if err != nil {
				fmt.Fprintf(stderr, "could not open logfile %s: %s\n", t.logfile, strerror(err))
				return 1
			}
			targets[t.logfile] = tg
			l.targets = append(l.targets, tg)
		}
		e.target = tg
	}

	// NUT looks the user up even when it will not switch to it; the
	// compiled-in default only matters to root.
	runAs, err := user.Lookup(o.user)
	if err != nil {
		runAs = nil
		if o.userSet || os.Geteuid() == 0 {
			fmt.Fprintf(stderr, "user %s not found\n", o.user)
			return 1
		}
	}

	foreground := o.foreground == 1
	if o.foreground < 0 {
		// stdout as a log target keeps upslog in the foreground, as does
		// debugging.
		foreground = o.debug > 0 || targets["-"] != nil
	}
	if !foreground && !child {
		l.close()
		return daemonize(stderr)
	}
	if child {
		l.logf = syslogf(prog)
	} else {
		l.logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	}

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGUSR1)
	defer signal.Stop(sigs)

	pidfn := pidPath(o.pidbase)
	if err := writePid(pidfn); err != nil {
		l.logf("writepid: fopen %s: %s", pidfn, strerror(err))
		pidfn = ""
	}
	if child {
		ready()
		l.logf("Startup successful")
	}
	if err := becomeUser(runAs); err != nil {
		l.logf("%v", err)
		return 1
	}
	code := l.run(ctx, sigs)
	if pidfn != "" {
		removePid(pidfn)
	}
	return code
}

// syslogf sends messages to syslog as NUT does once in the background;
// without a syslog they are dropped, as NUT's would be.
func syslogf(prog string) func(string, ...any) {
	w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, prog)
	if err != nil {
		return func(string, ...any) {}
	}
	return func(format string, args ...any) { _ = w.Info(fmt.Sprintf(format, args...)) }
}
