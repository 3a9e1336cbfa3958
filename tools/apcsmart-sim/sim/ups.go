package sim

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Status bits of the reply to 'Q', as APC documents them.
const (
	StatCal   byte = 1 << 0 // runtime calibration running
	StatTrim  byte = 1 << 1 // SmartTrim
	StatBoost byte = 1 << 2 // SmartBoost
	StatOL    byte = 1 << 3 // on line
	StatOB    byte = 1 << 4 // on battery
	StatOver  byte = 1 << 5 // overload
	StatLB    byte = 1 << 6 // low battery
	StatRB    byte = 1 << 7 // replace battery
)

// Mode is how the simulated UPS answers.
type Mode int

const (
	// Normal answers as a Smart-UPS does.
	Normal Mode = iota
	// NoReply reads (and logs) everything and answers nothing: a dead UPS
	// or a broken cable.
	NoReply
	// Garbage answers every byte with line noise.
	Garbage
	// Partial answers with the first half of each reply and no line end.
	Partial
	// Delayed answers correctly, but only after the delay set by SetDelay.
	Delayed
)

func (m Mode) String() string {
	switch m {
	case Normal:
		return "normal"
	case NoReply:
		return "noreply"
	case Garbage:
		return "garbage"
	case Partial:
		return "partial"
	case Delayed:
		return "delayed"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads a mode name as String writes it.
func ParseMode(s string) (Mode, error) {
	for m := Normal; m <= Delayed; m++ {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown mode %q (want normal, noreply, garbage, partial or delayed)", s)
}

// Profile is what a simulated UPS knows before anyone talks to it.
type Profile struct {
	// Vars are the raw replies to variable queries, by command character;
	// a character without an entry is answered "NA".
	Vars map[byte]string
	// CmdSet is the reply to 'a' (protocol.alerts.commands); "" means NA.
	CmdSet string
	// Caps is the reply to ^Z, the capability string listing the values
	// each setting accepts; "" means NA.
	Caps string
	// Status is the initial status byte (the reply to 'Q').
	Status byte
	// Strings are the variables set with '-' followed by 8 characters
	// rather than by stepping through values (ups.id and battery.date).
	Strings string
}

// DefaultProfile is a Smart-UPS 3000 RM (firmware 92.11.D, locale D)
// modelled on a device dump of the NUT device dump library, with the
// capability string and command set such a unit reports.
func DefaultProfile() Profile {
	return Profile{
		Vars: map[byte]string{
			0x01: "SMART-UPS 3000 RM",
			'n':  "WS9951003031",
			'm':  "12/14/99",
			'b':  "92.11.D",
			'C':  "046.8",
			'P':  "016.0",
			'E':  "336",
			'X':  "NO",
			'r':  "000",
			'p':  "020",
			'c':  "UPS_IDEN",
			'L':  "121.5",
			'F':  "60.00",
			's':  "H",
			'9':  "FF",
			'l':  "103",
			'u':  "133",
			'G':  "O",
			'M':  "121.5",
			'N':  "121.5",
			'O':  "121.5",
			'o':  "115",
			'x':  "09/20/13",
			'f':  "100.0",
			'e':  "50",
			'B':  "55.05",
			'g':  "048",
			'j':  "0329:",
			'q':  "10",
			'>':  "000",
			'<':  "000",
			'k':  "0",
			'T':  "123.4",
		},
		CmdSet: "3.!$%+?=#|.\x01\x0e\x1a'+-8<>@9ABCDEFGKLMNOPQRSTUWXYZ^abcefgjklmnopqrsuxy~",
		Caps: "#uD43127130133136uM43229234239224lD43097100103106e44200155090oD13115" +
			"s431HMLq44202050710p443020180300600r443000060180300E443336168ON OFFk4410TLN",
		Status:  StatOL,
		Strings: "cx",
	}
}

// OldSmartUPSProfile is a Smart-UPS 1250 of 1994 (firmware "8QD"): it
// does not know 'a' or ^Z, so drivers take its command set from their
// table of old firmware.
func OldSmartUPSProfile() Profile {
	return Profile{
		Vars: map[byte]string{
			'V': "8QD", 'n': "QS9412345678", 'm': "07/12/94", 'C': "031.5", 'P': "042.6",
			'E': "336", 'X': "OK", 'r': "000", 'p': "020", 'c': "UPS_IDEN", 'L': "118.3",
			'F': "60.00", 's': "H", '9': "FF", 'l': "103", 'u': "132", 'G': "R", 'M': "119.0",
			'N': "117.6", 'O': "118.3", 'o': "115", 'f': "087.0", 'e': "00", 'B': "27.54",
			'g': "024", 'j': "0045:", 'q': "02", 'k': "0",
		},
		Status:  StatOL,
		Strings: "c",
	}
}

// DumbSmartUPSProfile is an early Smart-UPS that answers neither 'a' nor
// its firmware: drivers fall back to probing a few variables.
func DumbSmartUPSProfile() Profile {
	return Profile{
		Vars: map[byte]string{
			'C': "035.1", 'P': "012.0", 'L': "229.4", 'O': "229.4", 'f': "100.0", 'B': "27.60",
			'n': "NS0001", '/': "NA",
		},
		Status: StatOL | StatTrim,
	}
}

// MeasureUPSProfile is the Smart-UPS 3000 RM with a Measure-UPS II
// environmental probe: 'T' is then a temperature rather than the uptime,
// and several readings come as comma-separated lists, one value per probe.
func MeasureUPSProfile() Profile {
	p := DefaultProfile()
	p.CmdSet += "htH{}[]"
	for k, v := range map[byte]string{
		'T': "25.50", 't': "24.3", 'h': "41.0", 'H': "45.0,50.5", '{': "70.0,70.0",
		'}': "10.0,", '[': "40.0,,45.0", ']': "05.0,05.0,05.0,05.0,05.0",
	} {
		p.Vars[k] = v
	}
	return p
}

// Profiles are the simulated models by name, for the program's -profile.
var Profiles = map[string]func() Profile{
	"smart-ups-3000": DefaultProfile,
	"measure-ups":    MeasureUPSProfile,
	"smart-ups-1250": OldSmartUPSProfile,
	"smart-ups-old":  DumbSmartUPSProfile,
}

// UPS is the simulated device: a state machine fed one byte at a time by
// whatever transport carries it (Sim puts it on a pseudo-terminal). It is
// safe for concurrent use: tests script it while a driver talks to it.
type UPS struct {
	mu   sync.Mutex
	cond *sync.Cond

	vars    map[byte]string
	enums   map[byte][]string
	strs    string
	cmdset  string
	caps    string
	status  byte
	nominal string // input voltage to return to when the mains come back

	mode  Mode
	delay time.Duration
	smart bool

	rx      []byte
	counts  map[byte]int
	actions []string
	noise   int

	// multi-byte commands: '@' + 3 digits, '-' + 8 characters
	collect    byte
	collectBuf []byte
	lastVar    byte
	lastRep    byte
	lastRepAt  time.Time
	testing    bool
	bypass     bool
	now        func() time.Time
	out        func([]byte)
	testLength time.Duration
	testTimer  *time.Timer
}

// NewUPS returns a UPS in dumb mode (it answers nothing but 'Y' until a
// driver puts it into smart mode) with the profile's state. out receives
// every reply and alert; it must not block for long.
func NewUPS(p Profile, out func([]byte)) *UPS {
	u := &UPS{
		vars: map[byte]string{}, enums: parseCaps(p.Caps, p.Vars['b']),
		strs: p.Strings, cmdset: p.CmdSet, caps: p.Caps, status: p.Status,
		nominal: p.Vars['L'], counts: map[byte]int{}, now: time.Now, out: out,
	}
	for k, v := range p.Vars {
		u.vars[k] = v
	}
	u.cond = sync.NewCond(&u.mu)
	return u
}

// parseCaps reads a capability string into the values each variable
// steps through with '-', keeping the entries for the firmware's locale
// (its last character) and for all locales ('4').
func parseCaps(caps, firmware string) map[byte][]string {
	out := map[byte][]string{}
	if len(caps) < 2 || caps[0] != '#' {
		return out
	}
	var loc byte
	if firmware != "" {
		loc = firmware[len(firmware)-1]
	}
	s := caps[1:]
	for len(s) >= 4 {
		cmd, l, n, w := s[0], s[1], int(s[2]-'0'), int(s[3]-'0')
		s = s[4:]
		if n < 0 || w < 0 || n*w > len(s) {
			break
		}
		for i := 0; i < n; i++ {
			if l == loc || l == '4' {
				out[cmd] = append(out[cmd], s[i*w:(i+1)*w])
			}
		}
		s = s[n*w:]
	}
	return out
}

// garbage is the line noise Garbage mode sends, a piece at a time.
var garbage = []string{
	"\x00\xff\xfe", "#~@\x7f\r\n", "GARBAGE", "\x81\x82\x83\r\n", "99.9.9\r\n", "NA\r", "\n", "Z\x1a#\r\n",
}

// Receive is one byte from the driver.
func (u *UPS) Receive(b byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.rx = append(u.rx, b)
	u.counts[b]++
	defer u.cond.Broadcast()
	switch u.mode {
	case NoReply:
		return
	case Garbage:
		u.send(garbage[u.noise%len(garbage)])
		u.noise++
		return
	}
	u.receive(b)
}

func (u *UPS) receive(b byte) {
	if u.collect != 0 {
		u.collectByte(b)
		return
	}
	if !u.smart && b != 'Y' {
		return // a UPS in dumb mode ignores everything but 'Y'
	}
	switch b {
	case 'Y':
		u.smart = true
		u.reply("SM")
	case 27: // ESC: abandons whatever was under way
	case 'R':
		u.smart = false
		u.reply("BYE")
	case 'Q':
		u.reply(fmt.Sprintf("%02X", u.status))
	case 'a':
		u.replyOrNA(u.cmdset)
	case 0x1a:
		u.replyOrNA(u.caps)
	case '-':
		switch {
		case u.lastVar != 0 && strings.IndexByte(u.strs, u.lastVar) >= 0:
			u.collect, u.collectBuf = '-', nil
		case len(u.enums[u.lastVar]) > 0:
			u.rotate(u.lastVar)
			u.reply("OK")
		default:
			u.reply("NO")
		}
	case '@':
		u.collect, u.collectBuf = '@', nil
	case 'K', 'Z', 0x0e:
		// Commands that must be sent twice within a few seconds.
		now := u.now()
		if u.lastRep != b || now.Sub(u.lastRepAt) > 3*time.Second {
			u.lastRep, u.lastRepAt = b, now
			return
		}
		u.lastRep = 0
		switch b {
		case 'K':
			u.action("shutdown.stayoff K")
			u.reply("OK")
		case 'Z':
			u.action("load.off Z")
			u.status = 0
		case 0x0e:
			u.action("load.on ^N")
			u.status = StatOL
		}
	case 'S':
		if u.status&StatOB == 0 {
			u.reply("NA") // soft hibernate works on battery only
			return
		}
		u.action("shutdown.return S")
		u.reply("OK")
	case 'A':
		u.action("test.panel.start A")
		u.reply("OK")
	case 'U':
		u.action("test.failure.start U")
		u.reply("OK")
	case 'W':
		if u.testing {
			u.action("test.battery.stop W")
			u.endTest()
		} else {
			u.action("test.battery.start W")
			u.startTest()
		}
		u.reply("OK")
	case 'D':
		u.status ^= StatCal
		if u.status&StatCal != 0 {
			u.action("calibrate.start D")
		} else {
			u.action("calibrate.stop D")
		}
		u.reply("OK")
	case '^':
		u.bypass = !u.bypass
		if u.bypass {
			u.action("bypass.start ^")
			u.reply("BYP")
		} else {
			u.action("bypass.stop ^")
			u.reply("INV")
		}
	default:
		v, ok := u.vars[b]
		if !ok {
			u.reply("NA")
			return
		}
		u.lastVar = b
		u.reply(v)
		return
	}
	if b != '-' {
		u.lastVar = 0
	}
}

func (u *UPS) collectByte(b byte) {
	u.collectBuf = append(u.collectBuf, b)
	switch u.collect {
	case '@':
		if b < '0' || b > '9' {
			u.collect = 0
			u.reply("NO")
			return
		}
		if len(u.collectBuf) < 3 {
			return
		}
		u.collect = 0
		u.action("shutdown.return @" + string(u.collectBuf))
		u.reply("OK")
	case '-':
		if len(u.collectBuf) < 8 {
			return
		}
		u.collect = 0
		v := strings.TrimRight(string(u.collectBuf), "\r")
		u.vars[u.lastVar] = v
		u.action(fmt.Sprintf("set %c %s", u.lastVar, v))
		u.reply("OK")
	}
}

// rotate steps a setting to its next value, as '-' does.
func (u *UPS) rotate(c byte) {
	vals := u.enums[c]
	cur := u.vars[c]
	next := vals[0]
	for i, v := range vals {
		if v == cur {
			next = vals[(i+1)%len(vals)]
		}
	}
	u.vars[c] = next
	u.action(fmt.Sprintf("set %c %s", c, next))
}

func (u *UPS) action(a string) { u.actions = append(u.actions, a) }

func (u *UPS) replyOrNA(s string) {
	if s == "" {
		s = "NA"
	}
	u.reply(s)
}

// reply sends one reply line, shaped by the mode.
func (u *UPS) reply(s string) {
	switch u.mode {
	case Partial:
		u.send(s[:(len(s)+1)/2])
	case Delayed:
		d, line := u.delay, s+"\r\n"
		time.AfterFunc(d, func() { u.out([]byte(line)) })
	default:
		u.send(s + "\r\n")
	}
}

func (u *UPS) send(s string) { u.out([]byte(s)) }

// Alert sends an alert character on its own, as a Smart-UPS does when
// something happens: '!' on battery, '$' back on line, '%' low battery,
// '+' battery no longer low, '?' overload, '=' overload gone, '#' replace
// battery, '&' check the alarm register, '|' EEPROM changed, '*' about to
// turn off.
func (u *UPS) Alert(c byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.mode == NoReply {
		return
	}
	u.send(string([]byte{c}))
}

// Set sets the raw reply to a variable query ("" removes the variable:
// it answers NA).
func (u *UPS) Set(c byte, v string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if v == "" {
		delete(u.vars, c)
		return
	}
	u.vars[c] = v
}

// Get returns the raw reply to a variable query.
func (u *UPS) Get(c byte) (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	v, ok := u.vars[c]
	return v, ok
}

// SetStatus sets the status byte.
func (u *UPS) SetStatus(s byte) {
	u.mu.Lock()
	u.status = s
	u.mu.Unlock()
}

// Status returns the status byte.
func (u *UPS) Status() byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.status
}

// SetMode changes how the UPS answers.
func (u *UPS) SetMode(m Mode) {
	u.mu.Lock()
	u.mode = m
	u.mu.Unlock()
}

// SetDelay sets how long Delayed mode waits before answering.
func (u *UPS) SetDelay(d time.Duration) {
	u.mu.Lock()
	u.delay = d
	u.mu.Unlock()
}

// SetTestLength sets how long a battery test started with 'W' runs
// before it ends by itself; 0 (the default) means until the next 'W' or
// EndBatteryTest.
func (u *UPS) SetTestLength(d time.Duration) {
	u.mu.Lock()
	u.testLength = d
	u.mu.Unlock()
}

// Smart reports whether the UPS is in smart mode.
func (u *UPS) Smart() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.smart
}

// ResetSmart puts the UPS back into dumb mode, as after a power cycle.
func (u *UPS) ResetSmart() {
	u.mu.Lock()
	u.smart, u.collect = false, 0
	u.mu.Unlock()
}

// PowerFail is a mains failure: on battery, no input voltage, transfer
// reason "low utility voltage", and the '!' alert.
func (u *UPS) PowerFail() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.status = u.status&^StatOL | StatOB
	u.vars['L'], u.vars['G'] = "000.0", "L"
	if u.mode != NoReply {
		u.send("!")
	}
}

