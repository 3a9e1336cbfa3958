package dummyups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gonut/gonut/sdk/nutconf"
)

// maxValueLen is the longest value dummy-ups sets from a file: NUT builds
// it in a 128-byte buffer (MAX_STRING_SIZE), so longer values are cut.
const maxValueLen = 127

// StmtKind says what a statement of a .dev or .seq file does.
type StmtKind int

const (
	// StmtSet sets a variable: "name: value".
	StmtSet StmtKind = iota
	// StmtStatus sets ups.status from its tokens: "ups.status: OB LB".
	StmtStatus
	// StmtTimer pauses the file for some seconds: "TIMER 10".
	StmtTimer
)

func (k StmtKind) String() string {
	switch k {
	case StmtSet:
		return "set"
	case StmtStatus:
		return "status"
	case StmtTimer:
		return "timer"
	}
	return fmt.Sprintf("StmtKind(%d)", int(k))
}

// Stmt is one statement of a .dev or .seq file, as NUT 2.8.0's dummy-ups
// reads it.
type Stmt struct {
	Kind StmtKind
	Line int // physical line (from 1) where the statement starts

	// Name is the variable (StmtSet): the first word up to its first colon.
	Name string
	// Value is what the variable is set to (StmtSet): the other words
	// joined with single spaces and cut at 127 bytes. A line without a
	// value gets the previous StmtSet's value, as in NUT (see README.md);
	// an empty Value deletes the variable.
	Value string
	// Tokens are the status tokens (StmtStatus), each added as NUT's
	// status_set does; none gives an empty ups.status.
	Tokens []string
	// Seconds is the pause (StmtTimer), read as C's atoi does.
	Seconds int
}

// Issue is something odd in a file that dummy-ups reads anyway, the way
// NUT does; the driver logs it as file:line: message.
type Issue struct {
	Line int
	Msg  string
}

// File is a parsed .dev or .seq file.
type File struct {
	Stmts  []Stmt
	Issues []Issue
}

// ParseDev reads a .dev or .seq file the way NUT 2.8.0's dummy-ups does.
//
// Words are split by NUT's parseconf rules (nutconf.Scanner with upsd's
// limits: words cut at 512 bytes, lines at 32 words; bytes outside
// printable ASCII dropped). For each line, a first word starting with
// TIMER is a pause; otherwise the first word up to its first colon names a
// variable: driver.* lines are skipped (the driver publishes its own),
// names starting with ups.status set the status from the other words, and
// any other name is set to the other words joined by single spaces.
//
// Nothing in a file is an error, as in NUT: odd lines become Issues and
// are applied as NUT applies them. Only a read error is returned.
func ParseDev(r io.Reader) (*File, error) {
	p := parser{f: &File{}}
	sc := nutconf.Scanner{MaxWordLen: nutconf.DefaultMaxWordLen, MaxWords: nutconf.DefaultMaxWords}
	br := bufio.NewReader(r)
	phys, start, quoteLine := 1, 1, 0
	dropped := 0 // bytes of the current physical line that parseconf drops
	lastByte := byte('\n')
	for {
		c, err := br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("line %d: %w", phys, err)
		}
		lastByte = c
		if !sc.Pending() {
			start = phys
		}
		wasQuote := sc.InQuote()
		words, done, _ := sc.Feed(c) // parseconf has no error state
		if !wasQuote && sc.InQuote() {
			quoteLine = phys
		}
		if c >= 0x80 || c < 0x20 && !strings.ContainsRune("\t\n\v\f\r", rune(c)) {
			dropped++
		}
		if c == '\n' {
			if dropped > 0 {
				p.issue(phys, "%d byte(s) outside printable ASCII dropped, as NUT does", dropped)
				dropped = 0
			}
			phys++
		}
		if done && len(words) > 0 {
			p.line(start, words)
		}
	}
	if dropped > 0 {
		p.issue(phys, "%d byte(s) outside printable ASCII dropped, as NUT does", dropped)
	}
	if sc.InQuote() {
		p.issue(quoteLine, "quote opened here is never closed: the rest of the file is part of its value, newlines dropped, as NUT does")
	}
	if sc.Pending() {
		words, completed := flushAtEOF(sc)
		// NUT's pconf_file_next keeps a last line without a newline only
		// when one of its words was finished before the end of the file.
		if completed > 0 {
			p.line(start, words)
		} else if len(words) > 0 && lastByte != '\n' {
			p.issue(start, "last line %q has no newline and one word: ignored, as NUT does", strings.Join(words, " "))
		}
	}
	return p.f, nil
}

