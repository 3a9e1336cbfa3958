package sockproto

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Flags are a variable's type flags, NUT's ST_FLAG_* values.
type Flags uint8

// The flags a driver can set with SETFLAGS. Other words in a SETFLAGS
// message are ignored, as NUT does.
const (
	FlagRW     Flags = 1 << iota // ST_FLAG_RW: writable with SET VAR
	FlagString                   // ST_FLAG_STRING: a string of at most Aux bytes
	FlagNumber                   // ST_FLAG_NUMBER: a number
)

// String returns the flags as they appear in a SETFLAGS message
// ("RW STRING"), empty when no flag is set.
func (f Flags) String() string {
	var b strings.Builder
	for _, x := range [...]struct {
		f    Flags
		name string
	}{{FlagRW, "RW"}, {FlagString, "STRING"}, {FlagNumber, "NUMBER"}} {
		if f&x.f != 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(x.name)
		}
	}
	return b.String()
}

// Range is one ADDRANGE interval of a variable.
type Range struct{ Min, Max int }

// Var is one variable of a State, a copy the caller may keep.
type Var struct {
	Name   string // as first set; names match without regard to ASCII case
	Value  string // raw, unescaped
	Flags  Flags
	Aux    int // the maximum length of a STRING variable
	Enums  []string
	Ranges []Range
}

// Errors returned by State.Apply, wrapped with the message that caused them.
var (
	// ErrUnknownMessage: the first word is not a state message.
	ErrUnknownMessage = errors.New("not a state message")
	// ErrMissingArgs: the message has fewer words than it needs.
	ErrMissingArgs = errors.New("missing arguments")
	// ErrNoSuchVar: the message refers to a variable not set with SETINFO.
	// NUT's upsd logs these and otherwise ignores them; the message still
	// counts as a sign of life from the driver.
	ErrNoSuchVar = errors.New("no such variable")
	// ErrBadRange: an ADDRANGE whose minimum is above its maximum.
	ErrBadRange = errors.New("range minimum above maximum")
)

// node is one variable in a State.
type node struct {
	name   string
	value  string
	flags  Flags
	aux    int
	enums  []string
	ranges []Range
}

// State is a driver's state tree: what a NUT driver holds in dstate and what
// upsd mirrors from its socket. The zero value is an empty, usable State
// whose data is stale (a NUT driver starts stale until its first DATAOK).
// A State is not safe for concurrent use.
//
// Variable and command names match without regard to ASCII case, as in
// NUT's common/state.c; a name keeps the case it was first added with.
type State struct {
	vars   map[string]*node // by foldName(name)
	keys   []string         // the keys of vars, sorted: NUT's LIST VAR order
	cmds   []string         // sorted by foldName: NUT's LIST CMD order
	dataOK bool
}

// NewState returns an empty State.
func NewState() *State { return &State{} }

// foldName is the key NUT's strcasecmp ordering compares: ASCII lower case.
func foldName(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			b := []byte(name)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return name
}

// Apply changes the state by one parsed socket message: SETINFO, DELINFO,
// ADDENUM, DELENUM, ADDRANGE, DELRANGE, SETAUX, SETFLAGS, ADDCMD, DELCMD,
// DATAOK or DATASTALE. The verb matches without regard to case; words past
// those a message needs are ignored, as NUT does. Any other message, or one
// with too few words, is an error and changes nothing.
func (s *State) Apply(words []string) error {
	_, err := s.apply(words)
	return err
}

// apply is Apply that also tells whether the state changed, so that a
// Server broadcasts only real changes, as a NUT driver does.
func (s *State) apply(words []string) (changed bool, err error) {
	if len(words) == 0 {
		return false, fmt.Errorf("empty message: %w", ErrUnknownMessage)
	}
	verb := strings.ToUpper(words[0])
	need, ok := messageArgs[verb]
	if !ok {
		return false, fmt.Errorf("%q: %w", words[0], ErrUnknownMessage)
	}
	if len(words) < need {
		return false, fmt.Errorf("%s needs %d words, got %d: %w", verb, need, len(words), ErrMissingArgs)
	}
	switch verb {
	case "DATAOK":
		changed = !s.dataOK
		s.dataOK = true
	case "DATASTALE":
		changed = s.dataOK
		s.dataOK = false
	case "SETINFO":
		changed = s.setInfo(words[1], words[2])
	case "DELINFO":
		changed = s.delInfo(words[1])
	case "ADDCMD":
		changed = s.addCmd(words[1])
	case "DELCMD":
		changed = s.delCmd(words[1])
	default:
		n := s.vars[foldName(words[1])]
		if n == nil {
			if verb == "DELENUM" || verb == "DELRANGE" {
				return false, nil // nothing to delete; NUT is silent here
			}
			return false, fmt.Errorf("%s %s: %w", verb, words[1], ErrNoSuchVar)
		}
		return n.apply(verb, words)
	}
	return changed, nil
}

