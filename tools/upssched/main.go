package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/gonut/gonut/sdk/nutconf"
)

func main() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) }

func usage(w io.Writer) {
	fmt.Fprint(w, `upssched: timer helper for upsmon (run it as upsmon's NOTIFYCMD)

usage: upssched        act on NOTIFYTYPE and UPSNAME from the environment,
                       as upssched.conf in NUT_CONFPATH (/etc/nut) says
       upssched -l     list the running timers: name, seconds left,
                       UPS and notify type that started it
       upssched -h     this help
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if os.Getenv(envDaemon) != "" {
		return runDaemon(NewLogger(nil))
	}
	log := NewLogger(stderr)
	// upsmon passes its message as the one argument; only these two
	// exact arguments are taken as options (NUT's upssched has none).
	var list bool
	if len(args) == 2 {
		switch args[1] {
		case "-h", "--help":
			usage(stdout)
			return 0
		case "-l":
			list = true
		}
	}
	cfg, err := LoadConfig(nutconf.ConfPath())
	var ce *ConfError
	if err != nil && (!errors.As(err, &ce) || ce.Fatal) {
		log.Errorf("%v", err)
		return 1
	}
	if cfg.DebugMin > log.Debug {
		log.Debug = cfg.DebugMin
	}
	if ce != nil {
		for _, e := range ce.Errs {
			log.Errorf("%v (line ignored)", e)
		}
	}
	client := &Client{Cfg: cfg, Log: log}
	if list {
		return listTimers(client, stdout, log)
	}
	ups, okU := os.LookupEnv("UPSNAME")
	nt, okN := os.LookupEnv("NOTIFYTYPE")
	if !okU || !okN {
		// NUT's words, on stdout as NUT prints them.
		fmt.Fprint(stdout, "Error: UPSNAME and NOTIFYTYPE must be set.\nThis program should only be run from upsmon.\n")
		return 1
	}
	code := 0
	if ce != nil {
		code = 1
	}
	exec := ShellRunner(cfg.CmdScript, log, stdout, stderr)
	for _, at := range cfg.ATs {
		if !at.Matches(nt, ups) {
			continue
		}
		if err := act(client, exec, at, ups, nt); err != nil {
			log.Errorf("%s:%d: %v", cfg.File, at.Line, err)
			code = 1
		}
	}
	return code
}

// act does what one matching AT line says.
func act(c *Client, exec Runner, at At, ups, nt string) error {
	secs := strconv.Itoa(at.Seconds)
	var err error
	switch at.Action {
	case StartTimer:
		_, err = c.Send(encode("START", at.Name, secs, ups, nt), false)
	case StartTimerShared:
		_, err = c.Send(encode("START-SHARED", at.Name, secs, ups, nt), false)
	case CancelTimer:
		_, err = c.Send(encode("CANCEL", at.Name, at.Cmd, ups, nt), at.Cmd == "")
	case CancelTimerMatched:
		_, err = c.Send(encode("CANCEL-MATCHED", at.Name, at.Cmd, ups, nt), at.Cmd == "")
	case Execute:
		c.Log.Infof("Executing command: %s", at.Cmd)
		exec(at.Cmd, cmdEnv(ups, nt))
	}
	return err
}

func listTimers(c *Client, stdout io.Writer, log *Logger) int {
	ts, err := c.List()
	if err != nil {
		log.Errorf("%v", err)
		return 1
	}
	for _, t := range ts {
		// Whole seconds, rounded up: a timer about to fire shows 1.
		left := (t.Left.Milliseconds() + 999) / 1000
		fmt.Fprintf(stdout, "%s\t%d\t%s\t%s\n", t.Name, left, t.UPS, t.NotifyType)
	}
	return 0
}
