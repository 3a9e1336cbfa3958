package dummyups

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gonut/gonut/client"
	"github.com/gonut/gonut/sdk"
)

// Repeater mode: dummy-ups is a client of another upsd and republishes one
// of its UPSes, as NUT's dummy-ups does with port = ups@host[:port].
//
// Like NUT's, it publishes every variable of the remote UPS except its
// driver.* ones (it has its own), passes ups.status through the status
// functions, re-reads the list every pollinterval and reconnects when the
// connection is lost. Unlike NUT 2.8.0's it also copies each variable's
// type, ENUM and RANGE values and the instant commands, passes SET VAR and
// INSTCMD on (NUT answers them itself: SET gets no answer at all, INSTCMD
// "unknown"), marks the data stale while the remote cannot be read (NUT
// 2.8.0 keeps serving the last values as fresh), and drops variables that
// the remote UPS no longer has. README.md has the details.

// Bounds on the work done for one call of the SDK. The host kills a driver
// whose poll loop is silent for three poll intervals plus two seconds (at
// least five seconds), and a SET or INSTCMD holds the loop while it runs,
// so a poll and a command that both hit an unresponsive upsd must still end
// within that window.
const (
	minPollBudget = time.Second
	maxPollBudget = 5 * time.Second
	minCmdBudget  = 2 * time.Second
	maxCmdBudget  = 5 * time.Second
	// initBudget bounds the first connection and listing at start-up,
	// which the host bounds by maxstartdelay (75 s unless configured).
	initBudget = 15 * time.Second
	// trackingPoll is how often a passed-on SET VAR or INSTCMD asks the
	// relayed upsd for its driver's answer (GET TRACKING).
	trackingPoll = 50 * time.Millisecond
)

// repeater is the state of repeater mode: the connection to the relayed
// upsd and what has been copied from it. The SDK serialises the driver's
// methods, so it needs no lock.
type repeater struct {
	target     client.UPSName // the relayed UPS and its upsd
	username   string         // upsd.users credentials there, optional
	password   string
	pollBudget time.Duration // one Poll, reconnection included
	cmdBudget  time.Duration // one SET VAR or INSTCMD, its result included

	c         *client.Client // nil while disconnected
	tracking  bool           // the relayed upsd accepted SET TRACKING ON
	connected bool           // a connection has succeeded once (for the log)

	vars map[string]*relayed // by lower-case name (NUT compares names so)
	cmds map[string]bool
}

// relayed is what was copied of one remote variable.
type relayed struct {
	name   string // as the remote spells it
	typed  bool   // its type was read on the current connection
	enums  []string
	ranges [][2]int
}

