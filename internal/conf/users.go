package conf

import (
	"crypto/subtle"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/gonut/gonut/sdk/nutconf"
)

// User is one [name] section of upsd.users.
type User struct {
	Name     string
	Password string
	// HasPassword is false when the section sets no password: NUT skips
	// such a user when checking credentials, so it can never log in
	// (not even with an empty PASSWORD). CheckPassword honours this.
	HasPassword bool

	// Actions as written (SET, FSD, ...), in file order, repeats removed.
	// Use Can to ask about a right: upsmon implies actions too.
	Actions []string
	// InstCmds as written, in file order, repeats removed; "all" allows
	// every command.
	InstCmds []string
	// Upsmon is "primary", "secondary" or "" (NUT's old words master and
	// slave are read as primary and secondary).
	Upsmon string
	Line   int // line of the [name] header
}

// CheckPassword reports whether pw is this user's password, in constant time.
// A user without a password matches nothing.
func (u *User) CheckPassword(pw string) bool {
	return u.HasPassword && subtle.ConstantTimeCompare([]byte(u.Password), []byte(pw)) == 1
}

// Can reports whether the user holds the named action right, as upsd checks
// it (case-insensitive): the actions it lists, plus LOGIN for any upsmon
// user, and PRIMARY (alias MASTER) and FSD for an upsmon primary.
func (u *User) Can(action string) bool {
	a := strings.ToUpper(action)
	if a == "MASTER" {
		a = "PRIMARY"
	}
	switch {
	case a == "LOGIN" && u.Upsmon != "":
		return true
	case (a == "PRIMARY" || a == "FSD") && u.Upsmon == "primary":
		return true
	}
	for _, have := range u.Actions {
		h := strings.ToUpper(have)
		if h == "MASTER" {
			h = "PRIMARY"
		}
		if h == a {
			return true
		}
	}
	return false
}

// CanInstCmd reports whether the user may run the instant command cmd
// (case-insensitive, or "all").
func (u *User) CanInstCmd(cmd string) bool {
	for _, c := range u.InstCmds {
		if strings.EqualFold(c, cmd) || strings.EqualFold(c, "all") {
			return true
		}
	}
	return false
}

// Users is a parsed upsd.users.
type Users struct {
	File string
	List []*User // in file order

	// Warnings are "file:line: message" notes for lines NUT accepts but
	// flags (a repeated password, the obsolete allowfrom). Log them.
	Warnings []string
}

// Lookup returns the user with exactly this name (NUT compares user names
// case-sensitively), or nil.
func (u *Users) Lookup(name string) *User {
	for _, usr := range u.List {
		if usr.Name == name {
			return usr
		}
	}
	return nil
}

// LoadUpsdUsers reads upsd.users at path. A missing file gives an error that
// wraps fs.ErrNotExist (NUT's upsd then runs with no users; that choice is the
// caller's).
//
// Each [name] section defines a user. Inside it, keys are case-insensitive
// (as in NUT) and written key = value; actions and instcmds take several
// values on one line and may be repeated:
//
//	[admin]
//	    password = secret
//	    actions = SET FSD
//	    instcmds = all
//	[monuser]
//	    password = pass
//	    upsmon primary          # or: upsmon = primary; master/slave accepted
func LoadUpsdUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseUpsdUsers(f, path)
}

