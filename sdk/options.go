package sdk

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gonut/gonut/sdk/plugin"
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

// PollInterval is pollinterval from ups.conf (default 2 s, as NUT).
func (o *Options) PollInterval() (time.Duration, error) {
	v, ok := o.Get("pollinterval")
	if !ok {
		return 2 * time.Second, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("ups.conf [%s]: pollinterval %q: want a whole number of seconds of at least 1", o.UPS, v)
	}
	return time.Duration(n) * time.Second, nil
}

// Keys every NUT driver understands; main.c consumes them rather than
// passing them to the driver's own option table.
var commonKeys = map[string]bool{
	"driver": true, "port": true, "desc": true, "sdorder": true, "sdcommands": true,
	"maxstartdelay": true, "maxretry": true, "retrydelay": true, "nolock": true,
	"ignorelb": true, "pollinterval": true, "synchronous": true, "user": true,
	"group": true, "debug_min": true, "chroot": true, "allow_killpower": true,
	"notransferoids": false,
}

// Keys that main.c keeps to itself: they never show as driver.parameter.*.
var silentKeys = map[string]bool{
	"driver": true, "desc": true, "sdorder": true, "sdcommands": true,
	"maxstartdelay": true, "maxretry": true, "retrydelay": true,
	"user": true, "group": true, "chroot": true, "debug_min": true,
	"port": true, "pollinterval": true, "synchronous": true,
}

// validate checks every section key against the common keys and the
// driver's own option table, as NUT drivers refuse unknown keys.
func (o *Options) validate(info Info) error {
	known := map[string]OptionInfo{}
	for _, oi := range info.Options {
		known[oi.Name] = oi
	}
	for _, op := range o.Section {
		k := op.Key
		if commonKeys[k] || strings.HasPrefix(k, "default.") || strings.HasPrefix(k, "override.") {
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
// driver's own Init: driver.* variables and default.*/override.* values.
func applyCommon(d *Device, info Info, o *Options, poll time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, op := range o.Section {
		switch {
		case strings.HasPrefix(op.Key, "default."):
			d.setInfo(strings.TrimPrefix(op.Key, "default."), op.Value, true)
		case strings.HasPrefix(op.Key, "override."):
			name := strings.TrimPrefix(op.Key, "override.")
			d.setInfo(name, op.Value, true)
			d.vars[name].immutable = true
		case silentKeys[op.Key]:
		case !op.HasValue:
			d.setInfo("driver.flag."+op.Key, "enabled", true)
		default:
			d.setInfo("driver.parameter."+op.Key, op.Value, true)
		}
	}
	d.setInfo("driver.name", info.Name, true)
	d.setInfo("driver.version", Version, true)
	d.setInfo("driver.version.internal", info.Version, true)
	d.setInfo("driver.parameter.port", o.Port(), true)
	d.setInfo("driver.parameter.pollinterval", strconv.Itoa(int(poll/time.Second)), true)
	sync, ok := o.Get("synchronous")
	if !ok {
		sync = "auto"
	}
	d.setInfo("driver.parameter.synchronous", sync, true)
}

// Version is the SDK version, published as driver.version.
const Version = "2.8.0-gonut0.1"
