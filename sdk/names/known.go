package names

import "strings"

// The naming scheme is kept as a set of "shapes": names in which every index
// segment is written "#" (outlet.#.current, ambient.#.contacts.#.status), a
// character no real name holds, so a name spelled with the manual's "n"
// placeholder (outlet.n.id) does not fit.
// A name fits the scheme when one of its shapes is in the set, so checking a
// name costs a few map lookups (a name has one shape per choice of which of
// its numeric segments are indexes).
var (
	varShapes = buildVarShapes()
	cmdShapes = buildCmdShapes()
)

// phaseDomains are the three-phase DOMAINs of Appendix C (C.1.5, "DOMAINS").
var phaseDomains = []string{
	"input", "input.bypass", "input.servicebypass",
	"output", "output.bypass", "output.inverter", "output.servicebypass",
}

// Three-phase CONTEXTs (C.1.5, "Valid CONTEXTs"): line-to-line and
// line-to-neutral pairs for voltage measurements, L1..L3 for current and
// power measurements, N for current only.
var (
	voltageContexts = []string{"L1-L2", "L2-L3", "L3-L1", "L1-N", "L2-N", "L3-N"}
	currentContexts = []string{"L1", "L2", "L3", "N"}
	powerContexts   = []string{"L1", "L2", "L3"}
)

// proseVars are names the appendix gives in running text, not in a table
// ("Phase Count Determination", and outlet.group.count in the outlet.group
// section and example).
var proseVars = []string{"input.phases", "output.phases", "outlet.group.count"}

// contextsFor returns the CONTEXTs a three-phase SPEC may take.
func contextsFor(spec string) []string {
	switch {
	case spec == "voltage" || strings.HasPrefix(spec, "voltage."):
		return voltageContexts
	case spec == "current" || strings.HasPrefix(spec, "current."):
		return currentContexts
	default:
		return powerContexts
	}
}

func buildVarShapes() map[string]bool {
	s := map[string]bool{}
	add := func(name string) { s[shapeOf(name)] = true }
	for _, e := range manualVars {
		add(e.name)
	}
	for _, e := range varTable {
		add(e.name)
	}
	for _, n := range proseVars {
		add(n)
	}

	// ambient.* without index is sensor 0 (the embedded one), so every
	// ambient name exists with and without an index.
	for _, sh := range keys(s) {
		if rest, ok := strings.CutPrefix(sh, "ambient.#."); ok {
			s["ambient."+rest] = true
		} else if rest, ok := strings.CutPrefix(sh, "ambient."); ok {
			s["ambient.#."+rest] = true
		}
	}

	// outlet.0 is "the whole set of outlets" and equals outlet without
	// index. outlet.group.n takes the outlet data (id, name, status, current
	// and voltage with status, alarm and thresholds) besides its own rows.
	for _, sh := range keys(s) {
		if spec, ok := strings.CutPrefix(sh, "outlet.#."); ok {
			s["outlet."+spec] = true
			s["outlet.group.#."+spec] = true
		}
	}
	// The outlet.group example shows data that is not in any table
	// (outlet.group.1.current.nominal); take its names too.
	for _, n := range manualExamples {
		if strings.HasPrefix(n, "outlet.group.") {
			add(n)
		}
	}

	// Three-phase: DOMAIN.SPEC, and DOMAIN.CONTEXT.SPEC for specs valid
	// with a context.
	for _, d := range phaseDomains {
		for _, ps := range manualPhaseSpecs {
			s[d+"."+ps.spec] = true
			if !ps.withContext {
				continue
			}
			for _, c := range contextsFor(ps.spec) {
				s[d+"."+c+"."+ps.spec] = true
			}
		}
	}
	return s
}

func buildCmdShapes() map[string]bool {
	s := map[string]bool{}
	for _, e := range manualCmds {
		s[shapeOf(e.name)] = true
	}
	for _, e := range cmdTable {
		s[shapeOf(e.name)] = true
	}
	// Outlet groups are managed like outlets (the outlet.group section:
	// "the same principles ... apply").
	for _, sh := range keys(s) {
		if rest, ok := strings.CutPrefix(sh, "outlet.#."); ok {
			s["outlet.group.#."+rest] = true
		}
	}
	return s
}