// check reports the error apply would return for words, given the
// variables set (true) or deleted (false) by the messages before it in the
// same batch, and records what words itself sets or deletes.
func (s *State) check(words []string, exists map[string]bool) error {
	if len(words) == 0 {
		return fmt.Errorf("empty message: %w", ErrUnknownMessage)
	}
	verb := strings.ToUpper(words[0])
	need, ok := messageArgs[verb]
	if !ok {
		return fmt.Errorf("%q: %w", words[0], ErrUnknownMessage)
	}
	if len(words) < need {
		return fmt.Errorf("%s needs %d words, got %d: %w", verb, need, len(words), ErrMissingArgs)
	}
	switch verb {
	case "SETINFO":
		exists[foldName(words[1])] = true
	case "DELINFO":
		exists[foldName(words[1])] = false
	case "SETFLAGS", "SETAUX", "ADDENUM", "ADDRANGE":
		key := foldName(words[1])
		found, seen := exists[key]
		if !seen {
			found = s.vars[key] != nil
		}
		if !found {
			return fmt.Errorf("%s %s: %w", verb, words[1], ErrNoSuchVar)
		}
		if verb == "ADDRANGE" {
			if lo, hi := atoi(words[2]), atoi(words[3]); lo > hi {
				return fmt.Errorf("ADDRANGE %s %d %d: %w", words[1], lo, hi, ErrBadRange)
			}
		}
	}
	return nil
}

// messageArgs is the number of words (verb included) each state message
// needs; NUT's upsd (server/sstate.c) ignores shorter ones.
var messageArgs = map[string]int{
	"DATAOK": 1, "DATASTALE": 1,
	"ADDCMD": 2, "DELCMD": 2, "DELINFO": 2,
	"SETINFO": 3, "SETFLAGS": 2, "ADDENUM": 3, "DELENUM": 3, "SETAUX": 3,
	"ADDRANGE": 4, "DELRANGE": 4,
}

// apply handles the messages that change one existing variable.
func (n *node) apply(verb string, words []string) (bool, error) {
	switch verb {
	case "SETFLAGS":
		// NUT's upsd needs at least one flag word and so can never see a
		// variable lose all its flags; a bare "SETFLAGS var" (which NUT's
		// own dstate_setflags sends for flags 0) clears them here.
		var f Flags
		for _, w := range words[2:] {
			switch strings.ToUpper(w) {
			case "RW":
				f |= FlagRW
			case "STRING":
				f |= FlagString
			case "NUMBER":
				f |= FlagNumber
			}
		}
		changed := f != n.flags
		n.flags = f
		return changed, nil
	case "SETAUX":
		aux := strtol(words[2])
		changed := aux != n.aux
		n.aux = aux
		return changed, nil
	case "ADDENUM":
		// Duplicates are exact matches, deletions match without regard to
		// case: both as in NUT's common/state.c.
		if slices.Contains(n.enums, words[2]) {
			return false, nil
		}
		n.enums = append(n.enums, words[2])
		return true, nil
	case "DELENUM":
		for i, e := range n.enums {
			if strings.EqualFold(e, words[2]) {
				n.enums = slices.Delete(n.enums, i, i+1)
				return true, nil
			}
		}
		return false, nil
	case "ADDRANGE", "DELRANGE":
		r := Range{Min: atoi(words[2]), Max: atoi(words[3])}
		if verb == "ADDRANGE" && r.Min > r.Max {
			return false, fmt.Errorf("ADDRANGE %s %d %d: %w", n.name, r.Min, r.Max, ErrBadRange)
		}
		// NUT 2.8's state.c takes any range sharing the minimum or the
		// maximum for a duplicate (and deletes it); gonut matches ranges
		// exactly (docs/COMPATIBILITY.md).
		i := slices.Index(n.ranges, r)
		if verb == "ADDRANGE" {
			if i >= 0 {
				return false, nil
			}
			n.ranges = append(n.ranges, r)
			return true, nil
		}
		if i < 0 {
			return false, nil
		}
		n.ranges = slices.Delete(n.ranges, i, i+1)
		return true, nil
	}
	return false, fmt.Errorf("%s: %w", verb, ErrUnknownMessage)
}

