package apcsmart

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gonut/gonut/sdk"
)

// errCmdFailed is an instant command or shutdown method the UPS did not
// confirm.
var errCmdFailed = fmt.Errorf("%w: the UPS did not confirm the command", sdk.ErrFailed)

// noPort is what commands get while the port is being reopened.
func (dr *Driver) noPort() error {
	if dr.c == nil {
		return fmt.Errorf("%w: serial port %s is not open", sdk.ErrFailed, dr.path)
	}
	if dr.c.broken != nil {
		return fmt.Errorf("%w: %v", sdk.ErrFailed, dr.c.broken)
	}
	return nil
}

// InstCmd runs an instant command. Commands that turn the load off
// (shutdown.*, load.off) are "nasty": the first request only arms them,
// and the same request 3 to 15 seconds later runs them, as in NUT.
func (dr *Driver) InstCmd(ctx context.Context, d *sdk.Device, cmd, param string) error {
	dr.dev = d
	var ct *cmdState
	for i := range dr.cmds {
		c := &dr.cmds[i]
		if !strings.EqualFold(c.name, cmd) {
			continue
		}
		if c.ext != nil {
			if !c.ext.MatchString(param) {
				continue
			}
		} else if param != "" {
			continue
		}
		ct = c
		break
	}
	if ct == nil {
		dr.log.Warn("unknown command", "cmd", cmd, "param", param)
		return fmt.Errorf("%w: unknown command [%s %s]", sdk.ErrInvalid, cmd, param)
	}
	if !ct.present {
		dr.log.Warn("command recognized, but not supported by this UPS model", "cmd", cmd, "param", param)
		return fmt.Errorf("%w: command [%s %s] is not supported by this UPS model", sdk.ErrInvalid, cmd, param)
	}
	if ct.flags&cNasty != 0 && !dr.confirmWindow(ct, param) {
		return nil
	}
	if err := dr.noPort(); err != nil {
		return err
	}
	switch strings.ToLower(cmd) {
	case "calibrate.start":
		return dr.doCal(ctx, true)
	case "calibrate.stop":
		return dr.doCal(ctx, false)
	case "load.on":
		return dr.loadOn(ctx)
	case "load.off":
		return dr.sdZ(ctx)
	case "shutdown.stayoff":
		return dr.sdK(ctx)
	case "shutdown.return":
		switch {
		case param == "":
			return dr.sdS(ctx)
		case param[0] == 'A' || param[0] == 'a':
			return dr.sdAT(ctx, param[3:])
		case param[0] == 'C' || param[0] == 'c':
			return dr.sdCS(ctx)
		}
	}
	return dr.doCmd(ctx, ct)
}

// confirmWindow reports whether a nasty command comes 3 to 15 seconds
// after the previous one (any nasty command counts, as in NUT).
func (dr *Driver) confirmWindow(ct *cmdState, param string) bool {
	now := dr.now().Unix()
	elapsed := now - dr.lastNasty
	dr.lastNasty = now
	if elapsed < minCmdTime || elapsed > maxCmdTime {
		dr.log.Info("command armed: send it again within 3 to 15 seconds to run it", "cmd", ct.name, "param", param)
		return false
	}
	return true
}

// doCmd sends a command character and expects "OK".
func (dr *Driver) doCmd(ctx context.Context, ct *cmdState) error {
	dr.c.flush(ctx, true)
	var err error
	if ct.flags&cRepeat != 0 {
		err = dr.writeRep(ctx, ct.cmd)
	} else {
		err = dr.c.write(ct.cmd)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", sdk.ErrFailed, err)
	}
	s, err := dr.c.read(ctx, rdAlerts)
	if err != nil || s == "" {
		return fmt.Errorf("%w: no reply to %s [%s]: %v", sdk.ErrFailed, ct.name, printable(ct.cmd), err)
	}
	if s != "OK" {
		dr.log.Warn("unexpected reply to command", "cmd", ct.name, "reply", s)
		return fmt.Errorf("%w: got [%s] after command [%s]", sdk.ErrFailed, s, ct.name)
	}
	dr.log.Info("command completed", "cmd", ct.name)
	return nil
}

