package nutconf

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// feedAll runs s through a zero Scanner and returns the completed lines,
// plus whatever Flush gives at the end (nil when nothing was pending).
func feedAll(t *testing.T, sc *Scanner, s string) (lines [][]string, rest []string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		words, done, err := sc.Feed(s[i])
		if err != nil {
			t.Fatalf("Feed(%q) at byte %d: %v", s, i, err)
		}
		if done {
			if words == nil {
				words = []string{}
			}
			lines = append(lines, words)
		}
	}
	return lines, sc.Flush()
}

func TestScannerLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want [][]string
	}{
		// parseconf.c's own header examples.
		{"plain words", "this is a line\n", [][]string{{"this", "is", "a", "line"}}},
		{"quoted words", "this \"is also\" a line\n", [][]string{{"this", "is also", "a", "line"}}},
		{"escaped space", "embedded\\ space\n", [][]string{{"embedded space"}}},
		{"escaped backslash", "embedded\\\\backslash\n", [][]string{{"embedded\\backslash"}}},

		{"empty line", "\n", [][]string{{}}},
		{"blank line", " \t \n", [][]string{{}}},
		{"comment line", "# just a comment\n", [][]string{{}}},
		{"indented comment", "   # c\n", [][]string{{}}},
		{"two lines", "a b\nc\n", [][]string{{"a", "b"}, {"c"}}},
		{"tabs separate", "GET\tVAR\td\tups.status\n", [][]string{{"GET", "VAR", "d", "ups.status"}}},
		{"vt ff cr separate", "a\vb\fc\rd\n", [][]string{{"a", "b", "c", "d"}}},
		{"crlf", "VER\r\n", [][]string{{"VER"}}},
		{"comment mid-word", "ups.st#atus x\n", [][]string{{"ups.st"}}},
		{"comment after word", "a # b c\n", [][]string{{"a"}}},
		{"escaped hash in quotes", "\"a\\#b\"\n", [][]string{{"a#b"}}},
		{"hash after closing quote", "\"a\"#b\"\n", [][]string{{"a"}}},
		{"quoted hash in comment", "a # \"b#c\"\n", [][]string{{"a"}}},
		{"hash after mid-word quote", "a\"#b\"\n", [][]string{{"a\""}}},
		{"escaped hash", "a\\#b\n", [][]string{{"a#b"}}},
		{"quote mid-word is literal", "ups.st\"atus\n", [][]string{{"ups.st\"atus"}}},
		{"quote ends word", "\"ups\"status\n", [][]string{{"ups", "status"}}},
		{"empty quoted word", "a \"\" b\n", [][]string{{"a", "", "b"}}},
		{"escaped quote in quotes", "\"say \\\"hi\\\"\"\n", [][]string{{"say \"hi\""}}},
		{"escaped quote bare", "\\\"x\n", [][]string{{"\"x"}}},
		{"equals splits", "key=value\n", [][]string{{"key", "=", "value"}}},
		{"equals alone", "USERNAME=\n", [][]string{{"USERNAME", "="}}},
		{"equals leading", "=x\n", [][]string{{"=", "x"}}},
		{"double equals", "a==b\n", [][]string{{"a", "=", "=", "b"}}},
		{"equals in quotes", "\"a=b\"\n", [][]string{{"a=b"}}},
		{"escaped equals", "a\\=b\n", [][]string{{"a=b"}}},
		{"backslash newline joins", "GET VAR d ups.st\\\natus\n", [][]string{{"GET", "VAR", "d", "ups.status"}}},
		{"backslash newline at word start", "a \\\nb\n", [][]string{{"a", "b"}}},
		// The word opened by the backslash is empty when a blank follows.
		{"backslash newline then blank", "a \\\n b\n", [][]string{{"a", "", "b"}}},
		{"quote spans lines", "a \"b\nc\" d\n", [][]string{{"a", "bc", "d"}}},
		{"quote backslash newline", "\"b\\\nc\"\n", [][]string{{"bc"}}},
		{"tab in quotes dropped", "\"ups.st\tatus\"\n", [][]string{{"ups.status"}}},
		{"cr in quotes dropped", "\"ups.st\ratus\"\n", [][]string{{"ups.status"}}},
		{"control byte dropped", "ups.st\x01atus\n", [][]string{{"ups.status"}}},
		{"high byte dropped", "ups.st\xffatus\n", [][]string{{"ups.status"}}},
		{"utf-8 dropped", "B\xc3\xbcro\n", [][]string{{"Bro"}}},
		{"DEL kept", "a\x7fb\n", [][]string{{"a\x7fb"}}},
		{"control byte starts word", "\x01GET\n", [][]string{{"GET"}}},
		// A dropped byte still opens a word: a lone one is an empty word.
		{"lone high byte is empty word", "\xff GET\n", [][]string{{"", "GET"}}},
		{"escaped control byte dropped", "a\\\x01b\n", [][]string{{"ab"}}},
		{"NUL dropped", "a\x00b\n", [][]string{{"ab"}}},
		{"comment ignores backslash newline", "a # b \\\nc\n", [][]string{{"a"}, {"c"}}},
		{"section header", "[ups]\n", [][]string{{"[ups]"}}},
		{"section with spaces", "[my ups]\n", [][]string{{"[my", "ups]"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sc Scanner
			got, rest := feedAll(t, &sc, tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("lines of %q = %q, want %q", tc.in, got, tc.want)
			}
			if rest != nil {
				t.Errorf("Flush after %q = %q, want nothing pending", tc.in, rest)
			}
		})
	}
}