// PowerRestore brings the mains back: on line, battery no longer low,
// input voltage back to nominal, and the '$' alert.
func (u *UPS) PowerRestore() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.status = u.status&^(StatOB|StatLB) | StatOL
	u.vars['L'] = u.nominal
	if u.mode != NoReply {
		u.send("$")
	}
}

// LowBattery runs the battery down: low battery, 9 % charge, one minute
// left, and the '%' alert.
func (u *UPS) LowBattery() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.status |= StatLB
	u.vars['f'], u.vars['j'] = "009.0", "0001:"
	if u.mode != NoReply {
		u.send("%")
	}
}

// BatteryCharged recharges the battery: not low, 100 %, and the '+' alert.
func (u *UPS) BatteryCharged() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.status &^= StatLB
	u.vars['f'], u.vars['j'] = "100.0", "0329:"
	if u.mode != NoReply {
		u.send("+")
	}
}

// StartBatteryTest starts a self test as 'W' does: the UPS runs on
// battery, with "simulated power failure or UPS test" as the transfer
// reason, until the test ends.
func (u *UPS) StartBatteryTest() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.startTest()
}

// EndBatteryTest ends a self test: back on line, result "OK".
func (u *UPS) EndBatteryTest() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.endTest()
}

func (u *UPS) startTest() {
	u.testing = true
	u.status = u.status&^StatOL | StatOB
	u.vars['G'] = "S"
	if u.testLength > 0 {
		u.testTimer = time.AfterFunc(u.testLength, u.EndBatteryTest)
	}
}

