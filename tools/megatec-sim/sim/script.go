package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ScriptHelp describes the script commands, for the program's -h and for
// the docs.
const ScriptHelp = `Script commands (one per line, # starts a comment):
  mains off|on          utility failure (on battery) or back on line
  lowbatt on|off        battery low bit (and a low battery voltage)
  test on|off           battery test in progress bit
  fault none|noreply|garbage|partial
                        answer normally, not at all, with garbage, or half a reply without CR
  delay DURATION        delay every reply (e.g. 500ms; 0 to stop)
  ack on|off            answer control commands with ACK instead of nothing
  set FIELD VALUE       input.voltage, input.voltage.fault, output.voltage, load,
                        frequency, battery.voltage, temperature, or bits (8 digits 0/1)
  disconnect            the pty disappears (its link is removed)
  reconnect             a new pty appears behind the same link
  sleep DURATION        wait (scripts only)`

// Apply runs one script command that concerns the UPS itself (everything
// but disconnect, reconnect and sleep, which belong to the pty; see
// Serial.Apply).
func (u *UPS) Apply(line string) error {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	arg := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	onOff := func() (bool, error) {
		switch arg(1) {
		case "on":
			return true, nil
		case "off":
			return false, nil
		}
		return false, fmt.Errorf("%q: want %s on|off", line, f[0])
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	s := &u.status
	switch f[0] {
	case "mains":
		off, err := onOff()
		if err != nil {
			return err
		}
		// "mains off" means the utility failed: the argument is the
		// mains, not the bit.
		if !off {
			s.UtilityFail, s.InputVoltage, s.InputFaultVoltage, s.BatteryVoltage = true, 0, 0, 25.2
		} else {
			s.UtilityFail, s.BatteryLow, s.InputVoltage, s.InputFaultVoltage, s.BatteryVoltage = false, false, 230, 230, 27.4
		}
	case "lowbatt":
		on, err := onOff()
		if err != nil {
			return err
		}
		s.BatteryLow = on
		if on {
			s.BatteryVoltage = 21.8
		}
	case "test":
		on, err := onOff()
		if err != nil {
			return err
		}
		s.TestInProgress, u.testEnd = on, time.Time{}
	case "ack":
		on, err := onOff()
		if err != nil {
			return err
		}
		u.ack = on
	case "fault":
		ft, ok := faultNames[arg(1)]
		if !ok {
			return fmt.Errorf("%q: want fault none|noreply|garbage|partial", line)
		}
		u.fault = ft
	case "delay":
		d, err := time.ParseDuration(arg(1))
		if err != nil || d < 0 {
			return fmt.Errorf("%q: want delay DURATION (e.g. 500ms)", line)
		}
		u.delay = d
	case "set":
		return u.setLocked(line, arg(1), arg(2))
	default:
		return fmt.Errorf("%q: unknown command %q", line, f[0])
	}
	return nil
}

func (u *UPS) setLocked(line, field, value string) error {
	s := &u.status
	if field == "bits" {
		if len(value) != 8 || strings.Trim(value, "01") != "" {
			return fmt.Errorf("%q: bits wants 8 digits 0 or 1", line)
		}
		b := func(i int) bool { return value[i] == '1' }
		s.UtilityFail, s.BatteryLow, s.BypassBoost, s.UPSFailed = b(0), b(1), b(2), b(3)
		s.Standby, s.TestInProgress, s.ShutdownActive, s.BeeperOn = b(4), b(5), b(6), b(7)
		return nil
	}
	v, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return fmt.Errorf("%q: %q is not a number", line, value)
	}
	switch field {
	case "input.voltage":
		s.InputVoltage = v
	case "input.voltage.fault":
		s.InputFaultVoltage = v
	case "output.voltage":
		s.OutputVoltage = v
	case "load":
		s.Load = int(v)
	case "frequency":
		s.Frequency = v
	case "battery.voltage":
		s.BatteryVoltage = v
	case "temperature":
		s.Temperature = v
	default:
		return fmt.Errorf("%q: unknown field %q", line, field)
	}
	return nil
}
