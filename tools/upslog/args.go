package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// nutVersion is the NUT release whose upslog this one reproduces; its
// banner opens every run, as NUT's does.
const nutVersion = "2.8.0"

// defaultInterval is the poll interval without -i, in seconds.
const defaultInterval = 30

func usage(w io.Writer, prog string) {
	fmt.Fprintf(w, `UPS status logger.

usage: %s [OPTIONS]

  -f <format>	- Log format.  See below for details.
		- Use -f "<format>" so your shell doesn't break it up.
  -i <interval>	- Time between updates, in seconds
  -l <logfile>	- Log file name, or - for stdout (foreground by default)
  -F		- stay foregrounded even if logging into a file
  -B		- stay backgrounded even if logging to stdout
  -p <pidbase>  - Base name for PID file (defaults to "%s")
  -s <ups>	- Monitor UPS <ups> - <upsname>@<host>[:<port>]
        	- Example: -s myups@server
  -u <user>	- Switch to <user> if started as root

Some valid format string escapes:
	%%%% insert a single %%
	%%TIME format%% insert the time with strftime formatting
	%%HOST%% insert the local hostname
	%%UPSHOST%% insert the host of the ups being monitored
	%%PID%% insert the pid of upslog
	%%VAR varname%% insert the value of ups variable varname

format string defaults to:
%s

See the upslog(8) man page for more information.
`, prog, prog, defaultFormat)
}

// tuple is one UPS to log and where to: -m ups,file, or -s with -l.
type tuple struct {
	spec    string // upsname[@hostname[:port]] as given
	logfile string // a path, or "-" for stdout
}

// options are upslog's parsed command line.
type options struct {
	tuples      []tuple // -m, in order
	monhost     string  // -s
	monhostSet  bool
	logfile     string // -l
	logfileSet  bool
	interval    int    // -i, seconds
	intervalArg string // -i as given, for the error message
	format      string // -f
	user        string // -u
	userSet     bool
	pidbase     string // -p
	foreground  int    // -1 unset, 0 after -B, 1 after -F
	count       int    // -d: stop after this many polls (0: never)
	prefixHost  bool   // -N
	debug       int    // -D
}

// action is what the command line asks for besides logging.
type action int

const (
	actRun action = iota
	actHelp
	actVersion
)

// fatal is an error upslog reports as NUT's fatalx does: the message alone
// on stderr, exit status 1.
type fatal string

func (f fatal) Error() string { return string(f) }

// atoi reads a number as C's atoi does: leading blanks and a sign, then
// digits up to the first other character; no digits is 0.
func atoi(s string) int {
	i := 0
	for i < len(s) && strings.IndexByte(" \t\n\v\f\r", s[i]) >= 0 {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	n := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n < 1<<30 {
			n = n*10 + int(s[i]-'0')
		}
	}
	if neg {
		return -n
	}
	return n
}

// withArg lists the options that take an argument (getopt's "x:").
const withArg = "slifupmd"

// parseArgs reads the command line as NUT's getopt("+hs:l:i:f:u:Vp:FBm:d:ND")
// loop does: options may be bundled and take their argument attached or
// as the next word; the first operand or "--" ends them. As in NUT 2.8.0,
// an unknown option or a missing argument is reported in getopt's words
// and otherwise ignored, -h and -V act at once, and three or more operands
// are the old form "<ups> <logfile> <interval> [<format>...]" while one or
// two show the help.
func parseArgs(prog string, args []string, stderr io.Writer) (options, action, error) {
	o := options{interval: defaultInterval, format: defaultFormat, user: "nut", foreground: -1}
	i := 0
options:
	for ; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			i++
			break options
		case len(a) < 2 || a[0] != '-':
			break options
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			var val string
			if strings.IndexByte(withArg, c) >= 0 {
				switch {
				case j+1 < len(a):
					val = a[j+1:]
				case i+1 < len(args):
					i++
					val = args[i]
				default:
					fmt.Fprintf(stderr, "%s: option requires an argument -- '%c'\n", prog, c)
					continue
				}
				j = len(a)
			}
			switch c {
			case 'h':
				return o, actHelp, nil
			case 'V':
				return o, actVersion, nil
			case 's':
				o.monhost, o.monhostSet = val, true
			case 'l':
				o.logfile, o.logfileSet = val, true
			case 'i':
				o.interval, o.intervalArg = atoi(val), val
			case 'f':
				o.format = val
			case 'u':
				o.user, o.userSet = val, true
			case 'p':
				o.pidbase = val
			case 'F':
				o.foreground = 1
			case 'B':
				o.foreground = 0
			case 'm':
				t, err := parseTuple(val)
				if err != nil {
					return o, actRun, err
				}
				o.tuples = append(o.tuples, t)
			case 'd':
				n, err := strconv.ParseUint(val, 10, 31)
				if err != nil {
					return o, actRun, fatal(fmt.Sprintf("Error: invalid count for -d: '%s' (a number of polls, 0 for no limit)", val))
				}
				o.count = int(n)
			case 'N':
				o.prefixHost = true
			case 'D':
				o.debug++
			default:
				fmt.Fprintf(stderr, "%s: invalid option -- '%c'\n", prog, c)
			}
		}
	}
	operands := args[i:]
	switch {
	case len(operands) == 1 || len(operands) == 2:
		return o, actHelp, nil
	case len(operands) >= 3:
		o.monhost, o.monhostSet = operands[0], true
		o.logfile, o.logfileSet = operands[1], true
		o.interval, o.intervalArg = atoi(operands[2]), operands[2]
		if len(operands) > 3 {
			// NUT joins the words with a space after each.
			o.format = strings.Join(operands[3:], " ") + " "
		}
	}
	if o.prefixHost {
		o.format = "%UPSHOST%%t" + o.format
	}

	if len(o.tuples) == 0 {
		if !o.monhostSet {
			return o, actRun, fatal("No UPS defined for monitoring - use -s <system>")
		}
		if !o.logfileSet {
			return o, actRun, fatal("No filename defined for logging - use -l <file>")
		}
	} else if o.monhostSet || o.logfileSet {
		if !o.monhostSet {
			return o, actRun, fatal("No UPS defined for monitoring - use -s <system> when using -l <file>, or use -m <ups,logfile>")
		}
		if !o.logfileSet {
			return o, actRun, fatal("No filename defined for logging - use -l <file> when using -s <system>, or use -m <ups,logfile>")
		}
	}
	if o.monhostSet {
		o.tuples = append(o.tuples, tuple{spec: o.monhost, logfile: o.logfile})
	}
	if o.interval < 1 {
		// NUT takes 0 (and anything atoi reads as 0) and then polls
		// without pause, flooding the log and upsd.
		arg := o.intervalArg
		return o, actRun, fatal(fmt.Sprintf("Error: invalid interval '%s': it must be a whole number of seconds, 1 or more", arg))
	}
	return o, actRun, nil
}

// parseTuple reads -m ups,logfile (NUT 2.8.1 and later).
func parseTuple(s string) (tuple, error) {
	spec, logfile, ok := strings.Cut(s, ",")
	if !ok || strings.Contains(logfile, ",") || logfile == "" {
		return tuple{}, fatal("Argument '-m upsspec,logfile' requires exactly 2 components in the tuple")
	}
	return tuple{spec: spec, logfile: logfile}, nil
}
