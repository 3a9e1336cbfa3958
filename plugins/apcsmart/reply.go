package apcsmart

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file holds the parsers of what a UPS sends: reply lines, the
// command set, the capability string, status bytes and values. They are
// pure functions, fuzzed by FuzzReplies.

// lineMax is the longest reply line kept: NUT reads into 512-byte buffers.
const lineMax = 511

// errOverflow is a reply line longer than lineMax.
var errOverflow = errors.New("reply longer than 511 bytes without a line end")

// lineScanner assembles one reply line from bytes as NUT's apc_read does:
// LF ends the line, bytes of the ignore set, NUL and '*' are dropped,
// alert characters go to the alert handler when the read is alert-aware.
type lineScanner struct {
	ignore   string
	alerts   bool // alert-aware read: alertChars go to onAlert
	asterisk bool // '*' answers a shutdown command: it stands for "OK"
	onAlert  func(byte)
	buf      []byte
}

// scanResult is what feeding one byte gave.
type scanResult int

const (
	scanMore     scanResult = iota // the line goes on
	scanLine                       // LF: the line is complete
	scanAsterisk                   // '*' while asterisk is set: the reply is "OK"
)

// feed takes one byte.
func (s *lineScanner) feed(b byte) (scanResult, error) {
	switch {
	case b == '\n':
		return scanLine, nil
	case b == '*' && s.asterisk:
		return scanAsterisk, nil
	// NUL and CR never reach a reply: NUT's ignore test matches NUL
	// (strchr finds the terminator), and its tty drops CR (IGNCR).
	case b == 0 || b == '\r' || b == '*' || strings.IndexByte(s.ignore, b) >= 0:
		return scanMore, nil
	case s.alerts && strings.IndexByte(alertChars, b) >= 0:
		if s.onAlert != nil {
			s.onAlert(b)
		}
		return scanMore, nil
	}
	if len(s.buf) >= lineMax {
		return scanMore, errOverflow
	}
	s.buf = append(s.buf, b)
	return scanMore, nil
}

// cStrtol is C's strtol(s, NULL, base) for base 10 or 16: leading white
// space, a sign, (for base 16) an optional 0x, digits up to the first
// other byte; it saturates on overflow.
func cStrtol(s string, base int) int64 {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	if base == 16 && i+2 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && digitVal(s[i+2]) < 16 {
		i += 2
	}
	var n uint64
	over := false
	for ; i < len(s); i++ {
		d := digitVal(s[i])
		if d >= base {
			break
		}
		if n > (math.MaxUint64-uint64(d))/uint64(base) {
			over = true
			continue
		}
		n = n*uint64(base) + uint64(d)
	}
	switch {
	case neg && (over || n > 1<<63):
		return math.MinInt64
	case neg:
		return -int64(n)
	case over || n > math.MaxInt64:
		return math.MaxInt64
	}
	return int64(n)
}

func digitVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// transferReasons are the texts of input.transfer.reason.
var transferReasons = map[byte]string{
	'R': "unacceptable utility voltage rate of change",
	'H': "high utility voltage",
	'L': "low utility voltage",
	'T': "line voltage notch or spike",
	'O': "no transfers yet since turnon",
	'S': "simulated power failure or UPS test",
}

// convert turns a raw APC value into the NUT value: times become
// seconds (as a C int, so an absurd value wraps as NUT's does), the
// transfer reason a text, and everything else stays as received.
func convert(f format, raw string) string {
	switch f {
	case fmtHours:
		return strconv.Itoa(int(int32(cStrtol(raw, 10) * 3600)))
	case fmtMinutes:
		return strconv.Itoa(int(int32(cStrtol(raw, 10) * 60)))
	case fmtReason:
		if raw != "" {
			if t, ok := transferReasons[raw[0]]; ok {
				return t
			}
		}
	}
	return raw
}

// parseStatus reads the reply to 'Q': a hex byte.
func parseStatus(s string) int { return int(cStrtol(s, 16) & 0xff) }

// parseCmdSet reads the reply to 'a', "protocol.alerts.commands[.more]",
// and returns the command characters; ok is false when the reply does not
// have that form (an old UPS that does not know 'a').
func parseCmdSet(s string) (cmds string, ok bool) {
	if !cmdSetFormat.MatchString(s) {
		return "", false
	}
	parts := strings.SplitN(s, ".", 4)
	return parts[2], true
}

// capEntry is one entry of the capability string: the values a setting
// accepts in one locale.
type capEntry struct {
	cmd, loc byte
	values   []string
}

// errCapsOverflow is a capability string whose entries run past its end.
var errCapsOverflow = errors.New("capability string has overflowed")

// capValueMax is the longest value kept from the capability string (NUT
// copies each into a 32-byte buffer).
const capValueMax = 31

// parseCaps reads the reply to ^Z: '#' (or "##" before every entry on a
// Matrix-UPS), then entries of a command character, a locale character,
// the number of values and their width as digits, and the values. It
// walks the string as NUT does, with the bytes past its end read as NUL;
// where NUT would run past the string or backwards (a width or count
// below '0'), it stops with errCapsOverflow and returns what it read.
func parseCaps(s string) ([]capEntry, error) {
	if s == "" || s[0] != '#' {
		c := byte(0)
		if s != "" {
			c = s[0]
		}
		return nil, fmt.Errorf("unknown capability start character %q", c)
	}
	at := func(i int) byte {
		if i < 0 || i >= len(s) {
			return 0
		}
		return s[i]
	}
	matrix := at(1) == '#'
	p := 1
	if matrix {
		p = 0
	}
	var out []capEntry
	for iter := 0; at(p) != 0; iter++ {
		if iter > len(s) {
			return out, errCapsOverflow
		}
		if matrix {
			p += 2
		}
		if p >= len(s) {
			return out, errCapsOverflow
		}
		e := capEntry{cmd: at(p), loc: at(p + 1)}
		n, w := int(at(p+2))-'0', int(at(p+3))-'0'
		q := p + 4
		if n > 0 && w < 0 {
			return out, errCapsOverflow
		}
		for i := 0; i < n; i++ {
			v := ""
			if q < len(s) {
				v = s[q:min(len(s), q+w)]
				if i := strings.IndexByte(v, 0); i >= 0 {
					v = v[:i]
				}
				if len(v) > capValueMax {
					v = v[:capValueMax]
				}
			}
			e.values = append(e.values, v)
			q += w
		}
		out = append(out, e)
		p = q
	}
	return out, nil
}

// splitPacked splits a packed value ("23.50,24.10") into at most packMax
// fields; more reports that fields were left out.
func splitPacked(s string) (fields []string, more bool) {
	fields = strings.SplitN(s, ",", packMax+1)
	if len(fields) > packMax {
		return fields[:packMax], true
	}
	return fields, false
}

// packedName is the name of subfield i (0-based) of a packed variable:
// "ambient.0.temperature" becomes "ambient.1.temperature" for i = 0.
func packedName(name string, i int) string {
	return strings.Replace(name, ".0.", "."+strconv.Itoa(i+1)+".", 1)
}

// printable shows a byte in a log as NUT's prtchr does: the character
// when printable, 0xNN otherwise.
func printable(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return string(rune(c))
	}
	return fmt.Sprintf("0x%02x", c)
}
