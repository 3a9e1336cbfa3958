package upsmon

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// NotifyType is one of upsmon's notify events (NOTIFYTYPE in the
// NOTIFYCMD's environment).
type NotifyType int

// The notify events, in NUT's order.
const (
	NotifyOnline NotifyType = iota
	NotifyOnBatt
	NotifyLowBatt
	NotifyFSD
	NotifyCommOK
	NotifyCommBad
	NotifyShutdown
	NotifyShutdownHostsync
	NotifyReplBatt
	NotifyNoComm
	NotifyNoParent
	NotifyCal
	NotifyNotCal
	NotifyOff
	NotifyNotOff
	NotifyBypass
	NotifyNotBypass
	NotifyEco
	NotifyNotEco
	NotifyAlarm
	NotifyNotAlarm
	NotifyOver
	NotifyNotOver
	NotifyTrim
	NotifyNotTrim
	NotifyBoost
	NotifyNotBoost
	NotifyOther
	NotifyNotOther
	numNotify
)

// NotifyFlag says where a notification goes (NOTIFYFLAG).
type NotifyFlag uint8

// The NOTIFYFLAG words.
const (
	FlagIgnore NotifyFlag = 1 << iota
	FlagSyslog
	FlagWall
	FlagExec
)

// DefaultFlags are NUT's flags for every event until NOTIFYFLAG changes
// them: SYSLOG+WALL.
const DefaultFlags = FlagSyslog | FlagWall

// notifyInfo is a notify event's name and NUT's stock message. The first
// %s is the UPS as written on its MONITOR line; ALARM and OTHER take a
// second %s (ups.alarm, the unknown status words).
var notifyInfo = [numNotify]struct{ name, msg string }{
	NotifyOnline:           {"ONLINE", "UPS %s on line power"},
	NotifyOnBatt:           {"ONBATT", "UPS %s on battery"},
	NotifyLowBatt:          {"LOWBATT", "UPS %s battery is low"},
	NotifyFSD:              {"FSD", "UPS %s: forced shutdown in progress"},
	NotifyCommOK:           {"COMMOK", "Communications with UPS %s established"},
	NotifyCommBad:          {"COMMBAD", "Communications with UPS %s lost"},
	NotifyShutdown:         {"SHUTDOWN", "Auto logout and shutdown proceeding"},
	NotifyShutdownHostsync: {"SHUTDOWN_HOSTSYNC", "Primary upsmon is waiting for secondaries to log out (HOSTSYNC), then will shut down"},
	NotifyReplBatt:         {"REPLBATT", "UPS %s battery needs to be replaced"},
	NotifyNoComm:           {"NOCOMM", "UPS %s is unavailable"},
	NotifyNoParent:         {"NOPARENT", "upsmon parent process died - shutdown impossible"},
	NotifyCal:              {"CAL", "UPS %s: calibration in progress"},
	NotifyNotCal:           {"NOTCAL", "UPS %s: calibration finished"},
	NotifyOff:              {"OFF", "UPS %s: administratively OFF or asleep"},
	NotifyNotOff:           {"NOTOFF", "UPS %s: no longer administratively OFF or asleep"},
	NotifyBypass:           {"BYPASS", "UPS %s: on bypass (powered, not protecting)"},
	NotifyNotBypass:        {"NOTBYPASS", "UPS %s: no longer on bypass"},
	NotifyEco:              {"ECO", "UPS %s: in ECO mode (as defined by vendor)"},
	NotifyNotEco:           {"NOTECO", "UPS %s: no longer in ECO mode"},
	NotifyAlarm:            {"ALARM", "UPS %s: one or more active alarms: [%s]"},
	NotifyNotAlarm:         {"NOTALARM", "UPS %s is no longer in an alarm state (no active alarms)"},
	NotifyOver:             {"OVER", "UPS %s: overloaded"},
	NotifyNotOver:          {"NOTOVER", "UPS %s: no longer overloaded"},
	NotifyTrim:             {"TRIM", "UPS %s: trimming incoming voltage"},
	NotifyNotTrim:          {"NOTTRIM", "UPS %s: no longer trimming incoming voltage"},
	NotifyBoost:            {"BOOST", "UPS %s: boosting incoming voltage"},
	NotifyNotBoost:         {"NOTBOOST", "UPS %s: no longer boosting incoming voltage"},
	NotifyOther:            {"OTHER", "UPS %s: has at least one unclassified status token: [%s]"},
	NotifyNotOther:         {"NOTOTHER", "UPS %s has no unclassified status tokens anymore"},
}

// String is the event's name, e.g. "ONBATT".
func (t NotifyType) String() string {
	if t < 0 || t >= numNotify {
		return fmt.Sprintf("NotifyType(%d)", int(t))
	}
	return notifyInfo[t].name
}

