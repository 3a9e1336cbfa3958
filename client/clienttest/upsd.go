package clienttest

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// User is an upsd.users entry of a UPSD.
type User struct {
	Name     string
	Password string
	Actions  []string // "SET", "FSD"
	InstCmds []string // command names, or "all"
	Upsmon   string   // "primary", "secondary" or "" (no upsmon rights)
}

// UPSD is a fake upsd with state: Fake's read-only protocol plus what a
// session brings, answered as NUT 2.8.0's upsd answers it: USERNAME and
// PASSWORD (any password is "OK"; a wrong one shows as ACCESS-DENIED on
// the command that needs it), LOGIN, PRIMARY, MASTER, FSD (ups.status
// then reads "FSD ..."), SET VAR (rights, RW, STRING:n, ENUM and RANGE
// checked; the value changes when the driver's result is SUCCESS),
// INSTCMD, SET TRACKING and GET TRACKING. What a driver would have been
// sent is recorded (Sent), and how the driver answers a tracked request is
// set with SetResult.
//
// Its methods are safe to call while clients are connected.
type UPSD struct {
	mu       sync.Mutex
	read     *fake
	users    map[string]User
	results  map[string]result // by "ups\x00name"
	tracking map[string]*tracked
	fsd      map[string]bool
	sent     []string
}

type result struct {
	pending int    // GET TRACKING answers PENDING this many times first
	reply   string // then this
}

type tracked struct {
	pending int
	reply   string
}

// NewUPSD returns a UPSD serving devs. Start it with Start.
func NewUPSD(devs ...Device) *UPSD {
	u := &UPSD{
		users:    map[string]User{},
		results:  map[string]result{},
		tracking: map[string]*tracked{},
		fsd:      map[string]bool{},
	}
	u.read = &fake{devs: append([]Device(nil), devs...), fsd: func(ups string) bool { return u.fsd[strings.ToLower(ups)] }}
	for i := range u.read.devs {
		d := &u.read.devs[i]
		d.Vars = append([][2]string(nil), d.Vars...) // SET changes them
	}
	return u
}

// AddUser adds an upsd.users entry.
func (u *UPSD) AddUser(user User) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.users[user.Name] = user
}

// SetResult sets how the driver of ups answers a tracked INSTCMD name or
// SET VAR name: GET TRACKING answers PENDING pending times, then reply
// ("SUCCESS", "ERR UNKNOWN", "ERR INVALID-ARGUMENT" or "ERR FAILED", as
// upsd words a driver's result). The default is an immediate "SUCCESS".
// A SET VAR whose reply is not SUCCESS leaves the value unchanged.
func (u *UPSD) SetResult(ups, name string, pending int, reply string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.results[strings.ToLower(ups)+"\x00"+name] = result{pending: pending, reply: reply}
}

// Sent returns what upsd would have sent the drivers so far, one entry per
// accepted request: "<ups> INSTCMD <cmd> [<param>]" or
// "<ups> SET <var> <value>".
func (u *UPSD) Sent() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.sent...)
}

// Var returns the current value of a variable.
func (u *UPSD) Var(ups, name string) (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	d := u.read.find(ups)
	if d == nil {
		return "", false
	}
	return lookup(d, name)
}

// FSDSet reports whether FSD was set on ups.
func (u *UPSD) FSDSet(ups string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.fsd[strings.ToLower(ups)]
}

// Start serves the UPSD on a loopback Server until the test ends.
func (u *UPSD) Start(t testing.TB, opts ...ServerOption) *Server {
	t.Helper()
	return NewSessionServer(t, u.Session, opts...)
}

// Listen is Start for code without a testing.TB (Example functions): the
// caller must Close the Server.
func (u *UPSD) Listen(opts ...ServerOption) (*Server, error) {
	return Listen(u.Session, opts...)
}

// Session returns the Handler for one connection.
func (u *UPSD) Session() Handler {
	s := &session{u: u}
	return s.handle
}

