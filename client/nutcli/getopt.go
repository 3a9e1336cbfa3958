package nutcli

import (
	"fmt"
	"strings"
)

// Getopt reads command-line options the way glibc's getopt(3) does with an
// optstring that starts with '+' (NUT's clients all use one): options end
// at the first operand or at "--"; letters may be bundled ("-wl"); an
// option's argument is the rest of its word or the next word ("-uadmin",
// "-u admin"); a lone "-" is an operand.
type Getopt struct {
	prog string
	args []string
	spec string // option letters, each followed by ':' if it takes an argument
	next int    // index in args of the word being read
	pos  int    // index in that word of the next letter; 0: start a new word
}

// Option is one option read by Getopt.
type Option struct {
	Letter byte   // the option letter, or '?' for an error
	Arg    string // its argument, for letters that take one
	// Err is the message glibc prints on stderr for an unknown letter or a
	// missing argument, e.g. "upscmd: invalid option -- 'x'"; Letter is
	// then '?'.
	Err string
}

// NewGetopt reads args as getopt does argv: args[0] is the program name as
// invoked (it prefixes error messages), the options follow. spec lists the
// option letters, each followed by ':' when it takes an argument
// ("lhu:p:t:wV").
func NewGetopt(args []string, spec string) *Getopt {
	g := &Getopt{spec: spec, next: 1}
	if len(args) > 0 {
		g.prog = args[0]
	}
	g.args = args
	return g
}

// Next returns the next option, or false when the options have ended.
func (g *Getopt) Next() (Option, bool) {
	if g.pos == 0 {
		if g.next >= len(g.args) {
			return Option{}, false
		}
		w := g.args[g.next]
		if w == "--" {
			g.next++
			return Option{}, false
		}
		if len(w) < 2 || w[0] != '-' {
			return Option{}, false
		}
		g.pos = 1
	}
	w := g.args[g.next]
	c := w[g.pos]
	g.pos++
	atEnd := g.pos >= len(w)
	i := strings.IndexByte(g.spec, c)
	if c == ':' || i < 0 {
		g.advanceIf(atEnd)
		return Option{Letter: '?', Err: fmt.Sprintf("%s: invalid option -- '%c'", g.prog, c)}, true
	}
	if i+1 >= len(g.spec) || g.spec[i+1] != ':' {
		g.advanceIf(atEnd)
		return Option{Letter: c}, true
	}
	// The option takes an argument: the rest of this word, or the next.
	if !atEnd {
		arg := w[g.pos:]
		g.advanceIf(true)
		return Option{Letter: c, Arg: arg}, true
	}
	g.advanceIf(true)
	if g.next >= len(g.args) {
		return Option{Letter: '?', Err: fmt.Sprintf("%s: option requires an argument -- '%c'", g.prog, c)}, true
	}
	arg := g.args[g.next]
	g.next++
	return Option{Letter: c, Arg: arg}, true
}

func (g *Getopt) advanceIf(done bool) {
	if done {
		g.next++
		g.pos = 0
	}
}

// Rest returns the operands: the words after the options.
func (g *Getopt) Rest() []string {
	if g.next >= len(g.args) {
		return nil
	}
	return g.args[g.next:]
}
