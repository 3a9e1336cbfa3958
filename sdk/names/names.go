package names

import "sort"

// Unavailable is the description upsd gives for a name it has no
// description for: NUT 2.8.0 answers
//
//	DESC <ups> <var> "Description unavailable"
//	CMDDESC <ups> <cmd> "Description unavailable"
//
// and not an error.
const Unavailable = "Description unavailable"

// entry is one name with its description.
type entry struct{ name, desc string }

// phaseSpec is a three-phase SPEC such as "current" or "voltage.nominal".
type phaseSpec struct {
	spec, desc  string
	withContext bool
}

var (
	varByKey = index(varTable)
	cmdByKey = index(cmdTable)
)

func index(t []entry) map[string]string {
	m := make(map[string]string, len(t))
	for _, e := range t {
		m[foldASCII(e.name)] = e.desc
	}
	return m
}

// VarDesc returns the description NUT 2.8.0's upsd gives for a variable
// name in GET DESC. The match is exact except for ASCII case; ok is false
// when upsd would answer Unavailable.
//
// upsd sends the description as is between double quotes; no description in
// the table holds a quote or backslash, so escaping it changes nothing.
func VarDesc(name string) (desc string, ok bool) {
	desc, ok = varByKey[foldASCII(name)]
	return desc, ok
}

// CmdDesc returns the description NUT 2.8.0's upsd gives for an instant
// command in GET CMDDESC, matched like VarDesc.
func CmdDesc(name string) (desc string, ok bool) {
	desc, ok = cmdByKey[foldASCII(name)]
	return desc, ok
}

// Vars returns the variable names that have a description, sorted.
func Vars() []string { return namesOf(varTable) }

// Cmds returns the instant-command names that have a description, sorted.
func Cmds() []string { return namesOf(cmdTable) }

func namesOf(t []entry) []string {
	out := make([]string, len(t))
	for i, e := range t {
		out[i] = e.name
	}
	sort.Strings(out)
	return out
}

// foldASCII lowers ASCII letters only. upsd compares with strcasecmp in the
// C locale, so "UPS.STATUS" matches ups.status but no other byte is folded
// (strings.ToLower would also fold, for example, the Kelvin sign to "k").
func foldASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
