package dummyups

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/nutconf"
)

// Info describes dummy-ups. Version is the NUT dummy-ups version whose
// behaviour this driver reproduces. "mode" is NUT 2.8.0's only option;
// "username" and "password" are gonut's, for passing SET VAR and INSTCMD
// on to the upsd a repeater relays (NUT's repeater does not pass them on).
var Info = sdk.Info{
	Name:        "dummy-ups",
	Version:     "0.15",
	Description: "Device simulation and repeater driver",
	Options: []sdk.OptionInfo{{
		Name: "mode",
		Help: "Specify mode instead of guessing it from port value (dummy = dummy-loop, dummy-once, repeater)",
	}, {
		Name: "username",
		Help: "Repeater mode: upsd.users user of the relayed upsd, for passing SET VAR and INSTCMD on (gonut)",
	}, {
		Name: "password",
		Help: "Repeater mode: that user's password; never published (gonut)",
	}},
}

// Mode is how the file is replayed.
type Mode int

const (
	// ModeOnce reads the file once, and again whenever it changes; SET
	// values stick until then (the default for .dev files).
	ModeOnce Mode = iota + 1
	// ModeLoop replays the file again and again, pausing at TIMER lines
	// (the default for .seq and any other file name).
	ModeLoop
	// ModeRepeater relays a UPS of another upsd (the default for a port
	// of the form ups@host[:port]).
	ModeRepeater
)

// statusBufLen is NUT's status buffer (ST_MAX_VALUE_LEN): ups.status is
// cut to 255 bytes.
const statusBufLen = 255

// Driver is dummy-ups. The SDK serialises its methods.
type Driver struct {
	// now is the clock; tests replace it.
	now func() time.Time

	mode Mode
	path string // the file, resolved against the configuration directory
	st   *nutState
	rep  *repeater // repeater mode only

	// dial, when set, replaces the network dialer of repeater mode (tests).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// The replay position (NUT keeps a parseconf context open): stmts is
	// nil when no pass over the file is under way.
	stmts    []Stmt
	pc       int
	paused   bool
	resumeAt time.Time

	// What the file looked like when last read (dummy-once re-reads it
	// when this changes), and the content whose issues were last logged.
	modTime   time.Time
	size      int64
	logged    []byte
	loggedSet bool
}

var (
	_ sdk.Driver    = (*Driver)(nil)
	_ sdk.Setter    = (*Driver)(nil)
	_ sdk.InstCmder = (*Driver)(nil)
)

// New returns a dummy-ups driver.
func New() *Driver { return &Driver{now: time.Now} }

// selectMode decides the mode as NUT 2.8.0's dummy-ups does and returns the
// name it publishes as driver.parameter.mode.
func selectMode(ups, port, param string, set bool) (Mode, string, error) {
	if set {
		switch param {
		case "dummy-once":
			return ModeOnce, "dummy-once", nil
		case "dummy-loop", "dummy":
			return ModeLoop, "dummy-loop", nil
		case "repeater":
			return ModeRepeater, "repeater", nil
		default:
			// NUT 2.8.0 means to refuse this too, but a bug in its check
			// lets any value through and falls back to the file name.
			return 0, "", fmt.Errorf("ups.conf [%s]: mode = %q is not a dummy-ups mode: use dummy-once, dummy-loop (or dummy), or repeater", ups, param)
		}
	}
	switch {
	case strings.Contains(port, "@"):
		return ModeRepeater, "repeater", nil
	case strings.HasSuffix(port, ".seq"):
		return ModeLoop, "dummy-loop", nil
	case strings.HasSuffix(port, ".dev"):
		return ModeOnce, "dummy-once", nil
	}
	return ModeLoop, "dummy", nil
}

// resolvePort finds the file as NUT does: an absolute path as is, a path
// starting with a dot from the working directory, anything else in the
// configuration directory.
func resolvePort(port, confPath string) (string, error) {
	switch {
	case filepath.IsAbs(port):
		return port, nil
	case strings.HasPrefix(port, "."):
		return filepath.Abs(port)
	}
	if confPath == "" {
		confPath = nutconf.ConfPath()
	}
	return filepath.Join(confPath, port), nil
}

