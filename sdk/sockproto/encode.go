package sockproto

import (
	"strings"

	"github.com/gonut/gonut/sdk/nutconf"
)

// valueAt is the position of the word NUT's drivers always put in double
// quotes, by verb: SETINFO name "value", ADDENUM/DELENUM name "value", and
// upsd's SET name "value".
var valueAt = map[string]int{"SETINFO": 2, "ADDENUM": 2, "DELENUM": 2, "SET": 2}

// Encode formats one protocol message as a line the way NUT's drivers and
// upsd write it, newline included: SETINFO ups.status "OL",
// ADDRANGE input.transfer.low 95 100, SETFLAGS ups.id RW STRING.
//
// The value word of SETINFO, ADDENUM, DELENUM and SET is always quoted and
// escaped as NUT's pconf_encode does (a backslash before \, " and #). Other
// words are written as they are unless they would not survive parsing
// (empty, or holding blanks, quotes, backslashes, # or =), in which case they
// are quoted too. Bytes NUT's parser drops (control characters and bytes
// above 0x7F) are passed through and, as with NUT, lost on reading.
// Encode of no words is the empty string.
func Encode(words ...string) string {
	if len(words) == 0 {
		return ""
	}
	quoteAt := valueAt[strings.ToUpper(words[0])]
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		if i == quoteAt && i > 0 || needsQuote(w) {
			writeQuoted(&b, w)
		} else {
			b.WriteString(w)
		}
	}
	b.WriteByte('\n')
	return b.String()
}

// needsQuote reports whether a bare word would not read back as itself.
func needsQuote(w string) bool {
	if w == "" {
		return true
	}
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case c <= ' ' || c >= 0x7f:
			return true
		case c == '"' || c == '\\' || c == '#' || c == '=':
			return true
		}
	}
	return false
}

// writeQuoted writes w between double quotes, escaped like pconf_encode.
func writeQuoted(b *strings.Builder, w string) {
	b.WriteByte('"')
	b.WriteString(nutconf.Quote(w))
	b.WriteByte('"')
}
