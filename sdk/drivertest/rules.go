package drivertest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gonut/gonut/sdk/names"
	"github.com/gonut/gonut/sdk/sockproto"
)

// StatusTokens are the ups.status tokens NUT's clients understand
// (docs/new-drivers.txt "Status data", HB from NUT's upsmon and ALARM
// from alarm_commit). FSD is among them but is upsd's to set; a driver
// that sets it breaks rule "status" too.
var StatusTokens = []string{
	"OL", "OB", "LB", "HB", "RB", "CHRG", "DISCHRG", "BYPASS", "CAL", "OFF",
	"OVER", "TRIM", "BOOST", "FSD", "ALARM",
}

// Problem is one broken rule: which rule, which variable or command, and
// what is wrong, written for the driver's author.
type Problem struct {
	Rule string // naming, status, number, rw-type, enum, range, ...
	Kind string // "variable" or "instant command"
	Name string
	Msg  string
}

func (p Problem) String() string {
	return fmt.Sprintf("[%s] %s %q: %s", p.Rule, p.Kind, p.Name, p.Msg)
}

// CheckState checks a published state against NUT's static rules (names,
// ups.status tokens, number format, writable variables' types, enums and
// ranges) and reports each problem with t.Errorf. Well-formed names that
// are not in NUT's naming scheme are vendor extensions: reported with
// t.Log, not failed.
func CheckState(t testing.TB, st *sockproto.State) {
	t.Helper()
	problems, notes := Check(st)
	for _, n := range notes {
		t.Log(n.String())
	}
	for _, p := range problems {
		t.Error(p.String())
	}
}

// Check is CheckState without a testing.TB: problems break a rule, notes
// are vendor extensions worth a look.
func Check(st *sockproto.State) (problems, notes []Problem) {
	st.Each(func(v sockproto.Var) bool {
		if p, note := checkName("variable", v.Name, names.KnownVar); p != nil {
			if note {
				notes = append(notes, *p)
			} else {
				problems = append(problems, *p)
			}
		}
		problems = append(problems, checkVar(v)...)
		return true
	})
	for _, c := range st.Cmds() {
		if p, note := checkName("instant command", c, names.KnownCmd); p != nil {
			if note {
				notes = append(notes, *p)
			} else {
				problems = append(problems, *p)
			}
		}
	}
	return problems, notes
}

// checkName returns a problem for a name that is malformed (note false) or
// well formed but unknown to NUT (note true).
func checkName(kind, name string, known func(string) bool) (p *Problem, note bool) {
	if known(name) {
		return nil, false
	}
	bad := func(format string, args ...any) (*Problem, bool) {
		return &Problem{Rule: "naming", Kind: kind, Name: name, Msg: fmt.Sprintf(format, args...)}, false
	}
	if name == "" {
		return bad("an empty name")
	}
	segs := strings.Split(name, ".")
	experimental := segs[0] == "experimental"
	for i, seg := range segs {
		if seg == "" {
			return bad("empty segment %d: NUT names are words joined by single dots (battery.charge.low)", i+1)
		}
		for j := 0; j < len(seg); j++ {
			c := seg[j]
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_', c == '-':
			case 'A' <= c && c <= 'Z':
				// Three-phase CONTEXTs (L1, L2-N, ...) are NUT's own
				// upper case, and drivers use them beyond the
				// appendix's DOMAIN.CONTEXT.SPEC (input.L1.voltage.status,
				// ups.L1.power). NUT 2.8.0's usbhid-ups publishes
				// experimental.* names in mixed case.
				if phaseContexts[seg] || experimental {
					continue
				}
				return bad("upper-case %q: NUT names are lower case (upsd matches them without regard to case, so this one would collide with its lower-case twin)", seg)
			default:
				return bad("byte %q in segment %q: NUT names hold only lower-case letters, digits, '_' and '-', joined by dots", c, seg)
			}
		}
	}
	if len(segs) < 2 {
		return bad("a single word: NUT names are <domain>.<item> (ups.status, battery.charge); see sdk/names")
	}
	hint := "NUT asks for new names to be agreed on the nut-upsdev list; prefix names under test with experimental."
	if strings.HasPrefix(name, "experimental.") {
		hint = "an experimental.* name, as NUT's naming scheme provides for names under test"
	}
	return &Problem{Rule: "naming", Kind: kind, Name: name,
		Msg: "not in NUT's naming scheme (vendor extension): " + hint}, true
}

