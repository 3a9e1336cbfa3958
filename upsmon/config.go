package upsmon

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gonut/gonut/client"
	"github.com/gonut/gonut/sdk/nutconf"
)

// MonitorConf is one MONITOR line:
// MONITOR ups@host[:port] powervalue username password primary|secondary.
type MonitorConf struct {
	System     string         // as written, e.g. "ups1@host:3493"; names the UPS in messages
	Name       client.UPSName // parsed
	PowerValue int            // power supplies of this system the UPS feeds; 0 = watch only
	Username   string
	Password   string
	Primary    bool // primary (or its old name master); else secondary (slave)
	Line       int  // line in upsmon.conf, for messages
}

// CertHost is a CERTHOST line: TLS rules for one upsd host.
type CertHost struct {
	Host     string
	CertName string // the name upsd's certificate must carry
	Verify   bool
	ForceSSL bool
}

// Config is upsmon.conf. Durations are whole seconds, as NUT reads them;
// a negative OFFDURATION or OVERDURATION means never.
type Config struct {
	File     string
	Monitors []MonitorConf

	MinSupplies   int
	ShutdownCmd   string
	ShutdownExit  time.Duration // delay between SHUTDOWNCMD and exiting; <0 never exits
	NotifyCmd     string
	NotifyMsg     [numNotify]string
	NotifyFlags   [numNotify]NotifyFlag
	PollFreq      time.Duration
	PollFreqAlert time.Duration
	HostSync      time.Duration
	DeadTime      time.Duration
	FinalDelay    time.Duration
	NoCommWarn    time.Duration
	RBWarnTime    time.Duration
	PowerDownFlag string
	OffDuration   time.Duration
	OverDuration  time.Duration
	OBLBDuration  time.Duration
	AlarmCritical bool

	PollFailLogThrottleMax int // <0: log every failure; 0: only changes; n: every n-th
	RunAsUser              string

	CertPath   string // CA certificates: a PEM file or a directory of them
	CertFile   string // client certificate (and key) presented to upsd
	CertIdent  string // certificate name (NSS); kept for compatibility
	CertVerify bool
	ForceSSL   bool
	CertHosts  []CertHost

	DebugMin    int
	DebugMinSet bool

	// Warnings are problems NUT also only warns about (a duplicate
	// MONITOR, a MONITOR of power value 0 as primary).
	Warnings []string
}

// DefaultConfig is upsmon's configuration before upsmon.conf: NUT's
// built-in defaults.
func DefaultConfig() *Config {
	c := &Config{
		MinSupplies:            1,
		PollFreq:               5 * time.Second,
		PollFreqAlert:          5 * time.Second,
		HostSync:               15 * time.Second,
		DeadTime:               15 * time.Second,
		FinalDelay:             5 * time.Second,
		NoCommWarn:             300 * time.Second,
		RBWarnTime:             43200 * time.Second,
		OffDuration:            30 * time.Second,
		OverDuration:           -1 * time.Second,
		AlarmCritical:          true,
		PollFailLogThrottleMax: -1,
	}
	for i := range c.NotifyFlags {
		c.NotifyFlags[i] = DefaultFlags
	}
	return c
}

// Message is the template for t: NOTIFYMSG or NUT's stock message.
func (c *Config) Message(t NotifyType) string {
	if c.NotifyMsg[t] != "" {
		return c.NotifyMsg[t]
	}
	return t.DefaultMessage()
}

// LoadConfig reads upsmon.conf from path.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return ParseConfig(bytes.NewReader(b), path)
}

// ParseConfig reads upsmon.conf from r; file names it in errors. Every
// error names file:line. Unlike NUT 2.8, which warns about an unknown
// directive and goes on without it, an unknown directive is an error: a
// misspelt SHUTDOWNCMD or MINSUPPLIES must not go unnoticed until the
// power fails.
func ParseConfig(r io.Reader, file string) (*Config, error) {
	lines, err := nutconf.Parse(r, file)
	if err != nil {
		return nil, err
	}
	c := DefaultConfig()
	c.File = file
	seen := map[string]int{}
	for _, l := range lines {
		if err := c.directive(l, seen); err != nil {
			return nil, err
		}
	}
	if len(c.Monitors) == 0 {
		return nil, nutconf.Errorf(file, 0, "no MONITOR line: upsmon has nothing to watch")
	}
	if c.PollFreqAlert > c.PollFreq {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s: POLLFREQALERT (%s) is longer than POLLFREQ (%s): an UPS on battery would be watched less closely", file, c.PollFreqAlert, c.PollFreq))
	}
	total := 0
	for _, m := range c.Monitors {
		total += m.PowerValue
	}
	if total < c.MinSupplies {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s: MINSUPPLIES %d is more than the power values of all MONITOR lines (%d): upsmon would shut down as soon as it starts", file, c.MinSupplies, total))
	}
	return c, nil
}