// doCal starts or stops a runtime calibration, after checking whether
// one runs. As in NUT, the outcome is logged but the command counts as
// handled either way.
func (dr *Driver) doCal(ctx context.Context, start bool) error {
	s, err := dr.command(ctx, cmdStatus, true, rdAlerts)
	if err != nil || s == "" || s == "NA" {
		dr.log.Warn("runtime calibration state undeterminable")
		return nil
	}
	running := parseStatus(s)&statCal != 0
	switch {
	case running && start:
		dr.log.Info("runtime calibration already in progress")
		return nil
	case !running && !start:
		dr.log.Info("runtime calibration not occurring")
		return nil
	case start:
		dr.log.Info("starting runtime calibration")
	default:
		dr.log.Info("stopping runtime calibration")
	}
	if dr.c.write(cmdCalToggle) != nil {
		return nil
	}
	s, err = dr.c.read(ctx, rdAlerts)
	if err != nil || s == "" || s == "NA" || s == "NO" {
		dr.log.Warn("calibration command failed", "start", start, "reply", s)
	}
	return nil
}

// loadOn turns the load on: ^N twice. The UPS does not answer.
func (dr *Driver) loadOn(ctx context.Context) error {
	dr.c.flush(ctx, false)
	if err := dr.writeRep(ctx, cmdOn); err != nil {
		return fmt.Errorf("%w: %v", sdk.ErrFailed, err)
	}
	return nil
}

// writeRep sends a character that must be sent twice: once, a check
// that the UPS does not answer (NA would mean it refused), and again
// 1.5 s later.
func (dr *Driver) writeRep(ctx context.Context, c byte) error {
	if err := dr.c.write(c); err != nil {
		return err
	}
	if err := dr.peek(ctx); err != nil {
		return err
	}
	if err := dr.sleep(ctx, repeatDelay); err != nil {
		return err
	}
	return dr.c.write(c)
}

// writeLong sends a command with arguments: the first character, a check
// that the UPS does not answer it on its own, then the rest 50 ms apart.
func (dr *Driver) writeLong(ctx context.Context, s string) error {
	if err := dr.c.write(s[0]); err != nil {
		return err
	}
	if err := dr.peek(ctx); err != nil {
		return err
	}
	return dr.c.writePaced(ctx, s[1:])
}

// peek checks that nothing comes back within 200 ms.
func (dr *Driver) peek(ctx context.Context) error {
	s, err := dr.c.read(ctx, readOpts{ignore: ignorePlain, timeout: waitPeek, timeoutOK: true})
	if err != nil {
		return err
	}
	if s != "" {
		return fmt.Errorf("the UPS answered %q before the command was complete", s)
	}
	return nil
}

// sdOK reads the answer to a shutdown command: "OK", or '*' on older
// models. With silentOK, no answer at all counts as success.
func (dr *Driver) sdOK(ctx context.Context, silentOK bool) error {
	s, err := dr.c.read(ctx, readOpts{ignore: ignorePlain, asterisk: true, timeout: waitShort, timeoutOK: true})
	if err != nil {
		return fmt.Errorf("%w: %v", sdk.ErrFailed, err)
	}
	if (s == "" && silentOK) || s == "OK" {
		dr.log.Debug("shutdown command succeeded", "reply", s)
		return nil
	}
	dr.log.Debug("shutdown command failed", "reply", s)
	return errCmdFailed
}

// sdS is soft hibernate ('S'): it works on battery only.
func (dr *Driver) sdS(ctx context.Context) error {
	dr.c.flush(ctx, false)
	if err := dr.c.write(cmdSoftDown); err != nil {
		return fmt.Errorf("%w: %v", sdk.ErrFailed, err)
	}
	return dr.sdOK(ctx, false)
}

// sdCS is soft hibernate for the Back-UPS CS models that ignore 'S' on
// line: a simulated power failure ('U') first, then 'S' after cshdelay.
func (dr *Driver) sdCS(ctx context.Context) error {
	if dr.status&statOL != 0 {
		dr.c.flush(ctx, false)
		if err := dr.c.write(cmdSimPwrF); err != nil {
			return fmt.Errorf("%w: %v", sdk.ErrFailed, err)
		}
		if _, err := dr.c.read(ctx, readOpts{ignore: ignorePlain, timeout: waitShort, timeoutOK: true}); err != nil {
			return fmt.Errorf("%w: %v", sdk.ErrFailed, err)
		}
		if err := dr.sleep(ctx, dr.cfg.cshdelay); err != nil {
			return err
		}
	}
	return dr.sdS(ctx)
}