// ParseUpsdUsers is LoadUpsdUsers on text read from r; file names it in
// errors and becomes Users.File.
func ParseUpsdUsers(r io.Reader, file string) (*Users, error) {
	lines, err := nutconf.Parse(r, file)
	if err != nil {
		return nil, err
	}
	us := &Users{File: file}
	var cur *User
	for _, ln := range lines {
		w := ln.Words
		if len(w[0]) >= 2 && w[0][0] == '[' && w[0][len(w[0])-1] == ']' {
			name := w[0][1 : len(w[0])-1]
			switch {
			case len(w) > 1:
				return nil, nutconf.Errorf(file, ln.Num, "unexpected %q after user header %s", w[1], w[0])
			case name == "":
				return nil, nutconf.Errorf(file, ln.Num, "empty user name []")
			}
			if prev := us.Lookup(name); prev != nil {
				return nil, nutconf.Errorf(file, ln.Num, "user [%s] defined twice (first at line %d)", name, prev.Line)
			}
			cur = &User{Name: name, Line: ln.Num}
			us.List = append(us.List, cur)
			continue
		}
		if strings.EqualFold(w[0], "user") {
			// NUT skips lines of its pre-2.0 format silently.
			us.warn(ln.Num, "old-format \"user\" line ignored; define users as [name] sections")
			continue
		}
		key, vals, err := userLine(file, ln)
		if err != nil {
			return nil, err
		}
		if cur == nil {
			return nil, nutconf.Errorf(file, ln.Num, "%s outside any [user] section", key)
		}
		if err := us.apply(cur, ln.Num, key, vals); err != nil {
			return nil, err
		}
	}
	for _, u := range us.List {
		if !u.HasPassword {
			us.warn(u.Line, "user [%s] has no password and cannot log in", u.Name)
		}
	}
	return us, nil
}

// userLine splits a non-header line into its key and values, in the forms
// NUT's user.c reads: key = v1 [v2...], "key=v1" [v2...], upsmon TYPE.
func userLine(file string, ln nutconf.Line) (string, []string, error) {
	w := ln.Words
	if k, v, ok := strings.Cut(w[0], "="); ok && w[0] != "=" {
		if k == "" {
			return "", nil, nutconf.Errorf(file, ln.Num, "missing key name before '='")
		}
		return k, append([]string{v}, w[1:]...), nil
	}
	switch {
	case w[0] == "=":
		return "", nil, nutconf.Errorf(file, ln.Num, "line starts with '=': missing key name")
	case len(w) >= 2 && w[1] != "=" && strings.EqualFold(w[0], "upsmon"):
		return w[0], w[1:], nil
	case len(w) >= 3 && w[1] == "=":
		return w[0], w[2:], nil
	case len(w) == 2 && w[1] == "=":
		return "", nil, nutconf.Errorf(file, ln.Num, "%s: missing value after '='", w[0])
	}
	return "", nil, nutconf.Errorf(file, ln.Num, "cannot understand %q: expected key = value", strings.Join(w, " "))
}

func (us *Users) warn(line int, format string, args ...any) {
	us.Warnings = append(us.Warnings, nutconf.Errorf(us.File, line, format, args...).Error())
}

func (us *Users) apply(u *User, line int, key string, vals []string) error {
	switch strings.ToLower(key) {
	case "password":
		if len(vals) > 1 {
			us.warn(line, "[%s] password: extra words ignored; quote a password that contains spaces", u.Name)
		}
		if u.HasPassword {
			// NUT keeps the first password.
			us.warn(line, "[%s] duplicate password ignored", u.Name)
			return nil
		}
		u.Password, u.HasPassword = vals[0], true
	case "actions":
		for _, a := range vals {
			switch strings.ToUpper(a) {
			case "SET", "FSD", "LOGIN", "MASTER", "PRIMARY":
			default:
				us.warn(line, "[%s] unknown action %q (known: SET, FSD)", u.Name, a)
			}
			if !slices.ContainsFunc(u.Actions, func(s string) bool { return strings.EqualFold(s, a) }) {
				u.Actions = append(u.Actions, a)
			}
		}
	case "instcmds":
		for _, c := range vals {
			if !slices.ContainsFunc(u.InstCmds, func(s string) bool { return strings.EqualFold(s, c) }) {
				u.InstCmds = append(u.InstCmds, c)
			}
		}
	case "upsmon":
		if len(vals) > 1 {
			us.warn(line, "[%s] upsmon: extra words ignored", u.Name)
		}
		switch strings.ToLower(vals[0]) {
		case "primary", "master":
			u.Upsmon = "primary"
		case "secondary", "slave":
			u.Upsmon = "secondary"
		default:
			return nutconf.Errorf(us.File, line, "[%s] upsmon: unknown type %q (use primary or secondary)", u.Name, vals[0])
		}
	case "allowfrom":
		us.warn(line, "[%s] allowfrom in upsd.users is no longer used", u.Name)
	default:
		return nutconf.Errorf(us.File, line, "[%s] unknown setting %q (known: password, actions, instcmds, upsmon)", u.Name, key)
	}
	return nil
}
