package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gonut/gonut/client"
)

// nutVersion is the NUT release whose upsc this one reproduces; it is
// what -h and -V print, so scripts that parse them keep working.
const nutVersion = "2.8.0"

// timeout is how long upsc waits for upsd. NUT's client gives up on a
// silent server after 5 seconds with "Server disconnected"; the same bound
// covers connecting, which NUT leaves to the system (minutes).
var timeout = 5 * time.Second

func usage(w io.Writer, prog string) {
	fmt.Fprintf(w, `Network UPS Tools upsc %s

usage: %[2]s -l | -L [<hostname>[:port]]
       %[2]s <ups> [<variable>]
       %[2]s -c <ups>

Demo program to display UPS variables.

First form (lists UPSes):
  -l         - lists each UPS on <hostname>, one per line.
  -L         - lists each UPS followed by its description (from ups.conf).
               Default hostname: localhost

Second form (lists variables and values):
  <ups>      - upsd server, <upsname>[@<hostname>[:<port>]] form
  <variable> - optional, display this variable only.
               Default: list all variables for <host>

Third form (lists clients connected to a device):
  -c         - lists each client connected on <ups>, one per line.
  <ups>      - upsd server, <upsname>[@<hostname>[:<port>]] form
`, nutVersion, prog)
}

type flags struct {
	list    bool // -l or -L: list UPSes
	verbose bool // -L: with descriptions
	clients bool // -c: list clients
	json    bool // -j: JSON output (a gonut extension, see README.md)
}

// fatal is NUT's fatalx: "Error: ..." on stderr, exit status 1.
type fatal string

func (f fatal) Error() string { return string(f) }

// run is upsc with args[0] the program name, as in os.Args; it returns the
// exit status.
func run(args []string, stdout, stderr io.Writer) int {
	prog := "upsc"
	if len(args) > 0 {
		prog = args[0]
		args = args[1:]
	}
	// Options are read as getopt("+hlLcVj") reads them: bundled letters,
	// "--" ends them, the first operand ends them, -h/-V/an unknown letter
	// act at once.
	var f flags
options:
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "--":
			args = args[1:]
			break options
		case len(a) < 2 || a[0] != '-':
			break options
		}
		for i := 1; i < len(a); i++ {
			switch a[i] {
			case 'L':
				f.list, f.verbose = true, true
			case 'l':
				f.list = true
			case 'c':
				f.clients = true
			case 'j':
				f.json = true
			case 'V':
				// NUT 2.8.0 prints "upscmd" here, a typo; gonut says upsc.
				fmt.Fprintf(stderr, "Network UPS Tools upsc %s\n", nutVersion)
				return 0
			case 'h':
				usage(stdout, filepath.Base(prog))
				return 0
			default:
				// NUT's upsc shows the help and exits 0 on a bad option.
				fmt.Fprintf(stderr, "%s: invalid option -- '%c'\n", prog, a[i])
				usage(stdout, filepath.Base(prog))
				return 0
			}
		}
		args = args[1:]
	}

	out := bufio.NewWriter(stdout)
	err := upsc(f, args, out)
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = fatal("write error: " + ferr.Error())
	}
	if err != nil {
		var two *lines
		if errors.As(err, &two) {
			var nerr *client.NameError
			if errors.As(two.first, &nerr) {
				fmt.Fprintln(stderr, nerr.NUTMessage())
			}
			fmt.Fprintf(stderr, "Error: %s\n", two.msg)
			return 1
		}
		var msg fatal
		if errors.As(err, &msg) {
			fmt.Fprintf(stderr, "Error: %s\n", string(msg))
			return 1
		}
		fmt.Fprintf(stderr, "Error: %s\n", client.Strerror(err))
		return 1
	}
	return 0
}

