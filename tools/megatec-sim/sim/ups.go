package sim

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Status is a Megatec UPS's measurements and status bits: what its Q1 reply
// carries.
type Status struct {
	InputVoltage      float64
	InputFaultVoltage float64
	OutputVoltage     float64
	Load              int // percent
	Frequency         float64
	BatteryVoltage    float64
	Temperature       float64

	// The eight status bits of the Q1 reply, b7 first.
	UtilityFail    bool // b7: on battery
	BatteryLow     bool // b6
	BypassBoost    bool // b5: bypass, boost or buck active
	UPSFailed      bool // b4
	Standby        bool // b3: offline / line-interactive rather than online
	TestInProgress bool // b2
	ShutdownActive bool // b1
	BeeperOn       bool // b0
}

// Bits is the status bits field of the Q1 reply ("00001001").
func (s Status) Bits() string {
	var b strings.Builder
	for _, on := range []bool{s.UtilityFail, s.BatteryLow, s.BypassBoost, s.UPSFailed, s.Standby, s.TestInProgress, s.ShutdownActive, s.BeeperOn} {
		if on {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	return b.String()
}

// Q1 formats the Q1 reply, "(226.0 195.0 226.0 014 49.0 27.5 30.0 00001000\r".
func (s Status) Q1() string {
	batt := fmt.Sprintf("%04.1f", s.BatteryVoltage)
	if s.BatteryVoltage < 10 {
		batt = fmt.Sprintf("%4.2f", s.BatteryVoltage) // per-cell voltage, as some models report
	}
	return fmt.Sprintf("(%05.1f %05.1f %05.1f %03d %04.1f %s %04.1f %s\r",
		s.InputVoltage, s.InputFaultVoltage, s.OutputVoltage, s.Load, s.Frequency, batt, s.Temperature, s.Bits())
}

// Rating is the F reply's contents.
type Rating struct {
	Voltage        float64 // input.voltage.nominal
	Current        int     // input.current.nominal
	BatteryVoltage float64 // battery.voltage.nominal
	Frequency      float64 // input.frequency.nominal
}

// F formats the F reply, "#220.0 000 024.0 50.0\r".
func (r Rating) F() string {
	return fmt.Sprintf("#%05.1f %03d %05.1f %04.1f\r", r.Voltage, r.Current, r.BatteryVoltage, r.Frequency)
}

// Info is the I reply's contents.
type Info struct {
	Mfr      string // 15 characters at most
	Model    string // 10
	Firmware string // 10
}

// I formats the I reply, "#Company_Name    UPS_Model  Version   \r".
func (i Info) I() string {
	return fmt.Sprintf("#%-15.15s %-10.10s %-10.10s\r", i.Mfr, i.Model, i.Firmware)
}

// Fault is how the simulated UPS misbehaves on the line.
type Fault int

// Faults, set with UPS.SetFault or the "fault" script command.
const (
	FaultNone    Fault = iota
	FaultNoReply       // reads commands, answers nothing
	FaultGarbage       // answers every command with random-looking bytes and CR
	FaultPartial       // answers the first half of the reply, without CR
)

var faultNames = map[string]Fault{"none": FaultNone, "noreply": FaultNoReply, "garbage": FaultGarbage, "partial": FaultPartial}

// String is the fault's script name.
func (f Fault) String() string {
	for n, v := range faultNames {
		if v == f {
			return n
		}
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

// UPS is a simulated Megatec/Q1 UPS: the protocol brain shared by the
// serial (pty) and the USB transports. It is safe for concurrent use.
type UPS struct {
	mu      sync.Mutex
	status  Status
	rating  Rating
	info    Info
	fault   Fault
	delay   time.Duration
	ack     bool
	testEnd time.Time // zero: the battery test runs until CT
	// TestDuration is how long T and TL keep the test bit set; 0 keeps it
	// until CT. Tests use 0 so that nothing depends on the clock.
	testDuration time.Duration
	received     []string
	changed      chan struct{}
	garbageSeq   int
}

// New returns a UPS on line power with a 24 V battery and sensible
// readings.
func New() *UPS {
	return &UPS{
		status: Status{
			InputVoltage: 230.0, InputFaultVoltage: 230.0, OutputVoltage: 230.0,
			Load: 20, Frequency: 50.0, BatteryVoltage: 27.4, Temperature: 25.0,
			Standby: true, BeeperOn: true,
		},
		rating:       Rating{Voltage: 230.0, Current: 4, BatteryVoltage: 24.0, Frequency: 50.0},
		info:         Info{Mfr: "MEGATEC", Model: "SIM-1000", Firmware: "1.00"},
		testDuration: 10 * time.Second,
		changed:      make(chan struct{}, 1),
	}
}

// Status returns the current status.
func (u *UPS) Status() Status {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.expireTestLocked()
	return u.status
}

// SetStatus replaces the status.
func (u *UPS) SetStatus(s Status) {
	u.mu.Lock()
	u.status = s
	u.mu.Unlock()
}

// SetRating replaces the F reply's contents.
func (u *UPS) SetRating(r Rating) {
	u.mu.Lock()
	u.rating = r
	u.mu.Unlock()
}

// SetInfo replaces the I reply's contents.
func (u *UPS) SetInfo(i Info) {
	u.mu.Lock()
	u.info = i
	u.mu.Unlock()
}

// SetFault makes the UPS misbehave (or behave again with FaultNone).
func (u *UPS) SetFault(f Fault) {
	u.mu.Lock()
	u.fault = f
	u.mu.Unlock()
}

// SetDelay delays every reply by d (0: answer at once).
func (u *UPS) SetDelay(d time.Duration) {
	u.mu.Lock()
	u.delay = d
	u.mu.Unlock()
}

// SetAck makes the UPS answer control commands (S, T, C, Q...) with
// "ACK" as some models do; by default it answers them with nothing, as
// most Megatec UPSes do.
func (u *UPS) SetAck(on bool) {
	u.mu.Lock()
	u.ack = on
	u.mu.Unlock()
}

// SetTestDuration sets how long a battery test started by T or TL runs;
// 0 runs it until CT.
func (u *UPS) SetTestDuration(d time.Duration) {
	u.mu.Lock()
	u.testDuration = d
	u.mu.Unlock()
}

// Delay is the configured reply delay.
func (u *UPS) Delay() time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.delay
}

// Received returns every command received so far, each with its CR, in
// order.
func (u *UPS) Received() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.received...)
}

// Commands returns the received commands other than the polls (Q1, F, I,
// and the other protocols' status queries): what instant commands sent.
func (u *UPS) Commands() []string {
	var out []string
	for _, c := range u.Received() {
		switch c {
		case "Q1\r", "F\r", "I\r", "QS\r", "D\r", "FW?\r":
			continue
		}
		out = append(out, c)
	}
	return out
}

// ResetReceived forgets the received commands.
func (u *UPS) ResetReceived() {
	u.mu.Lock()
	u.received = nil
	u.mu.Unlock()
}

// Changed is signalled (without blocking) each time a command arrives, so
// tests can wait for one instead of sleeping.
func (u *UPS) Changed() <-chan struct{} { return u.changed }

func (u *UPS) expireTestLocked() {
	if u.status.TestInProgress && !u.testEnd.IsZero() && time.Now().After(u.testEnd) {
		u.status.TestInProgress = false
		u.testEnd = time.Time{}
	}
}

// Respond handles one command (with its trailing CR) and returns the
// reply bytes, nil for none. It applies the command's effect (a battery
// test, a pending shutdown, the beeper) and the configured fault.
func (u *UPS) Respond(cmd string) []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.received = append(u.received, cmd)
	select {
	case u.changed <- struct{}{}:
	default:
	}
	u.expireTestLocked()
	reply := u.replyLocked(cmd)
	switch u.fault {
	case FaultNoReply:
		return nil
	case FaultGarbage:
		u.garbageSeq++
		// Printable junk, bytes above 0x7F, a NUL and a lone LF, then
		// the CR that ends a line: everything a reply parser must survive.
		g := []byte(fmt.Sprintf("(\xff\x00%d garbage \n 1.2.3 zz 0101%d", u.garbageSeq, u.garbageSeq))
		return append(g, '\r')
	case FaultPartial:
		if len(reply) > 1 {
			return []byte(reply[:len(reply)/2])
		}
		return nil
	}
	if reply == "" {
		return nil
	}
	return []byte(reply)
}

