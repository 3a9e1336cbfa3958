package main

import (
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gonut/gonut/sdk/nutconf"
)

// confName is the file upssched reads from NUT_CONFPATH (default /etc/nut).
const confName = "upssched.conf"

// Action is what an AT line does when it matches.
type Action int

const (
	// StartTimer adds a timer (START-TIMER name secs). As in NUT, starting
	// a name that already runs adds a second timer: both fire.
	StartTimer Action = iota
	// StartTimerShared starts a timer unless one of that name already runs
	// (START-TIMER-SHARED name secs): one timer for every UPS that asks.
	StartTimerShared
	// CancelTimer cancels the oldest running timer of that name, or runs
	// cmd through CMDSCRIPT when none runs (CANCEL-TIMER name [cmd]).
	CancelTimer
	// CancelTimerMatched cancels every running timer whose name matches a
	// shell pattern, or runs cmd when none matched
	// (CANCEL-TIMER-MATCHED pattern [cmd]).
	CancelTimerMatched
	// Execute runs cmd through CMDSCRIPT at once (EXECUTE cmd).
	Execute
)

var actionNames = map[string]Action{
	"START-TIMER":          StartTimer,
	"START-TIMER-SHARED":   StartTimerShared,
	"CANCEL-TIMER":         CancelTimer,
	"CANCEL-TIMER-MATCHED": CancelTimerMatched,
	"EXECUTE":              Execute,
}