// TestScannerHashInQuotes covers NUT's one parse error, an unescaped # in
// quotes: the line is aborted with the words it had so far, and the next
// byte starts a new line between words.
func TestScannerHashInQuotes(t *testing.T) {
	tests := []struct {
		name string
		max  int // MaxWords
		in   string
		want []string // "line [...]" or "error [...]" for each event
		rest []string // what Flush finds at the end
	}{
		{"in first word", 0, "GET VAR \"u#1\" ups.status\n",
			[]string{`error ["GET" "VAR" "u"]`, `line ["1\"" "ups.status"]`}, nil},
		{"in last word", 0, "GET VAR u1 \"ups.st#atus\"\n",
			[]string{`error ["GET" "VAR" "u1" "ups.st"]`, `line ["atus\""]`}, nil},
		// The quote after the # opens a new quoted word, which swallows the
		// newline and what follows.
		{"before closing quote", 0, "GET VAR \"u1\" \"ups.status#\"\nVER\n",
			[]string{`error ["GET" "VAR" "u1" "ups.status"]`}, []string{"VER"}},
		{"alone", 0, "\"#\"\n", []string{`error [""]`}, nil},
		{"then a comment", 0, "\"a#b\"#c\"\nd\n",
			[]string{`error ["a"]`, `line ["b\""]`, `line ["d"]`}, nil},
		{"twice", 0, "\"a#b \"c#d\"\n",
			[]string{`error ["a"]`, `error ["b" "c"]`, `line ["d\""]`}, nil},
		{"on a continuation line", 0, "a \"b\nc#d\"\n",
			[]string{`error ["a" "bc"]`, `line ["d\""]`}, nil},
		{"after escaped hash", 0, "\"a\\#b#c\"\n",
			[]string{`error ["a#b"]`, `line ["c\""]`}, nil},
		{"past the word limit", 2, "a b \"c#\" d\n",
			[]string{`error ["a" "b"]`}, []string{" d"}},
		{"lines around", 0, "a\n\"#\nb\n",
			[]string{`line ["a"]`, `error [""]`, `line []`, `line ["b"]`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := Scanner{MaxWords: tc.max}
			var got []string
			for i := 0; i < len(tc.in); i++ {
				words, done, err := sc.Feed(tc.in[i])
				switch {
				case err != nil:
					if !errors.Is(err, ErrHashInQuotes) || done || tc.in[i] != '#' {
						t.Fatalf("byte %d %q: done=%v err=%v", i, tc.in[i], done, err)
					}
					if sc.Pending() || sc.InQuote() {
						t.Fatalf("after the error: Pending=%v InQuote=%v", sc.Pending(), sc.InQuote())
					}
					got = append(got, fmt.Sprintf("error %q", words))
				case done:
					got = append(got, fmt.Sprintf("line %q", words))
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events of %q:\n got %s\nwant %s", tc.in, got, tc.want)
			}
			if rest := sc.Flush(); !reflect.DeepEqual(rest, tc.rest) {
				t.Errorf("Flush = %q, want %q", rest, tc.rest)
			}
		})
	}
}

func TestScannerLimits(t *testing.T) {
	sc := Scanner{MaxWordLen: DefaultMaxWordLen, MaxWords: DefaultMaxWords}
	long := strings.Repeat("x", 70000)
	many := strings.Repeat("w ", 40)
	lines, _ := feedAll(t, &sc, "GET "+long+"\n"+many+"\nVER\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3", len(lines))
	}
	if got := len(lines[0][1]); got != DefaultMaxWordLen {
		t.Errorf("long word kept %d bytes, want %d", got, DefaultMaxWordLen)
	}
	if got := len(lines[1]); got != DefaultMaxWords {
		t.Errorf("line kept %d words, want %d", got, DefaultMaxWords)
	}
	// Limits apply per line: the next line is whole.
	if !reflect.DeepEqual(lines[2], []string{"VER"}) {
		t.Errorf("line after limits = %q", lines[2])
	}

	// The zero value has no limits.
	var z Scanner
	lines, _ = feedAll(t, &z, long+" "+many+"\n")
	if len(lines[0]) != 41 || len(lines[0][0]) != len(long) {
		t.Errorf("zero Scanner truncated: %d words, first %d bytes", len(lines[0]), len(lines[0][0]))
	}
}

