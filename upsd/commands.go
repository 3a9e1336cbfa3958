package upsd

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"strconv"
	"strings"
	"time"

	"github.com/gonut/gonut/internal/conf"
	"github.com/gonut/gonut/sdk/names"
	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/gonut/gonut/sdk/sockproto"
)

// The handlers below follow NUT 2.8.0's server/net*.c: the same checks in
// the same order, so that every mistake gets the same ERR line. A reply
// echoes the UPS and variable names as the client wrote them, except where
// NUT prints its own (LIST VAR/RW names, CLIENT lines).

const (
	// netVersion is the network protocol version (NETVER, PROTVER).
	netVersion = "1.3"
	// projectURL is the address NUT 2.8.0 prints after its version.
	projectURL = "http://www.networkupstools.org/"
	helpText   = "Commands: HELP VER GET LIST SET INSTCMD LOGIN LOGOUT USERNAME PASSWORD STARTTLS"
)

func (c *conn) cmdVer(args []string) {
	if len(args) != 0 {
		c.sendErr(errInvalidArgument)
		return
	}
	c.send("Network UPS Tools upsd %s - %s", Version, projectURL)
}

func (c *conn) cmdNetVer(args []string) {
	if len(args) != 0 {
		c.sendErr(errInvalidArgument)
		return
	}
	c.send("%s", netVersion)
}

func (c *conn) cmdHelp(args []string) {
	if len(args) != 0 {
		c.sendErr(errInvalidArgument)
		return
	}
	c.send("%s", helpText)
}

// cmdStartTLS agrees to STARTTLS when a certificate is configured; the
// serve loop then sends "OK STARTTLS" and runs the handshake. Without one
// the connection stays usable in plain text, as in NUT. Arguments are
// ignored, as NUT does.
func (c *conn) cmdStartTLS(args []string) {
	if c.inTLS {
		c.sendErr(errAlreadySSLMode)
		return
	}
	if c.srv.config().TLS == nil {
		c.sendErr(errFeatureNotConfigured)
		return
	}
	c.send("OK STARTTLS")
	c.startTLS = true
}

// device returns the named UPS, or sends UNKNOWN-UPS and returns nil.
func (c *conn) device(name string) *device {
	d := c.srv.lookup(name)
	if d == nil {
		c.sendErr(errUnknownUPS)
	}
	return d
}

// view calls fn with the device's state if its data may be served, or
// sends DRIVER-NOT-CONNECTED or DATA-STALE (NUT's ups_available).
func (c *conn) view(d *device, fn func(st *sockproto.State)) {
	maxAge := c.srv.config().MaxAge
	d.client.View(func(st *sockproto.State, info sockproto.Info) {
		// The request's arrival time: a driver silent past MAXAGE
		// then is stale for this request.
		if code := availability(info, maxAge, c.lastHeard); code != "" {
			c.sendErr(code)
			return
		}
		fn(st)
	})
}

// available reports whether the device's data may be served, sending the
// error when it may not.
func (c *conn) available(d *device) bool {
	ok := false
	c.view(d, func(*sockproto.State) { ok = true })
	return ok
}

// ---- GET ----

func (c *conn) cmdGet(args []string) {
	if len(args) < 1 {
		c.sendErr(errInvalidArgument)
		return
	}
	sub := strings.ToUpper(args[0])
	if sub == "TRACKING" {
		c.getTracking(args[1:])
		return
	}
	if len(args) < 2 {
		c.sendErr(errInvalidArgument)
		return
	}
	switch sub {
	case "NUMLOGINS":
		c.getNumLogins(args[1])
		return
	case "UPSDESC":
		c.getUPSDesc(args[1])
		return
	}
	if len(args) < 3 {
		c.sendErr(errInvalidArgument)
		return
	}
	switch sub {
	case "VAR":
		c.getVar(args[1], args[2])
	case "TYPE":
		c.getType(args[1], args[2])
	case "DESC":
		c.getDesc(args[1], args[2], "DESC", names.VarDesc)
	case "CMDDESC":
		c.getDesc(args[1], args[2], "CMDDESC", names.CmdDesc)
	default:
		c.sendErr(errInvalidArgument)
	}
}