// sdAT is hard hibernate: '@' and the additional wakeup delay in tenths
// of an hour, as three digits (two on older models).
func (dr *Driver) sdAT(ctx context.Context, awd string) error {
	if awd == "" {
		awd = "000"
	}
	padto := 3
	if len(awd) == 2 {
		padto = 2
	}
	cmd := "@" + strings.Repeat("0", max(padto-len(awd), 0)) + awd
	dr.log.Debug("issuing hard hibernate", "cmd", cmd)
	dr.c.flush(ctx, false)
	if err := dr.writeLong(ctx, cmd); err != nil {
		dr.log.Error("issuing hard hibernate failed", "digits", padto, "error", err)
		return fmt.Errorf("%w: %v", sdk.ErrFailed, err)
	}
	err := dr.sdOK(ctx, false)
	if err == nil || padto == 3 {
		return err
	}
	dr.log.Error("hard hibernate with 2 digits does not work - try 3 digits")
	// Abort the sequence with something the UPS rejects, so that it is
	// in a clean state; newer models answer NO, older ones nothing.
	if dr.c.write(cmdSmart) == nil {
		dr.c.read(ctx, readOpts{ignore: ignorePlain, timeout: waitShort, timeoutOK: true})
	}
	return err
}

// sdK is delayed poweroff: K twice.
func (dr *Driver) sdK(ctx context.Context) error {
	dr.c.flush(ctx, false)
	if err := dr.writeRep(ctx, cmdShutdown); err != nil {
		return fmt.Errorf("%w: %v", sdk.ErrFailed, err)
	}
	return dr.sdOK(ctx, false)
}

// sdZ is instant poweroff: Z twice; the UPS does not answer.
func (dr *Driver) sdZ(ctx context.Context) error {
	dr.c.flush(ctx, false)
	if err := dr.writeRep(ctx, cmdOff); err != nil {
		return fmt.Errorf("%w: %v", sdk.ErrFailed, err)
	}
	return dr.sdOK(ctx, true)
}

// Shutdown is NUT's upsdrv_shutdown (driver -k): it tells the UPS to
// turn the load off and back on when the power returns, by sdtype or
// advorder.
func (dr *Driver) Shutdown(ctx context.Context, d *sdk.Device) error {
	dr.dev = d
	if dr.log == nil {
		dr.log = d.Logger()
	}
	if dr.c == nil {
		// Standalone -k may come without Init.
		cfg, err := readConfig(d.Options())
		if err != nil {
			return err
		}
		dr.cfg, dr.path = cfg, d.Options().Port()
		if dr.c, err = dr.open(); err != nil {
			return err
		}
	}
	if err := dr.noPort(); err != nil {
		return err
	}
	if !dr.smartMode(ctx, 1) {
		dr.log.Warn("setting SmartMode failed !")
	}
	dr.c.flush(ctx, false)
	dr.status = statLB | statOB
	if err := dr.c.write(cmdStatus); err != nil {
		dr.log.Warn("status write failed, assuming LB+OB", "error", err)
	} else if s, err := dr.c.read(ctx, readOpts{ignore: ignorePlain, timeout: waitShort}); err != nil || s == "" {
		dr.log.Warn("status read failed, assuming LB+OB", "error", err)
	} else {
		dr.status = parseStatus(s)
	}
	if adv := dr.cfg.advorder; adv != "" && adv[0] != 'N' && adv[0] != 'n' {
		return dr.shutdownAdvanced(ctx, adv)
	}
	return dr.shutdownSimple(ctx)
}

func (dr *Driver) shutdownSimple(ctx context.Context) error {
	dr.log.Debug("shutdown", "online", dr.status&statOL != 0, "sdtype", dr.cfg.sdtype)
	switch dr.cfg.sdtype {
	case 5:
		return dr.sdAT(ctx, dr.cfg.awd)
	case 4:
		return dr.sdCS(ctx)
	case 3:
		return dr.sdK(ctx)
	case 2:
		return dr.sdZ(ctx)
	case 1:
		// 'S' (on battery only), else hard hibernate: works better if
		// the power returns during the shutdown.
		if dr.status&statOB != 0 {
			if err := dr.sdS(ctx); err == nil {
				return nil
			}
		}
		return dr.sdAT(ctx, dr.cfg.awd)
	}
	if dr.status&statOL != 0 {
		return dr.sdAT(ctx, dr.cfg.awd)
	}
	return dr.sdS(ctx)
}

// shutdownAdvanced tries the methods advorder lists (0 soft hibernate,
// 1 hard hibernate, 2 delayed poweroff, 3 instant poweroff, 4 CS hack)
// until one works.
func (dr *Driver) shutdownAdvanced(ctx context.Context, order string) error {
	err := errors.New("advorder lists no shutdown method")
	for i := 0; i < len(order); i++ {
		switch order[i] {
		case '0':
			err = dr.sdS(ctx)
		case '1':
			err = dr.sdAT(ctx, dr.cfg.awd)
		case '2':
			err = dr.sdK(ctx)
		case '3':
			err = dr.sdZ(ctx)
		case '4':
			err = dr.sdCS(ctx)
		}
		if err == nil {
			return nil
		}
	}
	return err
}

