package client

import (
	"net"
	"strconv"
	"strings"
)

// DefaultPort is upsd's TCP port (NUT's PORT).
const DefaultPort = 3493

// DefaultHost is the host a UPS name without "@host" refers to.
const DefaultHost = "localhost"

// UPSName is a parsed upsname[@hostname[:port]] reference, the form every
// NUT client takes on its command line (upsc myups@server:3493) and upsmon
// takes in MONITOR lines.
type UPSName struct {
	Name string // the UPS name as configured in the server's ups.conf
	Host string // host name or IP address, without brackets
	Port int    // TCP port, 1..65535
}

// Addr returns "host:port" for Dial, bracketing an IPv6 literal.
func (n UPSName) Addr() string {
	return net.JoinHostPort(n.Host, strconv.Itoa(n.Port))
}

// String returns the canonical name@host:port form.
func (n UPSName) String() string {
	return n.Name + "@" + n.Addr()
}

// NameError reports a UPS name or host address that cannot be parsed. Its
// Func and Reason are the words NUT's upsclient prints on stderr for the same
// input, so tools can reproduce NUT's output exactly:
//
//	upscli_splitaddr: no port specified after ':' separator
type NameError struct {
	Input  string // the text that was parsed
	What   string // "UPS name" or "host address"
	Func   string // NUT's reporting function: "upscli_splitname" or "upscli_splitaddr"
	Reason string // what is wrong, in NUT's words where NUT has them
}

func (e *NameError) Error() string {
	return "invalid " + e.What + " " + strconv.Quote(e.Input) + ": " + e.Reason
}

// NUTMessage is the line NUT's upsclient writes to stderr for this error,
// e.g. "upscli_splitaddr: can't parse empty string".
func (e *NameError) NUTMessage() string {
	return e.Func + ": " + e.Reason
}

// ParseUPSName splits upsname[@hostname[:port]] as NUT's upscli_splitname
// does: the host defaults to "localhost" and the port to 3493; an IPv6
// literal is written in brackets (ups@[::1]:3493).
//
// It follows NUT 2.8.0 quirk for quirk where NUT gives an answer (the port
// is read like strtol, so "host:12x" is port 12; only the first '@' splits,
// so "a@b@c" is UPS "a" on host "b@c"), and returns an error where NUT
// crashes or reads a name out of the separator ("@", "@host", "ups@[]",
// "ups@:3493").
func ParseUPSName(s string) (UPSName, error) {
	if s == "" {
		return UPSName{}, &NameError{Input: s, What: "UPS name", Func: "upscli_splitname", Reason: "can't parse empty string"}
	}
	name, addr, hasHost := strings.Cut(s, "@")
	if name == "" {
		return UPSName{}, &NameError{Input: s, What: "UPS name", Func: "upscli_splitname", Reason: "no UPS name before '@'"}
	}
	if !hasHost {
		return UPSName{Name: name, Host: DefaultHost, Port: DefaultPort}, nil
	}
	host, port, err := ParseHostPort(addr)
	if err != nil {
		ne := err.(*NameError)
		ne.Input, ne.What = s, "UPS name"
		return UPSName{}, ne
	}
	return UPSName{Name: name, Host: host, Port: port}, nil
}

// ParseHostPort splits hostname[:port] as NUT's upscli_splitaddr does (the
// argument of upsc -l): the port defaults to 3493 and an IPv6 literal must
// be bracketed, [::1] or [::1]:3493. Text after the closing bracket that does
// not start with ':' is ignored, as in NUT.
func ParseHostPort(s string) (host string, port int, err error) {
	fail := func(reason string) (string, int, error) {
		return "", 0, &NameError{Input: s, What: "host address", Func: "upscli_splitaddr", Reason: reason}
	}
	if s == "" {
		return fail("can't parse empty string")
	}
	var rest string
	if s[0] == '[' {
		var ok bool
		host, rest, ok = strings.Cut(s[1:], "]")
		if !ok {
			return fail("missing closing bracket in [domain literal]")
		}
		if host == "" {
			return fail("empty [domain literal]")
		}
		if !strings.HasPrefix(rest, ":") {
			return host, DefaultPort, nil
		}
	} else {
		var hasPort bool
		host, rest, hasPort = strings.Cut(s, ":")
		if !hasPort {
			return host, DefaultPort, nil
		}
		rest = ":" + rest
	}
	port, ok := strtolPort(rest[1:])
	if !ok {
		return fail("no port specified after ':' separator")
	}
	if host == "" {
		// NUT's strtok skips the leading ':' and takes what follows as
		// the host name (":3493" is host "3493"); refuse instead.
		return fail("no hostname before ':' separator")
	}
	return host, port, nil
}

// strtolPort reads a port number the way NUT does, with strtol(s, NULL, 10):
// leading white space and a sign are allowed and parsing stops at the first
// non-digit. ok is false when the value is not in 1..65535.
func strtolPort(s string) (int, bool) {
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
		if n <= 65535 {
			n = n*10 + int(s[i]-'0')
		}
	}
	if neg || n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}