func (c *conn) getTracking(args []string) {
	if len(args) == 0 {
		if c.tracking {
			c.send("ON")
		} else {
			c.send("OFF")
		}
		return
	}
	if !c.tracking {
		c.sendErr(errFeatureNotConfigured)
		return
	}
	c.srv.tracking.expire(time.Now(), c.srv.config().TrackingDelay)
	c.send("%s", c.srv.tracking.get(args[0]))
}

func (c *conn) getNumLogins(ups string) {
	d := c.device(ups)
	if d == nil || !c.available(d) {
		return
	}
	c.send("NUMLOGINS %s %d", ups, d.numLogins.Load())
}

// getUPSDesc needs no driver: the description comes from ups.conf.
func (c *conn) getUPSDesc(ups string) {
	d := c.device(ups)
	if d == nil {
		return
	}
	c.send("UPSDESC %s \"%s\"", ups, c.srv.descOf(d, "Unavailable"))
}

func (c *conn) getVar(ups, name string) {
	// server.* variables answer for any UPS name, even an unknown one.
	if len(name) >= 7 && strings.EqualFold(name[:7], "server.") {
		switch strings.ToLower(name) {
		case "server.info":
			c.send("VAR %s server.info \"Network UPS Tools upsd %s - %s\"", ups, Version, projectURL)
		case "server.version":
			c.send("VAR %s server.version \"%s\"", ups, Version)
		default:
			c.sendErr(errVarNotSupported)
		}
		return
	}
	d := c.device(ups)
	if d == nil {
		return
	}
	c.view(d, func(st *sockproto.State) {
		val, ok := st.Value(name)
		if !ok {
			c.sendErr(errVarNotSupported)
			return
		}
		c.sendVar("VAR", ups, name, statusValue(d, name, val))
	})
}

// statusValue is a variable's value as upsd prints it, escaped, with the
// FSD flag in front of ups.status once FSD has been set.
func statusValue(d *device, name, val string) string {
	if d.fsd.Load() && strings.EqualFold(name, "ups.status") {
		return "FSD " + nutconf.Quote(val)
	}
	return nutconf.Quote(val)
}

func (c *conn) getType(ups, name string) {
	d := c.device(ups)
	if d == nil {
		return
	}
	c.view(d, func(st *sockproto.State) {
		v, ok := st.Var(name)
		if !ok {
			c.sendErr(errVarNotSupported)
			return
		}
		var b strings.Builder
		b.WriteString("TYPE " + ups + " " + name)
		if v.Flags&sockproto.FlagRW != 0 {
			b.WriteString(" RW")
		}
		if len(v.Enums) > 0 {
			b.WriteString(" ENUM")
		}
		if len(v.Ranges) > 0 {
			b.WriteString(" RANGE")
		}
		// Anything that is not a STRING is a NUMBER to NUT, flag or not.
		if v.Flags&sockproto.FlagString != 0 {
			b.WriteString(" STRING:" + strconv.Itoa(v.Aux))
		} else {
			b.WriteString(" NUMBER")
		}
		c.send("%s", b.String())
	})
}

func (c *conn) getDesc(ups, name, verb string, lookup func(string) (string, bool)) {
	d := c.device(ups)
	if d == nil || !c.available(d) {
		return
	}
	desc, ok := lookup(name)
	if !ok {
		desc = names.Unavailable
	}
	c.send("%s %s %s \"%s\"", verb, ups, name, desc)
}

// ---- LIST ----

func (c *conn) cmdList(args []string) {
	if len(args) < 1 {
		c.sendErr(errInvalidArgument)
		return
	}
	sub := strings.ToUpper(args[0])
	if sub == "UPS" {
		c.listUPS()
		return
	}
	if len(args) < 2 {
		c.sendErr(errInvalidArgument)
		return
	}
	switch sub {
	case "VAR":
		c.listVars(args[1], "VAR", false)
		return
	case "RW":
		c.listVars(args[1], "RW", true)
		return
	case "CMD":
		c.listCmd(args[1])
		return
	case "CLIENT":
		c.listClient(args[1])
		return
	}
	if len(args) < 3 {
		c.sendErr(errInvalidArgument)
		return
	}
	switch sub {
	case "ENUM":
		c.listEnumRange(args[1], args[2], "ENUM")
	case "RANGE":
		c.listEnumRange(args[1], args[2], "RANGE")
	default:
		c.sendErr(errInvalidArgument)
	}
}

