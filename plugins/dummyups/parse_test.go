package dummyups

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func set(line int, name, value string) Stmt {
	return Stmt{Kind: StmtSet, Line: line, Name: name, Value: value}
}

func status(line int, tokens ...string) Stmt {
	if tokens == nil {
		tokens = []string{}
	}
	return Stmt{Kind: StmtStatus, Line: line, Name: "ups.status", Tokens: tokens}
}

func timer(line, secs int) Stmt { return Stmt{Kind: StmtTimer, Line: line, Seconds: secs} }

func TestParseDev(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   []Stmt
		issues []string // substrings of the issues, in order, with their line
	}{
		{"empty", "", nil, nil},
		{"comments and blanks", "# c\n\n   \n\t# c2\n", nil, nil},
		{"simple", "ups.load: 10\nbattery.charge: 50\n", []Stmt{set(1, "ups.load", "10"), set(2, "battery.charge", "50")}, nil},
		{"words joined by one space", "x: a   b\t c  # comment\n", []Stmt{set(1, "x", "a b c")}, nil},
		{"quotes keep spaces", `x: "a   b"  c` + "\n", []Stmt{set(1, "x", "a   b c")}, nil},
		{"escapes", `x: a\"b c\#d \\e` + "\n", []Stmt{set(1, "x", `a"b c#d \e`)}, nil},
		{"equals is a word", "x: a=b\n", []Stmt{set(1, "x", "a = b")}, nil},
		{"driver lines skipped", "driver.name: usbhid-ups\ndriver.parameter.port: auto\nups.load: 1\n", []Stmt{set(3, "ups.load", "1")}, nil},
		{"status tokens", "ups.status: OL CHRG\n", []Stmt{status(1, "OL", "CHRG")}, nil},
		{"empty status", "ups.status:\n", []Stmt{status(1)}, nil},
		{"status prefix", "ups.status.x: OB\n", []Stmt{status(1, "OB")}, []string{`1:"ups.status.x" starts with ups.status`}},
		{"timer", "a: 1\nTIMER 5\nb: 2\n", []Stmt{set(1, "a", "1"), timer(2, 5), set(3, "b", "2")}, nil},
		{"timer prefix and atoi", "TIMERS 3x\n", []Stmt{timer(1, 3)}, []string{`1:TIMER "3x" is not a number`}},
		{"timer without seconds", "TIMER\n", []Stmt{timer(1, 0)}, []string{"1:TIMER without a number"}},
		{"negative timer", "TIMER -2\n", []Stmt{timer(1, -2)}, nil},
		// NUT's var_value buffer: a line without a value gets the last one.
		{"empty value reuses previous", "a: x y\nups.status: OB\nb:\nc\n", []Stmt{set(1, "a", "x y"), status(2, "OB"), set(3, "b", "x y"), set(4, "c", "x y")},
			[]string{`3:b has no value: it gets the previous line's value "x y"`, `4:"c" is not followed by a colon`, "4:c has no value"}},
		{"empty value first deletes", "b:\n", []Stmt{set(1, "b", "")}, []string{"1:b has no value and no line before it has one"}},
		{"quoted empty value", `a: 1` + "\n" + `b: ""` + "\n", []Stmt{set(1, "a", "1"), set(2, "b", "")}, nil},
		{"colon inside first word", "x.y:z\n", []Stmt{set(1, "x.y", "")}, []string{"1:x.y has no value"}},
		{"empty name", ": v\n", []Stmt{set(1, "", "v")}, []string{"1:line starts with a colon"}},
		{"no colon", "name value\n", []Stmt{set(1, "name", "value")}, []string{`1:"name" is not followed by a colon`}},
		{"non-ASCII dropped", "x: caf\xc3\xa9\n", []Stmt{set(1, "x", "caf")}, []string{"1:2 byte(s) outside printable ASCII"}},
		{"continuation line", "x: a \\\nb\ny: 1\n", []Stmt{set(1, "x", "a b"), set(3, "y", "1")}, nil},
		{"quote over lines", "x: \"a\nb\"\ny: 1\n", []Stmt{set(1, "x", "ab"), set(3, "y", "1")}, nil},
		{"unterminated quote", "a: 1\nx: \"abc\ny: 1\n", []Stmt{set(1, "a", "1"), set(2, "x", "abcy: 1")}, []string{"2:quote opened here is never closed"}},
		{"last line kept without newline", "a: 1\nb: 2", []Stmt{set(1, "a", "1"), set(2, "b", "2")}, nil},
		{"last single word dropped without newline", "a: 1\nlone", []Stmt{set(1, "a", "1")}, []string{`2:last line "lone" has no newline`}},
		{"last single word kept after a blank", "a: 1\nlone ", []Stmt{set(1, "a", "1"), set(2, "lone", "1")}, []string{`2:"lone" is not followed`, "2:lone has no value"}},
		{"last line in a comment", "a: 1\nb: 2 # c", []Stmt{set(1, "a", "1"), set(2, "b", "2")}, nil},
		{"last line open quote", "a: 1\nb: \"x y", []Stmt{set(1, "a", "1"), set(2, "b", "x y")}, []string{"2:quote opened here is never closed"}},
		{"words past 32 dropped", "x: " + strings.Repeat("w ", 40) + "\n", []Stmt{set(1, "x", strings.TrimSpace(strings.Repeat("w ", 31)))}, nil},
		{"single word cut at 127", "x: " + strings.Repeat("a", 200) + "\n", []Stmt{set(1, "x", strings.Repeat("a", 127))}, []string{"1:value of x is 200 bytes long: cut to 127"}},
		{"joined words cut at 126", "x: " + strings.Repeat("a", 120) + " bcdefghij\n", []Stmt{set(1, "x", strings.Repeat("a", 120)+" bcdef")}, []string{"1:value of x is 130 bytes long: cut to 126"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseDev(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.Stmts, tt.want) {
				t.Errorf("statements\n got %+v\nwant %+v", f.Stmts, tt.want)
			}
			if len(f.Issues) != len(tt.issues) {
				t.Fatalf("issues %+v, want %d like %q", f.Issues, len(tt.issues), tt.issues)
			}
			for i, want := range tt.issues {
				line, msg, _ := strings.Cut(want, ":")
				is := f.Issues[i]
				if line != strconv.Itoa(is.Line) || !strings.Contains(is.Msg, msg) {
					t.Errorf("issue %d = %d: %s, want %s", i, is.Line, is.Msg, want)
				}
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParseDevReadError(t *testing.T) {
	if _, err := ParseDev(failingReader{}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("error %v, want the read error", err)
	}
}

func TestAtoi(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		full bool
	}{
		{"5", 5, true}, {"  12", 12, true}, {"+3", 3, true}, {"-4", -4, true},
		{"7s", 7, false}, {"x", 0, false}, {"", 0, false}, {"-", 0, false},
	}
	for _, tt := range tests {
		if n, ok := atoi(tt.in); n != tt.n || ok != tt.full {
			t.Errorf("atoi(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.n, tt.full)
		}
	}
}
