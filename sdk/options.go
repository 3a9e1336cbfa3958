package sdk

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gonut/gonut/sdk/plugin"
	"github.com/gonut/gonut/sdk/version"
)

// Option is one key of a ups.conf section, in file order.
type Option = plugin.Option

// Options are an instance's configuration: its ups.conf section and the
// global part of ups.conf.
type Options struct {
	UPS      string
	Driver   string
	Section  []Option
	Global   []Option
	ConfPath string // NUT_CONFPATH as the host sees it; relative paths start here
}

// Get returns the last value of key in the section, falling back to the
// global part (NUT lets a section override a global setting).
func (o *Options) Get(key string) (string, bool) {
	for i := len(o.Section) - 1; i >= 0; i-- {
		if o.Section[i].Key == key {
			return o.Section[i].Value, true
		}
	}
	for i := len(o.Global) - 1; i >= 0; i-- {
		if o.Global[i].Key == key {
			return o.Global[i].Value, true
		}
	}
	return "", false
}

// Flag reports whether a bare flag (or key = true-ish value) is present.
func (o *Options) Flag(key string) bool {
	if o == nil {
		return false
	}
	v, ok := o.Get(key)
	if !ok {
		return false
	}
	switch strings.ToLower(v) {
	case "", "1", "yes", "on", "true", "enabled":
		return true
	}
	return false
}

// Port is the section's port value.
func (o *Options) Port() string { v, _ := o.Get("port"); return v }

// PollInterval is pollinterval from ups.conf (default 2 s, as NUT). The
// value is read as C's atoi does, as NUT's main.c reads it: "5s" is 5.
func (o *Options) PollInterval() (time.Duration, error) {
	v, ok := o.Get("pollinterval")
	if !ok {
		return 2 * time.Second, nil
	}
	n := cAtoi(v)
	if n < 1 {
		return 0, fmt.Errorf("ups.conf [%s]: invalid pollinterval %q: want a whole number of seconds of at least 1", o.UPS, v)
	}
	return time.Duration(n) * time.Second, nil
}

// cAtoi is C's atoi: leading blanks, an optional sign, digits up to the
// first other byte; 0 when there are none.
func cAtoi(s string) int {
	n := cLong(s)
	if n > 1<<31-1 || n < -(1<<31) {
		return 0
	}
	return int(n)
}

// Synchronous is the synchronous setting as NUT's main.c reads it: "yes"
// and "auto" are themselves, any other value means "no"; absent is "auto".
func (o *Options) Synchronous() string {
	v, ok := o.Get("synchronous")
	switch {
	case !ok || v == "auto":
		return "auto"
	case v == "yes":
		return "yes"
	}
	return "no"
}

// hasPrefixFold is strings.HasPrefix without regard to case: main.c
// matches "default." and "override." with strncasecmp.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// Keys every NUT driver understands; main.c consumes them rather than
// passing them to the driver's own option table. NUT 2.8.0's drivers
// refuse maxstartdelay, maxretry, retrydelay, sdcommands, allow_killpower
// and chroot in a section although upsdrvctl (and later NUT versions) use
// them there; gonut accepts them.
var commonKeys = map[string]bool{
	"driver": true, "port": true, "desc": true, "sdorder": true, "sdcommands": true,
	"maxstartdelay": true, "maxretry": true, "retrydelay": true, "nolock": true,
	"ignorelb": true, "pollinterval": true, "synchronous": true, "user": true,
	"group": true, "debug_min": true, "chroot": true, "allow_killpower": true,
	"sddelay": true,
}

// Common keys that are flags: main.c publishes each as driver.flag.<key>
// "enabled", even when ups.conf gives it a value ("nolock = yes").
var flagKeys = map[string]bool{"nolock": true, "ignorelb": true, "allow_killpower": true}

// Keys that main.c keeps to itself: they never show as driver.parameter.*.
// (port, pollinterval and synchronous are published separately, with the
// values in effect.) sddelay is obsolete; NUT only logs it.
var silentKeys = map[string]bool{
	"driver": true, "desc": true, "sdorder": true, "sdcommands": true,
	"maxstartdelay": true, "maxretry": true, "retrydelay": true,
	"user": true, "group": true, "chroot": true, "debug_min": true,
	"port": true, "pollinterval": true, "synchronous": true, "sddelay": true,
}

// validate checks every section key against the common keys and the
// driver's own option table, as NUT drivers refuse unknown keys. As in
// NUT, a common key that takes a value is not a valid bare flag.
func (o *Options) validate(info Info) error {
	known := map[string]OptionInfo{}
	for _, oi := range info.Options {
		known[oi.Name] = oi
	}
	for _, op := range o.Section {
		k := op.Key
		if hasPrefixFold(k, "default.") || hasPrefixFold(k, "override.") {
			if !op.HasValue {
				return fmt.Errorf("ups.conf [%s]: '%s' needs a value (%s = ...)", o.UPS, k, k)
			}
			continue
		}
		if commonKeys[k] {
			if !op.HasValue && !flagKeys[k] {
				return fmt.Errorf("ups.conf [%s]: '%s' is not a valid flag for driver %s: it needs a value (%s = ...)", o.UPS, k, info.Name, k)
			}
			continue
		}
		oi, ok := known[k]
		if !ok {
			if op.HasValue {
				return fmt.Errorf("ups.conf [%s]: '%s' is not a valid variable name for driver %s", o.UPS, k, info.Name)
			}
			return fmt.Errorf("ups.conf [%s]: '%s' is not a valid flag for driver %s", o.UPS, k, info.Name)
		}
		if oi.Flag && op.HasValue {
			return fmt.Errorf("ups.conf [%s]: '%s' is a flag for driver %s and takes no value", o.UPS, k, info.Name)
		}
		if !oi.Flag && !op.HasValue {
			return fmt.Errorf("ups.conf [%s]: '%s' needs a value for driver %s (%s = ...)", o.UPS, k, info.Name, k)
		}
	}
	return nil
}

// applyCommon publishes what every NUT driver publishes before the
// driver's own Init: driver.* variables and default.*/override.* values,
// in ups.conf order as main.c does.
func applyCommon(d *Device, info Info, o *Options, poll time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, op := range o.Section {
		switch {
		// Neither replaces a value an earlier override.* fixed, as in NUT.
		case hasPrefixFold(op.Key, "default."):
			d.setInfo(op.Key[len("default."):], op.Value, false)
		case hasPrefixFold(op.Key, "override."):
			name := op.Key[len("override."):]
			d.setInfo(name, op.Value, false)
			if v := d.lookup(name); v != nil { // nil for an empty name
				v.immutable = true
			}
		case flagKeys[op.Key] || !op.HasValue:
			d.setInfo("driver.flag."+op.Key, "enabled", true)
		case silentKeys[op.Key]:
		default:
			d.setInfo("driver.parameter."+op.Key, op.Value, true)
		}
	}
	d.setInfo("driver.name", info.Name, true)
	d.setInfo("driver.version", Version, true)
	d.setInfo("driver.version.internal", info.Version, true)
	d.setInfo("driver.parameter.port", o.Port(), true)
	d.setInfo("driver.parameter.pollinterval", strconv.Itoa(int(poll/time.Second)), true)
	d.setInfo("driver.parameter.synchronous", o.Synchronous(), true)
}

// Version is the SDK version, published as driver.version.
const Version = version.Version