// budget is d clamped to [lo, hi].
func budget(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

// initRepeater starts repeater mode: it reads the target from the port and
// the credentials from the section, connects, and publishes the remote
// UPS. As NUT's dummy-ups does, it fails when the remote cannot be read
// at start; the host then starts it again with backoff until it can.
func (dr *Driver) initRepeater(ctx context.Context, d *sdk.Device, port string) error {
	ups := d.Name()
	target, err := client.ParseUPSName(port)
	if err != nil {
		return fmt.Errorf("ups.conf [%s]: port = %s: invalid UPS definition (%v); repeater mode wants upsname[@hostname[:port]]", ups, port, err)
	}
	opts := d.Options()
	username, hasUser := sectionOption(opts, "username")
	password, hasPass := sectionOption(opts, "password")
	// Credentials for another server are none of this one's clients'
	// business: the SDK publishes every driver option as
	// driver.parameter.*, and nothing is sent before Init returns, so
	// deleting them here keeps them inside this process.
	dr.st.delInfo(d, "driver.parameter.username")
	dr.st.delInfo(d, "driver.parameter.password")
	switch {
	case hasPass && !hasUser:
		return fmt.Errorf("ups.conf [%s]: password is set but username is not: give both, the credentials of an upsd.users entry of %s", ups, target.Addr())
	case hasUser && !hasPass:
		return fmt.Errorf("ups.conf [%s]: username = %s has no password: give both, the credentials of an upsd.users entry of %s", ups, username, target.Addr())
	}
	poll, err := opts.PollInterval()
	if err != nil {
		return err
	}
	r := &repeater{
		target:     target,
		username:   username,
		password:   password,
		pollBudget: budget(poll, minPollBudget, maxPollBudget),
		cmdBudget:  budget(2*poll, minCmdBudget, maxCmdBudget),
		vars:       map[string]*relayed{},
		cmds:       map[string]bool{},
	}
	dr.rep = r
	ctx, cancel := context.WithTimeout(ctx, initBudget)
	defer cancel()
	if err := r.connect(ctx, dr, d); err != nil {
		return fmt.Errorf("ups.conf [%s]: port = %s: %w", ups, port, err)
	}
	if err := r.refresh(ctx, dr, d); err != nil {
		return fmt.Errorf("ups.conf [%s]: port = %s: %w", ups, port, err)
	}
	return nil
}

// connect opens a session with the relayed upsd: STARTTLS when it offers
// TLS (as NUT's repeater tries it), the credentials if configured, status
// tracking when it has it, and the list of instant commands. On failure
// nothing stays open.
func (r *repeater) connect(ctx context.Context, dr *Driver, d *sdk.Device) error {
	opts := []client.Option{client.WithTimeout(r.pollBudget)}
	if dr.dial != nil {
		opts = append(opts, client.WithDialFunc(dr.dial))
	}
	c, err := client.Dial(ctx, r.target.Addr(), opts...)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			_ = c.Close()
		}
	}()
	// NUT's repeater connects with UPSCLI_CONN_TRYSSL: TLS if the server
	// has a certificate, without checking it (the driver has nowhere to
	// configure trust), and plain text otherwise. An ERR answer leaves the
	// connection usable. Unverified TLS keeps out eavesdroppers but not a
	// man in the middle (README.md, "Security").
	if err := c.StartTLS(ctx, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}); err != nil && !isReply(err) {
		return err
	}
	if r.username != "" {
		if err := c.Authenticate(ctx, r.username, r.password); err != nil {
			return err
		}
	}
	r.tracking = false
	switch err := c.SetTracking(ctx, true); {
	case err == nil:
		r.tracking = true
	case !isReply(err):
		return err
	default:
		// An upsd older than NUT 2.8 has no tracking: a passed-on
		// request is then taken as done once upsd accepts it.
		d.Logger().Debug("relayed upsd has no status tracking", "upsd", r.target.Addr(), "error", err)
	}
	cmds, err := c.ListCmds(ctx, r.target.Name)
	if err != nil && !isReply(err) {
		return err
	}
	if err != nil {
		// The UPS may be unknown or its driver gone; LIST VAR, which
		// follows, reports that. Commands are read again next time.
		d.Logger().Debug("relayed upsd did not list commands", "upsd", r.target.Addr(), "error", err)
	} else {
		r.syncCmds(d, cmds)
	}
	for _, v := range r.vars {
		v.typed = false // the remote may have changed while we were away
	}
	r.c, ok = c, true
	if r.connected {
		d.Logger().Info("reconnected to the relayed upsd", "upsd", r.target.Addr(), "ups", r.target.Name)
	} else {
		d.Logger().Info("connected to the relayed upsd", "upsd", r.target.Addr(), "ups", r.target.Name)
	}
	r.connected = true
	return nil
}

// disconnect closes the session, if any.
func (r *repeater) disconnect() {
	if r.c != nil {
		_ = r.c.Close()
		r.c = nil
	}
}

// isReply reports whether err is an ERR answer of upsd, after which the
// connection is still usable, rather than a failure of the connection.
func isReply(err error) bool {
	var e *client.Error
	return errors.As(err, &e)
}

// failed handles an error of the connection: it is closed and reopened at
// the next poll. An ERR answer leaves it open.
func (r *repeater) failed(err error) {
	if err != nil && !isReply(err) {
		r.disconnect()
	}
}

// syncCmds makes the published instant commands those of the remote UPS.
func (r *repeater) syncCmds(d *sdk.Device, cmds []string) {
	now := make(map[string]bool, len(cmds))
	for _, c := range cmds {
		now[c] = true
		d.AddCmd(c)
	}
	for c := range r.cmds {
		if !now[c] {
			d.DelCmd(c)
		}
	}
	r.cmds = now
}

// poll is one update: reconnect if needed, then copy the remote UPS. An
// error marks the data stale (the SDK does that) until a poll succeeds.
func (r *repeater) poll(ctx context.Context, dr *Driver, d *sdk.Device) error {
	ctx, cancel := context.WithTimeout(ctx, r.pollBudget)
	defer cancel()
	if r.c == nil {
		if err := r.connect(ctx, dr, d); err != nil {
			return fmt.Errorf("relaying %s: %w", r.target, err)
		}
	}
	if err := r.refresh(ctx, dr, d); err != nil {
		return fmt.Errorf("relaying %s: %w", r.target, err)
	}
	return nil
}

