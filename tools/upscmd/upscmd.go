package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gonut/gonut/client"
	"github.com/gonut/gonut/client/nutcli"
)

// nutVersion is the NUT release whose upscmd this one reproduces.
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

// pollEvery is how often -w asks upsd for the command's result: NUT's
// upscmd sleeps one second between two questions.
var pollEvery = time.Second

func usage(w io.Writer, prog string) {
	fmt.Fprintf(w, `Network UPS Tools upscmd %s

usage: %[2]s [-h]
       %[2]s [-l <ups>]
       %[2]s [-u <username>] [-p <password>] [-w] [-t <timeout>] <ups> <command> [<value>]

Administration program to initiate instant commands on UPS hardware.

  -h		display this help text
  -l <ups>	show available commands on UPS <ups>
  -u <username>	set username for command authentication
  -p <password>	set password for command authentication
  -w            wait for the completion of command by the driver
                and return its actual result from the device
  -t <timeout>	set a timeout when using -w (in seconds, default: %[3]d)

  <ups>		UPS identifier - <upsname>[@<hostname>[:<port>]]
  <command>	Valid instant command - test.panel.start, etc.
  [<value>]	Additional data for command - number of seconds, etc.
`, nutVersion, prog, defaultWait)
}

// flags are upscmd's options.
type flags struct {
	list               bool // -l
	username, password string
	haveUser, havePass bool
	wait               bool // -w
	waitFor            uint // -t, seconds
}

// run is upscmd with args[0] the program name, as in os.Args; it returns
// the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	prog := "upscmd"
	if len(args) > 0 {
		prog = filepath.Base(args[0])
	}
	f := flags{waitFor: defaultWait}
	g := nutcli.NewGetopt(args, "lhu:p:t:wV")
	for {
		o, more := g.Next()
		if !more {
			break
		}
		switch o.Letter {
		case 'l':
			f.list = true
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
			fmt.Fprintf(stderr, "Network UPS Tools upscmd %s\n", nutVersion)
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
	err := upscmd(f, prog, rest, out, stderr)
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

func upscmd(f flags, prog string, args []string, out *bufio.Writer, stderr io.Writer) error {
	name, err := client.ParseUPSName(args[0])
	if err != nil {
		var nerr *client.NameError
		if errors.As(err, &nerr) {
			fmt.Fprintln(stderr, nerr.NUTMessage())
		}
		return nutcli.Fatal("Error: invalid UPS definition.  Required format: upsname[@hostname[:port]]")
	}
	ctx := context.Background()
	// NUT connects before it looks at the rest of the arguments.
	c, err := client.Dial(ctx, name.Addr(), client.WithTimeout(timeout))
	if err != nil {
		return err
	}
	// Like NUT's upscmd, say LOGOUT on the way out.
	defer c.Close()

	if f.list {
		return listCmds(ctx, c, name.Name, out)
	}
	if len(args) < 2 {
		usage(out, prog)
		return nil
	}
	cmd := args[1]
	if !strings.Contains(cmd, ".") {
		return nutcli.Fatal("Error: old command names are not supported")
	}
	if err := credentials(&f, out, stderr); err != nil {
		return err
	}
	if err := login(ctx, c, f); err != nil {
		return err
	}
	if f.wait {
		err := c.SetTracking(ctx, true)
		var nerr *client.Error
		switch {
		case errors.As(err, &nerr):
			return nutcli.Fatal("Enabling command status tracking failed. upsd answered: " + nutcli.ReplyLine(nerr))
		case err != nil:
			return nutcli.Stage(err, "Can't enable command status tracking", "Enabling command status tracking failed")
		}
	}
	var param []string
	if len(args) > 2 {
		param = args[2:3]
	}
	var id string
	if f.wait {
		id, err = c.InstCmdTracked(ctx, name.Name, cmd, param...)
	} else {
		err = c.InstCmd(ctx, name.Name, cmd, param...)
	}
	var nerr *client.Error
	switch {
	case errors.As(err, &nerr):
		return nutcli.Fatal("Unexpected response from upsd: " + nutcli.ReplyLine(nerr))
	case err != nil:
		return nutcli.Stage(err, "Can't send instant command", "Instant command failed")
	case id == "":
		// Without -w, or from a upsd that gave no tracking id.
		fmt.Fprintln(stderr, "OK")
		return nil
	}
	return nutcli.WaitResult(ctx, c, id, time.Duration(f.waitFor)*time.Second, pollEvery, stderr)
}

// credentials asks for what -u and -p did not give, as NUT's upscmd does:
// the username on stdout/stdin, the password with getpass.
func credentials(f *flags, out *bufio.Writer, stderr io.Writer) error {
	p := nutcli.Prompter{Stdin: stdin, Stdout: nutcli.Flushing(out), Stderr: stderr, OpenTTY: openTTY}
	if !f.haveUser {
		def, known := nutcli.CurrentUser()
		prompt := "Username: "
		if known {
			prompt = "Username (" + def + "): "
		}
		line, ok, err := p.ReadLine(prompt)
		if err != nil || !ok {
			return nutcli.Fatal("Error reading from stdin!")
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
	return nil
}

// login sends USERNAME and PASSWORD. Their ERR answers are not errors
// here, as in NUT (upsd refuses the command later, and says why); an empty
// username or password is not sent at all, which leads to the same
// refusal NUT's empty "USERNAME " line gets.
func login(ctx context.Context, c *client.Client, f flags) error {
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
	return nil
}

// listCmds is -l: the commands of the UPS, each with its description.
func listCmds(ctx context.Context, c *client.Client, ups string, out *bufio.Writer) error {
	cmds, err := c.ListCmds(ctx, ups)
	if errors.Is(err, client.ErrUnknownCommand) {
		return nutcli.Fatal("Error: upsd is too old to support this query")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Instant commands supported on UPS [%s]:\n\n", ups)
	for _, cmd := range cmds {
		// NUT prints the bare name when the description cannot be had.
		if desc, err := c.GetCmdDesc(ctx, ups, cmd); err == nil {
			fmt.Fprintf(out, "%s - %s\n", cmd, desc)
		} else {
			fmt.Fprintf(out, "%s\n", cmd)
		}
	}
	return nil
}
