package nutconf

import (
	"errors"
	"strings"
)

// ReadBufSize is how many bytes NUT's socket readers (upsd for clients and
// drivers, drivers for upsd) take per read(2): SMALLBUF. It matters for one
// thing only: after a parse error they drop the rest of that read, so a
// reader that wants NUT's exact behaviour reads this much at a time and
// stops feeding a chunk at the first error Feed returns.
const ReadBufSize = 512

// Defaults NUT's parseconf applies to every context (PCONF_DEFAULT_WORDLEN_LIMIT
// and PCONF_DEFAULT_ARG_LIMIT): upsd relies on them to bound what a client can
// make it store for one request line.
const (
	DefaultMaxWordLen = 512
	DefaultMaxWords   = 32
)

// scanState mirrors the states of NUT's parseconf state machine.
type scanState uint8

const (
	stFindWordStart  scanState = iota // between words
	stFindEOL                         // inside a # comment
	stQuoteCollect                    // inside "..."
	stQCLiteral                       // after \ inside "..."
	stCollect                         // inside an unquoted word
	stCollectLiteral                  // after \ outside quotes
	stEndOfLine                       // the previous byte ended a line
	stParseErr                        // the previous byte was a # inside "..."
)

// ErrHashInQuotes is the one parse error of NUT's parseconf: a # inside
// "double quotes" that no backslash escapes. NUT 2.8.0 rejects it
// ("Unbalanced word due to unescaped # in quotes") because a # there reads
// as the start of a comment to a human and is almost always a mistake.
var ErrHashInQuotes = errors.New("unbalanced word: unescaped # in quotes")

// Scanner is NUT's parseconf state machine (pconf_char) fed one byte at a
// time. upsd uses it for client request lines, both ends of the driver socket
// protocol use it, and Parse uses it for configuration files, so every NUT
// text format is split into words by exactly the same rules:
//
//   - words are separated by blanks (space, \t, \v, \f, \r); \n ends the line;
//   - "double quotes" make one word of everything up to the closing quote,
//     newlines included (a quoted word may span lines); "" is an empty word;
//     a quote in the middle of an unquoted word is an ordinary character;
//   - a backslash takes the next byte literally (\" \\ \# \=, and a space);
//     a backslash before a newline joins the next physical line;
//   - an unquoted # ends the word and starts a comment up to the newline;
//     an unescaped # inside quotes is an error (ErrHashInQuotes, below);
//   - an unquoted = is a word of its own, so key=value reads as three words;
//   - bytes outside 0x20..0x7F (control bytes, including a tab or newline
//     inside quotes, and every byte of UTF-8 text) are dropped, but such a
//     byte still starts a word where one was expected, so a lone one between
//     blanks yields an empty word (NUT's CVE-2012-2944 fix behaves so).
//
// The zero value is ready to use and has no limits; upsd sets MaxWordLen and
// MaxWords to DefaultMaxWordLen and DefaultMaxWords as NUT does.
type Scanner struct {
	// MaxWordLen > 0 truncates each word to this many bytes, silently (NUT
	// upsd: 512).
	MaxWordLen int
	// MaxWords > 0 drops words past this count, silently (NUT upsd: 32).
	MaxWords int

	// The words of the line so far are kept as bytes, one after the
	// other in line, each ending at its offset in ends; the word being
	// built is line[start:]. A finished line becomes one string and one
	// slice (take): two allocations a line instead of one per word, which
	// is most of upsd's allocation per request.
	state scanState
	line  []byte
	ends  []int
	start int
}

// take returns the words of the line so far (nil if none) and starts a
// new line. The words are substrings of one new string, so they, and the
// slice, are the caller's to keep.
func (s *Scanner) take() []string {
	var words []string
	if len(s.ends) > 0 {
		all := string(s.line[:s.ends[len(s.ends)-1]])
		words = make([]string, len(s.ends))
		from := 0
		for i, end := range s.ends {
			words[i] = all[from:end]
			from = end
		}
	}
	s.clear()
	return words
}

// clear drops the line so far. Buffers a very long line grew are let go,
// so that a scanner kept per client (upsd) holds little while idle.
func (s *Scanner) clear() {
	s.line, s.ends, s.start = s.line[:0], s.ends[:0], 0
	if cap(s.line) > 1024 {
		s.line = nil
	}
	if cap(s.ends) > 64 {
		s.ends = nil
	}
}

// Feed consumes one byte. When the byte completes a logical line, it returns
// that line's words and done=true; an empty or comment-only line gives
// done=true with zero words. The returned slice belongs to the caller (its
// words are substrings of one string made for the line).
//
// An unescaped # inside quotes aborts the line as in NUT's pconf_char: Feed
// returns ErrHashInQuotes with done=false and the words the line had so far,
// the word cut at the # included (NUT's arglist at that point; useful for a
// message, never to be acted on). The line is discarded and the next byte
// starts a new one, in the state between words: "u#1" x<newline> fed on
// yields the error, then the line 1" x. NUT's readers never see that second
// line from one read, though: they drop the rest of the read (ReadBufSize)
// after an error. So NUT's upsd answers nothing at all to a request line
// with a # in quotes, and a request that follows it in the same read is
// lost too; one that arrives in a later read is answered.
func (s *Scanner) Feed(c byte) (words []string, done bool, err error) {
	if s.state == stEndOfLine {
		s.state = stFindWordStart
	}
	s.step(c)
	if s.state == stParseErr {
		s.state = stFindWordStart
		return s.take(), false, ErrHashInQuotes
	}
	if s.state != stEndOfLine {
		return nil, false, nil
	}
	return s.take(), true, nil
}

