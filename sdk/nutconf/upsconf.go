package nutconf

import (
	"io"
	"os"
	"strconv"
	"strings"
)

// NUT's defaults for the ups.conf global settings (upsdrvctl and the driver
// core), applied by ParseUPSConf when the file does not set them.
const (
	DefaultMaxStartDelay = 75
	DefaultMaxRetry      = 1
	DefaultRetryDelay    = 5
	DefaultPollInterval  = 2
)

// Option is one key of ups.conf, global or in a section, in file order.
type Option struct {
	Key      string
	Value    string
	HasValue bool // false for a bare flag such as nolock
	Line     int  // physical line in the file
}

// UPSSection is one [name] section of ups.conf: a UPS and its driver.
type UPSSection struct {
	Name string
	File string
	Line int // line of the [name] header

	Driver, Port, Desc string
	SDOrder            int // default 0; -1 = never shut down by upsdrvctl

	// 0 means not set in this section: the global value applies.
	MaxStartDelay, MaxRetry, RetryDelay, PollInterval int

	// Options holds every key of the section in file order, the ones
	// above included, so the driver is handed all of them (driver, port,
	// desc, default.*, override.*, driver-specific keys, flags).
	Options []Option
}

// Get returns the last value given to key in the section. A bare flag has no
// value and is reported as not found.
func (s *UPSSection) Get(key string) (string, bool) {
	for i := len(s.Options) - 1; i >= 0; i-- {
		o := s.Options[i]
		if o.Key == key {
			return o.Value, o.HasValue
		}
	}
	return "", false
}

// Flag reports whether the flag key is set in the section: present bare (as
// NUT's flags are written), or given a true-ish value (true, yes, on, 1,
// enabled — case-insensitive) so `nolock = yes` reads as intended. The last
// occurrence wins.
func (s *UPSSection) Flag(key string) bool {
	for i := len(s.Options) - 1; i >= 0; i-- {
		o := s.Options[i]
		if o.Key != key {
			continue
		}
		if !o.HasValue {
			return true
		}
		return isTrue(o.Value)
	}
	return false
}

func isTrue(v string) bool {
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1", "enabled":
		return true
	}
	return false
}

// UPSConf is a parsed ups.conf.
type UPSConf struct {
	File string

	ChRoot, DriverPath, StatePath, User, Group string
	Synchronous                                string // "yes", "no", "auto" or "" when unset

	// NUT defaults (75, 1, 5, 2, 0) when unset.
	MaxStartDelay, MaxRetry, RetryDelay, PollInterval, DebugMin int
	NoWait                                                      bool

	// Global holds every key before the first section in file order,
	// unknown ones included.
	Global []Option

	// Sections in file order.
	Sections []*UPSSection

	// Warnings are "file:line: message" notes about lines NUT accepts but
	// that probably do not do what was meant (an unquoted value with
	// spaces, an unknown global key). They are worth logging; the
	// configuration is still used as NUT would use it.
	Warnings []string
}

