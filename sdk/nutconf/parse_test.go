package nutconf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func words(ws ...string) []string { return ws }

// TestManualExamples covers every example of section 6.1 "Details about the
// configuration files" of the NUT user manual
// (/work/shared/nut-user-manual.txt), each cited by its text.
func TestManualExamples(t *testing.T) {
	tests := []struct {
		name, in string
		want     [][]string
	}{
		// 6.1.1: SHUTDOWNCMD "/sbin/shutdown -h +0"
		{"quotes keep spaces", `SHUTDOWNCMD "/sbin/shutdown -h +0"`,
			[][]string{words("SHUTDOWNCMD", "/sbin/shutdown -h +0")}},
		// 6.1.1: "Without the quotes, it would only see the first word on the line."
		{"no quotes splits", `SHUTDOWNCMD /sbin/shutdown -h +0`,
			[][]string{words("SHUTDOWNCMD", "/sbin/shutdown", "-h", "+0")}},
		// 6.1.1: NOTIFYCMD "/bin/notifyme -foo -bar \"hi there\" -baz"
		{"escaped quotes", `NOTIFYCMD "/bin/notifyme -foo -bar \"hi there\" -baz"`,
			[][]string{words("NOTIFYCMD", `/bin/notifyme -foo -bar "hi there" -baz`)}},
		// 6.1.1: NOTIFYCMD "/bin/notifyme c:\\dos\\style\\path"
		{"escaped backslashes", `NOTIFYCMD "/bin/notifyme c:\\dos\\style\\path"`,
			[][]string{words("NOTIFYCMD", `/bin/notifyme c:\dos\style\path`)}},
		// 6.1.1: NOTIFYCMD "\"c:\\path with space\\notifyme\" \"c:\\path with space\\name\""
		{"paths with spaces", `NOTIFYCMD "\"c:\\path with space\\notifyme\" \"c:\\path with space\\name\""`,
			[][]string{words("NOTIFYCMD", `"c:\path with space\notifyme" "c:\path with space\name"`)}},
		// 6.1.1: identity = my#lups  "will actually turn into identity =my"
		{"comment cuts value", `identity = my#lups`,
			[][]string{words("identity", "=", "my")}},
		// 6.1.1: identity = my\#lups  "Much better." The manual as rendered
		// prints my\\#lups; the NUT source page has a single backslash.
		{"escaped hash", `identity = my\#lups`,
			[][]string{words("identity", "=", "my#lups")}},
		// ... and the rendered text taken literally: \\ is a backslash, then
		// the # starts a comment.
		{"escaped hash as rendered", `identity = my\\#lups`,
			[][]string{words("identity", "=", `my\`)}},
		// 6.1.1: password = 123=123  "is incorrect": the second = splits too.
		{"bare equals in value", `password = 123=123`,
			[][]string{words("password", "=", "123", "=", "123")}},
		// 6.1.1: password = 123\=123 (rendered as 123\\=123).
		{"escaped equals", `password = 123\=123`,
			[][]string{words("password", "=", "123=123")}},
		{"escaped equals as rendered", `password = 123\\=123`,
			[][]string{words("password", "=", `123\`, "=", "123")}},
		// 6.1.1: password = "123=123"
		{"quoted equals", `password = "123=123"`,
			[][]string{words("password", "=", "123=123")}},
		// 6.1.1: "the parser does not care about whitespace between words"
		{"indentation", "\t  MONITOR\t\tups@host   1 \n",
			[][]string{words("MONITOR", "ups@host", "1")}},
		// 6.1.2: "a backslash at the end of the line to join it to the next one"
		{"line spanning backslash", "NOTIFYCMD /bin/notify\\\nme -x\n",
			[][]string{words("NOTIFYCMD", "/bin/notifyme", "-x")}},
		// 6.1.2: "if you leave the "" quote container open before a newline,
		// it will keep scanning until it reaches another one" (the newline
		// itself is dropped, as parseconf keeps only printable bytes).
		{"line spanning quote", "desc = \"line one\nline two\"\nport = x\n",
			[][]string{words("desc", "=", "line oneline two"), words("port", "=", "x")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines, err := Parse(strings.NewReader(tc.in), "ex.conf")
			if err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for _, l := range lines {
				got = append(got, l.Words)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseLineNumbers(t *testing.T) {
	in := "# header\n" + // 1
		"\n" + // 2
		"a b\n" + // 3
		"c \\\n" + // 4: joined with 5
		"  d\n" + // 5
		"e \"multi\n" + // 6: quote open until 8
		"line\n" + // 7
		"value\" f\n" + // 8
		"   \n" + // 9
		"g" // 10, no final newline
	lines, err := Parse(strings.NewReader(in), "n.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{
		{Words: words("a", "b"), Num: 3},
		{Words: words("c", "", "d"), Num: 4},
		{Words: words("e", "multilinevalue", "f"), Num: 6},
		{Words: words("g"), Num: 10},
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("Parse = %+v\nwant    %+v", lines, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"unterminated quote", "a = 1\n\nb = \"open\nc = 2\n", `q.conf:3: unterminated quoted string (missing closing ")`},
		{"unterminated quote on first line", `desc = "x`, `q.conf:1: unterminated quoted string (missing closing ")`},
		{"hash in quotes", "a = 1\ndesc = \"a # b\"\n", `q.conf:2: unbalanced word: unescaped # in quotes (write \# for a literal #)`},
		{"hash alone in quotes", `x "#"`, `q.conf:1: unbalanced word: unescaped # in quotes (write \# for a literal #)`},
		// The line named is the one holding the #, not the one where the
		// logical line began.
		{"hash on a quote's second line", "a \"b\nc#d\"\n", `q.conf:2: unbalanced word: unescaped # in quotes (write \# for a literal #)`},
		{"hash after a joined line", "a\\\n \"#\"\n", `q.conf:2: unbalanced word: unescaped # in quotes (write \# for a literal #)`},
		// The first error wins over a quote left open later.
		{"hash then open quote", "\"a#\nb = \"c\n", `q.conf:1: unbalanced word: unescaped # in quotes (write \# for a literal #)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in), "q.conf")
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if err.Error() != tc.want {
				t.Errorf("error = %q, want %q", err, tc.want)
			}
			if hash := strings.Contains(tc.want, "# in quotes"); errors.Is(err, ErrHashInQuotes) != hash {
				t.Errorf("errors.Is(err, ErrHashInQuotes) = %v, want %v", !hash, hash)
			}
		})
	}
}

type failReader struct{ n int }

func (r *failReader) Read(p []byte) (int, error) {
	if r.n > 0 {
		r.n--
		p[0] = '\n'
		return 1, nil
	}
	return 0, errors.New("disk on fire")
}

func TestParseReadError(t *testing.T) {
	_, err := Parse(&failReader{n: 2}, "r.conf")
	if err == nil || err.Error() != "r.conf:3: read: disk on fire" {
		t.Errorf("error = %v", err)
	}
}

func TestErrorFormat(t *testing.T) {
	if got := (&Error{File: "f", Line: 7, Msg: "bad"}).Error(); got != "f:7: bad" {
		t.Errorf("got %q", got)
	}
	if got := (&Error{File: "f", Msg: "bad"}).Error(); got != "f: bad" {
		t.Errorf("got %q", got)
	}
}

func TestParseFileMissing(t *testing.T) {
	_, err := ParseFile(filepath.Join(t.TempDir(), "nope.conf"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error = %v, want fs.ErrNotExist", err)
	}
}

func TestPaths(t *testing.T) {
	t.Setenv("NUT_CONFPATH", "")
	t.Setenv("NUT_STATEPATH", "")
	if ConfPath() != "/etc/nut" || StatePath() != "/var/state/ups" {
		t.Errorf("defaults: %q %q", ConfPath(), StatePath())
	}
	t.Setenv("NUT_CONFPATH", "/c")
	t.Setenv("NUT_STATEPATH", "/s")
	if ConfPath() != "/c" || StatePath() != "/s" {
		t.Errorf("from env: %q %q", ConfPath(), StatePath())
	}
}

// TestParseSystemSamples parses the configuration files of the installed NUT
// package (Debian ships NUT's samples as /etc/nut/*.conf), if any.
func TestParseSystemSamples(t *testing.T) {
	paths, _ := filepath.Glob("/etc/nut/*")
	if len(paths) == 0 {
		t.Skip("no /etc/nut on this machine")
	}
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if _, err := ParseFile(p); err != nil && !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s: %v", p, err)
		}
	}
}