// phaseContexts are the three-phase CONTEXTs of NUT's naming scheme.
var phaseContexts = map[string]bool{
	"L1": true, "L2": true, "L3": true, "N": true,
	"L1-L2": true, "L2-L3": true, "L3-L1": true, "L1-N": true, "L2-N": true, "L3-N": true,
}

// checkVar applies the value rules to one variable.
func checkVar(v sockproto.Var) []Problem {
	var out []Problem
	add := func(rule, format string, args ...any) {
		out = append(out, Problem{Rule: rule, Kind: "variable", Name: v.Name, Msg: fmt.Sprintf(format, args...)})
	}
	if strings.EqualFold(v.Name, "ups.status") {
		if msg := checkStatus(v.Value); msg != "" {
			add("status", "%s", msg)
		}
	}
	numeric := v.Flags&sockproto.FlagNumber != 0 || numericName(v.Name)
	untypedRW := v.Flags&(sockproto.FlagRW|sockproto.FlagString|sockproto.FlagNumber) == sockproto.FlagRW && len(v.Enums) == 0 && len(v.Ranges) == 0
	if numeric {
		if msg := checkNumber(v.Value); msg != "" {
			why := "a measurement in NUT's scheme"
			if v.Flags&sockproto.FlagNumber != 0 {
				why = "flagged NUMBER"
			} else if untypedRW {
				why = "writable without a type, which upsd reports as NUMBER"
			}
			add("number", "%s (%s)", msg, why)
		}
	}
	if v.Flags&sockproto.FlagRW != 0 {
		isString, isNumber := v.Flags&sockproto.FlagString != 0, v.Flags&sockproto.FlagNumber != 0
		switch {
		case isString && isNumber:
			add("rw-type", "flagged both STRING and NUMBER: upsrw and upsd need one type")
		case isString && v.Aux <= 0:
			add("rw-type", "writable STRING without a maximum length: call SetAux with the longest value the device takes")
		case isString && len(v.Value) > v.Aux:
			add("rw-type", "value %q is %d bytes, longer than its maximum length %d (SetAux)", v.Value, len(v.Value), v.Aux)
		case !isString && !isNumber && len(v.Enums) == 0 && len(v.Ranges) == 0 && !canonicalNumber(v.Value):
			// upsd's GET TYPE calls any variable without STRING a
			// NUMBER (NUT's dummy-ups relies on it for its numbers).
			add("rw-type", "writable without a type, so upsd reports it as NUMBER, but %q is not a number: flag it FlagString and give its maximum length with SetAux", v.Value)
		}
	}
	if len(v.Enums) > 0 && !slices.Contains(v.Enums, v.Value) {
		add("enum", "value %q is not one of its enum values %q", v.Value, v.Enums)
	}
	if len(v.Ranges) > 0 {
		n, err := strconv.ParseFloat(v.Value, 64)
		in := false
		for _, r := range v.Ranges {
			if err == nil && float64(r.Min) <= n && n <= float64(r.Max) {
				in = true
			}
		}
		if !in {
			var rs []string
			for _, r := range v.Ranges {
				rs = append(rs, fmt.Sprintf("%d..%d", r.Min, r.Max))
			}
			add("range", "value %q is outside its ranges %s", v.Value, strings.Join(rs, ", "))
		}
	}
	return out
}

