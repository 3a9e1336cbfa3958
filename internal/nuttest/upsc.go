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

// DropVersionLines removes the driver.version, driver.version.internal
// (and any other driver.version*) lines of upsc output: they name the
// implementation, so they are the one place NUT and gonut may differ.
func DropVersionLines(s string) string {
	var keep []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, "driver.version") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}
