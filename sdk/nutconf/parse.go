package nutconf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
)

// Line is one logical line of a configuration file: its words, and the
// physical line (counted from 1) on which it started. A logical line spans
// several physical ones when a backslash joins them or a quote is open.
type Line struct {
	Words []string
	Num   int
}

// Error is a configuration error located in a file.
type Error struct {
	File string
	Line int // 0 when the error concerns the whole file
	Msg  string
	// Err is the cause when it is a sentinel callers may test for with
	// errors.Is (ErrHashInQuotes), else nil. Msg already describes it.
	Err error
}

func (e *Error) Error() string {
	if e.Line <= 0 {
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error for file:line with a formatted message, for the
// typed loaders built on Parse.
func Errorf(file string, line int, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Parse reads a whole configuration file and returns its non-empty logical
// lines. filename is used only in error messages.
//
// Words are split exactly as NUT's parseconf does (see Scanner), without
// NUT's 512-byte word and 32-word line limits: NUT truncates silently there,
// and a configuration value is better kept whole. Unlike NUT, which drops a
// last line holding a single word when the file does not end in a newline,
// the last line is always kept; and a quote still open at end of file is an
// error naming the line where it was opened (NUT silently swallows the rest
// of the file into that word).
//
// An unescaped # inside quotes is an error naming the physical line of the
// #, with a hint to write \# (it wraps ErrHashInQuotes). NUT logs
// "Parse error" there, drops the words before the # and reads on from the
// byte after it as if a new line began, so the tail of the value becomes a
// line of its own (desc = "a # b" leaves the line b", which dummy-ups then
// rejects as an unknown flag), and it numbers every later line one too high.
// Stopping at the line at fault is kinder than that.
func Parse(r io.Reader, filename string) ([]Line, error) {
	var (
		s         Scanner
		lines     []Line
		phys      = 1 // physical line of the next byte
		start     = 1 // physical line where the current logical line began
		quoteLine int // physical line where the open quote began
		br        = bufio.NewReader(r)
	)
	for {
		c, err := br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, &Error{File: filename, Line: phys, Msg: "read: " + err.Error()}
		}
		if !s.Pending() {
			start = phys
		}
		wasQuote := s.InQuote()
		words, done, ferr := s.Feed(c)
		if !wasQuote && s.InQuote() {
			quoteLine = phys
		}
		if c == '\n' {
			phys++
		}
		if ferr != nil {
			// The # is never a newline, so phys is still its line.
			return nil, &Error{File: filename, Line: phys, Err: ferr,
				Msg: ferr.Error() + ` (write \# for a literal #)`}
		}
		if done && len(words) > 0 {
			lines = append(lines, Line{Words: words, Num: start})
		}
	}
	if s.InQuote() {
		return nil, &Error{File: filename, Line: quoteLine, Msg: "unterminated quoted string (missing closing \")"}
	}
	if words := s.Flush(); len(words) > 0 {
		lines = append(lines, Line{Words: words, Num: start})
	}
	return lines, nil
}

// ParseFile is Parse on the named file. A missing file gives an error that
// wraps fs.ErrNotExist.
func ParseFile(path string) ([]Line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, path)
}

// ConfPath is NUT's configuration directory: $NUT_CONFPATH, or /etc/nut.
func ConfPath() string {
	if p := os.Getenv("NUT_CONFPATH"); p != "" {
		return p
	}
	return "/etc/nut"
}

// StatePath is NUT's state directory, where driver sockets live:
// $NUT_STATEPATH, or /var/state/ups.
func StatePath() string {
	if p := os.Getenv("NUT_STATEPATH"); p != "" {
		return p
	}
	return "/var/state/ups"
}