func (c *Config) directive(l nutconf.Line, seen map[string]int) error {
	w := l.Words
	errf := func(format string, args ...any) error {
		return nutconf.Errorf(c.File, l.Num, "%s: %s", w[0], fmt.Sprintf(format, args...))
	}
	args := func(n int, usage string) error {
		if len(w)-1 != n {
			return errf("want %s, got %d argument(s)", usage, len(w)-1)
		}
		return nil
	}
	seconds := func(dst *time.Duration, allowNegative bool) error {
		if err := args(1, "a number of seconds"); err != nil {
			return err
		}
		n, err := strconv.Atoi(w[1])
		if err != nil || (!allowNegative && n < 0) {
			return errf("%q is not a number of seconds", w[1])
		}
		*dst = time.Duration(n) * time.Second
		return nil
	}
	str := func(dst *string) error {
		if err := args(1, "one value (quote it if it holds spaces)"); err != nil {
			return err
		}
		*dst = w[1]
		return nil
	}
	boolean := func(dst *bool) error {
		if err := args(1, "0 or 1"); err != nil {
			return err
		}
		v, ok := parseBool(w[1])
		if !ok {
			return errf("%q is not a boolean (0, 1, yes, no, on, off, true, false)", w[1])
		}
		*dst = v
		return nil
	}
	switch w[0] {
	case "MONITOR":
		return c.monitor(l)
	case "MINSUPPLIES":
		if err := args(1, "a number of power supplies"); err != nil {
			return err
		}
		n, err := strconv.Atoi(w[1])
		if err != nil || n < 0 {
			return errf("%q is not a number of power supplies", w[1])
		}
		c.MinSupplies = n
	case "SHUTDOWNCMD":
		return str(&c.ShutdownCmd)
	case "SHUTDOWNEXIT":
		if err := args(1, "yes, no or a number of seconds"); err != nil {
			return err
		}
		if v, ok := parseBool(w[1]); ok && !isNumber(w[1]) {
			if v {
				c.ShutdownExit = 0
			} else {
				c.ShutdownExit = -1
			}
			return nil
		}
		n, err := strconv.Atoi(w[1])
		if err != nil {
			return errf("%q is neither a boolean nor a number of seconds", w[1])
		}
		c.ShutdownExit = time.Duration(n) * time.Second
	case "NOTIFYCMD":
		return str(&c.NotifyCmd)
	case "POWERDOWNFLAG":
		return str(&c.PowerDownFlag)
	case "RUN_AS_USER":
		return str(&c.RunAsUser)
	case "CERTPATH":
		return str(&c.CertPath)
	case "CERTFILE":
		return str(&c.CertFile)
	case "CERTIDENT":
		if err := args(2, "certificate name and database password"); err != nil {
			return err
		}
		c.CertIdent = w[1]
	case "CERTHOST":
		if err := args(4, "hostname, certificate name, certverify (0|1), forcessl (0|1)"); err != nil {
			return err
		}
		v, ok1 := parseBool(w[3])
		f, ok2 := parseBool(w[4])
		if !ok1 || !ok2 {
			return errf("certverify and forcessl must be 0 or 1, got %q and %q", w[3], w[4])
		}
		c.CertHosts = append(c.CertHosts, CertHost{Host: w[1], CertName: w[2], Verify: v, ForceSSL: f})
	case "CERTVERIFY":
		return boolean(&c.CertVerify)
	case "FORCESSL":
		return boolean(&c.ForceSSL)
	case "ALARMCRITICAL":
		return boolean(&c.AlarmCritical)
	case "POLLFREQ":
		if err := seconds(&c.PollFreq, false); err != nil {
			return err
		}
		if c.PollFreq == 0 {
			return errf("must be at least 1 second")
		}
	case "POLLFREQALERT":
		if err := seconds(&c.PollFreqAlert, false); err != nil {
			return err
		}
		if c.PollFreqAlert == 0 {
			return errf("must be at least 1 second")
		}
	case "HOSTSYNC":
		return seconds(&c.HostSync, false)
	case "DEADTIME":
		return seconds(&c.DeadTime, false)
	case "FINALDELAY":
		return seconds(&c.FinalDelay, false)
	case "NOCOMMWARNTIME":
		return seconds(&c.NoCommWarn, false)
	case "RBWARNTIME":
		return seconds(&c.RBWarnTime, false)
	case "OFFDURATION":
		return seconds(&c.OffDuration, true)
	case "OVERDURATION":
		return seconds(&c.OverDuration, true)
	case "OBLBDURATION":
		return seconds(&c.OBLBDuration, true)
	case "POLLFAIL_LOG_THROTTLE_MAX":
		if err := args(1, "a count"); err != nil {
			return err
		}
		n, err := strconv.Atoi(w[1])
		if err != nil {
			return errf("%q is not a count", w[1])
		}
		c.PollFailLogThrottleMax = n
	case "DEBUG_MIN":
		if err := args(1, "a debug level"); err != nil {
			return err
		}
		n, err := strconv.Atoi(w[1])
		if err != nil || n < 0 {
			return errf("%q is not a debug level", w[1])
		}
		c.DebugMin, c.DebugMinSet = n, true
	case "NOTIFYMSG":
		if err := args(2, "a notify type and a message"); err != nil {
			return err
		}
		t, ok := ParseNotifyType(w[1])
		if !ok {
			return errf("%q is not a notify type (%s)", w[1], typeNames())
		}
		c.NotifyMsg[t] = w[2]
	case "NOTIFYFLAG":
		if err := args(2, "a notify type and flags such as SYSLOG+WALL+EXEC"); err != nil {
			return err
		}
		t, ok := ParseNotifyType(w[1])
		if !ok {
			return errf("%q is not a notify type (%s)", w[1], typeNames())
		}
		f, err := ParseNotifyFlags(w[2])
		if err != nil {
			return errf("%v", err)
		}
		if f&FlagIgnore != 0 && f != FlagIgnore {
			return errf("IGNORE cannot be combined with other flags (%s)", w[2])
		}
		c.NotifyFlags[t] = f
	default:
		return nutconf.Errorf(c.File, l.Num, "unknown directive %q", w[0])
	}
	return nil
}