// replyLocked is the Megatec protocol: the reply to cmd, "" for none.
// Unknown commands are echoed back, as the protocol says.
func (u *UPS) replyLocked(cmd string) string {
	c := strings.TrimSuffix(cmd, "\r")
	ack := ""
	if u.ack {
		ack = "ACK\r"
	}
	switch {
	case c == "Q1":
		return u.status.Q1()
	case c == "F":
		return u.rating.F()
	case c == "I":
		return u.info.I()
	case c == "T" || c == "TL":
		u.startTestLocked(u.testDuration)
		return ack
	case len(c) == 3 && c[0] == 'T' && isDigits(c[1:]):
		n, _ := strconv.Atoi(c[1:])
		d := time.Duration(n) * time.Minute
		if u.testDuration == 0 {
			d = 0
		}
		u.startTestLocked(d)
		return ack
	case c == "CT":
		u.status.TestInProgress = false
		u.testEnd = time.Time{}
		return ack
	case c == "Q":
		u.status.BeeperOn = !u.status.BeeperOn
		return ack
	case c == "C":
		u.status.ShutdownActive = false
		return ack
	case isShutdown(c):
		u.status.ShutdownActive = true
		return ack
	}
	return cmd
}

func (u *UPS) startTestLocked(d time.Duration) {
	u.status.TestInProgress = true
	u.testEnd = time.Time{}
	if d > 0 {
		u.testEnd = time.Now().Add(d)
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isShutdown recognizes Sn and SnRm: n is ".2" to ".9" or "01" to "10",
// m is four digits.
func isShutdown(c string) bool {
	if len(c) < 3 || c[0] != 'S' {
		return false
	}
	n, rest := c[1:3], c[3:]
	if !(n[0] == '.' && n[1] >= '0' && n[1] <= '9') && !isDigits(n) {
		return false
	}
	if rest == "" {
		return true
	}
	return len(rest) == 5 && rest[0] == 'R' && isDigits(rest[1:])
}