// refresh copies the remote UPS's variables (LIST VAR), reading the type,
// ENUM and RANGE values of each variable it has not seen on this
// connection, and deletes those the remote no longer has.
func (r *repeater) refresh(ctx context.Context, dr *Driver, d *sdk.Device) error {
	if r.c == nil {
		return fmt.Errorf("not connected to upsd %s", r.target.Addr())
	}
	vars, err := r.c.ListVars(ctx, r.target.Name)
	if err != nil {
		r.failed(err)
		return err
	}
	seen := make(map[string]bool, len(vars))
	for _, v := range vars {
		// The driver.* variables describe the remote's driver: the
		// repeater publishes its own, as NUT's does.
		if strings.HasPrefix(v.Name, "driver.") {
			continue
		}
		key := strings.ToLower(v.Name)
		seen[key] = true
		rv := r.vars[key]
		if rv == nil {
			rv = &relayed{name: v.Name}
			r.vars[key] = rv
		}
		dr.relayValue(d, v.Name, v.Value)
		if !rv.typed {
			if err := r.copyType(ctx, dr, d, rv); err != nil {
				r.failed(err)
				return err
			}
		}
	}
	for key, rv := range r.vars {
		if !seen[key] {
			dr.st.delInfo(d, rv.name)
			delete(r.vars, key)
		}
	}
	return nil
}

// relayValue publishes one remote value as NUT's repeater does, through
// dummy-ups' setvar: ups.status (and any name starting with it) goes
// through the status functions as one token, and an empty value deletes
// the variable.
func (dr *Driver) relayValue(d *sdk.Device, name, value string) {
	switch {
	case strings.HasPrefix(name, "ups.status"):
		dr.setStatus(d, []string{value})
	case value == "":
		dr.st.delInfo(d, name)
	default:
		dr.st.setInfo(d, name, value)
	}
}