func (a Action) String() string {
	for name, v := range actionNames {
		if v == a {
			return name
		}
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// notifyTypes are the NOTIFYTYPE values upsmon sends: NUT 2.8.0's, and the
// ones later NUT releases added, so that a configuration written for a
// newer upsmon is not refused. An AT naming anything else could never
// match: it is reported as the typo it almost surely is.
var notifyTypes = []string{
	"ONLINE", "ONBATT", "LOWBATT", "FSD", "COMMOK", "COMMBAD", "SHUTDOWN",
	"REPLBATT", "NOCOMM", "NOPARENT", "CAL", "NOTCAL", "OFF", "NOTOFF",
	"BYPASS", "NOTBYPASS",
	// NUT 2.8.1 and later.
	"ECO", "NOTECO", "ALARM", "NOTALARM", "OVER", "NOTOVER", "TRIM",
	"NOTTRIM", "BOOST", "NOTBOOST", "OTHER", "NOTOTHER",
	"SUSPEND_STARTING", "SUSPEND_FINISHED",
}

func knownNotifyType(t string) bool {
	for _, k := range notifyTypes {
		if strings.EqualFold(k, t) {
			return true
		}
	}
	return false
}

// At is one AT line: when NotifyType (compared without regard to case, as
// NUT does) happens on UPS (exactly, or "*" for any), do Action.
type At struct {
	Line       int
	NotifyType string
	UPS        string
	Action     Action
	// Name is the timer (StartTimer*, CancelTimer) or the shell pattern
	// of timer names (CancelTimerMatched).
	Name string
	// Seconds is the timer's length (StartTimer*).
	Seconds int
	// Cmd is the argument given to CMDSCRIPT: EXECUTE's, or the optional
	// one of CANCEL-TIMER*; "" when none.
	Cmd string
}

// Matches reports whether the line applies to this call of upssched.
func (a At) Matches(notifyType, ups string) bool {
	return (a.UPS == "*" || a.UPS == ups) && strings.EqualFold(a.NotifyType, notifyType)
}

// Config is a parsed upssched.conf.
type Config struct {
	File      string
	CmdScript string // CMDSCRIPT: run as "CMDSCRIPT arg" by /bin/sh
	PipeFn    string // PIPEFN: the timer daemon's unix socket
	LockFn    string // LOCKFN: held while a daemon is being started
	DebugMin  int    // DEBUG_MIN: 1 or more logs what the daemon does
	ATs       []At
}

// ConfError lists the configuration's problems, each as file:line: message.
// Fatal is set when the configuration cannot be used at all (no CMDSCRIPT,
// PIPEFN or LOCKFN before the first AT); otherwise the lines named were
// skipped and the rest of the file is usable, as NUT skips them too.
type ConfError struct {
	Errs  []error
	Fatal bool
}

func (e *ConfError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "\n")
}

// LoadConfig reads upssched.conf from dir.
func LoadConfig(dir string) (*Config, error) {
	p := filepath.Join(dir, confName)
	lines, err := nutconf.ParseFile(p)
	if err != nil {
		if errors.Is(err, nutconf.ErrHashInQuotes) {
			return nil, &ConfError{Errs: []error{err}, Fatal: true}
		}
		return nil, fmt.Errorf("cannot read %s: %w", p, err)
	}
	return parseLines(lines, p)
}

// ParseConfig reads upssched.conf from r; file names it in errors.
func ParseConfig(r io.Reader, file string) (*Config, error) {
	lines, err := nutconf.Parse(r, file)
	if err != nil {
		return nil, &ConfError{Errs: []error{err}, Fatal: true}
	}
	return parseLines(lines, file)
}

// parseLines checks every line. It returns the usable Config even when
// some lines are wrong, together with a *ConfError naming them.
func parseLines(lines []nutconf.Line, file string) (*Config, error) {
	c := &Config{File: file}
	ce := &ConfError{}
	bad := func(l nutconf.Line, format string, args ...any) {
		ce.Errs = append(ce.Errs, nutconf.Errorf(file, l.Num, format, args...))
	}
	for _, l := range lines {
		w := l.Words
		switch w[0] {
		case "CMDSCRIPT", "PIPEFN", "LOCKFN":
			if len(w) != 2 || w[1] == "" {
				bad(l, "%s takes one value, the path (quote it if it has spaces): %s", w[0], strings.Join(w, " "))
				continue
			}
			switch w[0] {
			case "CMDSCRIPT":
				c.CmdScript = w[1]
			case "PIPEFN":
				c.PipeFn = w[1]
			case "LOCKFN":
				c.LockFn = w[1]
			}
		case "DEBUG_MIN":
			n, err := strconv.Atoi(valueOf(w))
			if len(w) != 2 || err != nil || n < 0 {
				bad(l, "DEBUG_MIN takes a number 0 or more: %s", strings.Join(w, " "))
				continue
			}
			c.DebugMin = n
		case "AT":
			// NUT needs these before any AT, because it acts on each AT
			// as it reads it; a file gonut accepts must work with NUT.
			var missing []string
			for _, k := range []struct{ name, v string }{{"CMDSCRIPT", c.CmdScript}, {"PIPEFN", c.PipeFn}, {"LOCKFN", c.LockFn}} {
				if k.v == "" {
					missing = append(missing, k.name)
				}
			}
			if len(missing) > 0 {
				bad(l, "%s must be set before any AT", strings.Join(missing, ", "))
				ce.Fatal = true
				return c, ce
			}
			at, err := parseAt(w)
			if err != nil {
				bad(l, "%v: %s", err, strings.Join(w, " "))
				continue
			}
			at.Line = l.Num
			c.ATs = append(c.ATs, at)
		default:
			bad(l, "unknown directive %q (want CMDSCRIPT, PIPEFN, LOCKFN, DEBUG_MIN or AT)", w[0])
		}
	}
	if len(ce.Errs) > 0 {
		return c, ce
	}
	return c, nil
}

func valueOf(w []string) string {
	if len(w) < 2 {
		return ""
	}
	return w[1]
}

// parseAt reads AT <notifytype> <upsname|*> <command> <args...>.
func parseAt(w []string) (At, error) {
	if len(w) < 4 {
		return At{}, errors.New("AT needs a notify type, a UPS name (or *) and a command")
	}
	at := At{NotifyType: w[1], UPS: w[2]}
	if !knownNotifyType(at.NotifyType) {
		return At{}, fmt.Errorf("unknown notify type %q (want one of %s)", at.NotifyType, strings.Join(notifyTypes, " "))
	}
	if at.UPS == "" {
		return At{}, errors.New("empty UPS name (use * for every UPS)")
	}
	act, ok := actionNames[w[3]]
	if !ok {
		return At{}, fmt.Errorf("unknown command %q (want START-TIMER, START-TIMER-SHARED, CANCEL-TIMER, CANCEL-TIMER-MATCHED or EXECUTE)", w[3])
	}
	at.Action = act
	args := w[4:]
	switch act {
	case StartTimer, StartTimerShared:
		if len(args) != 2 {
			return At{}, fmt.Errorf("%s takes a timer name and a number of seconds", w[3])
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 0 {
			return At{}, fmt.Errorf("%s: %q is not a number of seconds (0 or more)", w[3], args[1])
		}
		at.Name, at.Seconds = args[0], n
	case CancelTimer, CancelTimerMatched:
		if len(args) < 1 || len(args) > 2 {
			return At{}, fmt.Errorf("%s takes a timer name and an optional command", w[3])
		}
		at.Name = args[0]
		if len(args) == 2 {
			at.Cmd = args[1]
		}
		if act == CancelTimerMatched {
			if _, err := path.Match(at.Name, ""); err != nil {
				return At{}, fmt.Errorf("%s: bad pattern %q: %v", w[3], at.Name, err)
			}
		}
	case Execute:
		if len(args) != 1 || args[0] == "" {
			return At{}, errors.New("EXECUTE takes one non-empty command (quote it if it has spaces)")
		}
		at.Cmd = args[0]
	}
	if act != Execute && at.Name == "" {
		return At{}, fmt.Errorf("%s: empty timer name", w[3])
	}
	return at, nil
}
