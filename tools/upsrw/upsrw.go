package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gonut/gonut/client"
	"github.com/gonut/gonut/client/nutcli"
)

// nutVersion is the NUT release whose upsrw this one reproduces.
const nutVersion = "2.8.0"

// defaultWait is -t's default, NUT's DEFAULT_TRACKING_TIMEOUT (seconds).
const defaultWait = 10

// Where prompts read their answers; tests replace them.
var (
	stdin   io.Reader = os.Stdin
	openTTY           = nutcli.OpenTTY
)

// timeout bounds each exchange with upsd, and connecting. NUT's client
// gives up on a silent server after 5 seconds ("Server disconnected").
var timeout = 5 * time.Second

// pollEvery is how often -w asks upsd for the result: NUT's upsrw sleeps
// one second between two questions.
var pollEvery = time.Second

func usage(w io.Writer, prog string) {
	fmt.Fprintf(w, `Network UPS Tools %[2]s %[1]s

usage: %[2]s [-h]
       %[2]s [-s <variable>] [-u <username>] [-p <password>] [-w] [-t <timeout>] <ups>

Demo program to set variables within UPS hardware.

  -h            display this help text
  -s <variable>	specify variable to be changed
		use -s VAR=VALUE to avoid prompting for value
  -l            show all possible read/write variables.
  -u <username> set username for command authentication
  -p <password> set password for command authentication
  -w            wait for the completion of setting by the driver
                and return its actual result from the device
  -t <timeout>	set a timeout when using -w (in seconds, default: %[3]d)

  <ups>         UPS identifier - <upsname>[@<hostname>[:<port>]]

Call without -s to show all possible read/write variables (same as -l).
`, nutVersion, prog, defaultWait)
}

// flags are upsrw's options.
type flags struct {
	setvar             string // -s: VAR or VAR=VALUE
	set                bool
	username, password string
	haveUser, havePass bool
	wait               bool // -w
	waitFor            uint // -t, seconds
}

// run is upsrw with args[0] the program name, as in os.Args; it returns
// the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	prog := "upsrw"
	if len(args) > 0 {
		prog = filepath.Base(args[0])
	}
	f := flags{waitFor: defaultWait}
	g := nutcli.NewGetopt(args, "hls:p:t:u:wV")
	for {
		o, more := g.Next()
		if !more {
			break
		}
		switch o.Letter {
		case 's':
			f.setvar, f.set = o.Arg, true
		case 'l':
			if f.set {
				fmt.Fprintln(stderr, "Listing mode requested, overriding setvar specified earlier!")
				f.setvar, f.set = "", false
			}
		case 'u':
			f.username, f.haveUser = o.Arg, true
		case 'p':
			f.password, f.havePass = o.Arg, true
		case 't':
			n, err := nutcli.ParseUint(o.Arg)
			if err != nil {
				fmt.Fprintf(stderr, "Could not convert the provided value for timeout ('-t' option) to unsigned int: %v\n", err)
				return 1
			}
			f.waitFor = n
		case 'w':
			f.wait = true
		case 'V':
			// upsrw, unlike upscmd, prints its version on stdout.
			fmt.Fprintf(stdout, "Network UPS Tools %s %s\n", prog, nutVersion)
			return 0
		default: // -h, an unknown option, a missing argument
			if o.Err != "" {
				fmt.Fprintln(stderr, o.Err)
			}
			usage(stdout, prog)
			return 0
		}
	}
	rest := g.Rest()
	if len(rest) < 1 {
		usage(stdout, prog)
		return 0
	}
	out := bufio.NewWriter(stdout)
	err := upsrw(f, rest[0], out, stderr)
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = nutcli.Fatal("write error: " + ferr.Error())
	}
	var fatal nutcli.Fatal
	switch {
	case err == nil:
		return 0
	case errors.As(err, &fatal):
		fmt.Fprintln(stderr, string(fatal))
	default:
		fmt.Fprintf(stderr, "Error: %s\n", client.Strerror(err))
	}
	return 1
}

func upsrw(f flags, upsArg string, out *bufio.Writer, stderr io.Writer) error {
	name, err := client.ParseUPSName(upsArg)
	if err != nil {
		var nerr *client.NameError
		if errors.As(err, &nerr) {
			fmt.Fprintln(stderr, nerr.NUTMessage())
		}
		return nutcli.Fatal("Error: invalid UPS definition.  Required format: upsname[@hostname[:port]]")
	}
	ctx := context.Background()
	c, err := client.Dial(ctx, name.Addr(), client.WithTimeout(timeout))
	if err != nil {
		return err
	}
	// Like NUT's upsrw, say LOGOUT on the way out.
	defer c.Close()
	if f.set {
		return setVar(ctx, c, f, name.Name, out, stderr)
	}
	return listRW(ctx, c, name.Name, out)
}

