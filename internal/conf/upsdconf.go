package conf

import (
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/gonut/gonut/sdk/nutconf"
)

// DefaultPort is the NUT network protocol's TCP port, used by LISTEN lines
// that give no port.
const DefaultPort = "3493"

// NUT's defaults for upsd.conf settings.
const (
	DefaultMaxAge        = 15
	DefaultTrackingDelay = 3600
)

// Listen is one LISTEN directive.
type Listen struct {
	Addr string // host name or address as written; "*" and "::" are NUT's "any"
	Port string // as written, or DefaultPort when the line gave none
	Line int
}

// UpsdConf is a parsed upsd.conf.
type UpsdConf struct {
	File string

	MaxAge        int // seconds before a silent driver's data is stale; default 15
	TrackingDelay int // seconds a TRACKING result is kept; default 3600
	// MaxConn is the connection limit; by default the process's open-file
	// limit, as NUT presets it from sysconf(_SC_OPEN_MAX).
	MaxConn  int
	DebugMin int // 0 when unset

	AllowNoDevice        bool
	AllowNotAllListeners bool
	DisableWeakSSL       bool

	// StatePath is STATEPATH as written ("" when unset). NUT lets
	// $NUT_STATEPATH override it; that choice is the caller's.
	StatePath string
	DataPath  string // DATAPATH, "" when unset

	CertFile      string // CERTFILE (PEM certificate and key)
	CertPath      string // CERTPATH (NSS database directory)
	CertIdentName string // CERTIDENT name
	CertIdentPass string // CERTIDENT password
	CertRequest   string // "", "NO", "REQUEST", "REQUIRE"

	// Listen is empty when upsd.conf has no LISTEN line; the caller then
	// listens on 127.0.0.1 and ::1 port 3493 as NUT does.
	Listen []Listen

	// Warnings are "file:line: message" notes for lines NUT accepts but
	// flags (obsolete directives, ignored extra words). Log them.
	Warnings []string
}

// DefaultMaxConn is NUT's default MAXCONN: the soft limit on open files
// (sysconf(_SC_OPEN_MAX) on Linux), or 1024 if it cannot be read.
func DefaultMaxConn() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == 0 {
		return 1024
	}
	if lim.Cur > uint64(^uint32(0)>>1) {
		return int(^uint32(0) >> 1)
	}
	return int(lim.Cur)
}

// LoadUpsdConf reads upsd.conf at path. A missing file gives an error that
// wraps fs.ErrNotExist (NUT's upsd refuses to start without it).
//
// Directives are upper case and matched case-sensitively, as in NUT, except
// DEBUG_MIN, which NUT also accepts as debug_min. Each takes its arguments as
// words; quoting is only needed for values with spaces.
func LoadUpsdConf(path string) (*UpsdConf, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseUpsdConf(f, path)
}

