package main

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// defaultFormat is NUT's DEFAULT_LOGFORMAT.
const defaultFormat = "%TIME @Y@m@d @H@M@S% %VAR battery.charge% %VAR input.voltage% " +
	"%VAR ups.load% [%VAR ups.status%] %VAR ups.temperature% %VAR input.frequency%"

// itemKind is what one piece of a compiled format inserts.
type itemKind int

const (
	literal  itemKind = iota // text as written
	invalid                  // NUT's "INVALID"
	timeOf                   // %TIME fmt%: strftime, '@' standing for '%'
	etime                    // %ETIME%: seconds since the epoch
	host                     // %HOST%: this machine's host name
	upsHost                  // %UPSHOST%: the UPS as given on the command line
	pid                      // %PID%: upslog's process id
	variable                 // %VAR name%: the variable's value, or NA
)

// item is one piece of a compiled format.
type item struct {
	kind itemKind
	arg  string // the literal text, the strftime format or the variable name
}

// escapes are the %NAME ...% commands, matched as NUT does: the word after
// '%' need only begin with the name, in any case ("%variable x%" is VAR).
var escapes = []struct {
	name string
	kind itemKind
}{
	{"TIME", timeOf},
	{"VAR", variable},
	{"HOST", host},
	{"PID", pid},
	{"ETIME", etime},
	{"UPSHOST", upsHost},
}

func lookupEscape(word string) (itemKind, bool) {
	for _, e := range escapes {
		if len(word) >= len(e.name) && strings.EqualFold(word[:len(e.name)], e.name) {
			return e.kind, true
		}
	}
	return 0, false
}

// compileFormat turns a format string into items the way NUT's
// compile_format reads it, so that every format NUT accepts gives the same
// line:
//
//   - "%%" is a '%';
//   - "%NAME arg%" is an escape; the argument is everything after the
//     first space (%VAR  x% asks for " x");
//   - an unknown %...% is INVALID, and so is a '%' without a closing one,
//     after which the rest is read on as plain text;
//   - %VAR without a dotted name is INVALID (old-style names are gone).
//
// Two differences, both where NUT 2.8.0 has no sensible output: "%t" is a
// tab (as in NUT 2.8.2 and later) unless what follows reads as an escape
// ("%time ...%" stays a time), and %TIME% without a format is INVALID
// (NUT 2.8.0 crashes on it).
func compileFormat(f string) []item {
	var items []item
	lit := func(s string) {
		if n := len(items); n > 0 && items[n-1].kind == literal {
			items[n-1].arg += s
			return
		}
		items = append(items, item{kind: literal, arg: s})
	}
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			lit(f[i : i+1])
			continue
		}
		if i+1 < len(f) && f[i+1] == '%' {
			lit("%")
			i++
			continue
		}
		rest := f[i+1:]
		end := strings.IndexByte(rest, '%')
		word := ""
		if end >= 0 {
			word, _, _ = strings.Cut(rest[:end], " ")
		}
		kind, known := lookupEscape(word)
		if !known && strings.HasPrefix(rest, "t") {
			lit("\t")
			i++
			continue
		}
		if end < 0 {
			items = append(items, item{kind: invalid})
			continue
		}
		i += end + 1
		if !known {
			items = append(items, item{kind: invalid})
			continue
		}
		_, arg, hasArg := strings.Cut(rest[:end], " ")
		switch kind {
		case timeOf:
			if !hasArg {
				items = append(items, item{kind: invalid})
				continue
			}
			items = append(items, item{kind: timeOf, arg: strings.ReplaceAll(arg, "@", "%")})
		case variable:
			if arg == "" || !strings.Contains(arg, ".") {
				items = append(items, item{kind: invalid})
				continue
			}
			items = append(items, item{kind: variable, arg: arg})
		default:
			items = append(items, item{kind: kind})
		}
	}
	return items
}

// source is what a line is rendered from: the monitored UPS and the host.
type source interface {
	// getVar returns a variable's value; any error is logged as NA.
	getVar(ctx context.Context, name string) (string, error)
	// spec is the UPS as given on the command line (ups@host:port).
	spec() string
}

// env holds what the escapes read besides the UPS, so tests can fix them.
type env struct {
	now      func() time.Time
	hostname func() (string, error)
	pid      int
}

// render builds one log line (without its newline).
func render(ctx context.Context, items []item, src source, e env) string {
	var b strings.Builder
	for _, it := range items {
		switch it.kind {
		case literal:
			b.WriteString(it.arg)
		case invalid:
			b.WriteString("INVALID")
		case timeOf:
			b.WriteString(strftime(it.arg, e.now()))
		case etime:
			b.WriteString(strconv.FormatInt(e.now().Unix(), 10))
		case host:
			// NUT writes nothing when gethostname fails.
			if h, err := e.hostname(); err == nil {
				b.WriteString(h)
			}
		case upsHost:
			b.WriteString(src.spec())
		case pid:
			b.WriteString(strconv.Itoa(e.pid))
		case variable:
			v, err := src.getVar(ctx, it.arg)
			if err != nil {
				v = "NA"
			}
			b.WriteString(v)
		}
	}
	return b.String()
}