// Section returns the section named name, or nil.
func (c *UPSConf) Section(name string) *UPSSection {
	for _, s := range c.Sections {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// LoadUPSConf reads and parses the ups.conf at path. A missing file gives an
// error that wraps fs.ErrNotExist.
func LoadUPSConf(path string) (*UPSConf, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseUPSConf(f, path)
}

// Known global keys of ups.conf (upsdrvctl, the driver core and upsd).
var upsGlobalKeys = map[string]bool{
	"chroot": true, "driverpath": true, "statepath": true, "user": true, "group": true,
	"synchronous": true, "maxstartdelay": true, "maxretry": true, "retrydelay": true,
	"pollinterval": true, "nowait": true, "debug_min": true, "LIBUSB_DEBUG": true,
}

// ParseUPSConf parses ups.conf text; filename is used in messages.
//
// A line is one of (keys are case-sensitive, as in NUT):
//
//	[name]          starts the section of UPS name
//	key = value     (also key=value: '=' is a word of its own to the Scanner)
//	key             a bare flag, e.g. nolock
//	"key=value"     quoted or escaped compressed form: split at the first '='
//
// Lines before the first section are global. A repeated key keeps every
// occurrence in Options; the last one wins for Get and the typed fields.
//
// NUT silently ignores a line it cannot read (`key =` with nothing after it,
// two words without '=', a section name with spaces); here such a line is an
// error naming file:line, as are non-numeric numbers, a section without driver
// or port, and a repeated section name (compared ignoring case, as upsd
// compares UPS names). `key = a b` keeps "a" as NUT does and adds a warning.
func ParseUPSConf(r io.Reader, filename string) (*UPSConf, error) {
	lines, err := Parse(r, filename)
	if err != nil {
		return nil, err
	}
	c := &UPSConf{
		File:          filename,
		MaxStartDelay: DefaultMaxStartDelay,
		MaxRetry:      DefaultMaxRetry,
		RetryDelay:    DefaultRetryDelay,
		PollInterval:  DefaultPollInterval,
	}
	var cur *UPSSection
	for _, ln := range lines {
		w := ln.Words
		if name, ok := sectionHeader(w[0]); ok {
			if len(w) > 1 {
				return nil, Errorf(filename, ln.Num, "unexpected %q after section header %s", w[1], w[0])
			}
			if name == "" {
				return nil, Errorf(filename, ln.Num, "empty section name []")
			}
			// upsd matches UPS names case-insensitively, so [UPS] after
			// [ups] would be refused there.
			for _, prev := range c.Sections {
				if strings.EqualFold(prev.Name, name) {
					return nil, Errorf(filename, ln.Num, "section [%s] repeated (first at line %d as [%s])", name, prev.Line, prev.Name)
				}
			}
			cur = &UPSSection{Name: name, File: filename, Line: ln.Num}
			c.Sections = append(c.Sections, cur)
			continue
		}
		opt, warn, err := splitOption(filename, ln)
		if err != nil {
			return nil, err
		}
		if warn != "" {
			c.Warnings = append(c.Warnings, warn)
		}
		if cur == nil {
			if err := c.setGlobal(opt); err != nil {
				return nil, err
			}
			continue
		}
		if err := cur.set(opt); err != nil {
			return nil, err
		}
	}
	for _, s := range c.Sections {
		if s.Driver == "" {
			return nil, Errorf(filename, s.Line, "UPS [%s] has no driver (add: driver = <name>)", s.Name)
		}
		if _, ok := s.Get("port"); !ok {
			return nil, Errorf(filename, s.Line, "UPS [%s] has no port (add: port = <device>)", s.Name)
		}
	}
	return c, nil
}

// sectionHeader reports whether word is a [name] header, as NUT tests it:
// the word starts with '[' and ends with ']'.
func sectionHeader(word string) (string, bool) {
	if len(word) >= 2 && word[0] == '[' && word[len(word)-1] == ']' {
		return word[1 : len(word)-1], true
	}
	return "", false
}

// splitOption turns the words of a non-header line into an Option, following
// the forms NUT's ups.conf and upsd.users readers accept.
func splitOption(file string, ln Line) (opt Option, warning string, err error) {
	w := ln.Words
	opt.Line = ln.Num
	switch {
	case strings.Contains(w[0], "=") && w[0] != "=":
		// "key=value" kept as one word by quotes or escapes.
		k, v, _ := strings.Cut(w[0], "=")
		if len(w) > 1 {
			return opt, "", Errorf(file, ln.Num, "unexpected %q after %q", w[1], w[0])
		}
		opt.Key, opt.Value, opt.HasValue = k, v, true
	case w[0] == "=":
		return opt, "", Errorf(file, ln.Num, "line starts with '=': missing key name")
	case len(w) == 1:
		opt.Key = w[0]
	case strings.HasPrefix(w[0], "["):
		return opt, "", Errorf(file, ln.Num, "malformed section header %q: a section name is one word in [brackets]", strings.Join(w, " "))
	case w[1] != "=":
		return opt, "", Errorf(file, ln.Num, "cannot understand %q: expected key = value, or a single flag word", strings.Join(w, " "))
	case len(w) == 2:
		return opt, "", Errorf(file, ln.Num, "%s: missing value after '=' (write %s = \"\" for an empty value)", w[0], w[0])
	default:
		opt.Key, opt.Value, opt.HasValue = w[0], w[2], true
		if len(w) > 3 {
			warning = Errorf(file, ln.Num, "%s: only the first word %q of the value is used, the rest (%q) is ignored; quote a value that contains spaces",
				w[0], w[2], strings.Join(w[3:], " ")).Error()
		}
	}
	if opt.Key == "" {
		return opt, "", Errorf(file, ln.Num, "missing key name before '='")
	}
	if strings.HasPrefix(opt.Key, "[") {
		return opt, "", Errorf(file, ln.Num, "malformed section header %q: a section name is one word in [brackets]", strings.Join(w, " "))
	}
	return opt, warning, nil
}

func needValue(file string, o Option) error {
	if !o.HasValue {
		return Errorf(file, o.Line, "%s needs a value (%s = ...)", o.Key, o.Key)
	}
	return nil
}

func parseInt(file string, o Option) (int, error) {
	if err := needValue(file, o); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(o.Value))
	if err != nil {
		return 0, Errorf(file, o.Line, "%s: %q is not a whole number", o.Key, o.Value)
	}
	return n, nil
}

func (c *UPSConf) setGlobal(o Option) error {
	c.Global = append(c.Global, o)
	var err error
	intField := func(dst *int, min int) {
		var n int
		if n, err = parseInt(c.File, o); err == nil {
			if n < min {
				err = Errorf(c.File, o.Line, "%s: %d is too small (minimum %d)", o.Key, n, min)
				return
			}
			*dst = n
		}
	}
	strField := func(dst *string) {
		if err = needValue(c.File, o); err == nil {
			*dst = o.Value
		}
	}
	switch o.Key {
	case "chroot":
		strField(&c.ChRoot)
	case "driverpath":
		strField(&c.DriverPath)
	case "statepath":
		strField(&c.StatePath)
	case "user":
		strField(&c.User)
	case "group":
		strField(&c.Group)
	case "synchronous":
		// NUT reads anything but yes and auto as no; refuse the rest
		// rather than turn "true" into no.
		strField(&c.Synchronous)
		if err == nil && c.Synchronous != "yes" && c.Synchronous != "no" && c.Synchronous != "auto" {
			err = Errorf(c.File, o.Line, "synchronous: %q is not yes, no or auto", o.Value)
		}
	case "maxstartdelay":
		intField(&c.MaxStartDelay, 0)
	case "maxretry":
		intField(&c.MaxRetry, 0)
	case "retrydelay":
		intField(&c.RetryDelay, 0)
	case "pollinterval":
		// The driver core refuses pollinterval <= 0.
		intField(&c.PollInterval, 1)
	case "debug_min":
		intField(&c.DebugMin, 0)
	case "nowait":
		c.NoWait = !o.HasValue || isTrue(o.Value)
	default:
		if !upsGlobalKeys[o.Key] {
			c.Warnings = append(c.Warnings, Errorf(c.File, o.Line,
				"unknown global key %q ignored (a key for one UPS belongs after its [name] line)", o.Key).Error())
		}
	}
	return err
}

func (s *UPSSection) set(o Option) error {
	s.Options = append(s.Options, o)
	var err error
	intField := func(dst *int, min int) {
		var n int
		if n, err = parseInt(s.File, o); err == nil {
			if n < min {
				err = Errorf(s.File, o.Line, "[%s] %s: %d is too small (minimum %d)", s.Name, o.Key, n, min)
				return
			}
			*dst = n
		}
	}
	switch o.Key {
	case "driver":
		if err = needValue(s.File, o); err == nil {
			s.Driver = o.Value
		}
	case "port":
		if err = needValue(s.File, o); err == nil {
			s.Port = o.Value
		}
	case "desc":
		if err = needValue(s.File, o); err == nil {
			s.Desc = o.Value
		}
	case "sdorder":
		intField(&s.SDOrder, -1)
	case "maxstartdelay":
		intField(&s.MaxStartDelay, 0)
	case "maxretry":
		intField(&s.MaxRetry, 0)
	case "retrydelay":
		intField(&s.RetryDelay, 0)
	case "pollinterval":
		intField(&s.PollInterval, 1)
	}
	return err
}