// Init publishes dummy-ups' initial variables and the file's contents up to
// its first TIMER, then does what NUT's main loop does before serving:
// one update, then device.* copied from ups.*.
func (dr *Driver) Init(ctx context.Context, d *sdk.Device) error {
	if dr.now == nil {
		dr.now = time.Now
	}
	opts := d.Options()
	port := opts.Port()
	if port == "" {
		return fmt.Errorf("ups.conf [%s]: port is missing: give dummy-ups the .dev or .seq file to simulate (port = ups.dev), "+
			"or the UPS to relay (port = ups@host)", d.Name())
	}
	param, set := sectionOption(opts, "mode")
	mode, modeName, err := selectMode(d.Name(), port, param, set)
	if err != nil {
		return err
	}
	if mode == ModeRepeater {
		dr.mode, dr.st = mode, newNUTState()
		dr.st.adoptOptions(d)
		dr.st.setInfo(d, "driver.parameter.mode", modeName)
		if err := dr.initRepeater(ctx, d, port); err != nil {
			return err
		}
		dr.remapDevice(d)
		return nil
	}
	for _, k := range []string{"username", "password"} {
		if _, set := sectionOption(opts, k); set {
			// Refused rather than ignored: ignored, it would be published
			// as driver.parameter.* like any option.
			return fmt.Errorf("ups.conf [%s]: %s is for repeater mode (port = ups@host), not for mode %s", d.Name(), k, modeName)
		}
	}
	path, err := resolvePort(port, opts.ConfPath)
	if err != nil {
		return fmt.Errorf("ups.conf [%s]: port = %s: %w", d.Name(), port, err)
	}
	dr.mode, dr.path, dr.st = mode, path, newNUTState()
	dr.st.adoptOptions(d)
	dr.st.setInfo(d, "driver.parameter.mode", modeName)
	if fi, err := os.Stat(path); err == nil {
		dr.modTime, dr.size = fi.ModTime(), fi.Size()
	}

	for _, v := range initialVars {
		dr.st.setInfo(d, v.name, v.value)
		dr.applyFlags(d, v.name)
	}
	if err := dr.replay(d); err != nil {
		return err
	}
	d.AddCmd("load.off")
	// NUT's main runs one update before it opens the socket.
	if err := dr.Poll(ctx, d); err != nil {
		return err
	}
	dr.remapDevice(d)
	return nil
}

// sectionOption returns a driver option of the ups.conf section. Only the
// section counts: NUT reads driver options from it alone, while
// Options.Get falls back to the global part of ups.conf.
func sectionOption(opts *sdk.Options, key string) (value string, set bool) {
	for _, op := range opts.Section {
		if op.Key == key && op.HasValue {
			value, set = op.Value, true
		}
	}
	return value, set
}

// remapDevice is what NUT's main.c does once after the first update, for
// every driver: device.mfr, device.model and device.serial take the values
// of ups.mfr, ups.model and ups.serial, and device.type defaults to "ups".
// It is not repeated: a later change of ups.mfr leaves device.mfr alone.
//
// NUT's state tree holds values escaped for the wire and main.c copies
// them as they are stored, so a backslash, double quote or '#' in ups.mfr
// arrives in device.mfr with a backslash before it (`ACME "X"` becomes
// `ACME \"X\"`). Clients see this, so gonut does the same.
func (dr *Driver) remapDevice(d *sdk.Device) {
	for _, k := range []string{"mfr", "model", "serial"} {
		if v, ok := dr.st.info(d, "ups."+k); ok {
			dr.st.setInfo(d, "device."+k, nutconf.Quote(v))
		}
	}
	if _, ok := dr.st.info(d, "device.type"); !ok {
		dr.st.setInfo(d, "device.type", "ups")
	}
}

// Poll continues the replay: dummy-loop goes on through the file (from the
// top once it reached the end); dummy-once does nothing once the file was
// read to its end, unless the file changed since.
func (dr *Driver) Poll(ctx context.Context, d *sdk.Device) error {
	if dr.mode == ModeRepeater {
		return dr.rep.poll(ctx, dr, d)
	}
	if dr.mode == ModeOnce && dr.stmts == nil && !dr.paused && !dr.fileChanged() {
		return nil
	}
	return dr.replay(d)
}

// fileChanged reports whether the file's modification time or size
// changed since it was last read (or it cannot be found, so that reading
// it reports why).
func (dr *Driver) fileChanged() bool {
	fi, err := os.Stat(dr.path)
	if err != nil {
		dr.modTime, dr.size = time.Time{}, -1
		return true
	}
	if fi.ModTime().Equal(dr.modTime) && fi.Size() == dr.size {
		return false
	}
	dr.modTime, dr.size = fi.ModTime(), fi.Size()
	return true
}