func (c *conn) listUPS() {
	c.send("BEGIN LIST UPS")
	for _, d := range c.srv.deviceList() {
		c.send("UPS %s \"%s\"", d.name, c.srv.descOf(d, "Description unavailable"))
	}
	c.send("END LIST UPS")
}

// listVars answers LIST VAR (all variables) and LIST RW (writable ones).
func (c *conn) listVars(ups, kind string, rwOnly bool) {
	d := c.device(ups)
	if d == nil {
		return
	}
	c.view(d, func(st *sockproto.State) {
		c.send("BEGIN LIST %s %s", kind, ups)
		st.Each(func(v sockproto.Var) bool {
			switch {
			case !rwOnly:
				c.sendVar("VAR", ups, v.Name, statusValue(d, v.Name, v.Value))
			case v.Flags&sockproto.FlagRW != 0:
				// NUT's LIST RW shows ups.status without the FSD flag.
				c.sendVar("RW", ups, v.Name, nutconf.Quote(v.Value))
			}
			return true
		})
		c.send("END LIST %s %s", kind, ups)
	})
}

func (c *conn) listCmd(ups string) {
	d := c.device(ups)
	if d == nil {
		return
	}
	c.view(d, func(st *sockproto.State) {
		c.send("BEGIN LIST CMD %s", ups)
		for _, cmd := range st.Cmds() {
			c.sendWords("CMD", ups, cmd)
		}
		c.send("END LIST CMD %s", ups)
	})
}

func (c *conn) listEnumRange(ups, name, kind string) {
	d := c.device(ups)
	if d == nil {
		return
	}
	c.view(d, func(st *sockproto.State) {
		v, ok := st.Var(name)
		if !ok {
			c.sendErr(errVarNotSupported)
			return
		}
		c.send("BEGIN LIST %s %s %s", kind, ups, name)
		if kind == "ENUM" {
			for _, e := range v.Enums {
				c.sendVar("ENUM", ups, name, nutconf.Quote(e))
			}
		} else {
			for _, r := range v.Ranges {
				c.send("RANGE %s %s \"%d\" \"%d\"", ups, name, r.Min, r.Max)
			}
		}
		c.send("END LIST %s %s %s", kind, ups, name)
	})
}

// listClient needs no driver: it lists the clients logged into the UPS.
func (c *conn) listClient(ups string) {
	d := c.device(ups)
	if d == nil {
		return
	}
	c.send("BEGIN LIST CLIENT %s", ups)
	for _, lc := range c.srv.loggedIn(d) {
		c.send("CLIENT %s %s", d.name, lc.addr)
	}
	c.send("END LIST CLIENT %s", ups)
}

// ---- USERNAME, PASSWORD, LOGIN, LOGOUT ----

func (c *conn) cmdUsername(args []string) {
	if len(args) != 1 {
		c.sendErr(errInvalidArgument)
		return
	}
	if c.haveUsername {
		c.logger().Info("client tried to set a username twice", "username", c.username)
		c.sendErr(errAlreadySetUsername)
		return
	}
	c.username, c.haveUsername = args[0], true
	c.send("OK")
}

// cmdPassword accepts any password: as in NUT, credentials are checked by
// the command that needs them.
func (c *conn) cmdPassword(args []string) {
	if len(args) != 1 {
		c.sendErr(errInvalidArgument)
		return
	}
	if c.havePasswd {
		c.logger().Info("client tried to set a password twice")
		c.sendErr(errAlreadySetPassword)
		return
	}
	c.password, c.havePasswd = args[0], true
	c.send("OK")
}

// user returns the client's upsd.users entry if its USERNAME and PASSWORD
// match one, nil otherwise. The same work is done whatever was wrong: every
// user name is compared, and the password is compared through SHA-256
// digests in constant time (against a stand-in when the user is unknown or
// has no password), so neither the reply nor its timing tells an unknown
// user from a wrong password, nor reveals a password's length.
func (c *conn) user() *conf.User {
	users := c.srv.config().Users
	if users == nil {
		return nil
	}
	name := sha256.Sum256([]byte(c.username))
	var found *conf.User
	for _, u := range users.List {
		h := sha256.Sum256([]byte(u.Name))
		if subtle.ConstantTimeCompare(name[:], h[:]) == 1 && found == nil {
			found = u
		}
	}
	want := noPasswordDigest
	if found != nil && found.HasPassword {
		want = sha256.Sum256([]byte(found.Password))
	}
	got := sha256.Sum256([]byte(c.password))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || found == nil || !found.HasPassword {
		return nil
	}
	return found
}

