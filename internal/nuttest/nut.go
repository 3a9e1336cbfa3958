package nuttest

import (
	"fmt"
	"os"
	"testing"
)

// Where Debian's NUT 2.8.0 packages (nut-server, nut-client) install the
// real programs. /sbin/upsd is a wrapper that does nothing unless
// /etc/nut/nut.conf sets MODE, so the real binaries in /lib/nut are used.
const (
	NUTDriverDir = "/lib/nut"
	NUTUpsd      = "/lib/nut/upsd"
	NUTDummyUPS  = "/lib/nut/dummy-ups"
	NUTUpsdrvctl = "/sbin/upsdrvctl"
	NUTUpsc      = "/usr/bin/upsc"
	NUTUpscmd    = "/usr/bin/upscmd"
	NUTUpsrw     = "/usr/bin/upsrw"
)

// InCI reports whether the tests run in CI (CI=true), where a missing
// reference is a failure rather than a reason to skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing reports that something a test needs is not on this machine: it
// fails the test in CI and skips it elsewhere.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		tb.Fatalf("%s (CI=true: a missing reference is a failure; scripts/test.sh installs it)", msg)
	}
	tb.Skip(msg)
}

// RequireNUT checks that the real NUT 2.8.0 programs the differential
// tests compare against are installed (Debian packages nut-server and
// nut-client).
func RequireNUT(tb testing.TB) {
	tb.Helper()
	for _, p := range []string{NUTUpsd, NUTDummyUPS, NUTUpsdrvctl, NUTUpsc} {
		st, err := os.Stat(p)
		if err != nil || st.Mode()&0o111 == 0 {
			Missing(tb, "real NUT 2.8.0 is not installed: %s is missing (apt-get install nut-server nut-client)", p)
			return
		}
	}
}