func TestScannerWordsAreCallers(t *testing.T) {
	var sc Scanner
	first, _ := feedAll(t, &sc, "a b\n")
	second, _ := feedAll(t, &sc, "c d\n")
	if first[0][0] != "a" || second[0][0] != "c" {
		t.Errorf("lines share storage: %q %q", first, second)
	}
}

// TestScannerAllocations: a line costs the scanner two allocations (its
// words' one string and the slice), whatever its word count, once its
// buffers have grown; upsd makes one line per request.
func TestScannerAllocations(t *testing.T) {
	sc := Scanner{MaxWordLen: DefaultMaxWordLen, MaxWords: DefaultMaxWords}
	line := []byte("SET VAR myups ups.delay.shutdown \"120\"\n")
	feed := func() {
		for _, c := range line {
			sc.Feed(c)
		}
	}
	if n := testing.AllocsPerRun(100, feed); n > 2 {
		t.Errorf("%v allocations per line, want at most 2", n)
	}
}

// TestScannerLetsGoOfLongLines: a scanner kept per client does not hold
// on to the buffers one very long request grew.
func TestScannerLetsGoOfLongLines(t *testing.T) {
	sc := Scanner{MaxWordLen: DefaultMaxWordLen, MaxWords: DefaultMaxWords}
	long := strings.Repeat(strings.Repeat("x", DefaultMaxWordLen)+" ", 40) + "\n"
	lines, _ := feedAll(t, &sc, long)
	if len(lines) != 1 || len(lines[0]) != DefaultMaxWords || len(lines[0][31]) != DefaultMaxWordLen {
		t.Fatalf("long line read as %d lines", len(lines))
	}
	if cap(sc.line) > 1024 || cap(sc.ends) > 64 {
		t.Errorf("after a %d-byte line the scanner keeps %d bytes and %d offsets", len(long), cap(sc.line), cap(sc.ends))
	}
}

func TestScannerPendingFlushReset(t *testing.T) {
	var sc Scanner
	if sc.Pending() {
		t.Error("zero Scanner pending")
	}
	for _, c := range []byte("a \"b") {
		sc.Feed(c)
	}
	if !sc.Pending() || !sc.InQuote() {
		t.Errorf("after open quote: Pending=%v InQuote=%v", sc.Pending(), sc.InQuote())
	}
	if got := sc.Flush(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("Flush = %q", got)
	}
	if sc.Pending() {
		t.Error("pending after Flush")
	}
	for _, c := range []byte("x y") {
		sc.Feed(c)
	}
	sc.Reset()
	if got := sc.Flush(); got != nil {
		t.Errorf("Flush after Reset = %q", got)
	}
	// As NUT's pconf_line, an empty word still being built is not kept.
	for _, c := range []byte("a \\") {
		sc.Feed(c)
	}
	if got := sc.Flush(); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("Flush with empty open word = %q", got)
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr error
	}{
		{"GET VAR ups ups.status", []string{"GET", "VAR", "ups", "ups.status"}, nil},
		{"GET VAR ups ups.status\n", []string{"GET", "VAR", "ups", "ups.status"}, nil},
		{"SET VAR ups x \"a \\\"b\\\" \\\\c\"", []string{"SET", "VAR", "ups", "x", "a \"b\" \\c"}, nil},
		{"", nil, nil},
		{"  # only a comment", nil, nil},
		{"a \"open", []string{"a", "open"}, ErrUnterminatedQuote},
		{"a\nb", []string{"a"}, errMultiLine},
		// pconf_line stops at the error: nothing after the # counts, not
		// even a second line.
		{"GET VAR \"u#1\" x\nVER", []string{"GET", "VAR", "u"}, ErrHashInQuotes},
		{"\"#", []string{""}, ErrHashInQuotes},
		{"a \"b\\#c\"", []string{"a", "b#c"}, nil},
	}
	for _, tc := range tests {
		got, err := Split(tc.in)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("Split(%q) error = %v, want %v", tc.in, err, tc.wantErr)
		}
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Split(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"OL", "OL"},
		{"", ""},
		{"a b", "a b"},
		{`a"b`, `a\"b`},
		{`c:\dos`, `c:\\dos`},
		{"my#lups", `my\#lups`},
		{"=", "="},
		{`\"#`, `\\\"\#`},
	}
	for _, tc := range tests {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// Every printable value survives a trip through quotes.
		words, err := Split(`VAR "` + Quote(tc.in) + `"`)
		if err != nil || len(words) != 2 || words[1] != tc.in {
			t.Errorf("Split of quoted %q = %q, %v", tc.in, words, err)
		}
	}
}

// BenchmarkScannerRequest is the cost of splitting one request line.
func BenchmarkScannerRequest(b *testing.B) {
	sc := Scanner{MaxWordLen: DefaultMaxWordLen, MaxWords: DefaultMaxWords}
	line := []byte("GET VAR myups ups.status\n")
	b.ReportAllocs()
	for range b.N {
		for _, c := range line {
			sc.Feed(c)
		}
	}
}