// setVar is -s: ask for what is missing, log in, set, and with -w wait
// for the driver's result.
func setVar(ctx context.Context, c *client.Client, f flags, ups string, out *bufio.Writer, stderr io.Writer) error {
	p := nutcli.Prompter{Stdin: stdin, Stdout: nutcli.Flushing(out), Stderr: stderr, OpenTTY: openTTY}
	if !f.haveUser {
		def, known := nutcli.CurrentUser()
		prompt := "Username: "
		if known {
			prompt = "Username (" + def + "): "
		}
		// Unlike upscmd, upsrw goes on with the default at the end of input.
		line, _, err := p.ReadLine(prompt)
		if err != nil {
			line = ""
		}
		f.username = strings.TrimSuffix(line, "\n")
		if f.username == "" {
			if !known {
				return nutcli.Fatal("No username available - even tried getpwuid")
			}
			f.username = def
		}
	}
	if !f.havePass {
		pw, err := p.Password("Password: ")
		if err != nil {
			return nutcli.Fatal("getpass failed: " + nutcli.Strerror(err))
		}
		f.password = pw
	}
	varName, value, hasValue := strings.Cut(f.setvar, "=")
	if !hasValue {
		line, _, _ := p.ReadLine("Enter new value for " + varName + ": ")
		value = strings.TrimSuffix(line, "\n")
	}

	// Their ERR answers are not errors here, as in NUT: upsd refuses the
	// SET later and says why. An empty username or password is not sent,
	// which leads to the refusal NUT's empty "USERNAME " line gets.
	var nerr *client.Error
	if f.username != "" {
		if err := c.Username(ctx, f.username); err != nil && !errors.As(err, &nerr) {
			return nutcli.Stage(err, "Can't set username", "Set username failed")
		}
	}
	if f.password != "" {
		if err := c.Password(ctx, f.password); err != nil && !errors.As(err, &nerr) {
			return nutcli.Stage(err, "Can't set password", "Set password failed")
		}
	}
	if !strings.Contains(varName, ".") {
		return nutcli.Fatal("Error: old variable names are not supported")
	}
	if f.wait {
		err := c.SetTracking(ctx, true)
		switch {
		case errors.As(err, &nerr):
			return nutcli.Fatal("Enabling set variable status tracking failed. upsd answered: " + nutcli.ReplyLine(nerr))
		case err != nil:
			return nutcli.Stage(err, "Can't enable set variable status tracking", "Enabling set variable status tracking failed")
		}
	}
	var id string
	var err error
	if f.wait {
		id, err = c.SetVarTracked(ctx, ups, varName, value)
	} else {
		err = c.SetVar(ctx, ups, varName, value)
	}
	switch {
	case errors.As(err, &nerr):
		return nutcli.Fatal("Unexpected response from upsd: " + nutcli.ReplyLine(nerr))
	case err != nil:
		return nutcli.Stage(err, "Can't set variable", "Set variable failed")
	case id == "":
		fmt.Fprintln(stderr, "OK")
		return nil
	}
	return nutcli.WaitResult(ctx, c, id, time.Duration(f.waitFor)*time.Second, pollEvery, stderr)
}

// listRW prints every writable variable with its description, type,
// allowed values and current value, as NUT's upsrw does.
func listRW(ctx context.Context, c *client.Client, ups string, out *bufio.Writer) error {
	vars, err := c.ListRW(ctx, ups)
	if errors.Is(err, client.ErrUnknownCommand) {
		return nutcli.Fatal("Error: upsd is too old to support this query")
	}
	if err != nil {
		return err
	}
	for _, v := range vars {
		fmt.Fprintf(out, "[%s]\n", v.Name)
		if desc, err := c.GetDesc(ctx, ups, v.Name); err == nil {
			fmt.Fprintf(out, "%s\n", desc)
		} else {
			fmt.Fprintf(out, "Description unavailable\n")
		}
		if err := printType(ctx, c, ups, v.Name, out); err != nil {
			return err
		}
		fmt.Fprintf(out, "\n")
	}
	return nil
}

// The kinds of ENUM NUT's upsrw tells apart.
const (
	enumPlain = iota // an old upsd that does not say STRING or NUMBER
	enumString
	enumNumber
)