type session struct {
	u                  *UPSD
	username, password string
	haveUser, havePass bool
	tracking           bool
	loggedIn           bool
}

// needsUser lists the verbs upsd refuses before USERNAME and PASSWORD.
var needsUser = map[string]bool{"LOGIN": true, "PRIMARY": true, "MASTER": true, "FSD": true, "SET": true, "INSTCMD": true}

func (s *session) handle(w []string) Reply {
	s.u.mu.Lock()
	defer s.u.mu.Unlock()
	if len(w) == 0 {
		return errLine("UNKNOWN-COMMAND")
	}
	verb, args := strings.ToUpper(w[0]), w[1:]
	if needsUser[verb] {
		if !s.haveUser {
			return errLine("USERNAME-REQUIRED")
		}
		if !s.havePass {
			return errLine("PASSWORD-REQUIRED")
		}
	}
	switch verb {
	case "USERNAME", "PASSWORD":
		if len(args) != 1 {
			return errLine("INVALID-ARGUMENT")
		}
		if verb == "USERNAME" {
			if s.haveUser {
				return errLine("ALREADY-SET-USERNAME")
			}
			s.username, s.haveUser = args[0], true
		} else {
			if s.havePass {
				return errLine("ALREADY-SET-PASSWORD")
			}
			s.password, s.havePass = args[0], true
		}
		return ok("")
	case "LOGIN":
		if len(args) != 1 {
			return errLine("INVALID-ARGUMENT")
		}
		if s.loggedIn {
			return errLine("ALREADY-LOGGED-IN")
		}
		if s.u.read.find(args[0]) == nil {
			return errLine("UNKNOWN-UPS")
		}
		if u := s.user(); u == nil || u.Upsmon == "" {
			return errLine("ACCESS-DENIED")
		}
		s.loggedIn = true
		return ok("")
	case "PRIMARY", "MASTER":
		if len(args) != 1 {
			return errLine("INVALID-ARGUMENT")
		}
		if s.u.read.find(args[0]) == nil {
			return errLine("UNKNOWN-UPS")
		}
		if u := s.user(); u == nil || u.Upsmon != "primary" {
			return errLine("ACCESS-DENIED")
		}
		return ok(verb + "-GRANTED")
	case "FSD":
		if len(args) != 1 {
			return errLine("INVALID-ARGUMENT")
		}
		d := s.u.read.find(args[0])
		if d == nil {
			return errLine("UNKNOWN-UPS")
		}
		if u := s.user(); u == nil || !(has(u.Actions, "FSD") || u.Upsmon == "primary") {
			return errLine("ACCESS-DENIED")
		}
		s.u.fsd[strings.ToLower(d.Name)] = true
		return ok("FSD-SET")
	case "SET":
		return s.set(args)
	case "INSTCMD":
		return s.instcmd(args)
	case "GET":
		if len(args) >= 1 && strings.EqualFold(args[0], "TRACKING") {
			return s.getTracking(args[1:])
		}
	}
	return s.u.read.handle(w)
}

func (s *session) user() *User {
	u, found := s.u.users[s.username]
	if !found || u.Password != s.password {
		return nil
	}
	return &u
}