// keys snapshots a set so that it can grow while its old members are read.
func keys(s map[string]bool) []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	return out
}

// KnownVar reports whether name fits NUT's variable naming scheme: a name
// of the manual's Appendix C or of NUT's description table, or an instance
// of its patterns:
//
//   - ambient.N.* and outlet.N.* (no index is the same as index 0),
//     outlet.group.N.*;
//   - three-phase DOMAIN.SPEC and DOMAIN.CONTEXT.SPEC (input.L1.current,
//     input.bypass.L1-L2.voltage, output.L1.power);
//   - device.N.<name> for daisy-chained devices (device.1.model,
//     device.2.ups.status, device.3.outlet.1.status);
//   - driver.parameter.<key> and driver.flag.<key>.
//
// Names are case-sensitive; an index is 0 or a number without leading zero.
func KnownVar(name string) bool {
	if !wellFormed(name) {
		return false
	}
	if rest, ok := cutDaisychain(name); ok {
		return knownVarNoChain(rest) || knownVarNoChain("device."+rest)
	}
	return knownVarNoChain(name)
}

func knownVarNoChain(name string) bool {
	for _, prefix := range []string{"driver.parameter.", "driver.flag."} {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			return rest != ""
		}
	}
	return matchShape(name, varShapes)
}

// KnownCmd reports whether name fits NUT's instant-command naming scheme:
// a command of the manual or of NUT's description table, outlet.N.<cmd> and
// outlet.group.N.<cmd> for the outlet commands, and device.N.<cmd> for
// daisy-chained devices. Names are case-sensitive.
func KnownCmd(name string) bool {
	if !wellFormed(name) {
		return false
	}
	if rest, ok := cutDaisychain(name); ok {
		return matchShape(rest, cmdShapes)
	}
	return matchShape(name, cmdShapes)
}

// cutDaisychain strips a "device.N." prefix (N is a daisychain index).
func cutDaisychain(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "device.")
	if !ok {
		return "", false
	}
	idx, rest, ok := strings.Cut(rest, ".")
	if !ok || !isIndex(idx) || rest == "" {
		return "", false
	}
	// Device data of a chained device is device.N.model, not
	// device.N.device.model, and chains do not nest. Driver and server data
	// belong to the one driver and upsd, not to a device of the chain.
	for _, p := range []string{"device.", "driver.", "server."} {
		if strings.HasPrefix(rest, p) {
			return "", false
		}
	}
	return rest, true
}

// wellFormed: dot-separated non-empty segments of ASCII letters, digits,
// '_' and '-'.
func wellFormed(name string) bool {
	if name == "" {
		return false
	}
	for _, seg := range strings.Split(name, ".") {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

// isIndex: "0" or a decimal number without leading zero.
func isIndex(seg string) bool {
	if seg == "" || len(seg) > 1 && seg[0] == '0' {
		return false
	}
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return false
		}
	}
	return true
}

// shapeOf writes the placeholders and the index segments of a table name as
// "#": the manual's outlet.n.id and ambient.n.contacts.x.status, and
// cmdvartab's outlet.1.id, all become shapes with "#".
func shapeOf(name string) string {
	segs := strings.Split(name, ".")
	for i, seg := range segs {
		if seg == "n" || seg == "x" || isIndex(seg) {
			segs[i] = "#"
		}
	}
	return strings.Join(segs, ".")
}

// matchShape tries every way of reading the numeric segments of name as
// indexes or as literal text.
func matchShape(name string, shapes map[string]bool) bool {
	segs := strings.Split(name, ".")
	var idx []int
	for i, seg := range segs {
		if isIndex(seg) {
			idx = append(idx, i)
		}
	}
	if len(idx) > 8 { // no scheme name has that many indexes
		return false
	}
	for mask := 0; mask < 1<<len(idx); mask++ {
		cand := append([]string(nil), segs...)
		for bit, i := range idx {
			if mask&(1<<bit) != 0 {
				cand[i] = "#"
			}
		}
		if shapes[strings.Join(cand, ".")] {
			return true
		}
	}
	return false
}
