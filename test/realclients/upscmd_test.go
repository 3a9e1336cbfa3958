package realclients

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gonut/gonut/internal/nuttest"
)

// step is one run of a real client; {{H}} stands for the upsd address.
type step struct {
	bin  string
	args string // split on blanks; a single-quoted part is one argument
	// want, when set, is checked against every stack's output (the
	// reference's included), so a test cannot pass by two servers being
	// wrong the same way on what matters most.
	want string
	// settle waits, after the step, until upsd serves name=value on
	// [ups]: a SET without -w returns before the driver applied it.
	settle [2]string
}

// splitArgs splits on blanks, keeping 'single quoted' parts together.
func splitArgs(s string) []string {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '\'' {
			end := strings.IndexByte(s[1:], '\'')
			out = append(out, s[1:end+1])
			s = s[end+2:]
			continue
		}
		w, rest, _ := strings.Cut(s, " ")
		out = append(out, w)
		s = rest
	}
	return out
}

// runSteps runs the steps in order against a stack and returns each
// one's output.
func runSteps(t *testing.T, s *stack, steps []step) []string {
	t.Helper()
	out := make([]string, len(steps))
	for i, st := range steps {
		args := splitArgs(strings.ReplaceAll(st.args, "{{H}}", s.upsd.Addr()))
		out[i] = strings.ReplaceAll(clientOutput(t, st.bin, args...), s.upsd.Addr(), "ADDR")
		if st.want != "" && out[i] != st.want {
			t.Errorf("%s: %s %s:\n%s\nwant:\n%s", s.kind, st.bin, st.args, out[i], st.want)
		}
		if st.settle[0] != "" {
			s.waitVar(t, "ups", st.settle[0], st.settle[1])
		}
	}
	return out
}

// compareSteps runs the steps against every stack and requires gonut's
// stacks to give NUT's output, step by step.
func compareSteps(t *testing.T, steps []step) {
	t.Helper()
	results := make([][]string, 3)
	t.Run("stacks", func(t *testing.T) {
		for _, k := range []kind{nutStack, gonutUpsd, gonutStack} {
			t.Run(k.String(), func(t *testing.T) {
				t.Parallel()
				results[k] = runSteps(t, startStack(t, k), steps)
			})
		}
	})
	if t.Failed() {
		return
	}
	for _, k := range []kind{gonutUpsd, gonutStack} {
		for i, st := range steps {
			if results[k][i] != results[nutStack][i] {
				t.Errorf("%s %s: against %s (- NUT upsd, + %s):\n%s", st.bin, st.args, k, k,
					nuttest.Diff(results[nutStack][i], results[k][i]))
			}
		}
	}
	if testing.Verbose() {
		for i, st := range steps {
			t.Logf("%s %s\n%s", st.bin, st.args, results[nutStack][i])
		}
	}
}

// TestUpscmd: Debian's upscmd against each stack, every form and every
// refusal: listing, a command with and without -w (TRACKING: NUT's
// dummy-ups answers every command as unknown, which -w reports), with a
// parameter, a wrong password, an unknown user, users without the right,
// an unknown command or UPS, and a UPS whose driver is not there.
func TestUpscmd(t *testing.T) {
	t.Parallel()
	requireClients(t, nutUpscmd)
	const denied = "exit 1\nUnexpected response from upsd: ERR ACCESS-DENIED\n"
	compareSteps(t, []step{
		{bin: nutUpscmd, args: "-l ups@{{H}}", want: "exit 0\nInstant commands supported on UPS [ups]:\n\nload.off - Turn off the load immediately\n"},
		{bin: nutUpscmd, args: "-l nosuch@{{H}}"},
		{bin: nutUpscmd, args: "-l dead@{{H}}"},
		{bin: nutUpscmd, args: "-u admin -p adminpass ups@{{H}} load.off", want: "exit 0\nOK\n"},
		{bin: nutUpscmd, args: "-u admin -p adminpass -w ups@{{H}} load.off"},
		{bin: nutUpscmd, args: "-u admin -p adminpass -w -t 3 ups@{{H}} load.off 5"},
		{bin: nutUpscmd, args: "-u admin -p adminpass ups@{{H}} load.off 5"},
		{bin: nutUpscmd, args: "-u admin -p wrong ups@{{H}} load.off", want: denied},
		{bin: nutUpscmd, args: "-u nobody -p adminpass ups@{{H}} load.off", want: denied},
		{bin: nutUpscmd, args: "-u monp -p monpass ups@{{H}} load.off", want: denied},
		{bin: nutUpscmd, args: "-u setter -p setterpass ups@{{H}} load.off", want: denied},
		{bin: nutUpscmd, args: "-u admin -p adminpass ups@{{H}} no.such", want: "exit 1\nUnexpected response from upsd: ERR CMD-NOT-SUPPORTED\n"},
		{bin: nutUpscmd, args: "-u admin -p adminpass nosuch@{{H}} load.off", want: "exit 1\nUnexpected response from upsd: ERR UNKNOWN-UPS\n"},
		{bin: nutUpscmd, args: "-u admin -p adminpass dead@{{H}} load.off"},
		{bin: nutUpscmd, args: "-u admin -p adminpass -w dead@{{H}} load.off"},
	})
}

