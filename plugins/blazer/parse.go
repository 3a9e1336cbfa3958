package blazer

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Reply errors, for the debug log: NUT retries on each of them.
var (
	ErrShortReply   = errors.New("short reply")
	ErrInvalidStart = errors.New("invalid start character")
	ErrParse        = errors.New("parsing failed")
	ErrStatusBits   = errors.New("invalid status bits")
)

// Value is one variable a reply sets, before conversion: the raw number as
// C's strtod reads it.
type Value struct {
	Var string
	Num float64
}

// Q1 is a parsed status reply (Q1, QS or D):
// "(226.0 195.0 226.0 014 49.0 27.5 30.0 00001000\r".
type Q1 struct {
	// Values are the numeric fields in reply order, without those that
	// were not numbers (NUT skips them). On an error after some fields
	// were read they hold those fields: NUT has published them already.
	Values []Value
	Bits   string // the eight status bits, b7 first
}

// The status reply's fields in order, with their formats.
var q1Fields = []struct{ name, format string }{
	{"input.voltage", "%.1f"},
	{"input.voltage.fault", "%.1f"},
	{"output.voltage", "%.1f"},
	{"ups.load", "%.0f"},
	{"input.frequency", "%.1f"},
	{"battery.voltage", "%.2f"},
	{"ups.temperature", "%.1f"},
}

// The rating reply's fields in order, with their formats.
var fFields = []struct{ name, format string }{
	{"input.voltage.nominal", "%.0f"},
	{"input.current.nominal", "%.1f"},
	{"battery.voltage.nominal", "%.1f"},
	{"input.frequency.nominal", "%.0f"},
}

// cString is buf up to its first NUL, as the C code sees it.
func cString(buf []byte) []byte {
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		return buf[:i]
	}
	return buf
}

// tokenizer is strtok_r: runs of delimiters separate tokens, and the set
// of delimiters may change from call to call.
type tokenizer struct{ s []byte }

func (t *tokenizer) next(delims string) ([]byte, bool) {
	i := 0
	for i < len(t.s) && strings.IndexByte(delims, t.s[i]) >= 0 {
		i++
	}
	if i == len(t.s) {
		t.s = nil
		return nil, false
	}
	j := i
	for j < len(t.s) && strings.IndexByte(delims, t.s[j]) < 0 {
		j++
	}
	tok := t.s[i:j]
	if j < len(t.s) {
		j++ // strtok_r writes a NUL over the delimiter and skips it
	}
	t.s = t.s[j:]
	return tok, true
}

// numeric is NUT's test strspn(val, "0123456789.") == strlen(val).
func numeric(tok []byte) bool {
	for _, c := range tok {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

// strtod reads the leading decimal number of s as C's strtod does for
// the strings this driver gives it (digits and dots, or ups.conf values):
// optional blanks and sign, digits, a fraction, an exponent. It returns 0
// when there is none.
func strtod(s string) float64 {
	v, _ := strtodPrefix(s)
	return v
}

// strtodPrefix is strtod returning how many bytes it consumed (0 when it
// found no number).
func strtodPrefix(s string) (float64, int) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	start := i
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	lower := strings.ToLower(s[i:])
	for _, w := range []string{"infinity", "inf", "nan"} {
		if strings.HasPrefix(lower, w) {
			v := math.Inf(1)
			if w == "nan" {
				v = math.NaN()
			}
			if s[start] == '-' {
				v = -v
			}
			return v, i + len(w)
		}
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, 0
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && s[j] >= '0' && s[j] <= '9' {
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			i = j
		}
	}
	num := s[start:i]
	if strings.HasSuffix(num, ".") || strings.Contains(num, ".e") || strings.Contains(num, ".E") {
		num = strings.Replace(num, ".", "", 1) // "5." is 5 in C; Go wants no bare dot
		if num == "" || num == "+" || num == "-" {
			return 0, i
		}
	}
	if strings.HasPrefix(strings.TrimLeft(num, "+-"), ".") {
		num = strings.Replace(num, ".", "0.", 1)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		// Out of range: C gives ±HUGE_VAL (or 0 on underflow), as
		// ParseFloat does along with its error.
		return v, i
	}
	return v, i
}

// strtol is C's strtol(s, NULL, 10), saturating as C does.
func strtol(s string) int64 {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var n int64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		d := int64(s[i] - '0')
		if !neg && n > (math.MaxInt64-d)/10 {
			return math.MaxInt64
		}
		if neg && -n < (math.MinInt64+d)/10 {
			return math.MinInt64
		}
		if neg {
			n = n*10 - d
		} else {
			n = n*10 + d
		}
	}
	return n
}

