package sdk

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// Flags are a variable's flags as NUT's driver socket protocol carries them.
type Flags uint8

// NUT's ST_FLAG_* values that reach upsd.
const (
	FlagRW     Flags = 1 << iota // writable with SET VAR
	FlagString                   // a string; its maximum length is the aux value
	FlagNumber                   // a number
)

func (f Flags) words() []string {
	var w []string
	if f&FlagRW != 0 {
		w = append(w, "RW")
	}
	if f&FlagString != 0 {
		w = append(w, "STRING")
	}
	if f&FlagNumber != 0 {
		w = append(w, "NUMBER")
	}
	return w
}

type rng struct{ min, max int }

type variable struct {
	name      string // as first set: NUT keeps the first spelling
	value     string
	flags     Flags
	aux       int
	enums     []string
	ranges    []rng
	immutable bool // set by override.* in ups.conf: the driver cannot change it
}

// Device is a driver instance's published state: NUT's dstate. Changes are
// collected and published atomically by Commit (the SDK commits after Init
// and after every Poll), so a client never sees half an update. Only real
// changes are sent. Device is safe for concurrent use.
type Device struct {
	commit  sync.Mutex // keeps concurrent Commits in order on the wire
	mu      sync.Mutex
	ups     string
	opts    *Options
	log     hclog.Logger
	vars    map[string]*variable // by foldName(name)
	cmds    map[string]bool      // by foldName(name)
	cmdName map[string]string    // foldName(name) -> name as first added
	dataOK  bool
	// saidStale: the driver itself called DataStale, so the runtime must
	// not assume fresh data after Init (it does when the driver is silent).
	saidStale bool
	pending   [][]string

	// status and alarm builders (status_init/status_set/status_commit)
	statusBuf   []string
	alarmBuf    []string
	alarmActive bool
	ignoreLB    bool

	publish func(msgs [][]string) error // set by the runtime
}

func newDevice(ups string, opts *Options, log hclog.Logger) *Device {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Device{
		ups: ups, opts: opts, log: log,
		vars: map[string]*variable{}, cmds: map[string]bool{}, cmdName: map[string]string{},
		ignoreLB: opts != nil && opts.Flag("ignorelb"),
	}
}

// NewDevice returns the Device the SDK hands to Init for the instance
// opts describes, with what every NUT driver publishes before Init
// (driver.*, default.* and override.* values) already set, after checking
// opts against info as the SDK does. It is for unit tests of a driver's
// methods; Commit only collects changes on a Device that is not running.
// A nil log discards the driver's log.
func NewDevice(info Info, opts *Options, log hclog.Logger) (*Device, error) {
	if opts == nil {
		opts = &Options{}
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if err := opts.validate(info); err != nil {
		return nil, err
	}
	poll, err := opts.PollInterval()
	if err != nil {
		return nil, err
	}
	d := newDevice(opts.UPS, opts, log)
	applyCommon(d, info, opts, poll)
	return d, nil
}

// foldName is the key under which a name is kept: NUT's dstate compares
// names with strcasecmp in the C locale, so only ASCII letters fold.
func foldName(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			b := []byte(name)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return name
}

// lookup finds a variable by name without regard to ASCII case.
func (d *Device) lookup(name string) *variable { return d.vars[foldName(name)] }

// Name is the instance's ups.conf section name.
func (d *Device) Name() string { return d.ups }

// Options are the instance's ups.conf section and global part.
func (d *Device) Options() *Options { return d.opts }

// Logger is the instance's logger.
func (d *Device) Logger() hclog.Logger { return d.log }

func (d *Device) queue(words ...string) { d.pending = append(d.pending, words) }

// SetInfo sets a variable's value, creating it if needed (dstate_setinfo).
// A variable fixed by override.* in ups.conf keeps its configured value.
func (d *Device) SetInfo(name, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.setInfo(name, value, false)
}

// SetInfof is SetInfo with fmt formatting.
func (d *Device) SetInfof(name, format string, args ...any) {
	d.SetInfo(name, fmt.Sprintf(format, args...))
}

func (d *Device) setInfo(name, value string, force bool) {
	if name == "" {
		// A NUT driver's empty name never reaches upsd (dstate sends
		// `SETINFO  "value"`, which upsd ignores); keep it out altogether.
		return
	}
	v := d.lookup(name)
	if v == nil {
		v = &variable{name: name}
		d.vars[foldName(name)] = v
	} else if v.immutable && !force {
		return
	} else if v.value == value {
		return
	}
	v.value = value
	d.queue("SETINFO", v.name, value)
}

// Info returns a variable's current value (dstate_getinfo). Names match
// without regard to ASCII case, as in NUT.
func (d *Device) Info(name string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := d.lookup(name)
	if v == nil {
		return "", false
	}
	return v.value, true
}

// DelInfo deletes a variable (dstate_delinfo). A variable fixed by
// override.* in ups.conf stays, as in NUT.
func (d *Device) DelInfo(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.delInfo(name)
}

func (d *Device) delInfo(name string) {
	v := d.lookup(name)
	if v == nil {
		return
	}
	if v.immutable {
		d.log.Trace("not deleting a variable set by override.*", "var", v.name)
		return
	}
	delete(d.vars, foldName(name))
	d.queue("DELINFO", v.name)
}

// SetFlags sets a variable's flags (dstate_setflags). The variable must
// exist; flags of an unknown variable are ignored, as in NUT. The flags of
// a variable fixed by override.* in ups.conf do not change either (NUT
// logs a warning): an overridden value is not writable.
func (d *Device) SetFlags(name string, f Flags) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := d.lookup(name)
	if v == nil || v.flags == f {
		return
	}
	if v.immutable {
		d.log.Warn("not changing the flags of a variable set by override.* in ups.conf", "var", v.name)
		return
	}
	v.flags = f
	d.queue(append([]string{"SETFLAGS", v.name}, f.words()...)...)
}