func (c *Config) monitor(l nutconf.Line) error {
	w := l.Words
	const usage = "MONITOR ups@host[:port] powervalue username password primary|secondary"
	if len(w) != 6 {
		return nutconf.Errorf(c.File, l.Num, "MONITOR: want 5 arguments (%s), got %d", usage, len(w)-1)
	}
	name, err := client.ParseUPSName(w[1])
	if err != nil {
		return nutconf.Errorf(c.File, l.Num, "MONITOR: %v", err)
	}
	pv, err := strconv.Atoi(w[2])
	if err != nil || pv < 0 {
		return nutconf.Errorf(c.File, l.Num, "MONITOR %s: power value %q is not a number of power supplies (0 to watch only)", w[1], w[2])
	}
	m := MonitorConf{System: w[1], Name: name, PowerValue: pv, Username: w[3], Password: w[4], Line: l.Num}
	switch strings.ToLower(w[5]) {
	case "primary", "master":
		m.Primary = true
	case "secondary", "slave":
	default:
		return nutconf.Errorf(c.File, l.Num, "MONITOR %s: type %q is neither primary nor secondary (master and slave are accepted too)", w[1], w[5])
	}
	for _, o := range c.Monitors {
		if o.System == m.System {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s:%d: ignoring duplicate UPS [%s] (first at line %d)", c.File, l.Num, m.System, o.Line))
			return nil
		}
	}
	c.Monitors = append(c.Monitors, m)
	return nil
}

func typeNames() string {
	var s []string
	for _, t := range NotifyTypes() {
		s = append(s, t.String())
	}
	return strings.Join(s, " ")
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// parseBool reads NUT's boolean words: 1/0, yes/no, on/off, true/false.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "1", "yes", "on", "true":
		return true, true
	case "0", "no", "off", "false":
		return false, true
	}
	return false, false
}
