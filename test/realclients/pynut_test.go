package realclients

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/gonut/gonut/internal/nuttest"
)

// runPyNUT runs testdata/pynut_session.py with Debian's python3 against
// the stack and returns its JSON record, normalised for comparison: the
// server version in VER, and the driver's version variables (gonut's
// dummy-ups is not NUT's).
func runPyNUT(t *testing.T, s *stack) map[string]any {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "pynut_session.py"))
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(s.upsd.Addr())
	r := nuttest.Run(t, append(os.Environ(), "LC_ALL=C"), python3, script, host, port)
	if r.Code != 0 {
		t.Fatalf("%s: PyNUT session: %s", s.kind, r)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &rec); err != nil {
		t.Fatalf("%s: PyNUT session printed no JSON (%v):\n%s", s.kind, err, r)
	}
	if v, ok := rec["ver"].(string); ok {
		rec["ver"] = regexp.MustCompile(`upsd \S+ -`).ReplaceAllString(v, "upsd VERSION -")
	}
	if vars, ok := rec["GetUPSVars ups"].(map[string]any); ok {
		for k := range vars {
			if nuttest.ImplementationSpecific(k) {
				delete(vars, k)
			}
		}
	}
	return rec
}

// TestPyNUT: PyNUT, NUT's Python client, behaves against gonut's upsd as
// against NUT's: it lists the UPSes, variables, commands (with their
// descriptions) and writable variables, sets a variable and reads it
// back, runs a command, sets FSD as the primary, and gets the same errors
// for what is refused or unknown.
func TestPyNUT(t *testing.T) {
	t.Parallel()
	requireClients(t, python3, pynut)
	results := make([]map[string]any, 3)
	t.Run("stacks", func(t *testing.T) {
		for _, k := range []kind{nutStack, gonutUpsd, gonutStack} {
			t.Run(k.String(), func(t *testing.T) {
				t.Parallel()
				rec := runPyNUT(t, startStack(t, k))
				// What matters most, checked on every stack.
				for step, want := range map[string]any{
					"GetUPSList":              map[string]any{"ups": "Lab UPS", "dead": "Description unavailable"},
					"SetRWVar ups.load":       "OK",
					"ups.load after SetRWVar": "42",
					"RunUPSCommand load.off":  "OK",
					"FSD as primary":          "OK",
					"ups.status after FSD":    "FSD OL",
					// PyNUT 1.4.0 asks GET CMDDESC ups b'load.off' (bytes
					// formatted into the request), so upsd cannot know it.
					"GetUPSCommands ups":      map[string]any{"load.off": "Description unavailable"},
					"SetRWVar wrong password": map[string]any{"raised": "PyNUTError", "args": []any{"ERR ACCESS-DENIED\n"}},
				} {
					if got := fmt.Sprint(rec[step]); got != fmt.Sprint(want) {
						t.Errorf("%s: %s = %s, want %s", k, step, got, want)
					}
				}
				// PyNUT cuts a value at its first quote, escaped or not.
				if vars, _ := rec["GetUPSVars ups"].(map[string]any); vars["ups.id"] != `quote \` || vars["ups.status"] != "OL" {
					t.Errorf("%s: GetUPSVars ups = %v", k, rec["GetUPSVars ups"])
				}
				results[k] = rec
			})
		}
	})
	if t.Failed() {
		return
	}
	want, _ := json.MarshalIndent(results[nutStack], "", " ")
	for _, k := range []kind{gonutUpsd, gonutStack} {
		got, _ := json.MarshalIndent(results[k], "", " ")
		if string(got) != string(want) {
			t.Errorf("PyNUT against %s differs from NUT upsd (- NUT, + gonut):\n%s", k, nuttest.Diff(string(want), string(got)))
		}
	}
	if testing.Verbose() {
		t.Logf("PyNUT session:\n%s", want)
	}
}