// SetAux sets the maximum length of a string variable (dstate_setaux).
func (d *Device) SetAux(name string, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := d.lookup(name)
	if v == nil || v.aux == n {
		return
	}
	v.aux = n
	d.queue("SETAUX", v.name, strconv.Itoa(n))
}

// AddEnum adds an accepted value to a variable (dstate_addenum).
func (d *Device) AddEnum(name, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := d.lookup(name)
	if v == nil {
		return
	}
	for _, e := range v.enums {
		if e == value {
			return
		}
	}
	v.enums = append(v.enums, value)
	d.queue("ADDENUM", v.name, value)
}

// DelEnum removes an accepted value (dstate_delenum).
func (d *Device) DelEnum(name, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := d.lookup(name)
	if v == nil {
		return
	}
	for i, e := range v.enums {
		if e == value {
			v.enums = append(v.enums[:i], v.enums[i+1:]...)
			d.queue("DELENUM", v.name, value)
			return
		}
	}
}

// AddRange adds an accepted range to a variable (dstate_addrange).
func (d *Device) AddRange(name string, min, max int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := d.lookup(name)
	if v == nil {
		return
	}
	for _, r := range v.ranges {
		if r.min == min && r.max == max {
			return
		}
	}
	v.ranges = append(v.ranges, rng{min, max})
	d.queue("ADDRANGE", v.name, strconv.Itoa(min), strconv.Itoa(max))
}

// DelRange removes an accepted range (dstate_delrange).
func (d *Device) DelRange(name string, min, max int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := d.lookup(name)
	if v == nil {
		return
	}
	for i, r := range v.ranges {
		if r.min == min && r.max == max {
			v.ranges = append(v.ranges[:i], v.ranges[i+1:]...)
			d.queue("DELRANGE", v.name, strconv.Itoa(min), strconv.Itoa(max))
			return
		}
	}
}

// AddCmd announces an instant command (dstate_addcmd).
func (d *Device) AddCmd(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := foldName(name)
	if name == "" || d.cmds[key] {
		return
	}
	d.cmds[key] = true
	d.cmdName[key] = name
	d.queue("ADDCMD", name)
}

// DelCmd withdraws an instant command (dstate_delcmd).
func (d *Device) DelCmd(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := foldName(name)
	if !d.cmds[key] {
		return
	}
	name = d.cmdName[key]
	delete(d.cmds, key)
	delete(d.cmdName, key)
	d.queue("DELCMD", name)
}

// DataOK says the device answered and the data is fresh (dstate_dataok).
func (d *Device) DataOK() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.dataOK {
		d.dataOK = true
		d.queue("DATAOK")
	}
}

// DataStale says the device stopped answering (dstate_datastale): upsd
// answers DATA-STALE until DataOK.
func (d *Device) DataStale() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.saidStale = true
	if d.dataOK {
		d.dataOK = false
		d.queue("DATASTALE")
	}
}

// StatusInit starts building ups.status (status_init).
func (d *Device) StatusInit() {
	d.mu.Lock()
	d.statusBuf = d.statusBuf[:0]
	d.mu.Unlock()
}

// StatusSet adds a status token such as "OL" or "LB" (status_set). With
// ignorelb set in ups.conf, a device's own LB is dropped and LB is derived
// from battery.charge.low / battery.runtime.low instead, as NUT does.
func (d *Device) StatusSet(token string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ignoreLB && strings.EqualFold(token, "LB") {
		return
	}
	d.statusBuf = append(d.statusBuf, token)
}