// TestUpsrw: Debian's upsrw against each stack: the listing of writable
// variables with their types, sets with and without -w (waiting for the
// driver's SUCCESS), a value with blanks, a value too long for
// STRING:32, refusals, and the listing again after the sets.
func TestUpsrw(t *testing.T) {
	t.Parallel()
	requireClients(t, nutUpsrw)
	const denied = "exit 1\nUnexpected response from upsd: ERR ACCESS-DENIED\n"
	long := strings.Repeat("x", 33)
	compareSteps(t, []step{
		{bin: nutUpsrw, args: "ups@{{H}}"},
		{bin: nutUpsrw, args: "nosuch@{{H}}"},
		{bin: nutUpsrw, args: "dead@{{H}}"},
		{bin: nutUpsrw, args: "-s ups.load=42 -u admin -p adminpass ups@{{H}}", want: "exit 0\nOK\n", settle: [2]string{"ups.load", "42"}},
		{bin: nutUpsrw, args: "-s ups.load=43 -u admin -p adminpass -w ups@{{H}}", want: "exit 0\nSUCCESS\n", settle: [2]string{"ups.load", "43"}},
		{bin: nutUpsrw, args: "-s ups.delay.shutdown=30 -u setter -p setterpass -w -t 3 ups@{{H}}", want: "exit 0\nSUCCESS\n", settle: [2]string{"ups.delay.shutdown", "30"}},
		// Blanks only: NUT's dummy-ups cuts a value it is sent at a quote
		// or '#' and drops backslashes ("a \"b\" c" becomes "a ").
		{bin: nutUpsrw, args: `-s 'ups.model=two words, and more' -u admin -p adminpass -w ups@{{H}}`, want: "exit 0\nSUCCESS\n",
			settle: [2]string{"ups.model", "two words, and more"}},
		{bin: nutUpsrw, args: "-s ups.id=123456789 -u admin -p adminpass ups@{{H}}"},
		{bin: nutUpsrw, args: fmt.Sprintf("-s ups.mfr=%s -u admin -p adminpass ups@{{H}}", long)},
		{bin: nutUpsrw, args: "-s ups.mfr=Lab -u admin -p adminpass -w ups@{{H}}", want: "exit 0\nSUCCESS\n", settle: [2]string{"ups.mfr", "Lab"}},
		{bin: nutUpsrw, args: "-s no.such=1 -u admin -p adminpass ups@{{H}}", want: "exit 1\nUnexpected response from upsd: ERR VAR-NOT-SUPPORTED\n"},
		{bin: nutUpsrw, args: "-s ups.load=1 -u monp -p monpass ups@{{H}}", want: denied},
		{bin: nutUpsrw, args: "-s ups.load=1 -u admin -p wrong ups@{{H}}", want: denied},
		{bin: nutUpsrw, args: "-s ups.load=1 -u admin -p adminpass nosuch@{{H}}", want: "exit 1\nUnexpected response from upsd: ERR UNKNOWN-UPS\n"},
		{bin: nutUpsrw, args: "-s ups.load=1 -u admin -p adminpass dead@{{H}}"},
		{bin: nutUpsrw, args: "-s ups.load=1 -u admin -p adminpass -w dead@{{H}}"},
		{bin: nutUpsrw, args: "ups@{{H}}"},
	})
}
