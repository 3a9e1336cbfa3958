package apcsmart

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.bug.st/serial"
)

// Port is the serial line to the UPS. go.bug.st/serial's serial.Port is
// one; tests may use any other.
type Port interface {
	Read(p []byte) (int, error) // returns 0, nil when the read timeout passes
	Write(p []byte) (int, error)
	SetReadTimeout(t time.Duration) error
	ResetInputBuffer() error
	Close() error
}

// OpenSerial opens a serial port as NUT's apcsmart does: 2400 baud, 8N1;
// with cable = 940-0095B, DTR is raised and RTS dropped.
func OpenSerial(path, cable string) (Port, error) {
	p, err := serial.Open(path, &serial.Mode{BaudRate: 2400, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if strings.EqualFold(cable, cable940_0095B) {
		if err := p.SetDTR(true); err != nil {
			p.Close()
			return nil, fmt.Errorf("set DTR on %s (cable %s): %w", path, cable, err)
		}
		if err := p.SetRTS(false); err != nil {
			p.Close()
			return nil, fmt.Errorf("set RTS on %s (cable %s): %w", path, cable, err)
		}
	}
	return p, nil
}

// Read timeouts, NUT's SER_D* values.
const (
	waitDefault = 3 * time.Second         // most replies
	waitShort   = 1500 * time.Millisecond // smart mode, shutdown replies
	waitPeek    = 200 * time.Millisecond  // "no answer expected yet" between bytes of a long command
	waitLong    = 6 * time.Second         // command set and capability string
	paceDelay   = 50 * time.Millisecond   // between the bytes of a long command
	repeatDelay = 1300 * time.Millisecond // before repeating a command that must be sent twice
)

// errNoReply is a read that timed out with nothing received when a
// reply was required.
var errNoReply = errors.New("no reply")

// errPartial is a read that timed out in the middle of a line.
var errPartial = errors.New("reply cut short: no line end before the timeout")

// portError is a failure of the port itself: the device is gone.
type portError struct{ err error }

func (e *portError) Error() string { return "serial port: " + e.err.Error() }
func (e *portError) Unwrap() error { return e.err }

// readOpts describe one read, after NUT's SER_* flags.
type readOpts struct {
	ignore    string
	alerts    bool
	asterisk  bool
	timeout   time.Duration
	timeoutOK bool // a timeout with nothing received is an empty reply, not an error
}

var (
	rdPlain  = readOpts{ignore: ignorePlain, timeout: waitDefault}
	rdAlerts = readOpts{ignore: ignoreAlerts, alerts: true, timeout: waitDefault}
)

// conn is the line discipline over a Port: NUT reads the tty in
// canonical mode (whole lines) and gonut reads it raw and assembles the
// lines itself, with the same result.
type conn struct {
	port    Port
	onAlert func(byte)
	pending []byte // bytes read past the end of the last line
	broken  error  // the first port error; the port must be reopened
	sleep   func(ctx context.Context, d time.Duration) error
}

func (c *conn) fail(err error) error {
	if c.broken == nil {
		c.broken = &portError{err}
	}
	return c.broken
}

// write sends one byte.
func (c *conn) write(b byte) error {
	if c.broken != nil {
		return c.broken
	}
	n, err := c.port.Write([]byte{b})
	if err == nil && n != 1 {
		err = fmt.Errorf("wrote %d bytes of 1", n)
	}
	if err != nil {
		return c.fail(fmt.Errorf("write %s: %w", printable(b), err))
	}
	return nil
}

// writePaced sends bytes 50 ms apart, as NUT sends the tail of a long
// command.
func (c *conn) writePaced(ctx context.Context, s string) error {
	for i := 0; i < len(s); i++ {
		if i > 0 {
			if err := c.sleep(ctx, paceDelay); err != nil {
				return err
			}
		}
		if err := c.write(s[i]); err != nil {
			return err
		}
	}
	return nil
}

// read reads one reply line. A read that times out with nothing received
// returns "", nil when o.timeoutOK and errNoReply otherwise; a line cut
// short gives errPartial, a line too long errOverflow (the rest of the
// input is then dropped), a port failure a *portError.
func (c *conn) read(ctx context.Context, o readOpts) (string, error) {
	if c.broken != nil {
		return "", c.broken
	}
	s := lineScanner{ignore: o.ignore, alerts: o.alerts, asterisk: o.asterisk, onAlert: c.onAlert}
	deadline := time.Now().Add(o.timeout)
	buf := make([]byte, 128)
	for {
		for len(c.pending) > 0 {
			b := c.pending[0]
			c.pending = c.pending[1:]
			res, err := s.feed(b)
			if err != nil {
				c.pending = nil
				c.port.ResetInputBuffer()
				return "", err
			}
			switch res {
			case scanLine:
				return string(s.buf), nil
			case scanAsterisk:
				// Some firmware sends "OK" as well as '*': give it a
				// second to arrive and drop it.
				c.pending = nil
				c.drain(ctx, time.Second, false)
				return "OK", nil
			}
		}
		if err := ctx.Err(); err != nil {
			return "", err
		}
		left := time.Until(deadline)
		if left <= 0 {
			switch {
			case len(s.buf) > 0:
				return "", errPartial
			case o.timeoutOK:
				return "", nil
			}
			return "", errNoReply
		}
		// Wake up now and then so that a cancelled ctx is noticed.
		if err := c.port.SetReadTimeout(min(left, 250*time.Millisecond)); err != nil {
			return "", c.fail(err)
		}
		n, err := c.port.Read(buf)
		if err != nil {
			return "", c.fail(fmt.Errorf("read: %w", err))
		}
		c.pending = append(c.pending, buf[:n]...)
	}
}

// drain reads and drops whatever arrives within d; with alerts set, the
// alert characters in it are handled first (NUT's apc_flush(SER_AA)).
func (c *conn) drain(ctx context.Context, d time.Duration, alerts bool) {
	deadline := time.Now().Add(d)
	buf := make([]byte, 128)
	for {
		for _, b := range c.pending {
			if alerts && c.onAlert != nil && strings.IndexByte(alertChars, b) >= 0 {
				c.onAlert(b)
			}
		}
		c.pending = nil
		if c.broken != nil || ctx.Err() != nil {
			return
		}
		left := time.Until(deadline)
		if err := c.port.SetReadTimeout(max(left, 0)); err != nil {
			c.fail(err)
			return
		}
		n, err := c.port.Read(buf)
		if err != nil {
			c.fail(fmt.Errorf("read: %w", err))
			return
		}
		if n == 0 {
			return
		}
		c.pending = append(c.pending, buf[:n]...)
	}
}

// flush empties the input before a command. Alert-aware flushes handle
// the alerts waiting in it; the others drop them with everything else
// (NUT's tcflush).
func (c *conn) flush(ctx context.Context, alerts bool) {
	if c.broken != nil {
		return
	}
	// NUT also discards output not yet sent (tcflush TCOFLUSH); gonut
	// does not: the second byte of a command sent twice may still be on
	// its way, and the next command would cut it off.
	if alerts {
		c.drain(ctx, 0, true)
		return
	}
	c.pending = nil
	if err := c.port.ResetInputBuffer(); err != nil {
		c.fail(fmt.Errorf("flush: %w", err))
	}
}