// noPasswordDigest stands in for the password of an unknown user or of one
// without a password: no PASSWORD matches it (a client's password would
// need this exact digest, which is random per run).
var noPasswordDigest = func() (d [sha256.Size]byte) {
	_, _ = rand.Read(d[:])
	return d
}()

// can reports whether the client holds an action right (LOGIN, FSD,
// PRIMARY, MASTER, SET), as NUT's user_checkaction.
func (c *conn) can(action string) bool {
	u := c.user()
	return u != nil && u.Can(action)
}

func (c *conn) cmdLogin(args []string) {
	if len(args) != 1 {
		c.sendErr(errInvalidArgument)
		return
	}
	if c.loginUPS.Load() != nil {
		c.logger().Info("client tried to log in twice", "username", c.username)
		c.sendErr(errAlreadyLoggedIn)
		return
	}
	d := c.device(args[0])
	if d == nil {
		return
	}
	if !c.can("LOGIN") {
		c.sendErr(errAccessDenied)
		return
	}
	d.numLogins.Add(1)
	c.loginUPS.Store(d)
	c.logger().Info("user logged into UPS", "username", c.username, "ups", d.name)
	c.send("OK")
}

func (c *conn) cmdLogout(args []string) {
	if len(args) != 0 {
		c.sendErr(errInvalidArgument)
		return
	}
	if d := c.loginUPS.Load(); d != nil {
		c.logger().Info("user logged out of UPS", "username", c.username, "ups", d.name)
	}
	c.send("OK Goodbye")
	c.closing = true
}

// ---- PRIMARY, MASTER, FSD ----

func (c *conn) cmdPrimary(args []string) { c.grant(args, "PRIMARY") }
func (c *conn) cmdMaster(args []string)  { c.grant(args, "MASTER") }

// grant answers PRIMARY and its old name MASTER: an access check only.
func (c *conn) grant(args []string, verb string) {
	if len(args) != 1 {
		c.sendErr(errInvalidArgument)
		return
	}
	if c.device(args[0]) == nil {
		return
	}
	if !c.can(verb) {
		c.sendErr(errAccessDenied)
		return
	}
	c.send("OK %s-GRANTED", verb)
}

func (c *conn) cmdFSD(args []string) {
	if len(args) != 1 {
		c.sendErr(errInvalidArgument)
		return
	}
	d := c.device(args[0])
	if d == nil {
		return
	}
	if !c.can("FSD") {
		c.sendErr(errAccessDenied)
		return
	}
	c.logger().Warn("client set FSD on UPS", "username", c.username, "ups", d.name)
	d.fsd.Store(true)
	c.send("OK FSD-SET")
}

// ---- SET, INSTCMD ----

func (c *conn) cmdSet(args []string) {
	if len(args) < 2 {
		c.sendErr(errInvalidArgument)
		return
	}
	switch strings.ToUpper(args[0]) {
	case "VAR":
		if len(args) < 4 {
			c.sendErr(errInvalidArgument)
			return
		}
		c.setVar(args[1], args[2], args[3])
	case "TRACKING":
		switch strings.ToUpper(args[1]) {
		case "ON":
			c.tracking = true
		case "OFF":
			c.tracking = false
		default:
			c.sendErr(errInvalidArgument)
			return
		}
		c.send("OK")
	default:
		c.sendErr(errInvalidArgument)
	}
}