// printType prints a variable's type and values as NUT's do_type: the
// first of RANGE, STRING:n and NUMBER decides, ENUM modifies the last two.
func printType(ctx context.Context, c *client.Client, ups, name string, out *bufio.Writer) error {
	t, err := c.GetType(ctx, ups, name)
	if err != nil {
		fmt.Fprintf(out, "Unknown type\n")
		return nil
	}
	isEnum := false
	for _, w := range t.Flags {
		switch {
		case strings.EqualFold(w, "ENUM"):
			isEnum = true
		case strings.EqualFold(w, "RANGE"):
			return printRange(ctx, c, ups, name, out)
		case len(w) >= 7 && strings.EqualFold(w[:7], "STRING:"):
			n := strtol(w[7:])
			if isEnum {
				return printEnum(ctx, c, ups, name, enumString, n, out)
			}
			val, err := c.GetVar(ctx, ups, name)
			if err != nil {
				return nutcli.Fatal("do_string: can't get current value of " + name)
			}
			fmt.Fprintf(out, "Type: STRING\nMaximum length: %d\nValue: %s\n", n, val)
			return nil
		case strings.EqualFold(w, "NUMBER"):
			if isEnum {
				return printEnum(ctx, c, ups, name, enumNumber, 0, out)
			}
			val, err := c.GetVar(ctx, ups, name)
			if err != nil {
				return nutcli.Fatal("do_number: can't get current value of " + name)
			}
			fmt.Fprintf(out, "Type: NUMBER\nValue: %s\n", val)
			return nil
		case strings.EqualFold(w, "RW"):
		default:
			fmt.Fprintf(out, "Type: %s (unrecognized)\n", w)
		}
	}
	if isEnum {
		return printEnum(ctx, c, ups, name, enumPlain, 0, out)
	}
	return nil
}

func printEnum(ctx context.Context, c *client.Client, ups, name string, kind int, maxLen int64, out *bufio.Writer) error {
	val, err := c.GetVar(ctx, ups, name)
	if err != nil {
		return nutcli.Fatal("do_enum: can't get current value of " + name)
	}
	values, err := c.ListEnum(ctx, ups, name)
	if err != nil {
		return nutcli.Fatal("Error: " + client.Strerror(err))
	}
	switch kind {
	case enumString:
		fmt.Fprintf(out, "Type: ENUM STRING\nMaximum length: %d\n", maxLen)
	case enumNumber:
		fmt.Fprintf(out, "Type: ENUM NUMBER\n")
	default:
		fmt.Fprintf(out, "Type: ENUM\n")
	}
	for _, v := range values {
		fmt.Fprintf(out, "Option: \"%s\"", v)
		if v == val {
			fmt.Fprintf(out, " SELECTED")
		}
		fmt.Fprintf(out, "\n")
	}
	return nil
}

func printRange(ctx context.Context, c *client.Client, ups, name string, out *bufio.Writer) error {
	val, err := c.GetVar(ctx, ups, name)
	if err != nil {
		return nutcli.Fatal("do_range: can't get current value of " + name)
	}
	ranges, err := c.ListRange(ctx, ups, name)
	if err != nil {
		return nutcli.Fatal("Error: " + client.Strerror(err))
	}
	fmt.Fprintf(out, "Type: RANGE NUMBER\n")
	v := atoi(val)
	for _, r := range ranges {
		lo, hi := atoi(r.Min), atoi(r.Max)
		fmt.Fprintf(out, "Option: \"%d-%d\"", lo, hi)
		if v >= lo && v <= hi {
			fmt.Fprintf(out, " SELECTED")
		}
		fmt.Fprintf(out, "\n")
	}
	return nil
}

// strtol reads a number as C's strtol(s, NULL, 10) does: leading white
// space, an optional sign, then digits up to the first other byte; 0 if
// there are none; clamped to the range of a 64-bit long.
func strtol(s string) int64 {
	i := 0
	for i < len(s) && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var n uint64
	over := false
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n > (math.MaxUint64-9)/10 {
			over = true
			continue
		}
		n = n*10 + uint64(s[i]-'0')
	}
	switch {
	case !neg && (over || n > math.MaxInt64):
		return math.MaxInt64
	case neg && (over || n > 1<<63):
		return math.MinInt64
	case neg:
		return -int64(n)
	}
	return int64(n)
}

// atoi is C's atoi as glibc implements it, (int)strtol: a value past the
// range of an int wraps around.
func atoi(s string) int32 { return int32(strtol(s)) }