// cFormat is C's printf for "%.Nf": Go's 'f' formatting rounds the same
// way; only the spelling of infinities and NaN differs.
func cFormat(format string, v float64) string {
	switch {
	case math.IsNaN(v):
		if math.Signbit(v) {
			return "-nan"
		}
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	prec := 0
	if _, err := fmt.Sscanf(format, "%%.%df", &prec); err != nil {
		panic("blazer: bad format " + format)
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// ParseQ1 parses a status reply as NUT's blazer does: at least 46 bytes
// (n counts every byte read, as blazer_command returns it), '(' first,
// seven space-separated fields (non-numeric ones skipped) and eight status
// bits.
func ParseQ1(reply []byte) (Q1, error) {
	var q Q1
	if len(reply) < 46 {
		return q, ErrShortReply
	}
	buf := cString(reply)
	if len(buf) == 0 || buf[0] != '(' {
		return q, fmt.Errorf("%w [%02x]", ErrInvalidStart, firstByte(buf))
	}
	t := tokenizer{s: buf[1:]}
	val, ok := t.next(" ")
	for _, f := range q1Fields {
		if !ok {
			return q, ErrParse
		}
		if numeric(val) {
			q.Values = append(q.Values, Value{f.name, strtod(string(val))})
		}
		val, ok = t.next(" \r\n")
	}
	if !ok {
		return q, ErrParse
	}
	n := 0
	for n < len(val) && (val[n] == '0' || val[n] == '1') {
		n++
	}
	if n != 8 {
		return q, fmt.Errorf("%w [%s]", ErrStatusBits, val)
	}
	q.Bits = string(val[:8])
	return q, nil
}

// ParseF parses a rating reply: at least 22 bytes, '#' first, four
// fields, non-numeric ones skipped.
// "#220.0 000 024.0 50.0\r"
func ParseF(reply []byte) ([]Value, error) {
	if len(reply) < 22 {
		return nil, ErrShortReply
	}
	buf := cString(reply)
	if len(buf) == 0 || buf[0] != '#' {
		return nil, fmt.Errorf("%w [%02x]", ErrInvalidStart, firstByte(buf))
	}
	var out []Value
	t := tokenizer{s: buf[1:]}
	val, ok := t.next(" ")
	for _, f := range fFields {
		if !ok {
			return out, ErrParse
		}
		if numeric(val) {
			out = append(out, Value{f.name, strtod(string(val))})
		}
		val, ok = t.next(" \r\n")
	}
	return out, nil
}

// Vendor is a parsed I reply.
type Vendor struct{ Mfr, Model, Firmware string }

// ParseI parses a vendor reply: at least 39 bytes, '#' first, then
// fixed-width fields of 15, 10 and 10 characters, each right-trimmed.
// "#-------------   ------     VT12046Q  \r"
func ParseI(reply []byte) (Vendor, error) {
	if len(reply) < 39 {
		return Vendor{}, ErrShortReply
	}
	if reply[0] != '#' {
		return Vendor{}, fmt.Errorf("%w [%02x]", ErrInvalidStart, reply[0])
	}
	field := func(at, n int) string {
		v := cString(reply[at : at+n])
		return strings.TrimRight(string(v), " ")
	}
	return Vendor{Mfr: field(1, 15), Model: field(17, 10), Firmware: field(28, 10)}, nil
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