func has(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func ok(words string) Reply {
	if words == "" {
		return Reply{Data: "OK\n"}
	}
	return Reply{Data: "OK " + words + "\n"}
}

func (s *session) set(args []string) Reply {
	if len(args) < 2 {
		return errLine("INVALID-ARGUMENT")
	}
	switch strings.ToUpper(args[0]) {
	case "TRACKING":
		switch strings.ToUpper(args[1]) {
		case "ON":
			s.tracking = true
		case "OFF":
			s.tracking = false
		default:
			return errLine("INVALID-ARGUMENT")
		}
		return ok("")
	case "VAR":
	default:
		return errLine("INVALID-ARGUMENT")
	}
	if len(args) < 4 {
		return errLine("INVALID-ARGUMENT")
	}
	ups, name, value := args[1], args[2], args[3]
	d := s.u.read.find(ups)
	switch {
	case d == nil:
		return errLine("UNKNOWN-UPS")
	case d.Err != "":
		return errLine(d.Err)
	}
	if u := s.user(); u == nil || !has(u.Actions, "SET") {
		return errLine("ACCESS-DENIED")
	}
	if code := checkValue(d, name, value); code != "" {
		return errLine(code)
	}
	s.u.sent = append(s.u.sent, d.Name+" SET "+name+" "+value)
	res := s.u.resultFor(d.Name, name)
	if res.reply == "SUCCESS" {
		for i := range d.Vars {
			if d.Vars[i][0] == name {
				d.Vars[i][1] = value
			}
		}
	}
	return s.accepted(res)
}

// checkValue is upsd's check of a SET VAR value: the error code, or "".
func checkValue(d *Device, name, value string) string {
	if _, found := lookup(d, name); !found {
		return "VAR-NOT-SUPPORTED"
	}
	typ := strings.Fields(d.Types[name])
	if !has(typ, "RW") {
		return "READONLY"
	}
	for _, f := range typ {
		if n, isString := strings.CutPrefix(f, "STRING:"); isString {
			max, err := strconv.Atoi(n)
			switch {
			case err != nil || max < 1:
				return "SET-FAILED" // a string the driver gave no valid length
			case len(value) > max:
				return "TOO-LONG"
			}
		}
	}
	if enums := d.Enums[name]; len(enums) > 0 && !has(enums, value) {
		return "INVALID-VALUE"
	}
	if ranges := d.Ranges[name]; len(ranges) > 0 {
		v := atoi(value)
		in := false
		for _, r := range ranges {
			if v >= atoi(r[0]) && v <= atoi(r[1]) {
				in = true
			}
		}
		if !in {
			return "INVALID-VALUE"
		}
	}
	return ""
}

// atoi reads a number as C's atoi does: leading digits, 0 if none.
func atoi(s string) int {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	n := 0
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int(s[i]-'0')
	}
	if neg {
		return -n
	}
	return n
}

func (s *session) instcmd(args []string) Reply {
	if len(args) < 2 {
		return errLine("INVALID-ARGUMENT")
	}
	d := s.u.read.find(args[0])
	switch {
	case d == nil:
		return errLine("UNKNOWN-UPS")
	case d.Err != "":
		return errLine(d.Err)
	case !has(d.Cmds, args[1]):
		return errLine("CMD-NOT-SUPPORTED")
	}
	if u := s.user(); u == nil || !(has(u.InstCmds, "all") || has(u.InstCmds, args[1])) {
		return errLine("ACCESS-DENIED")
	}
	msg := d.Name + " INSTCMD " + args[1]
	if len(args) > 2 {
		msg += " " + args[2]
	}
	s.u.sent = append(s.u.sent, msg)
	return s.accepted(s.u.resultFor(d.Name, args[1]))
}

func (u *UPSD) resultFor(ups, name string) result {
	if r, found := u.results[strings.ToLower(ups)+"\x00"+name]; found {
		return r
	}
	return result{reply: "SUCCESS"}
}

// accepted answers an accepted SET VAR or INSTCMD, with a tracking id
// when tracking is on.
func (s *session) accepted(r result) Reply {
	if !s.tracking {
		return ok("")
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	id := fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	s.u.tracking[id] = &tracked{pending: r.pending, reply: r.reply}
	return ok("TRACKING " + id)
}

func (s *session) getTracking(args []string) Reply {
	if len(args) == 0 {
		if s.tracking {
			return Reply{Data: "ON\n"}
		}
		return Reply{Data: "OFF\n"}
	}
	if !s.tracking {
		return errLine("FEATURE-NOT-CONFIGURED")
	}
	t := s.u.tracking[strings.ToUpper(args[0])]
	switch {
	case t == nil:
		return Reply{Data: "ERR UNKNOWN\n"}
	case t.pending > 0:
		t.pending--
		return Reply{Data: "PENDING\n"}
	}
	return Reply{Data: t.reply + "\n"}
}
