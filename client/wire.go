package client

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gonut/gonut/sdk/nutconf"
)

// request is one protocol command: its words as sent, and how it is shown in
// error messages (the password of PASSWORD masked).
type request struct {
	words     []string
	shown     string
	secret    bool // the last word is a password: never shown
	quoteLast bool // send the last word in quotes even when it needs none
}

func newRequest(words ...string) request {
	return request{words: words, shown: strings.Join(words, " ")}
}

// newSecretRequest is newRequest for a request whose last word must not
// appear in errors or logs.
func newSecretRequest(words ...string) request {
	shown := append(append([]string(nil), words[:len(words)-1]...), "********")
	return request{words: words, shown: strings.Join(shown, " "), secret: true}
}

// encode renders the request line. A word that upsd's parser would split or
// alter (empty, white space, quote, backslash, '#', '=') is sent in double
// quotes with \, " and # escaped, as NUT's pconf_encode does. A control byte
// cannot be carried at all (upsd drops it, and a newline would end the line
// and start another command), so it is refused before anything is sent.
func (r request) encode() ([]byte, error) {
	n := len(r.words)
	for _, w := range r.words {
		n += len(w) + 2
	}
	b := make([]byte, 0, n)
	for i, w := range r.words {
		for j := 0; j < len(w); j++ {
			if c := w[j]; c < 0x20 || c == 0x7f {
				what := strconv.Quote(w)
				if r.secret && i == len(r.words)-1 {
					what = "the password"
				}
				return nil, fmt.Errorf("%w: %s: %s holds a control character", ErrBadRequest, r.shown, what)
			}
		}
		if i > 0 {
			b = append(b, ' ')
		}
		if needsQuotes(w) || (r.quoteLast && i == len(r.words)-1) {
			b = append(b, '"')
			b = append(b, nutconf.Quote(w)...)
			b = append(b, '"')
		} else {
			b = append(b, w...)
		}
	}
	return append(b, '\n'), nil
}

func needsQuotes(w string) bool {
	return w == "" || strings.ContainsAny(w, " \"\\#=")
}

// splitReply splits one reply line (without its newline) into words by NUT's
// parseconf rules, through the same tokenizer upsd uses for requests. An
// unterminated quote ends at the end of the line, as in NUT's client.
func splitReply(line string) []string {
	words, _ := nutconf.Split(line)
	return words
}

// lineReader reads reply lines with a bound on their length, so that a
// server sending an endless line cannot make the client buffer without limit.
type lineReader struct {
	br  *bufio.Reader
	max int
	buf []byte
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its "\n" (and a "\r" before it).
// A line cut by the end of the stream is reported as io.ErrUnexpectedEOF,
// a clean end of stream as io.EOF.
func (lr *lineReader) readLine() (string, error) {
	lr.buf = lr.buf[:0]
	for {
		frag, err := lr.br.ReadSlice('\n')
		if len(lr.buf)+len(frag) > lr.max+1 { // +1: the newline itself
			return "", errLineTooLong
		}
		lr.buf = append(lr.buf, frag...)
		switch {
		case err == nil:
			line := lr.buf[:len(lr.buf)-1]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return string(line), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(lr.buf) > 0:
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}

// hasPrefixFold reports whether words starts with prefix, comparing
// case-insensitively as NUT's client does (upsd echoes the request's
// spelling, and UPS names are case-insensitive).
func hasPrefixFold(words, prefix []string) bool {
	if len(words) < len(prefix) {
		return false
	}
	for i, p := range prefix {
		if !strings.EqualFold(words[i], p) {
			return false
		}
	}
	return true
}

// isList reports whether words are exactly BEGIN|END LIST <query...>.
func isFrame(words []string, kind string, query []string) bool {
	return len(words) == len(query)+2 && strings.EqualFold(words[0], kind) &&
		strings.EqualFold(words[1], "LIST") && hasPrefixFold(words[2:], query)
}

// errReply turns an "ERR code [detail]" line into an *Error, or returns nil
// when the line is something else.
func errReply(words []string) *Error {
	if len(words) == 0 || words[0] != "ERR" {
		return nil
	}
	e := &Error{}
	if len(words) > 1 {
		e.Code = words[1]
	}
	if len(words) > 2 {
		e.Detail = strings.Join(words[2:], " ")
	}
	return e
}

// quoteLine quotes a reply line for an error message, cut to 200 bytes.
func quoteLine(s string) string {
	if len(s) > 200 {
		return strconv.Quote(s[:200]) + "..."
	}
	return strconv.Quote(s)
}