func (s *State) setInfo(name, value string) bool {
	key := foldName(name)
	if n := s.vars[key]; n != nil {
		// NUT 2.8's upsd compares the old and new value without regard to
		// case and so never shows a change of case alone; gonut does
		// (docs/COMPATIBILITY.md).
		if n.value == value {
			return false
		}
		n.value = value
		return true
	}
	if s.vars == nil {
		s.vars = make(map[string]*node)
	}
	s.vars[key] = &node{name: name, value: value}
	i, _ := slices.BinarySearch(s.keys, key)
	s.keys = slices.Insert(s.keys, i, key)
	return true
}

func (s *State) delInfo(name string) bool {
	key := foldName(name)
	if s.vars[key] == nil {
		return false
	}
	delete(s.vars, key)
	if i, ok := slices.BinarySearch(s.keys, key); ok {
		s.keys = slices.Delete(s.keys, i, i+1)
	}
	return true
}

func (s *State) cmdIndex(name string) (int, bool) {
	return slices.BinarySearchFunc(s.cmds, foldName(name), func(c, key string) int {
		return strings.Compare(foldName(c), key)
	})
}

func (s *State) addCmd(name string) bool {
	i, found := s.cmdIndex(name)
	if found {
		return false
	}
	s.cmds = slices.Insert(s.cmds, i, name)
	return true
}

func (s *State) delCmd(name string) bool {
	i, found := s.cmdIndex(name)
	if !found {
		return false
	}
	s.cmds = slices.Delete(s.cmds, i, i+1)
	return true
}

// Var returns a copy of the named variable, matched without regard to
// ASCII case.
func (s *State) Var(name string) (Var, bool) {
	n := s.vars[foldName(name)]
	if n == nil {
		return Var{}, false
	}
	return n.export(), true
}

// Value returns the value of the named variable without copying the rest.
func (s *State) Value(name string) (string, bool) {
	n := s.vars[foldName(name)]
	if n == nil {
		return "", false
	}
	return n.value, true
}

func (n *node) export() Var {
	return Var{
		Name:   n.name,
		Value:  n.value,
		Flags:  n.flags,
		Aux:    n.aux,
		Enums:  slices.Clone(n.enums),
		Ranges: slices.Clone(n.ranges),
	}
}

// Vars returns copies of all variables in the order NUT's upsd lists them
// (LIST VAR): by name, compared without regard to ASCII case.
func (s *State) Vars() []Var {
	out := make([]Var, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, s.vars[k].export())
	}
	return out
}

// Each calls fn for every variable in Vars order until fn returns false,
// without copying: v's Enums and Ranges belong to the State and are valid,
// read-only, only during the call. It is the cheap way to list a state.
func (s *State) Each(fn func(v Var) bool) {
	for _, k := range s.keys {
		n := s.vars[k]
		if !fn(Var{Name: n.name, Value: n.value, Flags: n.flags, Aux: n.aux, Enums: n.enums, Ranges: n.ranges}) {
			return
		}
	}
}

// Len returns the number of variables.
func (s *State) Len() int { return len(s.keys) }

// Cmds returns the instant commands in NUT's LIST CMD order: by name,
// compared without regard to ASCII case.
func (s *State) Cmds() []string { return slices.Clone(s.cmds) }

// HasCmd reports whether the instant command exists, matched without
// regard to ASCII case.
func (s *State) HasCmd(name string) bool {
	_, found := s.cmdIndex(name)
	return found
}

// DataOK reports whether the last of DATAOK and DATASTALE was DATAOK.
func (s *State) DataOK() bool { return s.dataOK }

// Clone returns a deep copy of the state.
func (s *State) Clone() *State {
	c := &State{
		keys:   slices.Clone(s.keys),
		cmds:   slices.Clone(s.cmds),
		dataOK: s.dataOK,
	}
	if s.vars != nil {
		c.vars = make(map[string]*node, len(s.vars))
		for k, n := range s.vars {
			cn := *n
			cn.enums = slices.Clone(n.enums)
			cn.ranges = slices.Clone(n.ranges)
			c.vars[k] = &cn
		}
	}
	return c
}

// Dump returns the whole state as encoded lines, each ending in "\n", in
// the order a NUT driver answers DUMPALL (drivers/dstate.c): DATASTALE first
// when the data is stale; per variable SETINFO, its ADDENUMs and ADDRANGEs,
// SETAUX when not 0 and SETFLAGS when any flag is set; then ADDCMD for each
// command; DATAOK last when the data is not stale. DUMPDONE is not included.
func (s *State) Dump() []string {
	out := make([]string, 0, 2*len(s.keys)+len(s.cmds)+1)
	for _, m := range s.messages() {
		out = append(out, Encode(m...))
	}
	return out
}

