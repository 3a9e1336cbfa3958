package apcsmart

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/nutconf"
)

// Info describes apcsmart. Version is the NUT apcsmart version whose
// behaviour this driver reproduces (NUT 2.8.0, command table 3.1).
var Info = sdk.Info{
	Name:        "apcsmart",
	Version:     "3.2",
	Description: "APC Smart protocol driver",
	Authors: []string{
		"Russell Kroll, Nigel Metheringham, Michal Soltys (NUT's apcsmart, whose behaviour this follows)",
	},
	Options: []sdk.OptionInfo{
		{Name: "ttymode", Help: "tty discipline selection"},
		{Name: "cable", Help: "alternate cable (940-0095B) selection"},
		{Name: "awd", Help: "hard hibernate's additional wakeup delay"},
		{Name: "sdtype", Help: "simple shutdown method"},
		{Name: "advorder", Help: "advanced shutdown control"},
		{Name: "cshdelay", Help: "CS hack delay"},
	},
}

// Reopening a port that went away: the first attempt comes at the next
// poll, then the wait doubles up to reopenMax.
const (
	reopenFirst = time.Second
	reopenMax   = 30 * time.Second
)

// Driver is apcsmart. The SDK serialises its methods.
type Driver struct {
	// Open opens the serial port; nil means OpenSerial. Tests replace it.
	Open func(path, cable string) (Port, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits for d or until ctx ends; nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error

	log    hclog.Logger
	dev    *sdk.Device
	path   string
	cfg    config
	c      *conn
	vars   []varState
	cmds   []cmdState
	status int

	stale      bool
	lastFull   time.Time
	needFull   bool  // read everything once the UPS answers well again
	cleanPolls int   // polls in a row that worked
	lastNasty  int64 // unix seconds of the last nasty command, for the confirmation window

	// reopening a lost port
	lostErr  error
	attempts int
	nextOpen time.Time
	backoff  time.Duration
}

type varState struct {
	varDef
	present bool
	rw      bool
	enum    bool
	cnt     int // published subfields of a packed variable
}

type cmdState struct {
	cmdDef
	present bool
}

// config is the driver's ups.conf options.
type config struct {
	cable, ttymode string
	awd            string
	hasAWD         bool
	sdtype         int
	advorder       string
	cshdelay       time.Duration
}

// New returns the driver, talking to a real serial port.
func New() *Driver { return &Driver{} }

var (
	_ sdk.Driver     = (*Driver)(nil)
	_ sdk.InstCmder  = (*Driver)(nil)
	_ sdk.Setter     = (*Driver)(nil)
	_ sdk.Shutdowner = (*Driver)(nil)
)

// sectionOption is a driver option from the ups.conf section: NUT reads
// driver options from the section alone, never from the global part.
func sectionOption(o *sdk.Options, key string) (string, bool) {
	v, set := "", false
	for _, op := range o.Section {
		if op.Key == key && op.HasValue {
			v, set = op.Value, true
		}
	}
	return v, set
}

// readConfig checks the options as NUT does at start-up.
func readConfig(o *sdk.Options) (config, error) {
	cfg := config{cshdelay: 3500 * time.Millisecond}
	cfg.cable, _ = sectionOption(o, "cable")
	cfg.ttymode, _ = sectionOption(o, "ttymode")
	check := func(key string, f interface{ MatchString(string) bool }) (string, bool, error) {
		v, ok := sectionOption(o, key)
		if ok && !f.MatchString(v) {
			return "", false, fmt.Errorf("ups.conf [%s]: invalid value (%s) for option '%s'", o.UPS, v, key)
		}
		return v, ok, nil
	}
	var err error
	if cfg.awd, cfg.hasAWD, err = check("awd", awdFormat); err != nil {
		return cfg, err
	}
	sd, ok, err := check("sdtype", sdtypeFormat)
	if err != nil {
		return cfg, err
	}
	if ok {
		cfg.sdtype = int(sd[0] - '0')
	}
	if cfg.advorder, _, err = check("advorder", advorderFormat); err != nil {
		return cfg, err
	}
	cs, ok, err := check("cshdelay", cshdelayFormat)
	if err != nil {
		return cfg, err
	}
	if ok {
		f, _ := strconv.ParseFloat(cs, 64)
		cfg.cshdelay = time.Duration(f * float64(time.Second))
	}
	return cfg, nil
}

func (dr *Driver) now() time.Time {
	if dr.Now != nil {
		return dr.Now()
	}
	return time.Now()
}

func (dr *Driver) sleep(ctx context.Context, d time.Duration) error {
	if dr.Sleep != nil {
		return dr.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (dr *Driver) open() (*conn, error) {
	open := dr.Open
	if open == nil {
		open = OpenSerial
	}
	p, err := open(dr.path, dr.cfg.cable)
	if err != nil {
		return nil, err
	}
	return &conn{port: p, onAlert: dr.alert, sleep: dr.sleep}, nil
}

// Init opens the port, puts the UPS into smart mode, finds out what it
// supports and reads everything once (NUT's upsdrv_initups,
// upsdrv_initinfo and the first upsdrv_updateinfo).
func (dr *Driver) Init(ctx context.Context, d *sdk.Device) error {
	dr.dev, dr.log = d, d.Logger()
	cfg, err := readConfig(d.Options())
	if err != nil {
		return err
	}
	dr.cfg, dr.path = cfg, d.Options().Port()
	if dr.path == "" {
		return fmt.Errorf("ups.conf [%s]: no port: set port = /dev/ttyS0 (or the UPS's serial port)", d.Name())
	}
	dr.vars = make([]varState, len(varTable))
	for i, v := range varTable {
		dr.vars[i] = varState{varDef: v}
	}
	dr.cmds = make([]cmdState, len(cmdTable))
	for i, c := range cmdTable {
		dr.cmds[i] = cmdState{cmdDef: c}
	}
	if dr.c, err = dr.open(); err != nil {
		return err
	}
	if !dr.smartMode(ctx, 5) {
		dr.closePort()
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("unable to detect an APC Smart protocol UPS on port %s: check the cabling, port name or model name and try again", dr.path)
	}
	if err := dr.getBaseInfo(ctx); err != nil {
		dr.closePort()
		return fmt.Errorf("problems with communicating APC UPS on port %s: %w", dr.path, err)
	}
	d.SetInfo("ups.mfr", "APC")
	model, _ := d.Info("ups.model")
	serial, _ := d.Info("ups.serial")
	dr.log.Debug("detected UPS", "model", model, "serial", serial, "port", dr.path)
	// NUT runs the first update before it serves anything.
	if err := dr.update(ctx, d); err != nil {
		dr.log.Warn("first update failed; data is stale until the UPS answers", "error", err)
	}
	dr.remapDevice(d)
	return nil
}

// remapDevice is what NUT's main.c does once after the first update:
// device.mfr, device.model and device.serial take the values of ups.mfr,
// ups.model and ups.serial (as stored, that is escaped), and device.type
// defaults to "ups".
func (dr *Driver) remapDevice(d *sdk.Device) {
	for _, k := range []string{"mfr", "model", "serial"} {
		if v, ok := d.Info("ups." + k); ok {
			d.SetInfo("device."+k, nutconf.Quote(v))
		}
	}
	if _, ok := d.Info("device.type"); !ok {
		d.SetInfo("device.type", "ups")
	}
}

// Poll reads the status and the variables (NUT's upsdrv_updateinfo). A
// port that went away is reopened, with backoff, and a UPS that stopped
// answering is nudged back into smart mode.
func (dr *Driver) Poll(ctx context.Context, d *sdk.Device) error {
	dr.dev = d
	if dr.c == nil || dr.c.broken != nil {
		if err := dr.reopen(); err != nil {
			return err
		}
	}
	if dr.stale {
		if !dr.smartMode(ctx, 1) {
			if dr.c.broken != nil {
				return dr.c.broken
			}
			return errors.New("the UPS does not answer 'Y' (smart mode)")
		}
	}
	return dr.update(ctx, d)
}

// reopen closes a failed port and tries to open it again, waiting longer
// after each failure. It logs when the port is lost and when it is back,
// not on every attempt.
func (dr *Driver) reopen() error {
	if dr.c != nil {
		dr.lostErr = dr.c.broken
		dr.log.Warn("lost the serial port; reopening it with backoff", "port", dr.path, "error", dr.lostErr)
		dr.closePort()
		dr.attempts, dr.backoff, dr.nextOpen = 0, reopenFirst, time.Time{}
	}
	now := dr.now()
	if now.Before(dr.nextOpen) {
		return fmt.Errorf("serial port %s is gone (%v); next attempt in %s", dr.path, dr.lostErr, dr.nextOpen.Sub(now).Round(time.Second))
	}
	dr.attempts++
	c, err := dr.open()
	if err != nil {
		dr.lostErr = err
		dr.nextOpen = now.Add(dr.backoff)
		dr.backoff = min(2*dr.backoff, reopenMax)
		return fmt.Errorf("reopen serial port %s: %w", dr.path, err)
	}
	dr.log.Info("serial port reopened", "port", dr.path, "attempts", dr.attempts)
	dr.c, dr.stale = c, true
	return nil
}

func (dr *Driver) closePort() {
	if dr.c != nil {
		dr.c.port.Close()
		dr.c = nil
	}
}

// update is one poll: the status, then the variables read on every poll,
// or all of them once an hour.
func (dr *Driver) update(ctx context.Context, d *sdk.Device) error {
	failed := func(err error) error {
		dr.stale, dr.cleanPolls, dr.needFull = true, 0, true
		return err
	}
	if err := dr.updateStatus(ctx); err != nil {
		return failed(err)
	}
	now := dr.now()
	// Everything is read hourly, and again once the UPS has answered
	// well twice in a row after a failure: replies that came late or
	// garbled may have landed in the wrong variables, and those not read
	// on every poll would keep them for an hour. (NUT re-reads everything
	// on the first poll that works, while late replies may still come.)
	all := now.Sub(dr.lastFull) > time.Hour || dr.needFull && dr.cleanPolls >= 2
	if all {
		dr.lastFull = now
	}
	for i := range dr.vars {
		v := &dr.vars[i]
		if !all && v.flags&fPoll == 0 {
			continue
		}
		if err := dr.pollData(ctx, v); err != nil {
			return failed(fmt.Errorf("reading %s [%s]: %w", v.name, printable(v.cmd), err))
		}
	}
	dr.stale = false
	dr.cleanPolls++
	if all {
		dr.needFull = false
	}
	return nil
}

// alert handles an alert character the UPS sent on its own.
func (dr *Driver) alert(ch byte) {
	switch ch {
	case '!':
		dr.status = dr.status&^statOL | statOB
	case '$':
		dr.status = dr.status&^statOB | statOL
	case '%':
		dr.status |= statLB
	case '+':
		dr.status &^= statLB
	case '#':
		dr.status |= statRB
	case '?':
		dr.status |= statOver
	case '=':
		dr.status &^= statOver
	default:
		dr.log.Debug("unhandled alert", "char", printable(ch))
	}
	dr.log.Debug("alert", "char", printable(ch))
	dr.publishStatus()
}

// publishStatus turns the status byte into ups.status.
func (dr *Driver) publishStatus() {
	d := dr.dev
	if d == nil {
		return
	}
	d.StatusInit()
	for _, s := range []struct {
		bit   int
		token string
	}{{statCal, "CAL"}, {statTrim, "TRIM"}, {statBoost, "BOOST"}, {statOL, "OL"}, {statOB, "OB"},
		{statOver, "OVER"}, {statLB, "LB"}, {statRB, "RB"}} {
		if dr.status&s.bit != 0 {
			d.StatusSet(s.token)
		}
	}
	if dr.status == 0 {
		d.StatusSet("OFF")
	}
	d.StatusCommit()
}

// command sends one character after flushing the input and reads the
// reply.
func (dr *Driver) command(ctx context.Context, cmd byte, alerts bool, o readOpts) (string, error) {
	dr.c.flush(ctx, alerts)
	if err := dr.c.write(cmd); err != nil {
		return "", err
	}
	return dr.c.read(ctx, o)
}

func (dr *Driver) updateStatus(ctx context.Context) error {
	s, err := dr.command(ctx, cmdStatus, true, rdAlerts)
	if err != nil {
		return fmt.Errorf("status [Q]: %w", err)
	}
	if s == "" || s == "NA" {
		dr.log.Warn("status [Q] failed", "reply", s)
		return fmt.Errorf("status [Q]: reply %q", s)
	}
	dr.status = parseStatus(s)
	dr.publishStatus()
	return nil
}

// pollData reads one variable; a variable the UPS now answers NA to is
// removed.
func (dr *Driver) pollData(ctx context.Context, v *varState) error {
	if !v.present {
		return nil
	}
	s, err := dr.command(ctx, v.cmd, true, rdAlerts)
	if err != nil {
		return err
	}
	if s == "" {
		return errors.New("empty reply")
	}
	if s == "NA" {
		dr.log.Warn("verified variable returned NA, removing", "var", v.name, "cmd", printable(v.cmd))
		v.present = false
		dr.delInfo(v, 0)
		return nil
	}
	dr.setInfo(v, s)
	return nil
}

// setInfo publishes a raw value, split over name.1, name.2, ... for a
// packed variable (an empty field becomes "N/A").
func (dr *Driver) setInfo(v *varState, raw string) {
	d := dr.dev
	if v.flags&fPack == 0 {
		d.SetInfo(v.name, convert(v.format, raw))
		return
	}
	fields, more := splitPacked(raw)
	if v.cnt > len(fields) {
		dr.delInfo(v, len(fields))
	}
	if more {
		dr.log.Warn("packed variable has more fields than are published; ignoring the rest",
			"var", v.name, "cmd", printable(v.cmd), "max", packMax)
	}
	v.cnt = len(fields)
	for i := len(fields) - 1; i >= 0; i-- {
		if fields[i] == "" {
			d.SetInfo(packedName(v.name, i), "N/A")
		} else {
			d.SetInfo(packedName(v.name, i), convert(v.format, fields[i]))
		}
	}
}

// delInfo removes a variable, or the subfields of a packed one from skip on.
func (dr *Driver) delInfo(v *varState, skip int) {
	if v.flags&fPack == 0 {
		dr.dev.DelInfo(v.name)
		return
	}
	for i := skip; i < v.cnt; i++ {
		dr.dev.DelInfo(packedName(v.name, i))
	}
	v.cnt = 0
}

// Close takes the UPS out of smart mode and closes the port.
func (dr *Driver) Close(ctx context.Context) error {
	if dr.c == nil {
		return nil
	}
	if dr.c.broken == nil {
		dr.c.flush(ctx, false)
		if dr.c.write(cmdDumb) == nil {
			dr.c.read(ctx, readOpts{ignore: ignorePlain, timeout: waitDefault, timeoutOK: true})
		}
	}
	err := dr.c.port.Close()
	dr.c = nil
	return err
}

// smartMode puts the UPS into smart mode: 'Y', answered "SM"; on any
// other answer ESC cancels whatever the UPS took it for. tries bounds the
// attempts.
func (dr *Driver) smartMode(ctx context.Context, tries int) bool {
	for i := 0; i < tries; i++ {
		dr.c.flush(ctx, false)
		if dr.c.write(cmdSmart) != nil {
			return false
		}
		s, err := dr.c.read(ctx, readOpts{ignore: ignorePlain, timeout: waitShort, timeoutOK: true})
		if err == nil && s == "SM" {
			return true
		}
		if ctx.Err() != nil || dr.c.broken != nil {
			return false
		}
		if err != nil {
			// not a plain timeout: wait a little before trying again
			if dr.sleep(ctx, time.Second) != nil {
				return false
			}
		}
		if dr.c.write(cmdEsc) != nil {
			return false
		}
		dr.c.read(ctx, readOpts{ignore: ignorePlain, timeout: waitShort, timeoutOK: true})
	}
	return false
}

// preread reads a variable for detection: nothing is published yet.
func (dr *Driver) preread(ctx context.Context, v *varState) (string, bool) {
	s, err := dr.command(ctx, v.cmd, false, readOpts{ignore: ignorePlain, timeout: waitDefault, timeoutOK: true})
	if err != nil || s == "" || s == "NA" {
		if !errors.Is(err, errPartial) && !errors.Is(err, errOverflow) && dr.c.broken == nil {
			dr.log.Info("timed out or not supported", "var", v.name, "cmd", printable(v.cmd))
		}
		return "", false
	}
	return s, true
}

// stringSetup makes ups.id and battery.date writable strings.
func (dr *Driver) stringSetup(v *varState) {
	if v.flags&fString != 0 {
		dr.dev.SetFlags(v.name, sdk.FlagRW|sdk.FlagString)
		dr.dev.SetAux(v.name, strLen)
		v.rw = true
	}
}

// varVerify checks that the UPS answers a variable and publishes it.
// Variables sharing a name or a character are left to deprecateVars.
func (dr *Driver) varVerify(ctx context.Context, v *varState) {
	if v.flags&fMulti != 0 {
		v.present = true
		return
	}
	s, ok := dr.preread(ctx, v)
	if !ok || (v.match != nil && !v.match.MatchString(s)) {
		dr.log.Warn("variable invalid", "var", v.name, "cmd", printable(v.cmd))
		return
	}
	v.present = true
	dr.setInfo(v, s)
	dr.stringSetup(v)
	dr.log.Debug("variable supported", "var", v.name, "cmd", printable(v.cmd))
}

// deprecateVars settles the variables that share a NUT name or an APC
// character: the first in table order whose reply looks right wins.
func (dr *Driver) deprecateVars(ctx context.Context) {
	for i := range dr.vars {
		v := &dr.vars[i]
		if v.flags&fMulti == 0 || !v.present {
			continue
		}
		s, ok := dr.preread(ctx, v)
		if !ok || (v.match != nil && !v.match.MatchString(s)) {
			v.present = false
			dr.log.Info("variable combination invalid", "var", v.name, "cmd", printable(v.cmd))
			continue
		}
		for j := i + 1; j < len(dr.vars); j++ {
			if dr.vars[j].name == v.name || dr.vars[j].cmd == v.cmd {
				dr.vars[j].present = false
			}
		}
		dr.setInfo(v, s)
		dr.stringSetup(v)
		dr.log.Debug("variable combination supported", "var", v.name, "cmd", printable(v.cmd))
	}
}

// protocolVerify handles one character of the command set: a variable
// to read, an instant command to announce, or something NUT ignores.
func (dr *Driver) protocolVerify(ctx context.Context, cmd byte) {
	if strings.IndexByte(unexposedCmds, cmd) >= 0 {
		return
	}
	found := false
	for i := range dr.vars {
		if dr.vars[i].cmd == cmd {
			dr.varVerify(ctx, &dr.vars[i])
			found = true
		}
	}
	if found {
		return
	}
	for i := range dr.cmds {
		if dr.cmds[i].cmd == cmd {
			dr.cmds[i].present = true
			dr.dev.AddCmd(dr.cmds[i].name)
			found = true
		}
	}
	if !found {
		dr.log.Warn("unrecognized command character", "cmd", printable(cmd))
	}
}

// firmwareLookup asks for the firmware ('V', then 'b') and, for old
// units that do not answer 'a', takes their command set from a table.
// It returns 1 when the table matched, 2 for the firmware whose
// capability string is known to overflow, 0 otherwise.
func (dr *Driver) firmwareLookup(ctx context.Context) (int, error) {
	s, err := dr.command(ctx, cmdFwOld, false, readOpts{ignore: ignorePlain, timeout: waitDefault, timeoutOK: true})
	if err != nil {
		// A garbled reply is no firmware: go on with 'a'.
		return 0, lostPort(ctx, err)
	}
	if s == "" || s == "NA" {
		if err := dr.c.write(cmdFwNew); err != nil {
			return 0, err
		}
		if s, err = dr.c.read(ctx, readOpts{ignore: ignorePlain, timeout: waitDefault, timeoutOK: true}); err != nil || s == "" {
			return 0, lostPort(ctx, err)
		}
	}
	dr.log.Debug("detected firmware version", "firmware", s)
	if s == quirkyFw {
		return 2, nil
	}
	if hexFwFormat.MatchString(s) {
		s = oldHexFw
	}
	cmds, ok := compat[s]
	if !ok {
		return 0, nil
	}
	if s[0] == '0' || s[0] == '5' {
		dr.dev.SetInfo("ups.model", "Matrix-UPS")
	} else {
		dr.dev.SetInfo("ups.model", "Smart-UPS")
	}
	for i := 0; i < len(cmds); i++ {
		dr.protocolVerify(ctx, cmds[i])
	}
	dr.deprecateVars(ctx)
	return 1, nil
}

// getBaseInfo finds out what the UPS supports: its command set ('a')
// and capability string (^Z), or the old-model fallbacks.
func (dr *Driver) getBaseInfo(ctx context.Context) error {
	qco, err := dr.firmwareLookup(ctx)
	if err != nil {
		return err
	}
	if qco == 1 {
		return nil
	}
	s, err := dr.command(ctx, cmdCmdSet, false, readOpts{ignore: ignoreCmdSet, timeout: waitLong, timeoutOK: true})
	if err != nil {
		return err
	}
	cmds, ok := parseCmdSet(s)
	if s == "" || s == "NA" || !ok {
		dr.log.Info("very old or unknown APC model, support will be limited", "cmdset", s)
		dr.oldSetup(ctx)
		return nil
	}
	for i := 0; i < len(cmds); i++ {
		dr.protocolVerify(ctx, cmds[i])
	}
	dr.deprecateVars(ctx)
	if strings.IndexByte(cmds, cmdCaps) >= 0 {
		return dr.getCaps(ctx, qco == 2)
	}
	return nil
}

// oldSetup probes the few variables very old units know.
func (dr *Driver) oldSetup(ctx context.Context) {
	for _, name := range []string{"ups.temperature", "ups.load", "input.voltage", "output.voltage",
		"battery.charge", "battery.voltage", "ups.model", "ups.serial", "ups.firmware", "output.current"} {
		for i := range dr.vars {
			if dr.vars[i].name == name {
				dr.varVerify(ctx, &dr.vars[i])
			}
		}
	}
	dr.deprecateVars(ctx)
	switch {
	case dr.lookupName("output.current") != nil:
		dr.dev.SetInfo("ups.model", "Matrix-UPS")
	case dr.lookupName("ups.model") == nil:
		dr.dev.SetInfo("ups.model", "Smart-UPS")
	}
}

func (dr *Driver) lookupName(name string) *varState {
	for i := range dr.vars {
		if dr.vars[i].present && strings.EqualFold(dr.vars[i].name, name) {
			return &dr.vars[i]
		}
	}
	return nil
}

func (dr *Driver) lookupChar(c byte) *varState {
	for i := range dr.vars {
		if dr.vars[i].present && dr.vars[i].cmd == c {
			return &dr.vars[i]
		}
	}
	return nil
}

// getCaps reads the capability string: which settings can be changed,
// and to what, in the UPS's locale (the last character of its firmware)
// or in all locales ('4').
func (dr *Driver) getCaps(ctx context.Context, overflowExpected bool) error {
	var loc byte
	if fw, ok := dr.dev.Info("ups.firmware"); ok && fw != "" {
		loc = fw[len(fw)-1]
	}
	s, err := dr.command(ctx, cmdCaps, false, readOpts{ignore: ignoreCaps, timeout: waitLong, timeoutOK: true})
	if err != nil || s == "" || s == "NA" {
		if dr.c.broken != nil {
			return dr.c.broken
		}
		if err == nil {
			dr.log.Warn("APC cannot do capabilities but said it could !")
		}
		return nil
	}
	entries, perr := parseCaps(s)
	if perr != nil && !errors.Is(perr, errCapsOverflow) {
		dr.log.Warn("unknown capability string", "error", perr, "caps", s)
		return nil
	}
	for _, e := range entries {
		v := dr.lookupChar(e.cmd)
		valid := v != nil && (e.loc == loc || e.loc == '4') && v.flags&fPack == 0
		switch {
		case valid:
			dr.dev.SetFlags(v.name, sdk.FlagRW)
			v.rw, v.enum = true, true
			for _, val := range e.values {
				dr.dev.AddEnum(v.name, convert(v.format, val))
			}
		case v != nil && v.flags&fPack != 0:
			dr.log.Warn("packed APC variable reported as enumerable; please report it to the NUT mailing list",
				"var", v.name, "cmd", printable(e.cmd))
		}
	}
	if perr != nil && !overflowExpected {
		return fmt.Errorf("%w, please report this error: %q", perr, s)
	}
	return nil
}

// lostPort keeps, of a read's error, what ends the conversation: a
// failed port or a cancelled context. A garbled or missing reply is
// not such an error.
func lostPort(ctx context.Context, err error) error {
	var pe *portError
	if errors.As(err, &pe) {
		return err
	}
	return ctx.Err()
}