// replay is NUT's parse_data_file: unless paused by a TIMER, it runs the
// file's statements from where it stopped to the next TIMER or the end.
func (dr *Driver) replay(d *sdk.Device) error {
	now := dr.now()
	if dr.paused {
		if now.Before(dr.resumeAt) {
			return nil
		}
		dr.paused = false
	}
	if dr.stmts == nil {
		f, err := dr.load(d)
		if err != nil {
			return err
		}
		dr.stmts, dr.pc = f.Stmts, 0
		if dr.stmts == nil {
			dr.stmts = []Stmt{} // a pass over an empty file still ends
		}
	}
	for dr.pc < len(dr.stmts) {
		s := dr.stmts[dr.pc]
		dr.pc++
		switch s.Kind {
		case StmtTimer:
			if s.Seconds <= 0 {
				// "TIMER 0", "TIMER abc" and a bare "TIMER": NUT's
				// dummy-ups goes straight on (seen with 2.8.0: the lines
				// after them are served at once).
				continue
			}
			dr.paused, dr.resumeAt = true, now.Add(time.Duration(s.Seconds)*time.Second)
			return nil
		case StmtStatus:
			dr.setStatus(d, s.Tokens)
		case StmtSet:
			dr.setVar(d, s.Name, s.Value)
		}
	}
	dr.stmts = nil
	return nil
}

// load reads and parses the file, logging its issues once per content.
func (dr *Driver) load(d *sdk.Device) (*File, error) {
	b, err := os.ReadFile(dr.path)
	if err != nil {
		return nil, fmt.Errorf("can't open dummy-ups definition file %s: %w", dr.path, err)
	}
	f, err := ParseDev(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dr.path, err)
	}
	if !dr.loggedSet || !bytes.Equal(b, dr.logged) {
		if dr.loggedSet {
			d.Logger().Info("definition file changed: re-reading", "file", dr.path)
		}
		for _, is := range f.Issues {
			d.Logger().Warn(fmt.Sprintf("%s:%d: %s", dr.path, is.Line, is.Msg))
		}
		dr.logged, dr.loggedSet = b, true
	}
	return f, nil
}

// setStatus is NUT's status_init, status_set for each token, and
// status_commit. Tokens are joined as NUT joins them (an empty first token
// adds no space); with ignorelb an LB token is dropped and the SDK derives
// LB from the battery levels instead.
func (dr *Driver) setStatus(d *sdk.Device, tokens []string) {
	ignoreLB := d.Options().Flag("ignorelb")
	var b strings.Builder
	for _, t := range tokens {
		if ignoreLB && strings.EqualFold(t, "LB") {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t)
	}
	st := b.String()
	if len(st) > statusBufLen {
		st = st[:statusBufLen]
	}
	d.StatusInit()
	d.StatusSet(st)
	d.StatusCommit()
}

// setVar is dummy-ups' setvar, used for the file's lines and for SET VAR:
// ups.status goes through the status functions, an empty value deletes
// the variable, and any other value is set with the flags of dummy-ups'
// table (RW, and STRING with a length for strings; a name missing from the
// table is a 32-byte string).
func (dr *Driver) setVar(d *sdk.Device, name, value string) {
	if strings.HasPrefix(name, "ups.status") {
		dr.setStatus(d, []string{value})
		return
	}
	if value == "" {
		dr.st.delInfo(d, name)
		return
	}
	dr.st.setInfo(d, name, value)
	dr.applyFlags(d, name)
}

func (dr *Driver) applyFlags(d *sdk.Device, name string) {
	vi := lookupVar(name)
	if !dr.st.setFlags(d, name, vi.flags) {
		d.Logger().Debug("variable is fixed by override.* in ups.conf: its flags stay", "var", name)
	}
	if vi.flags&sdk.FlagString != 0 {
		dr.st.setAux(d, name, vi.aux)
	}
}

// SetVar sets a variable from SET VAR (upsrw). Like NUT's dummy-ups it
// accepts any value; the value stays until the file sets the variable
// again (dummy-loop: the next pass; dummy-once: when the file changes).
// A repeater passes the request on to the upsd it relays.
func (dr *Driver) SetVar(ctx context.Context, d *sdk.Device, name, value string) error {
	if dr.mode == ModeRepeater {
		return dr.rep.setVar(ctx, dr, d, name, value)
	}
	d.Logger().Debug("setvar", "var", name, "value", value)
	dr.setVar(d, name, value)
	return nil
}

// InstCmd answers every command as unknown: dummy-ups announces load.off
// but, like NUT's, implements no command. A repeater passes the command on
// to the upsd it relays.
func (dr *Driver) InstCmd(ctx context.Context, d *sdk.Device, cmd, param string) error {
	if dr.mode == ModeRepeater {
		return dr.rep.instCmd(ctx, dr, d, cmd, param)
	}
	d.Logger().Info(fmt.Sprintf("instcmd: unknown command [%s] [%s]", cmd, param))
	return fmt.Errorf("dummy-ups does not implement %s: %w", cmd, sdk.ErrUnknown)
}

// Close ends a repeater's session with the upsd it relays; in the other
// modes there is nothing to release (the file is read whole on each pass).
func (dr *Driver) Close(context.Context) error {
	if dr.rep != nil {
		dr.rep.disconnect()
	}
	return nil
}