// setVar checks a SET VAR request as NUT does and passes it to the driver.
// The reply says the driver was asked, not that it succeeded; GET TRACKING
// tells the outcome.
func (c *conn) setVar(ups, name, value string) {
	d := c.device(ups)
	if d == nil || !c.available(d) {
		return
	}
	if !c.can("SET") {
		c.sendErr(errAccessDenied)
		return
	}
	var code string
	d.client.View(func(st *sockproto.State, _ sockproto.Info) {
		code = checkSetValue(st, name, value)
	})
	if code != "" {
		if code == errSetFailed {
			c.logger().Warn("driver gave a writable string variable no valid length", "ups", d.name, "var", name)
		}
		c.sendErr(code)
		return
	}
	msg := []string{"SET", name, value}
	id := c.newTracking()
	if id != "" {
		msg = append(msg, "TRACKING", id)
	}
	c.logger().Info("set variable", "username", c.username, "ups", d.name, "var", name, "value", value, "tracking", id)
	if err := d.client.Send(msg...); err != nil {
		c.logger().Warn("cannot pass SET to driver", "ups", d.name, "error", err)
		c.sendErr(errSetFailed)
		return
	}
	c.sendOK(id)
}

// checkSetValue is NUT's set_var_check_val: the error code for setting
// name to value, or "" when the value is acceptable.
func checkSetValue(st *sockproto.State, name, value string) string {
	v, ok := st.Var(name)
	switch {
	case !ok:
		return errVarNotSupported
	case v.Flags&sockproto.FlagRW == 0:
		return errReadOnly
	}
	if v.Flags&sockproto.FlagString != 0 {
		if v.Aux < 1 {
			return errSetFailed
		}
		if len(value) > v.Aux {
			return errTooLong
		}
	}
	if len(v.Enums) > 0 {
		found := false
		for _, e := range v.Enums {
			if e == value {
				found = true
				break
			}
		}
		if !found {
			return errInvalidValue
		}
	}
	if len(v.Ranges) > 0 {
		n := cAtoi(value)
		found := false
		for _, r := range v.Ranges {
			if n >= r.Min && n <= r.Max {
				found = true
				break
			}
		}
		if !found {
			return errInvalidValue
		}
	}
	return ""
}

func (c *conn) cmdInstCmd(args []string) {
	if len(args) < 2 {
		c.sendErr(errInvalidArgument)
		return
	}
	ups, cmdName := args[0], args[1]
	d := c.device(ups)
	if d == nil || !c.available(d) {
		return
	}
	var known bool
	d.client.View(func(st *sockproto.State, _ sockproto.Info) { known = st.HasCmd(cmdName) })
	if !known {
		c.sendErr(errCmdNotSupported)
		return
	}
	if u := c.user(); u == nil || !u.CanInstCmd(cmdName) {
		c.sendErr(errAccessDenied)
		return
	}
	msg := []string{"INSTCMD", cmdName}
	// As NUT 2.8.0: the parameter is passed only when it is the one word
	// after the command (INSTCMD ups cmd param extra drops it) and not
	// empty. Unlike NUT, a parameter with spaces is quoted, so that the
	// driver receives it whole (docs/COMPATIBILITY.md).
	if len(args) == 3 && args[2] != "" {
		msg = append(msg, args[2])
	}
	id := c.newTracking()
	if id != "" {
		msg = append(msg, "TRACKING", id)
	}
	c.logger().Info("instant command", "username", c.username, "ups", d.name, "command", strings.Join(msg[1:], " "))
	if err := d.client.Send(msg...); err != nil {
		c.logger().Warn("cannot pass INSTCMD to driver", "ups", d.name, "error", err)
		c.sendErr(errInstCmdFailed)
		return
	}
	c.sendOK(id)
}

// newTracking returns a new tracking id when the client asked for
// tracking (SET TRACKING ON), "" otherwise.
func (c *conn) newTracking() string {
	if !c.tracking {
		return ""
	}
	now := time.Now()
	c.srv.tracking.expire(now, c.srv.config().TrackingDelay)
	id := newTrackingID()
	c.srv.tracking.add(id, now)
	return id
}

func (c *conn) sendOK(trackingID string) {
	if trackingID != "" {
		c.send("OK TRACKING %s", trackingID)
		return
	}
	c.send("OK")
}

// cAtoi is C's atoi on NUT's platforms: leading digits with an optional
// sign, truncated to 32 bits; anything else reads as 0.
func cAtoi(s string) int {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	end := 0
	if end < len(s) && (s[end] == '+' || s[end] == '-') {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.ParseInt(s[:end], 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			if strings.HasPrefix(s, "-") {
				n = -1 << 63
			} else {
				n = 1<<63 - 1
			}
		}
	}
	return int(int32(n))
}