// flushAtEOF ends the scanner's pending line at the end of the file and
// says how many of its words were finished before the end. The Scanner
// does not tell, so two copies of it are probed: one flushed as is, one
// fed a letter first. The letter starts a new word between words, extends
// an open word, and vanishes in a comment.
func flushAtEOF(sc nutconf.Scanner) (words []string, completed int) {
	plain, probe := sc, sc // copies share backing arrays: copy results out
	words = append([]string(nil), plain.Flush()...)
	probe.Feed('x')
	probed := append([]string(nil), probe.Flush()...)
	switch {
	case len(probed) == len(words)+1:
		return words, len(words) // between words (or an empty word open)
	case len(words) > 0 && len(probed) == len(words) && probed[len(probed)-1] != words[len(words)-1]:
		return words, len(words) - 1 // inside a word
	default:
		return words, len(words) // inside a comment
	}
}

type parser struct {
	f *File
	// prev is NUT's var_value buffer: a line without a value reuses the
	// value of the last variable set before it.
	prev    string
	hasPrev bool
}

func (p *parser) issue(line int, format string, args ...any) {
	p.f.Issues = append(p.f.Issues, Issue{Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) line(num int, words []string) {
	first := words[0]
	// NUT compares only the first five bytes: "TIMERS 3" is a TIMER too.
	if strings.HasPrefix(first, "TIMER") {
		st := Stmt{Kind: StmtTimer, Line: num}
		if len(words) < 2 {
			p.issue(num, "TIMER without a number of seconds: no pause")
		} else {
			n, ok := atoi(words[1])
			if !ok {
				p.issue(num, "TIMER %q is not a number of seconds: read as %d", words[1], n)
			}
			st.Seconds = n
		}
		p.f.Stmts = append(p.f.Stmts, st)
		return
	}
	name, _, hasColon := strings.Cut(first, ":")
	if !hasColon {
		p.issue(num, "%q is not followed by a colon: taken as a variable name, as NUT does", first)
	}
	if name == "" {
		p.issue(num, "line starts with a colon: a variable with an empty name is set, as NUT does")
	}
	if strings.HasPrefix(name, "driver.") {
		return // the driver publishes its own driver.* variables
	}
	if strings.HasPrefix(name, "ups.status") {
		if name != "ups.status" {
			p.issue(num, "%q starts with ups.status: it sets ups.status, as NUT does", name)
		}
		p.f.Stmts = append(p.f.Stmts, Stmt{Kind: StmtStatus, Line: num, Name: "ups.status", Tokens: words[1:]})
		return
	}
	st := Stmt{Kind: StmtSet, Line: num, Name: name}
	if len(words) > 1 {
		v := joinValue(words[1:])
		if full := len(strings.Join(words[1:], " ")); full > len(v) {
			p.issue(num, "value of %s is %d bytes long: cut to %d, as NUT does", name, full, len(v))
		}
		st.Value = v
		p.prev, p.hasPrev = v, true
	} else if p.hasPrev {
		st.Value = p.prev
		p.issue(num, "%s has no value: it gets the previous line's value %q, as NUT 2.8.0 does", name, p.prev)
	} else {
		p.issue(num, "%s has no value and no line before it has one: it is deleted", name)
	}
	p.f.Stmts = append(p.f.Stmts, st)
}

// joinValue joins value words as dummy-ups does in its 128-byte buffer:
// the first word with snprintf (up to 127 bytes), each further one with
// NUT's snprintfcat, which keeps one byte more in reserve (up to 126).
func joinValue(words []string) string {
	v := words[0]
	if len(v) > maxValueLen {
		v = v[:maxValueLen]
	}
	for _, w := range words[1:] {
		if len(v) >= maxValueLen-1 {
			break
		}
		v += " " + w
		if len(v) > maxValueLen-1 {
			v = v[:maxValueLen-1]
		}
	}
	return v
}

// atoi is C's atoi: leading blanks, an optional sign, then digits; it
// stops at the first other byte. ok is false when s is not wholly a number.
func atoi(s string) (n int, ok bool) {
	i := 0
	for i < len(s) && strings.IndexByte(" \t\n\v\f\r", s[i]) >= 0 {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	digits := i
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n < 1<<31 {
			n = n*10 + int(s[i]-'0')
		}
	}
	if neg {
		n = -n
	}
	return n, i > digits && i == len(s)
}