func (u *UPS) endTest() {
	if !u.testing {
		return
	}
	u.testing = false
	if u.testTimer != nil {
		u.testTimer.Stop()
		u.testTimer = nil
	}
	u.status = u.status&^StatOB | StatOL
	u.vars['X'] = "OK"
}

// Received returns a copy of every byte received so far.
func (u *UPS) Received() []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]byte(nil), u.rx...)
}

// Count returns how many times byte b was received.
func (u *UPS) Count(b byte) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.counts[b]
}

// Actions returns what the UPS did on command, in order: "load.off Z",
// "shutdown.return @005", "set u 133", ...
func (u *UPS) Actions() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.actions...)
}

// Vars returns the current raw values, sorted by command character, as
// "c=value" strings (for logs and failure messages).
func (u *UPS) Vars() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for k, v := range u.vars {
		out = append(out, fmt.Sprintf("%q=%s", k, v))
	}
	sort.Strings(out)
	return out
}

// WaitCount waits until byte b was received at least n times in all, or
// ctx ends.
func (u *UPS) WaitCount(ctx context.Context, b byte, n int) error {
	return u.wait(ctx, func() bool { return u.counts[b] >= n },
		func() string { return fmt.Sprintf("byte %q received %d times, want %d", b, u.counts[b], n) })
}

// WaitAction waits until the UPS has done n actions in all, or ctx ends.
func (u *UPS) WaitAction(ctx context.Context, n int) error {
	return u.wait(ctx, func() bool { return len(u.actions) >= n },
		func() string { return fmt.Sprintf("%d actions (%q), want %d", len(u.actions), u.actions, n) })
}

func (u *UPS) wait(ctx context.Context, ok func() bool, state func() string) error {
	stop := context.AfterFunc(ctx, func() {
		u.mu.Lock()
		u.cond.Broadcast()
		u.mu.Unlock()
	})
	defer stop()
	u.mu.Lock()
	defer u.mu.Unlock()
	for !ok() {
		if ctx.Err() != nil {
			return fmt.Errorf("apcsmart-sim: %s: %w", state(), ctx.Err())
		}
		u.cond.Wait()
	}
	return nil
}