// Pending reports whether a logical line has been started but not finished:
// some word, quote, escape or comment is open. A reader that hits EOF with
// Pending true has an unterminated last line.
func (s *Scanner) Pending() bool {
	switch s.state {
	case stFindWordStart:
		return len(s.ends) > 0
	case stEndOfLine:
		return false
	}
	return true
}

// InQuote reports whether the scanner is inside a "quoted" word.
func (s *Scanner) InQuote() bool {
	return s.state == stQuoteCollect || s.state == stQCLiteral
}

// Flush ends the current logical line as if a newline had arrived outside any
// quote, and returns its words (nil when nothing was pending). Parse and Split
// call it at end of input. As in NUT's pconf_line, a word still being built is
// kept only when it holds at least one byte.
func (s *Scanner) Flush() []string {
	if len(s.line) > s.start {
		s.endWord()
	}
	s.state = stFindWordStart
	return s.take()
}

// Reset discards any partial line.
func (s *Scanner) Reset() {
	s.state = stFindWordStart
	s.clear()
}

// isBlank is C isspace() in the C locale minus the newline, which is handled
// before it everywhere.
func isBlank(c byte) bool {
	switch c {
	case ' ', '\t', '\v', '\f', '\r':
		return true
	}
	return false
}

func (s *Scanner) step(c byte) {
	switch s.state {
	case stFindWordStart:
		s.findWordStart(c)
	case stFindEOL:
		if c == '\n' {
			s.state = stEndOfLine
		}
	case stQuoteCollect:
		switch c {
		case '#':
			// NUT ties off the word before failing the line.
			s.endWord()
			s.state = stParseErr
		case '"':
			s.endWord()
			s.state = stFindWordStart
		case '\\':
			s.state = stQCLiteral
		default:
			s.addChar(c)
		}
	case stQCLiteral:
		// \<newline> inside quotes continues the word on the next line.
		if c != '\n' {
			s.addChar(c)
		}
		s.state = stQuoteCollect
	case stCollect:
		switch {
		case c == '#':
			s.endWord()
			s.state = stFindEOL
		case c == '\n':
			s.endWord()
			s.state = stEndOfLine
		case isBlank(c):
			s.endWord()
			s.state = stFindWordStart
		case c == '=':
			s.endWord()
			s.findWordStart(c)
		case c == '\\':
			s.state = stCollectLiteral
		default:
			s.addChar(c)
		}
	case stCollectLiteral:
		if c != '\n' {
			s.addChar(c)
		}
		s.state = stCollect
	}
}

func (s *Scanner) findWordStart(c byte) {
	switch {
	case c == '\n':
		s.state = stEndOfLine
	case c == '#':
		s.state = stFindEOL
	case isBlank(c):
		s.state = stFindWordStart
	case c == '\\':
		s.state = stCollectLiteral
	case c == '"':
		s.state = stQuoteCollect
	default:
		// The word starts here even when addChar drops c.
		s.addChar(c)
		if c == '=' {
			s.endWord()
			s.state = stFindWordStart
			return
		}
		s.state = stCollect
	}
}

func (s *Scanner) addChar(c byte) {
	// NUT keeps only 0x20..0x7F in words (CVE-2012-2944).
	if c < 0x20 || c > 0x7f {
		return
	}
	if s.MaxWordLen > 0 && len(s.line)-s.start >= s.MaxWordLen {
		return
	}
	s.line = append(s.line, c)
}

func (s *Scanner) endWord() {
	if s.MaxWords <= 0 || len(s.ends) < s.MaxWords {
		s.ends = append(s.ends, len(s.line))
	} else {
		s.line = s.line[:s.start] // a word past MaxWords is dropped
	}
	s.start = len(s.line)
}

// ErrUnterminatedQuote is returned by Split when the line ends inside a
// "quoted" word.
var ErrUnterminatedQuote = errors.New("unterminated quoted string")

// errMultiLine is returned by Split when its input holds more than one
// logical line.
var errMultiLine = errors.New("more than one line")

// Split splits one line into words by the Scanner's rules (no limits). A
// trailing newline is optional. Like NUT's pconf_line it ties off a word left
// open at the end, so words are usable even when err is ErrUnterminatedQuote.
// With ErrHashInQuotes, words are those before the # (the cut word included)
// and the rest of the line is ignored, as pconf_line stops there too. Any
// other error means the input held more than one logical line.
func Split(line string) ([]string, error) {
	var s Scanner
	for i := 0; i < len(line); i++ {
		words, done, err := s.Feed(line[i])
		if err != nil {
			return words, err
		}
		if done {
			if rest := line[i+1:]; rest != "" {
				return words, errMultiLine
			}
			return words, nil
		}
	}
	var err error
	if s.InQuote() {
		err = ErrUnterminatedQuote
	}
	return s.Flush(), err
}

// Quote escapes s the way NUT's pconf_encode does before a value is sent or
// written inside "double quotes": a backslash goes before every \, " and #.
// The surrounding quotes are not added. Other bytes pass unchanged, so a value
// holding bytes the Scanner drops (control bytes, non-ASCII) does not survive
// a round trip, just as in NUT.
func Quote(s string) string {
	if !strings.ContainsAny(s, "\\\"#") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\', '"', '#':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
