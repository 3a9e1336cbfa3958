package nuttest

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// UpscOutput runs NUT's upsc with args and returns everything it said as
// one string to compare: stdout, then, when it failed, its exit status and
// stderr. The line "Init SSL without certificate database", which
// Debian's NSS build prints on stderr on every run, is left out.
func UpscOutput(tb testing.TB, args ...string) string {
	tb.Helper()
	RequireNUT(tb)
	r := Run(tb, os.Environ(), NUTUpsc, args...)
	out := r.Stdout
	var errLines []string
	for _, l := range strings.SplitAfter(r.Stderr, "\n") {
		if l != "" && strings.TrimSpace(l) != "Init SSL without certificate database" {
			errLines = append(errLines, l)
		}
	}
	if r.Code != 0 || len(errLines) > 0 {
		out += fmt.Sprintf("[upsc exit %d] %s", r.Code, strings.Join(errLines, ""))
	}
	return out
}

// ImplementationSpecific reports whether a variable is one of the few
// that may differ between NUT 2.8.0 and gonut: driver.version* names the
// implementation, and driver.state (published by gonut's host, as NUT
// 2.8.1 and later do) does not exist in NUT 2.8.0.
func ImplementationSpecific(name string) bool {
	return strings.HasPrefix(name, "driver.version") || name == "driver.state"
}

// DropVersionLines removes the lines of upsc output (or of any
// "name: value" listing) whose variable is ImplementationSpecific.
func DropVersionLines(s string) string {
	var keep []string
	for _, l := range strings.SplitAfter(s, "\n") {
		name, _, _ := strings.Cut(l, ":")
		if !ImplementationSpecific(strings.TrimSpace(name)) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}