// checkStatus returns what is wrong with a ups.status value, or "".
func checkStatus(value string) string {
	if value == "" {
		return "empty: a UPS always has a status; a driver that cannot tell yet leaves ups.status unset, or marks the data stale"
	}
	if strings.TrimSpace(value) != value || strings.Contains(value, "  ") || strings.ContainsAny(value, "\t\n\r") {
		return fmt.Sprintf("%q: tokens are separated by single spaces (use StatusInit, StatusSet, StatusCommit)", value)
	}
	seen := map[string]bool{}
	for _, tok := range strings.Split(value, " ") {
		switch {
		case tok == "FSD":
			return fmt.Sprintf("%q: FSD is set by upsd when upsmon orders a forced shutdown, never by a driver", value)
		case !slices.Contains(StatusTokens, tok):
			hint := ""
			if slices.Contains(StatusTokens, strings.ToUpper(tok)) {
				hint = " (status tokens are upper case)"
			}
			return fmt.Sprintf("%q: token %q is not one of NUT's status tokens %s%s; other states belong in ups.alarm (AlarmSet)",
				value, tok, strings.Join(StatusTokens, " "), hint)
		case seen[tok]:
			return fmt.Sprintf("%q: token %q appears twice", value, tok)
		}
		seen[tok] = true
	}
	return ""
}

// checkNumber returns what is wrong with a number's format, or "". NUT's
// clients read numbers with strtod in the C locale and its drivers print
// them with %d or %.Nf: digits, an optional leading minus, an optional
// decimal point with digits after it.
func checkNumber(value string) string {
	if canonicalNumber(value) {
		return ""
	}
	body := strings.TrimPrefix(value, "-")
	switch {
	case value == "":
		return "empty value for a number: leave the variable unset (or DelInfo it) until the device reports it"
	case strings.Contains(value, ","):
		return fmt.Sprintf("%q holds a comma: NUT numbers use a decimal point and no thousands separators (230.5, 1500)", value)
	case strings.HasPrefix(value, "+"):
		return fmt.Sprintf("%q has a leading '+': NUT numbers have a sign only when negative", value)
	case strings.ContainsAny(body, "eE") && looksExponent(body):
		return fmt.Sprintf("%q is in exponent notation: format it with %%d or %%.Nf (strconv.FormatFloat(v, 'f', -1, 64)), never %%g or %%e", value)
	case strings.ContainsAny(body, " '_"):
		return fmt.Sprintf("%q holds a thousands separator or space: write the digits together (1500)", value)
	case strings.HasPrefix(body, ".") && allDigits(body[1:]) || strings.HasSuffix(body, ".") && allDigits(body[:len(body)-1]):
		return fmt.Sprintf("%q: a decimal point needs digits on both sides (0.5, 12.0)", value)
	case len(body) > 0 && body[0] >= '0' && body[0] <= '9':
		return fmt.Sprintf("%q is not a plain number: NUT values carry no units or suffixes (the unit is in the variable's definition)", value)
	}
	return fmt.Sprintf("%q is not a number", value)
}

func canonicalNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(s, ".")
	return allDigits(intPart) && (!hasDot || allDigits(frac))
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func looksExponent(s string) bool {
	i := strings.IndexAny(s, "eE")
	mant, exp := s[:i], strings.TrimLeft(s[i+1:], "+-")
	_, err := strconv.ParseFloat(mant, 64)
	return err == nil && allDigits(exp)
}

// Segments that make a variable a measurement or setting NUT defines as a
// number (Appendix C: voltages, currents, frequencies, charge, runtime,
// temperatures, humidity, power, load, delays and timers, transfer points),
// and last segments that make it a text about one (input.voltage.status,
// ambient.temperature.alarm) instead.
var (
	numericSegments = map[string]bool{
		"voltage": true, "current": true, "frequency": true, "charge": true,
		"runtime": true, "temperature": true, "humidity": true, "power": true,
		"realpower": true, "load": true, "efficiency": true, "delay": true,
		"timer": true, "transfer": true, "capacity": true, "packs": true,
	}
	textLeaves = map[string]bool{
		"status": true, "alarm": true, "type": true, "reason": true, "date": true,
		"name": true, "id": true, "mode": true, "state": true, "enable": true,
		"extended": true, "sensitivity": true, "source": true, "desc": true,
	}
)

// numericName reports whether NUT's scheme makes name a number whatever
// its flags: driver.* and server.* hold configuration text and are left out.
func numericName(name string) bool {
	name = strings.ToLower(name)
	if strings.HasPrefix(name, "driver.") || strings.HasPrefix(name, "server.") {
		return false
	}
	segs := strings.Split(name, ".")
	if textLeaves[segs[len(segs)-1]] {
		return false
	}
	for _, s := range segs {
		if numericSegments[s] {
			return true
		}
	}
	return false
}