// DefaultMessage is NUT's stock message for the event.
func (t NotifyType) DefaultMessage() string { return notifyInfo[t].msg }

// ParseNotifyType reads an event name as NOTIFYMSG and NOTIFYFLAG take it
// (case-sensitive, as NUT compares them).
func ParseNotifyType(s string) (NotifyType, bool) {
	for t := NotifyType(0); t < numNotify; t++ {
		if notifyInfo[t].name == s {
			return t, true
		}
	}
	return 0, false
}

// NotifyTypes lists every event, in NUT's order.
func NotifyTypes() []NotifyType {
	out := make([]NotifyType, numNotify)
	for i := range out {
		out[i] = NotifyType(i)
	}
	return out
}

// ParseNotifyFlags reads NOTIFYFLAG's second word: SYSLOG, WALL, EXEC,
// IGNORE joined by '+'.
func ParseNotifyFlags(s string) (NotifyFlag, error) {
	var f NotifyFlag
	for _, w := range strings.Split(s, "+") {
		switch w {
		case "SYSLOG":
			f |= FlagSyslog
		case "WALL":
			f |= FlagWall
		case "EXEC":
			f |= FlagExec
		case "IGNORE":
			f |= FlagIgnore
		default:
			return 0, fmt.Errorf("invalid notify flag %q (want SYSLOG, WALL, EXEC or IGNORE, joined by +)", w)
		}
	}
	return f, nil
}

func (f NotifyFlag) String() string {
	var w []string
	for _, x := range []struct {
		f NotifyFlag
		s string
	}{{FlagIgnore, "IGNORE"}, {FlagSyslog, "SYSLOG"}, {FlagWall, "WALL"}, {FlagExec, "EXEC"}} {
		if f&x.f != 0 {
			w = append(w, x.s)
		}
	}
	return strings.Join(w, "+")
}

// FormatMessage fills a NOTIFYMSG template: the first %s becomes the UPS,
// the second extra, %% a percent sign. Any other % sequence is left as
// written. NUT hands the template to printf, where a stray %n or a third
// %s is undefined behaviour; here a template cannot do harm.
func FormatMessage(tmpl, ups, extra string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if c != '%' || i+1 >= len(tmpl) {
			b.WriteByte(c)
			continue
		}
		switch tmpl[i+1] {
		case 's':
			switch n {
			case 0:
				b.WriteString(ups)
			case 1:
				b.WriteString(extra)
			}
			n++
			i++
		case '%':
			b.WriteByte('%')
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Notification is one event as delivered.
type Notification struct {
	Type    NotifyType
	UPS     string // the MONITOR line's system name; "" for SHUTDOWN and NOPARENT
	Message string
	Flags   NotifyFlag
}

// Notifier delivers notifications as NUT's upsmon does: SYSLOG to the log,
// WALL through wall(1), EXEC runs NOTIFYCMD with the message as its one
// argument and NOTIFYTYPE and UPSNAME in its environment. WALL and EXEC run
// in the background so that a slow script never holds up monitoring.
type Notifier struct {
	Cmd  string // NOTIFYCMD
	Log  Logger
	Wall string // the wall program; "wall" when empty
	// Observe, when set, sees every notification before delivery (the
	// dry-run printer, tests).
	Observe func(Notification)
}

// Send delivers n according to its flags.
func (nf *Notifier) Send(n Notification) {
	if nf.Observe != nil {
		nf.Observe(n)
	}
	if n.Flags&FlagIgnore != 0 {
		return
	}
	if n.Flags&FlagSyslog != 0 {
		nf.Log.Notice(n.Message)
	}
	if n.Flags&FlagWall != 0 {
		wall := nf.Wall
		if wall == "" {
			wall = "wall"
		}
		nf.background(exec.Command(wall), n.Message+"\n", "wall")
	}
	if n.Flags&FlagExec != 0 && nf.Cmd != "" {
		// NUT runs system("NOTIFYCMD \"message\""); passing the message
		// as $1 keeps NOTIFYCMD's own words working without letting the
		// message's quotes or $ reach the shell.
		cmd := exec.Command("/bin/sh", "-c", nf.Cmd+` "$1"`, "sh", n.Message)
		cmd.Env = append(os.Environ(), "NOTIFYTYPE="+n.Type.String(), "UPSNAME="+n.UPS)
		nf.background(cmd, "", "NOTIFYCMD "+nf.Cmd)
	}
}

func (nf *Notifier) background(cmd *exec.Cmd, stdin, what string) {
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Start(); err != nil {
		nf.Log.Error(fmt.Sprintf("cannot run %s: %v", what, err))
		return
	}
	go func() { // reap it, and say if it failed
		if err := cmd.Wait(); err != nil {
			nf.Log.Warn(fmt.Sprintf("%s: %v", what, err))
		}
	}()
}