// ParseUpsdConf is LoadUpsdConf on text read from r; file names it in
// errors and becomes UpsdConf.File.
func ParseUpsdConf(r io.Reader, file string) (*UpsdConf, error) {
	lines, err := nutconf.Parse(r, file)
	if err != nil {
		return nil, err
	}
	c := &UpsdConf{
		File:          file,
		MaxAge:        DefaultMaxAge,
		TrackingDelay: DefaultTrackingDelay,
		MaxConn:       DefaultMaxConn(),
	}
	for _, ln := range lines {
		if err := c.directive(ln); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// upsdDirectives gives each known directive its number of arguments.
var upsdDirectives = map[string]int{
	"MAXAGE": 1, "TRACKINGDELAY": 1, "MAXCONN": 1, "DEBUG_MIN": 1,
	"ALLOW_NO_DEVICE": 1, "ALLOW_NOT_ALL_LISTENERS": 1, "DISABLE_WEAK_SSL": 1,
	"STATEPATH": 1, "DATAPATH": 1, "CERTFILE": 1, "CERTPATH": 1, "CERTREQUEST": 1,
	"CERTIDENT": 2, "LISTEN": 1, // LISTEN addr [port]
	"ACCEPT": 1, "REJECT": 1, "ACL": 2, // obsolete, accepted with a warning
}

func (c *UpsdConf) directive(ln nutconf.Line) error {
	w := ln.Words
	name := w[0]
	if strings.EqualFold(name, "DEBUG_MIN") {
		name = "DEBUG_MIN"
	}
	want, ok := upsdDirectives[name]
	if !ok {
		if _, upper := upsdDirectives[strings.ToUpper(name)]; upper {
			return nutconf.Errorf(c.File, ln.Num, "unknown directive %q: upsd.conf directives are case-sensitive, write %s", name, strings.ToUpper(name))
		}
		return nutconf.Errorf(c.File, ln.Num, "unknown directive %q", name)
	}
	args := w[1:]
	if len(args) > 0 && args[0] == "=" {
		// NUT would take "=" itself as the value (STATEPATH "=") or
		// reject it as non-numeric; either way the line is not what was meant.
		return nutconf.Errorf(c.File, ln.Num, "%s takes its value without '=' (write: %s value)", name, name)
	}
	if len(args) < want {
		return nutconf.Errorf(c.File, ln.Num, "%s needs %s", name, plural(want, "argument"))
	}
	max := want
	if name == "LISTEN" {
		max = 2
	}
	if name == "ACCEPT" || name == "REJECT" {
		max = len(args) // ACCEPT/REJECT took a list of ACL names
	}
	if len(args) > max {
		c.warn(ln.Num, "%s: extra words ignored: %s", name, strings.Join(args[max:], " "))
	}
	a := args[0]
	var err error
	switch name {
	case "MAXAGE":
		c.MaxAge, err = c.number(ln.Num, name, a, 0)
	case "TRACKINGDELAY":
		c.TrackingDelay, err = c.number(ln.Num, name, a, 0)
	case "MAXCONN":
		// NUT refuses to start with MAXCONN below 1.
		c.MaxConn, err = c.number(ln.Num, name, a, 1)
	case "DEBUG_MIN":
		c.DebugMin, err = c.number(ln.Num, name, a, 0)
	case "ALLOW_NO_DEVICE":
		c.AllowNoDevice, err = c.boolean(ln.Num, name, a, true)
	case "ALLOW_NOT_ALL_LISTENERS":
		c.AllowNotAllListeners, err = c.boolean(ln.Num, name, a, true)
	case "DISABLE_WEAK_SSL":
		c.DisableWeakSSL, err = c.boolean(ln.Num, name, a, false)
	case "STATEPATH":
		c.StatePath = a
	case "DATAPATH":
		c.DataPath = a
	case "CERTFILE":
		c.CertFile = a
	case "CERTPATH":
		c.CertPath = a
	case "CERTIDENT":
		c.CertIdentName, c.CertIdentPass = a, args[1]
	case "CERTREQUEST":
		c.CertRequest, err = c.certRequest(ln.Num, a)
	case "LISTEN":
		l := Listen{Addr: a, Port: DefaultPort, Line: ln.Num}
		if len(args) > 1 {
			l.Port = args[1]
		}
		if l.Addr == "" || l.Port == "" {
			return nutconf.Errorf(c.File, ln.Num, "LISTEN: empty address or port")
		}
		c.Listen = append(c.Listen, l)
	case "ACCEPT", "REJECT", "ACL":
		c.warn(ln.Num, "%s in upsd.conf is no longer supported - switch to LISTEN", name)
	}
	return err
}

func (c *UpsdConf) warn(line int, format string, args ...any) {
	c.Warnings = append(c.Warnings, nutconf.Errorf(c.File, line, format, args...).Error())
}

func (c *UpsdConf) number(line int, name, v string, min int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		return 0, nutconf.Errorf(c.File, line, "%s: %q is not a whole number of at least %d", name, v, min)
	}
	return n, nil
}

// boolean reads NUT's boolean words (true/on/yes/1, false/off/no/0, any
// case); digits allows any number, non-zero meaning true, as NUT does for
// the ALLOW_* settings.
func (c *UpsdConf) boolean(line int, name, v string, digits bool) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "on", "yes", "1":
		return true, nil
	case "false", "off", "no", "0":
		return false, nil
	}
	if digits {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return n != 0, nil
		}
	}
	return false, nutconf.Errorf(c.File, line, "%s: %q is not a boolean (use true or false)", name, v)
}

// certRequest accepts the names of the upsd.conf manual page and NUT's
// numeric form 0|1|2.
func (c *UpsdConf) certRequest(line int, v string) (string, error) {
	switch strings.ToUpper(v) {
	case "NO", "0":
		return "NO", nil
	case "REQUEST", "1":
		return "REQUEST", nil
	case "REQUIRE", "2":
		return "REQUIRE", nil
	}
	return "", nutconf.Errorf(c.File, line, "CERTREQUEST: %q is not one of NO, REQUEST, REQUIRE", v)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