// copyType reads a variable's type (GET TYPE) and, for ENUM and RANGE
// variables, their values, and publishes them, so that the local upsd
// checks a SET VAR as the remote one will. An ERR answer (an upsd without
// GET TYPE, a variable gone in between) leaves the variable as it is.
func (r *repeater) copyType(ctx context.Context, dr *Driver, d *sdk.Device, rv *relayed) error {
	t, err := r.c.GetType(ctx, r.target.Name, rv.name)
	if err != nil {
		if isReply(err) {
			d.Logger().Debug("relayed upsd gave no type", "var", rv.name, "error", err)
			rv.typed = true
			return nil
		}
		return err
	}
	var enums []string
	if t.Enum {
		if enums, err = r.c.ListEnum(ctx, r.target.Name, rv.name); err != nil && !isReply(err) {
			return err
		}
	}
	var ranges [][2]int
	if t.Range {
		rs, err := r.c.ListRange(ctx, r.target.Name, rv.name)
		if err != nil && !isReply(err) {
			return err
		}
		for _, rg := range rs {
			lo, err1 := strconv.Atoi(rg.Min)
			hi, err2 := strconv.Atoi(rg.Max)
			if err1 != nil || err2 != nil {
				d.Logger().Warn("relayed upsd gave a range that is not two integers; it is left out", "var", rv.name, "min", rg.Min, "max", rg.Max)
				continue
			}
			ranges = append(ranges, [2]int{lo, hi})
		}
	}
	var f sdk.Flags
	if t.RW {
		f |= sdk.FlagRW
	}
	switch {
	case t.String:
		f |= sdk.FlagString
	case t.Number:
		f |= sdk.FlagNumber
	}
	name := dr.st.spelling(rv.name)
	if !dr.st.setFlags(d, name, f) {
		d.Logger().Debug("variable is fixed by override.* in ups.conf: its flags stay", "var", name)
	}
	if t.String {
		dr.st.setAux(d, name, t.MaxLength)
	}
	for _, e := range rv.enums {
		if !contains(enums, e) {
			d.DelEnum(name, e)
		}
	}
	for _, e := range enums {
		d.AddEnum(name, e)
	}
	for _, rg := range rv.ranges {
		if !containsRange(ranges, rg) {
			d.DelRange(name, rg[0], rg[1])
		}
	}
	for _, rg := range ranges {
		d.AddRange(name, rg[0], rg[1])
	}
	rv.enums, rv.ranges, rv.typed = enums, ranges, true
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsRange(list [][2]int, r [2]int) bool {
	for _, x := range list {
		if x == r {
			return true
		}
	}
	return false
}

// setVar passes a SET VAR on to the relayed upsd and waits (within the
// command budget) for its driver's answer, so that the local tracking
// result is the remote driver's. On success the variables are read again
// at once, so the new value shows without waiting for the next poll.
func (r *repeater) setVar(ctx context.Context, dr *Driver, d *sdk.Device, name, value string) error {
	req := fmt.Sprintf("SET VAR %s %s %q", r.target.Name, name, value)
	return r.pass(ctx, dr, d, req, "actions = SET", func(ctx context.Context) (string, error) {
		if r.tracking {
			return r.c.SetVarTracked(ctx, r.target.Name, name, value)
		}
		return "", r.c.SetVar(ctx, r.target.Name, name, value)
	})
}

// instCmd passes an INSTCMD on to the relayed upsd, as setVar does.
func (r *repeater) instCmd(ctx context.Context, dr *Driver, d *sdk.Device, cmd, param string) error {
	req := "INSTCMD " + r.target.Name + " " + cmd
	if param != "" {
		req += " " + param
	}
	return r.pass(ctx, dr, d, req, "instcmds = "+cmd+" (or ALL)", func(ctx context.Context) (string, error) {
		if r.tracking {
			return r.c.InstCmdTracked(ctx, r.target.Name, cmd, param)
		}
		return "", r.c.InstCmd(ctx, r.target.Name, cmd, param)
	})
}

// pass sends a request (send returns its tracking id, "" without
// tracking) and turns the outcome into the SDK's error values: nil when
// the remote driver reported success, sdk.ErrUnknown, sdk.ErrInvalid or
// sdk.ErrFailed otherwise. right names the upsd.users right the remote
// wants, for the message when it refuses.
func (r *repeater) pass(ctx context.Context, dr *Driver, d *sdk.Device, req, right string, send func(context.Context) (string, error)) error {
	if r.c == nil {
		return fmt.Errorf("%s: not connected to upsd %s (reconnecting at every poll): %w", req, r.target.Addr(), sdk.ErrFailed)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cmdBudget)
	defer cancel()
	id, err := send(ctx)
	if err != nil {
		r.failed(err)
		return r.refused(req, right, err)
	}
	if id != "" {
		if err := r.c.WaitTracking(ctx, id, trackingPoll); err != nil {
			r.failed(err)
			return r.trackingFailed(req, id, err)
		}
	}
	if err := r.refresh(ctx, dr, d); err != nil {
		// The request went through; the next poll reads the values.
		d.Logger().Debug("re-reading the relayed UPS after a request failed", "request", req, "error", err)
	}
	return nil
}

// refused maps upsd's immediate answer to a passed-on request.
func (r *repeater) refused(req, right string, err error) error {
	var e *client.Error
	if !errors.As(err, &e) {
		return fmt.Errorf("%s: upsd %s: %v: %w", req, r.target.Addr(), err, sdk.ErrFailed)
	}
	switch e.Code {
	case "ACCESS-DENIED", "USERNAME-REQUIRED", "PASSWORD-REQUIRED":
		how := "set username and password in this ups.conf section to a user of its upsd.users with " + right
		if r.username != "" {
			how = "check that user " + r.username + " is in its upsd.users with this password and " + right
		}
		return fmt.Errorf("%s: upsd %s refused it (ERR %s): %s: %w", req, r.target.Addr(), e.Code, how, sdk.ErrFailed)
	case "VAR-NOT-SUPPORTED", "CMD-NOT-SUPPORTED", "UNKNOWN-UPS", "UNKNOWN-COMMAND":
		return fmt.Errorf("%s: upsd %s: %v: %w", req, r.target.Addr(), err, sdk.ErrUnknown)
	case "INVALID-VALUE", "INVALID-ARGUMENT", "TOO-LONG", "READONLY", "INVALID-PASSWORD", "INVALID-USERNAME":
		return fmt.Errorf("%s: upsd %s: %v: %w", req, r.target.Addr(), err, sdk.ErrInvalid)
	}
	return fmt.Errorf("%s: upsd %s: %v: %w", req, r.target.Addr(), err, sdk.ErrFailed)
}

// trackingFailed maps the remote driver's answer, or the lack of one.
func (r *repeater) trackingFailed(req, id string, err error) error {
	var te *client.TrackingError
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: upsd %s accepted it (tracking id %s) but gave no result within %s: %v: %w",
			req, r.target.Addr(), id, r.cmdBudget, err, sdk.ErrFailed)
	}
	switch te.Err.Code {
	case "UNKNOWN":
		return fmt.Errorf("%s: the driver of upsd %s: %v: %w", req, r.target.Addr(), err, sdk.ErrUnknown)
	case "INVALID-ARGUMENT":
		return fmt.Errorf("%s: the driver of upsd %s: %v: %w", req, r.target.Addr(), err, sdk.ErrInvalid)
	}
	return fmt.Errorf("%s: the driver of upsd %s: %v: %w", req, r.target.Addr(), err, sdk.ErrFailed)
}
