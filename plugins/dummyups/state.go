package dummyups

import (
	"strings"

	"github.com/gonut/gonut/sdk"
)

// nutState applies NUT's dstate rules on top of sdk.Device, which keys
// variables by their exact name and compares values exactly:
//
//   - names are case-insensitive: a variable keeps the spelling it was
//     created with (NUT's state tree compares names with strcasecmp);
//   - a variable fixed by override.* in ups.conf keeps its value, its
//     flags, and cannot be deleted (ST_FLAG_IMMUTABLE).
type nutState struct {
	names map[string]string // lower-case name -> spelling as published
	fixed map[string]bool   // lower-case names fixed by override.*
}

func newNUTState() *nutState {
	return &nutState{names: map[string]string{}, fixed: map[string]bool{}}
}

// adoptOptions learns the names the SDK published from ups.conf before
// Init (driver.*, default.*, override.*), so that the file's spelling of
// the same variable updates them instead of making a second one.
func (s *nutState) adoptOptions(d *sdk.Device) {
	for _, n := range []string{"driver.name", "driver.version", "driver.version.internal",
		"driver.parameter.port", "driver.parameter.pollinterval", "driver.parameter.synchronous"} {
		s.adopt(d, n)
	}
	for _, op := range d.Options().Section {
		key := op.Key
		switch {
		case hasPrefixFold(key, "override."):
			name := key[len("override."):]
			s.adopt(d, name)
			s.fixed[strings.ToLower(name)] = true
		case hasPrefixFold(key, "default."):
			s.adopt(d, key[len("default."):])
		default:
			s.adopt(d, "driver.parameter."+key)
			s.adopt(d, "driver.flag."+key)
		}
	}
}

func (s *nutState) adopt(d *sdk.Device, name string) {
	if _, ok := d.Info(name); ok {
		if _, known := s.names[strings.ToLower(name)]; !known {
			s.names[strings.ToLower(name)] = name
		}
	}
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// spelling returns the name under which a variable is published.
func (s *nutState) spelling(name string) string {
	if n, ok := s.names[strings.ToLower(name)]; ok {
		return n
	}
	return name
}

// info returns a variable's value, found without regard to case.
func (s *nutState) info(d *sdk.Device, name string) (string, bool) {
	return d.Info(s.spelling(name))
}

// isFixed reports whether override.* fixed the variable.
func (s *nutState) isFixed(name string) bool { return s.fixed[strings.ToLower(name)] }

// setInfo is NUT's dstate_setinfo. NUT also takes a value that differs
// from the current one only in case as no change (strcasecmp); gonut, its
// upsd included, publishes such a change (see README.md).
func (s *nutState) setInfo(d *sdk.Device, name, value string) {
	n := s.spelling(name)
	if _, ok := d.Info(n); ok && s.isFixed(n) {
		return
	}
	s.names[strings.ToLower(n)] = n
	d.SetInfo(n, value)
}

// delInfo is NUT's dstate_delinfo.
func (s *nutState) delInfo(d *sdk.Device, name string) {
	n := s.spelling(name)
	if s.isFixed(n) {
		return
	}
	if _, ok := d.Info(n); !ok {
		return
	}
	delete(s.names, strings.ToLower(n))
	d.DelInfo(n)
}

// setFlags is NUT's dstate_setflags; it reports false when the variable is
// fixed by override.* and keeps its flags.
func (s *nutState) setFlags(d *sdk.Device, name string, f sdk.Flags) bool {
	n := s.spelling(name)
	if s.isFixed(n) {
		return false
	}
	d.SetFlags(n, f)
	return true
}

// setAux is NUT's dstate_setaux, which applies even to a fixed variable.
func (s *nutState) setAux(d *sdk.Device, name string, aux int) {
	d.SetAux(s.spelling(name), aux)
}
