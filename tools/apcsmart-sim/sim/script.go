package sim

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ScriptHelp describes the script language Exec and RunScript read.
const ScriptHelp = `Script commands, one per line (# starts a comment):
  powerfail            mains failure: on battery, '!' alert
  restore              mains back: on line, '$' alert
  lowbatt              battery low: LB, 9 % charge, '%' alert
  charged              battery recharged: not LB, 100 %, '+' alert
  test                 start a battery self test (as 'W' does)
  endtest              end it: back on line, result OK
  alert C              send alert character C (! $ % + ? = # & | *)
  set C VALUE          raw reply to the query character C (e.g. set f 045.0;
                       \xNN for control characters; empty VALUE: answer NA)
  status HEX           status byte, e.g. status 50 for OB LB
  mode M               normal, noreply, garbage, partial or delayed
  delay DURATION       how long delayed mode waits (e.g. 5s)
  disconnect           the device disappears (the pseudo-terminal closes)
  reconnect            it comes back (a new pseudo-terminal behind the link)
  sleep DURATION       wait, e.g. sleep 10s
  show                 print the state
`

// Exec runs one script line against s.
func Exec(ctx context.Context, s *Sim, line string, w io.Writer) error {
	if i := strings.IndexByte(line, '#'); i >= 0 && !strings.HasPrefix(strings.TrimSpace(line), "alert") {
		line = line[:i]
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	arg := func(i int) (string, error) {
		if len(f) <= i {
			return "", fmt.Errorf("%s: missing argument (see help)", f[0])
		}
		return f[i], nil
	}
	switch f[0] {
	case "powerfail":
		s.PowerFail()
	case "restore":
		s.PowerRestore()
	case "lowbatt":
		s.LowBattery()
	case "charged":
		s.BatteryCharged()
	case "test":
		s.StartBatteryTest()
	case "endtest":
		s.EndBatteryTest()
	case "alert":
		a, err := arg(1)
		if err != nil {
			return err
		}
		s.Alert(a[0])
	case "set":
		c, err := arg(1)
		if err != nil {
			return err
		}
		cb, err := unescape(c)
		if err != nil || len(cb) != 1 {
			return fmt.Errorf("set: %q is not one character", c)
		}
		v, err := unescape(strings.Join(f[2:], " "))
		if err != nil {
			return fmt.Errorf("set: %v", err)
		}
		s.Set(cb[0], v)
	case "status":
		a, err := arg(1)
		if err != nil {
			return err
		}
		n, err := strconv.ParseUint(a, 16, 8)
		if err != nil {
			return fmt.Errorf("status: %q is not a hex byte", a)
		}
		s.SetStatus(byte(n))
	case "mode":
		a, err := arg(1)
		if err != nil {
			return err
		}
		m, err := ParseMode(a)
		if err != nil {
			return err
		}
		s.SetMode(m)
	case "delay", "sleep":
		a, err := arg(1)
		if err != nil {
			return err
		}
		d, err := time.ParseDuration(a)
		if err != nil {
			return fmt.Errorf("%s: %v", f[0], err)
		}
		if f[0] == "delay" {
			s.SetDelay(d)
			return nil
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	case "disconnect":
		return s.Disconnect()
	case "reconnect":
		return s.Reconnect()
	case "show":
		fmt.Fprintf(w, "status %02X smart %v connected %v\n%s\nactions: %q\n",
			s.Status(), s.Smart(), s.Connected(), strings.Join(s.Vars(), " "), s.Actions())
	case "help":
		io.WriteString(w, ScriptHelp)
	default:
		return fmt.Errorf("unknown command %q (try help)", f[0])
	}
	return nil
}

// RunScript runs every line of r; an error names the line.
func RunScript(ctx context.Context, s *Sim, r io.Reader, name string, w io.Writer) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		if err := Exec(ctx, s, sc.Text(), w); err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
	return sc.Err()
}

// unescape turns \xNN into bytes.
func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && s[i+1] == 'x' {
			n, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err != nil {
				return "", fmt.Errorf("bad escape %q", s[i:i+4])
			}
			b.WriteByte(byte(n))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}
