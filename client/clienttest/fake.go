package clienttest

import (
	"strconv"
	"strings"

	"github.com/gonut/gonut/sdk/nutconf"
)

// Device is one UPS served by Fake.
type Device struct {
	Name string
	Desc string // "" is reported as NUT does: "Description unavailable" / "Unavailable"
	// Vars are name/value pairs in the order LIST VAR gives them.
	Vars [][2]string
	// Types holds GET TYPE answers by variable ("RW STRING:32"); a variable
	// not in it is "NUMBER". Variables whose type starts with RW are in LIST RW.
	Types   map[string]string
	Enums   map[string][]string    // LIST ENUM values by variable
	Ranges  map[string][][2]string // LIST RANGE min/max pairs by variable
	Cmds    []string
	Clients []string // LIST CLIENT addresses
	// Err, when set (DRIVER-NOT-CONNECTED, DATA-STALE), is the answer to
	// every request about this UPS's data, as upsd gives while its driver
	// is gone or silent. GET UPSDESC and LIST CLIENT still answer.
	Err string
}

// Version is the VER banner of Fake, NUT 2.8.0's.
const Version = "Network UPS Tools upsd 2.8.0 - http://www.networkupstools.org/"

// Fake returns a Handler that behaves like NUT 2.8.0's upsd for the
// read-only part of the protocol, serving devs: UPS names match
// case-insensitively and replies echo the request's spelling, values are
// quoted and escaped as upsd does, errors are upsd's.
func Fake(devs ...Device) Handler {
	f := &fake{devs: append([]Device(nil), devs...)}
	return f.handle
}

type fake struct {
	devs []Device
	// fsd, when set, reports whether FSD was set on a UPS: its ups.status
	// then reads "FSD <status>", as upsd shows it.
	fsd func(ups string) bool
}

// value is what upsd shows for variable v of d.
func (f *fake) value(d *Device, name, val string) string {
	if f.fsd != nil && strings.EqualFold(name, "ups.status") && f.fsd(d.Name) {
		return "FSD " + val
	}
	return val
}

func (f *fake) find(name string) *Device {
	for i := range f.devs {
		if strings.EqualFold(f.devs[i].Name, name) {
			return &f.devs[i]
		}
	}
	return nil
}

func q(s string) string { return `"` + nutconf.Quote(s) + `"` }

func errLine(code string) Reply { return Reply{Data: "ERR " + code + "\n"} }

func (f *fake) handle(w []string) Reply {
	if len(w) == 0 {
		return errLine("UNKNOWN-COMMAND")
	}
	switch strings.ToUpper(w[0]) {
	case "VER":
		return Reply{Data: Version + "\n"}
	case "NETVER", "PROTVER":
		return Reply{Data: "1.3\n"}
	case "STARTTLS":
		return errLine("FEATURE-NOT-CONFIGURED")
	case "USERNAME", "PASSWORD":
		if len(w) < 2 {
			return errLine("INVALID-ARGUMENT")
		}
		return Reply{Data: "OK\n"}
	case "LOGIN":
		if len(w) < 2 {
			return errLine("INVALID-ARGUMENT")
		}
		if f.find(w[1]) == nil {
			return errLine("UNKNOWN-UPS")
		}
		return Reply{Data: "OK\n"}
	case "LOGOUT":
		return Reply{Data: "OK Goodbye\n", HangUp: true}
	case "GET":
		return f.get(w[1:])
	case "LIST":
		return f.list(w[1:])
	}
	return errLine("UNKNOWN-COMMAND")
}

func (f *fake) get(w []string) Reply {
	if len(w) < 2 {
		return errLine("INVALID-ARGUMENT")
	}
	kind := strings.ToUpper(w[0])
	d := f.find(w[1])
	if d == nil {
		return errLine("UNKNOWN-UPS")
	}
	echo := strings.Join(w, " ")
	switch kind {
	case "UPSDESC":
		desc := d.Desc
		if desc == "" {
			desc = "Unavailable"
		}
		return Reply{Data: "UPSDESC " + w[1] + " " + q(desc) + "\n"}
	case "NUMLOGINS":
		if d.Err != "" {
			return errLine(d.Err)
		}
		return Reply{Data: echo + " " + strconv.Itoa(len(d.Clients)) + "\n"}
	case "VAR", "TYPE", "DESC", "CMDDESC":
		if len(w) < 3 {
			return errLine("INVALID-ARGUMENT")
		}
	default:
		return errLine("INVALID-ARGUMENT")
	}
	if d.Err != "" {
		return errLine(d.Err)
	}
	name := w[2]
	switch kind {
	case "CMDDESC", "DESC":
		return Reply{Data: echo + " " + q("Description unavailable") + "\n"}
	}
	val, ok := lookup(d, name)
	if !ok {
		return errLine("VAR-NOT-SUPPORTED")
	}
	if kind == "TYPE" {
		t := d.Types[name]
		if t == "" {
			t = "NUMBER"
		}
		return Reply{Data: echo + " " + t + "\n"}
	}
	return Reply{Data: echo + " " + q(f.value(d, name, val)) + "\n"}
}

func lookup(d *Device, name string) (string, bool) {
	for _, v := range d.Vars {
		if v[0] == name {
			return v[1], true
		}
	}
	return "", false
}

func (f *fake) list(w []string) Reply {
	if len(w) < 1 {
		return errLine("INVALID-ARGUMENT")
	}
	kind := strings.ToUpper(w[0])
	echo := strings.Join(w, " ")
	var b strings.Builder
	item := func(s string) { b.WriteString(s + "\n") }
	if kind == "UPS" {
		item("BEGIN LIST UPS")
		for _, d := range f.devs {
			desc := d.Desc
			if desc == "" {
				desc = "Description unavailable"
			}
			item("UPS " + d.Name + " " + q(desc))
		}
		item("END LIST UPS")
		return Reply{Data: b.String()}
	}
	if len(w) < 2 {
		return errLine("INVALID-ARGUMENT")
	}
	d := f.find(w[1])
	if d == nil {
		return errLine("UNKNOWN-UPS")
	}
	ups := w[1]
	switch kind {
	case "CLIENT":
		item("BEGIN LIST " + echo)
		for _, c := range d.Clients {
			item("CLIENT " + ups + " " + c)
		}
	case "VAR", "RW", "CMD":
		if d.Err != "" {
			return errLine(d.Err)
		}
		item("BEGIN LIST " + echo)
		switch kind {
		case "CMD":
			for _, c := range d.Cmds {
				item("CMD " + ups + " " + c)
			}
		default:
			for _, v := range d.Vars {
				if kind == "RW" && !strings.HasPrefix(d.Types[v[0]], "RW") {
					continue
				}
				item(kind + " " + ups + " " + v[0] + " " + q(f.value(d, v[0], v[1])))
			}
		}
	case "ENUM", "RANGE":
		if len(w) < 3 {
			return errLine("INVALID-ARGUMENT")
		}
		if d.Err != "" {
			return errLine(d.Err)
		}
		if _, ok := lookup(d, w[2]); !ok {
			return errLine("VAR-NOT-SUPPORTED")
		}
		item("BEGIN LIST " + echo)
		if kind == "ENUM" {
			for _, e := range d.Enums[w[2]] {
				item("ENUM " + ups + " " + w[2] + " " + q(e))
			}
		} else {
			for _, r := range d.Ranges[w[2]] {
				item("RANGE " + ups + " " + w[2] + " " + q(r[0]) + " " + q(r[1]))
			}
		}
	default:
		return errLine("INVALID-ARGUMENT")
	}
	item("END LIST " + echo)
	return Reply{Data: b.String()}
}
