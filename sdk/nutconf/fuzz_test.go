package nutconf

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"", "\n", "VER\n", "GET VAR ups ups.status\r\n", "a \"b c\" d\n", "a\\\nb\n",
	"\"open\nquote\"\n", "key=value\n", "a # c\n", "\xff \x01x\n", "\\", "\"\\", "==\n",
	"[ups]\ndriver = dummy-ups\nport = x.dev\n", "SET VAR u v \"a\\\"b\\\\c\\#d\"\n",
	"maxretry = 3\n[a]\n\tdriver=x\n\tport=y\n\tnolock\n\t\"k=v\"\n", strings.Repeat("w ", 40) + "\n",
	"[u]\ndesc = \"a # b\"\n", "GET VAR \"u#1\" x\nVER\n", "\"a\nb#\"\n",
}

// FuzzScanner checks the Scanner's invariants on any input: it never panics,
// its only error is ErrHashInQuotes at a # and leaves no line pending, words
// hold only bytes 0x20..0x7F, limits hold, and feeding the same bytes in one
// go or after a Reset gives the same lines and errors.
func FuzzScanner(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), uint8(0), uint8(0))
	}
	f.Add([]byte(strings.Repeat("x", 600)+"\n"), uint8(255), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, maxLen, maxWords uint8) {
		sc := Scanner{MaxWordLen: int(maxLen), MaxWords: int(maxWords)}
		var lines [][]string // lines and aborted lines, then Flush's
		var errs []int       // indexes in lines of the aborted ones
		for _, c := range in {
			words, done, err := sc.Feed(c)
			if err != nil {
				if !errors.Is(err, ErrHashInQuotes) || c != '#' || done || sc.Pending() {
					t.Fatalf("Feed(%q): done=%v pending=%v err=%v", c, done, sc.Pending(), err)
				}
				errs = append(errs, len(lines))
				lines = append(lines, words)
				continue
			}
			if !done && words != nil {
				t.Fatalf("words %q without done", words)
			}
			if done {
				lines = append(lines, words)
			}
		}
		lines = append(lines, sc.Flush())
		newlines := bytes.Count(in, []byte{'\n'})
		if len(lines)-1-len(errs) > newlines {
			t.Fatalf("%d lines from %d newlines", len(lines)-1-len(errs), newlines)
		}
		for _, l := range lines {
			if maxWords > 0 && len(l) > int(maxWords) {
				t.Fatalf("%d words > MaxWords %d", len(l), maxWords)
			}
			for _, w := range l {
				if maxLen > 0 && len(w) > int(maxLen) {
					t.Fatalf("word of %d bytes > MaxWordLen %d", len(w), maxLen)
				}
				for i := 0; i < len(w); i++ {
					if w[i] < 0x20 || w[i] > 0x7f {
						t.Fatalf("word %q holds byte %#x", w, w[i])
					}
				}
			}
		}
		// Same input after a Reset mid-way through garbage gives the same.
		var sc2 Scanner
		sc2.MaxWordLen, sc2.MaxWords = sc.MaxWordLen, sc.MaxWords
		for _, c := range []byte("junk \"open") {
			sc2.Feed(c)
		}
		sc2.Reset()
		var again [][]string
		for _, c := range in {
			if words, done, err := sc2.Feed(c); done || err != nil {
				again = append(again, words)
			}
		}
		again = append(again, sc2.Flush())
		if !reflect.DeepEqual(lines, again) {
			t.Fatalf("after Reset: %q, want %q", again, lines)
		}
	})
}

// FuzzParse checks that Parse never panics, that line numbers rise and stay
// within the file, and that words written back with Quote parse to the same
// words.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		lines, err := Parse(bytes.NewReader(in), "f.conf")
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "f.conf" || ce.Line < 1 {
				t.Fatalf("error %v is not a located *Error", err)
			}
			if errors.Is(err, ErrHashInQuotes) {
				// The error names the physical line of the #.
				phys := bytes.Split(in, []byte{'\n'})
				if ce.Line > len(phys) || !bytes.Contains(phys[ce.Line-1], []byte{'#'}) {
					t.Fatalf("%v: that line holds no #", err)
				}
			}
			return
		}
		phys := bytes.Count(in, []byte{'\n'}) + 1
		prev := 0
		var out strings.Builder
		for _, l := range lines {
			if len(l.Words) == 0 {
				t.Fatalf("empty line returned: %+v", l)
			}
			if l.Num <= prev || l.Num > phys {
				t.Fatalf("line number %d after %d (file has %d lines)", l.Num, prev, phys)
			}
			prev = l.Num
			for i, w := range l.Words {
				if i > 0 {
					out.WriteByte(' ')
				}
				out.WriteString(`"` + Quote(w) + `"`)
			}
			out.WriteByte('\n')
		}
		again, err := Parse(strings.NewReader(out.String()), "again.conf")
		if err != nil {
			t.Fatalf("re-parse of %q: %v", out.String(), err)
		}
		if len(again) != len(lines) {
			t.Fatalf("re-parse gave %d lines, want %d", len(again), len(lines))
		}
		for i := range lines {
			if !reflect.DeepEqual(again[i].Words, lines[i].Words) {
				t.Fatalf("round trip of %q = %q", lines[i].Words, again[i].Words)
			}
		}
	})
}

// FuzzParseUPSConf checks that ParseUPSConf never panics, that its errors are
// located, and that what it accepts is consistent.
func FuzzParseUPSConf(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("testdata/ups.conf"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseUPSConf(bytes.NewReader(in), "ups.conf")
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Line < 1 {
				t.Fatalf("error %v is not a located *Error", err)
			}
			return
		}
		if c.PollInterval < 1 || c.MaxRetry < 0 {
			t.Fatalf("bad globals %+v", c)
		}
		seen := map[string]bool{}
		for _, s := range c.Sections {
			if s.Name == "" || seen[s.Name] || s.Driver == "" || c.Section(s.Name) != s {
				t.Fatalf("bad section %+v", s)
			}
			seen[s.Name] = true
			if v, ok := s.Get("driver"); !ok || v != s.Driver {
				t.Fatalf("Get(driver) = %q, Driver %q", v, s.Driver)
			}
			if v, ok := s.Get("port"); !ok || v != s.Port {
				t.Fatalf("Get(port) = %q, Port %q", v, s.Port)
			}
			if s.SDOrder < -1 {
				t.Fatalf("sdorder %d", s.SDOrder)
			}
		}
	})
}