func upsc(f flags, args []string, out *bufio.Writer) error {
	var (
		addr string
		ups  string
	)
	if f.list {
		arg := "localhost"
		if len(args) > 0 {
			arg = args[0]
		}
		host, port, err := client.ParseHostPort(arg)
		if err != nil {
			return twoLines(err, "invalid hostname.\nRequired format: [hostname[:port]]")
		}
		addr = net.JoinHostPort(host, strconv.Itoa(port))
	} else {
		const bad = "invalid UPS definition.\nRequired format: upsname[@hostname[:port]]"
		if len(args) == 0 {
			return fatal(bad)
		}
		n, err := client.ParseUPSName(args[0])
		if err != nil {
			return twoLines(err, bad)
		}
		addr, ups = n.Addr(), n.Name
	}

	ctx := context.Background()
	c, err := client.Dial(ctx, addr, client.WithTimeout(timeout), tryTLS())
	if err != nil {
		return err
	}
	// Like NUT's upsc, say LOGOUT on the way out.
	defer c.Close()

	switch {
	case f.list:
		upses, err := c.ListUPS(ctx)
		if err != nil {
			return listErr(err)
		}
		if f.json {
			if f.verbose {
				pairs := make([][2]string, len(upses))
				for i, u := range upses {
					pairs[i] = [2]string{u.Name, u.Desc}
				}
				return jsonObject(out, pairs)
			}
			names := make([]string, len(upses))
			for i, u := range upses {
				names[i] = u.Name
			}
			return jsonArray(out, names)
		}
		for _, u := range upses {
			if f.verbose {
				fmt.Fprintf(out, "%s: %s\n", u.Name, u.Desc)
			} else {
				fmt.Fprintf(out, "%s\n", u.Name)
			}
		}
	case f.clients:
		addrs, err := c.ListClients(ctx, ups)
		if err != nil {
			return listErr(err)
		}
		if f.json {
			return jsonArray(out, addrs)
		}
		for _, a := range addrs {
			fmt.Fprintf(out, "%s\n", a)
		}
	case len(args) > 1:
		name := args[1]
		if !strings.Contains(name, ".") {
			return fatal("old-style variable names are not supported")
		}
		val, err := c.GetVar(ctx, ups, name)
		if errors.Is(err, client.ErrUnknownCommand) {
			return fatal("variable unknown (old upsd detected)")
		}
		if err != nil {
			return err
		}
		if f.json {
			return jsonObject(out, [][2]string{{name, val}})
		}
		fmt.Fprintf(out, "%s\n", val)
	default:
		vars, err := c.ListVars(ctx, ups)
		if err != nil {
			return listErr(err)
		}
		if f.json {
			pairs := make([][2]string, len(vars))
			for i, v := range vars {
				pairs[i] = [2]string{v.Name, v.Value}
			}
			return jsonObject(out, pairs)
		}
		for _, v := range vars {
			fmt.Fprintf(out, "%s: %s\n", v.Name, v.Value)
		}
	}
	return nil
}

// twoLines is a parse failure: NUT's library line, then upsc's message.
func twoLines(err error, msg string) error {
	return &lines{first: err, msg: msg}
}

type lines struct {
	first error
	msg   string
}

func (l *lines) Error() string { return l.msg }

// listErr words a failed LIST as NUT's upsc does.
func listErr(err error) error {
	if errors.Is(err, client.ErrUnknownCommand) {
		return fatal("upsd is too old to support this query")
	}
	return err
}

func jsonString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

func jsonArray(out *bufio.Writer, items []string) error {
	if len(items) == 0 {
		_, err := out.WriteString("[]\n")
		return err
	}
	out.WriteString("[\n")
	for i, s := range items {
		sep := ","
		if i == len(items)-1 {
			sep = ""
		}
		fmt.Fprintf(out, "  %s%s\n", jsonString(s), sep)
	}
	_, err := out.WriteString("]\n")
	return err
}

// jsonObject writes pairs as one object, in the order upsd gave them.
func jsonObject(out *bufio.Writer, pairs [][2]string) error {
	if len(pairs) == 0 {
		_, err := out.WriteString("{}\n")
		return err
	}
	out.WriteString("{\n")
	for i, p := range pairs {
		sep := ","
		if i == len(pairs)-1 {
			sep = ""
		}
		fmt.Fprintf(out, "  %s: %s%s\n", jsonString(p[0]), jsonString(p[1]), sep)
	}
	_, err := out.WriteString("}\n")
	return err
}

// tryTLS is how NUT 2.8.0's upsc connects (upscli_connect with
// UPSCLI_CONN_TRYSSL and no certificate verification): STARTTLS before
// anything else; when upsd offers TLS the session goes on encrypted
// without checking upsd's certificate, as Debian's NSS-built upsc does
// (it has no certificate database); when upsd refuses (no certificate
// configured), in plain text. A failed handshake ends the connection, as
// in NUT.
func tryTLS() client.Option {
	return client.WithTryStartTLS(&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // NUT's upsc does not verify either
}
