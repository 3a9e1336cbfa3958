package conf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gonut/gonut/sdk/nutconf"
)

// Seeds shared by both targets: each file's own syntax, the other file's,
// and the parser's corners (quotes, escapes, # in quotes, bytes it drops).
var fuzzSeeds = []string{
	"", "\n", "# only a comment\n",
	"LISTEN 127.0.0.1 3493\nLISTEN ::1\nMAXAGE 15\nMAXCONN 1024\n",
	"CERTIDENT \"my server\" \"pass\\#word\"\nCERTREQUEST REQUIRE\nDEBUG_MIN 2\n",
	"ACCEPT a b\nACL all 0.0.0.0/0\nALLOW_NO_DEVICE yes\n",
	"MAXAGE \"1#5\"\nBOGUS x\n", "STATEPATH \"/run\n/nut\"\n", "MAXAGE=15\n", "LISTEN \"\"\n",
	"[admin]\n\tpassword = \"s3cret pass\"\n\tactions = SET FSD\n\tinstcmds = all\n",
	"[mon]\npassword=pw\nupsmon primary\n[mon2]\nPASSWORD = pw\nUPSMON = slave\n",
	"[a]\n\"actions=FSD\" SET\npassword = \"a#b\"\n", "[a]\n[a]\n", "[]\n", "user = old\n",
	"[a]\n= x\npassword =\n", "\xff[a]\x01\npass\\\nword = \"x\ny\"\n", "[a\n\"open",
}

// fuzzSeedFiles adds the seeds and the named fixtures to f.
func fuzzSeedFiles(f *testing.F, fixtures ...string) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, p := range fixtures {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkLocated fails unless err is a *nutconf.Error naming file and a line
// of in, and says so in its text.
func checkLocated(t *testing.T, err error, file string, in []byte) {
	t.Helper()
	var ce *nutconf.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *nutconf.Error", err, err)
	}
	lines := bytes.Count(in, []byte{'\n'}) + 1
	if ce.File != file || ce.Line < 1 || ce.Line > lines {
		t.Fatalf("error %q names %s:%d; want %s and a line in 1..%d", err, ce.File, ce.Line, file, lines)
	}
	if prefix := fmt.Sprintf("%s:%d: ", file, ce.Line); !strings.HasPrefix(err.Error(), prefix) || ce.Msg == "" {
		t.Fatalf("error %q does not start with %q and a message", err, prefix)
	}
}

// checkWarnings fails unless every warning names file and a line of in.
func checkWarnings(t *testing.T, warnings []string, file string, in []byte) {
	t.Helper()
	lines := bytes.Count(in, []byte{'\n'}) + 1
	for _, w := range warnings {
		var n int
		rest, ok := strings.CutPrefix(w, file+":")
		if !ok {
			t.Fatalf("warning %q does not name %s", w, file)
		}
		if _, err := fmt.Sscanf(rest, "%d: ", &n); err != nil || n < 1 || n > lines {
			t.Fatalf("warning %q names no line in 1..%d", w, lines)
		}
	}
}

// FuzzLoadUpsdConf checks that the upsd.conf loader never panics, that
// every error it returns names file:line, and that what it accepts is sane.
// It drives ParseUpsdConf, which LoadUpsdConf is once the file is open.
func FuzzLoadUpsdConf(f *testing.F) {
	fuzzSeedFiles(f, "testdata/upsd.conf")
	f.Fuzz(func(t *testing.T, in []byte) {
		const file = "upsd.conf"
		c, err := ParseUpsdConf(bytes.NewReader(in), file)
		if err != nil {
			checkLocated(t, err, file, in)
			return
		}
		checkWarnings(t, c.Warnings, file, in)
		if c.File != file || c.MaxAge < 0 || c.TrackingDelay < 0 || c.MaxConn < 1 || c.DebugMin < 0 {
			t.Fatalf("bad settings %+v", c)
		}
		switch c.CertRequest {
		case "", "NO", "REQUEST", "REQUIRE":
		default:
			t.Fatalf("CertRequest %q", c.CertRequest)
		}
		prev := 0
		for _, l := range c.Listen {
			if l.Addr == "" || l.Port == "" || l.Line <= prev {
				t.Fatalf("bad LISTEN %+v after line %d", l, prev)
			}
			prev = l.Line
		}
	})
}

// FuzzLoadUpsdUsers checks that the upsd.users loader never panics, that
// every error it returns names file:line, and that the users it accepts
// are consistent. It drives ParseUpsdUsers, which LoadUpsdUsers is once
// the file is open.
func FuzzLoadUpsdUsers(f *testing.F) {
	fuzzSeedFiles(f, "testdata/upsd.users")
	f.Fuzz(func(t *testing.T, in []byte) {
		const file = "upsd.users"
		us, err := ParseUpsdUsers(bytes.NewReader(in), file)
		if err != nil {
			checkLocated(t, err, file, in)
			return
		}
		checkWarnings(t, us.Warnings, file, in)
		for _, u := range us.List {
			if u.Name == "" || us.Lookup(u.Name) != u || u.Line < 1 {
				t.Fatalf("bad user %+v", u)
			}
			if !u.HasPassword && (u.Password != "" || u.CheckPassword("")) {
				t.Fatalf("user without password %+v accepts one", u)
			}
			if u.HasPassword && !u.CheckPassword(u.Password) {
				t.Fatalf("user %+v rejects its own password", u)
			}
			switch u.Upsmon {
			case "", "primary", "secondary":
			default:
				t.Fatalf("user %+v: upsmon %q", u, u.Upsmon)
			}
			if u.Upsmon != "" && !u.Can("LOGIN") {
				t.Fatalf("upsmon user %+v cannot LOGIN", u)
			}
			for i, a := range u.Actions {
				for _, b := range u.Actions[i+1:] {
					if strings.EqualFold(a, b) {
						t.Fatalf("user %+v lists action %q twice", u, a)
					}
				}
			}
		}
	})
}