// StatusCommit publishes the built status as ups.status (status_commit),
// prefixed with ALARM while alarms are active.
func (d *Device) StatusCommit() {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := strings.Join(d.statusBuf, " ")
	if d.ignoreLB && d.belowLow("battery.charge", "battery.charge.low") || d.ignoreLB && d.belowLow("battery.runtime", "battery.runtime.low") {
		if st != "" {
			st += " "
		}
		st += "LB"
	}
	if d.alarmActive {
		st = "ALARM " + st
	}
	d.setInfo("ups.status", st, false)
}

func (d *Device) belowLow(name, low string) bool {
	v, l := d.lookup(name), d.lookup(low)
	if v == nil || l == nil {
		return false
	}
	return cLong(v.value) < cLong(l.value)
}

// checkIgnoreLB is NUT's check after the driver's first update: with
// ignorelb, LB comes from battery.charge below battery.charge.low or
// battery.runtime below battery.runtime.low, so at least one pair must
// exist or the driver could never report a low battery. NUT exits with
// this message (drivers/main.c); the runtime fails Init with it.
func (d *Device) checkIgnoreLB() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.ignoreLB {
		return nil
	}
	if d.lookup("battery.charge") != nil && d.lookup("battery.charge.low") != nil ||
		d.lookup("battery.runtime") != nil && d.lookup("battery.runtime.low") != nil {
		return nil
	}
	return fmt.Errorf("ups.conf [%s]: the 'ignorelb' flag is set, but there is no way to determine the battery state of charge: "+
		"only set this flag if both 'battery.charge' and 'battery.charge.low' and/or 'battery.runtime' and 'battery.runtime.low' are available "+
		"(set the low limits with override.battery.charge.low or override.battery.runtime.low if the device lacks them)", d.ups)
}

// cLong parses the leading integer of s as C's strtol(s, NULL, 10) does.
func cLong(s string) int64 {
	s = strings.TrimLeft(s, " \t\n\r\v\f")
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, _ := strconv.ParseInt(s[:end], 10, 64)
	return n
}

// AlarmInit starts building ups.alarm (alarm_init).
func (d *Device) AlarmInit() {
	d.mu.Lock()
	d.alarmBuf = d.alarmBuf[:0]
	d.mu.Unlock()
}

// AlarmSet adds an alarm text (alarm_set).
func (d *Device) AlarmSet(text string) {
	d.mu.Lock()
	d.alarmBuf = append(d.alarmBuf, text)
	d.mu.Unlock()
}

// AlarmCommit publishes ups.alarm, or deletes it when no alarm is set
// (alarm_commit). Call it before StatusCommit so ups.status gets ALARM.
func (d *Device) AlarmCommit() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.alarmBuf) == 0 {
		d.alarmActive = false
		d.delInfo("ups.alarm")
		return
	}
	d.alarmActive = true
	d.setInfo("ups.alarm", strings.Join(d.alarmBuf, " "), false)
}

// Commit publishes every change since the last Commit as one atomic update.
// The SDK commits after Init and after each Poll; a driver that changes
// state from another goroutine (an interrupt endpoint, a trap) calls it.
func (d *Device) Commit() error {
	d.commit.Lock()
	defer d.commit.Unlock()
	d.mu.Lock()
	pub := d.publish
	if pub == nil {
		// Not running yet: the changes go out with the first snapshot.
		d.mu.Unlock()
		return nil
	}
	msgs := d.pending
	d.pending = nil
	d.mu.Unlock()
	if len(msgs) == 0 {
		return nil
	}
	return pub(msgs)
}

// snapshot returns the whole state as socket messages, sorted by name so a
// snapshot is deterministic.
func (d *Device) snapshotLocked() [][]string {
	keys := make([]string, 0, len(d.vars))
	for k := range d.vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out [][]string
	for _, k := range keys {
		v := d.vars[k]
		n := v.name
		out = append(out, []string{"SETINFO", n, v.value})
		if v.flags != 0 {
			out = append(out, append([]string{"SETFLAGS", n}, v.flags.words()...))
		}
		if v.aux != 0 {
			out = append(out, []string{"SETAUX", n, strconv.Itoa(v.aux)})
		}
		for _, e := range v.enums {
			out = append(out, []string{"ADDENUM", n, e})
		}
		for _, r := range v.ranges {
			out = append(out, []string{"ADDRANGE", n, strconv.Itoa(r.min), strconv.Itoa(r.max)})
		}
	}
	cmds := make([]string, 0, len(d.cmds))
	for k := range d.cmds {
		cmds = append(cmds, k)
	}
	sort.Strings(cmds)
	for _, k := range cmds {
		out = append(out, []string{"ADDCMD", d.cmdName[k]})
	}
	if d.dataOK {
		out = append(out, []string{"DATAOK"})
	} else {
		out = append(out, []string{"DATASTALE"})
	}
	d.pending = nil
	return out
}