// messages returns the state as the messages of a dump.
func (s *State) messages() [][]string {
	var out [][]string
	if !s.dataOK {
		out = append(out, []string{"DATASTALE"})
	}
	for _, k := range s.keys {
		out = append(out, s.vars[k].messages()...)
	}
	for _, c := range s.cmds {
		out = append(out, []string{"ADDCMD", c})
	}
	if s.dataOK {
		out = append(out, []string{"DATAOK"})
	}
	return out
}

// messages returns the messages that recreate the variable.
func (n *node) messages() [][]string {
	out := [][]string{{"SETINFO", n.name, n.value}}
	for _, e := range n.enums {
		out = append(out, []string{"ADDENUM", n.name, e})
	}
	for _, r := range n.ranges {
		out = append(out, []string{"ADDRANGE", n.name, strconv.Itoa(r.Min), strconv.Itoa(r.Max)})
	}
	if n.aux != 0 {
		out = append(out, []string{"SETAUX", n.name, strconv.Itoa(n.aux)})
	}
	if n.flags != 0 {
		out = append(out, append([]string{"SETFLAGS", n.name}, strings.Fields(n.flags.String())...))
	}
	return out
}

// Diff returns the messages that turn s into next: deletions of what next
// lacks, then everything next adds or changes, then DATAOK or DATASTALE if
// that changed. Applying them to a copy of s yields a State equal to next.
func (s *State) Diff(next *State) [][]string {
	var out [][]string
	for _, k := range s.keys {
		if next.vars[k] == nil {
			out = append(out, []string{"DELINFO", s.vars[k].name})
		}
	}
	for _, c := range s.cmds {
		if !next.HasCmd(c) {
			out = append(out, []string{"DELCMD", c})
		}
	}
	for _, k := range next.keys {
		nn := next.vars[k]
		on := s.vars[k]
		if on == nil || on.name != nn.name {
			// A new variable, or one whose name changed case: NUT keeps
			// the first case, so it must be deleted and set again.
			if on != nil {
				out = append(out, []string{"DELINFO", on.name})
			}
			out = append(out, nn.messages()...)
			continue
		}
		out = append(out, on.diff(nn)...)
	}
	for _, c := range next.cmds {
		i, found := s.cmdIndex(c)
		if !found {
			out = append(out, []string{"ADDCMD", c})
		} else if s.cmds[i] != c {
			out = append(out, []string{"DELCMD", s.cmds[i]}, []string{"ADDCMD", c})
		}
	}
	if s.dataOK != next.dataOK {
		if next.dataOK {
			out = append(out, []string{"DATAOK"})
		} else {
			out = append(out, []string{"DATASTALE"})
		}
	}
	return out
}

// diff returns the messages that turn variable o into n (same name).
func (o *node) diff(n *node) [][]string {
	var out [][]string
	if o.value != n.value {
		out = append(out, []string{"SETINFO", n.name, n.value})
	}
	if !slices.Equal(o.enums, n.enums) {
		// Enumerations keep their insertion order; to get n's order, drop
		// all of o's and add n's.
		for _, e := range o.enums {
			out = append(out, []string{"DELENUM", n.name, e})
		}
		for _, e := range n.enums {
			out = append(out, []string{"ADDENUM", n.name, e})
		}
	}
	if !slices.Equal(o.ranges, n.ranges) {
		for _, r := range o.ranges {
			out = append(out, []string{"DELRANGE", n.name, strconv.Itoa(r.Min), strconv.Itoa(r.Max)})
		}
		for _, r := range n.ranges {
			out = append(out, []string{"ADDRANGE", n.name, strconv.Itoa(r.Min), strconv.Itoa(r.Max)})
		}
	}
	if o.aux != n.aux {
		out = append(out, []string{"SETAUX", n.name, strconv.Itoa(n.aux)})
	}
	if o.flags != n.flags {
		out = append(out, append([]string{"SETFLAGS", n.name}, strings.Fields(n.flags.String())...))
	}
	return out
}

// strtol parses a decimal number the way C's strtol(s, NULL, 10) does, as
// NUT does for SETAUX: leading blanks and a sign are accepted, parsing stops
// at the first non-digit, no digits give 0 and overflow saturates.
func strtol(s string) int {
	i := 0
	for i < len(s) && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var v uint64
	over := false
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		d := uint64(s[i] - '0')
		if v > (math.MaxUint64-d)/10 {
			over = true
			continue
		}
		v = v*10 + d
	}
	switch {
	case neg && (over || v > -math.MinInt64):
		return math.MinInt64
	case neg:
		return -int(v)
	case over || v > math.MaxInt64:
		return math.MaxInt64
	}
	return int(v)
}

// atoi parses a number the way C's atoi does on NUT's platforms, as NUT
// does for ADDRANGE: strtol truncated to a 32-bit int.
func atoi(s string) int { return int(int32(strtol(s))) }