// SetVar changes a setting: an enumerated one by stepping through its
// values with '-' until it reads back as wanted, a string (ups.id,
// battery.date) by sending it.
func (dr *Driver) SetVar(ctx context.Context, d *sdk.Device, name, value string) error {
	dr.dev = d
	v := dr.lookupName(name)
	if v == nil {
		return fmt.Errorf("%w: %s", sdk.ErrUnknown, name)
	}
	if !v.rw {
		dr.log.Warn("variable is not writable", "var", name)
		return fmt.Errorf("%w: %s is not writable", sdk.ErrUnknown, name)
	}
	if err := dr.noPort(); err != nil {
		return err
	}
	switch {
	case v.enum:
		return dr.setEnum(ctx, v, value)
	case v.flags&fString != 0:
		return dr.setString(ctx, v, value)
	}
	return fmt.Errorf("%w: unknown type for %s", sdk.ErrUnknown, name)
}

func (dr *Driver) setEnum(ctx context.Context, v *varState, val string) error {
	orig, err := dr.command(ctx, v.cmd, true, rdAlerts)
	if err != nil || orig == "" || orig == "NA" {
		return fmt.Errorf("%w: reading %s: %q %v", sdk.ErrFailed, v.name, orig, err)
	}
	if convert(v.format, orig) == val {
		dr.log.Info("ignoring SET (unchanged value)", "var", v.name, "value", val)
		return nil
	}
	for i := 0; i < 32; i++ {
		if err := dr.c.write(cmdNextVal); err != nil {
			return fmt.Errorf("%w: %v", sdk.ErrFailed, err)
		}
		s, err := dr.c.read(ctx, rdAlerts)
		if err != nil || s != "OK" {
			return fmt.Errorf("%w: stepping %s: %q %v", sdk.ErrFailed, v.name, s, err)
		}
		if err := dr.c.write(v.cmd); err != nil {
			return fmt.Errorf("%w: %v", sdk.ErrFailed, err)
		}
		s, err = dr.c.read(ctx, rdAlerts)
		if err != nil || s == "" || s == "NA" {
			return fmt.Errorf("%w: reading %s: %q %v", sdk.ErrFailed, v.name, s, err)
		}
		got := convert(v.format, s)
		if got == val {
			dr.log.Info("SET", "var", v.name, "value", val)
			dr.pollData(ctx, v)
			return nil
		}
		// NUT compares the converted value with the raw one here, so a
		// converted setting never "wraps" and goes round 32 times.
		if got == orig {
			dr.log.Error("variable wrapped", "var", v.name, "value", val)
			return fmt.Errorf("%w: %s does not take %q", sdk.ErrFailed, v.name, val)
		}
	}
	dr.log.Error("gave up after 32 tries", "var", v.name, "value", val)
	dr.pollData(ctx, v)
	return fmt.Errorf("%w: %s does not take %q", sdk.ErrFailed, v.name, val)
}

func (dr *Driver) setString(ctx context.Context, v *varState, val string) error {
	if len(val) > strLen {
		dr.log.Error("value too long", "var", v.name, "value", val)
		return fmt.Errorf("%w: %q is longer than %d characters", sdk.ErrFailed, val, strLen)
	}
	s, err := dr.command(ctx, v.cmd, true, rdAlerts)
	if err != nil || s == "" || s == "NA" {
		return fmt.Errorf("%w: reading %s: %q %v", sdk.ErrFailed, v.name, s, err)
	}
	if s == val {
		dr.log.Info("ignoring SET (unchanged value)", "var", v.name, "value", val)
		return nil
	}
	// The value is padded to 8 characters with CRs.
	if err := dr.writeLong(ctx, string(rune(cmdNextVal))+val+strings.Repeat("\r", strLen-len(val))); err != nil {
		return fmt.Errorf("%w: %v", sdk.ErrFailed, err)
	}
	s, err = dr.c.read(ctx, rdAlerts)
	if err != nil || s == "" {
		dr.log.Error("short final read", "var", v.name, "error", err)
		return fmt.Errorf("%w: no reply setting %s", sdk.ErrFailed, v.name)
	}
	if s == "NO" {
		dr.log.Error("got NO at final read", "var", v.name)
		return fmt.Errorf("%w: the UPS refused %q for %s", sdk.ErrFailed, val, v.name)
	}
	dr.pollData(ctx, v)
	dr.log.Info("SET", "var", v.name, "value", val)
	return nil
}
