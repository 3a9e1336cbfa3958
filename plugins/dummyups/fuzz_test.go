package dummyups

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseDev checks ParseDev on any input: it never fails on a reader
// that works, statements come in line order, values keep to NUT's buffer
// and hold only printable ASCII, and issues point at lines of the input.
func FuzzParseDev(f *testing.F) {
	seeds := []string{
		"", "ups.load: 1\n", "ups.status: OL LB\nTIMER 5\n", "x: \"a\\\"b\"\n", "a\\\nb: c\n",
		"x: \"open\n", "lone", "b:\n", ": v\n", "TIMER\n", "x: \xff\x01\n", "driver.name: x\n",
		"x: " + strings.Repeat("w ", 40) + "\n", "x: " + strings.Repeat("a", 600) + "\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	if ents, err := filepath.Glob(filepath.Join("testdata", "golden", "*.dev")); err == nil {
		for _, p := range ents {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		file, err := ParseDev(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("ParseDev: %v", err)
		}
		lines := bytes.Count(in, []byte{'\n'}) + 1
		last := 0
		for _, s := range file.Stmts {
			if s.Line < last || s.Line < 1 || s.Line > lines {
				t.Fatalf("statement at line %d after line %d (input has %d lines)", s.Line, last, lines)
			}
			last = s.Line
			if len(s.Value) > maxValueLen {
				t.Fatalf("value of %d bytes", len(s.Value))
			}
			for _, w := range append([]string{s.Name, s.Value}, s.Tokens...) {
				for i := 0; i < len(w); i++ {
					if w[i] < 0x20 || w[i] > 0x7f {
						t.Fatalf("byte %#x in %q", w[i], w)
					}
				}
			}
			if s.Kind == StmtSet && strings.HasPrefix(s.Name, "driver.") {
				t.Fatalf("driver.* line kept: %+v", s)
			}
		}
		for _, is := range file.Issues {
			if is.Line < 1 || is.Line > lines {
				t.Fatalf("issue at line %d of %d: %s", is.Line, lines, is.Msg)
			}
		}
	})
}
