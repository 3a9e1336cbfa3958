package blazer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gonut/gonut/sdk"
	"github.com/hashicorp/go-hclog"
	"go.bug.st/serial"
)

// SerialInfo describes blazer_ser.
var SerialInfo = sdk.Info{
	Name:        "blazer_ser",
	Version:     "1.0",
	Description: "Megatec/Q1 protocol serial driver",
	Options: append([]sdk.OptionInfo{
		{Name: "cablepower", Help: "Set cable power for serial interface"},
	}, CommonOptions...),
}

// NewSerial returns the blazer_ser driver.
func NewSerial() *Driver { return New(OpenSerial) }

// Serial timing, as NUT's blazer_ser: a reply has one second to arrive.
const (
	SerialReplyTimeout = time.Second
	serialMaxReply     = 512 // NUT's SMALLBUF
	reopenMin          = time.Second
	reopenMax          = 30 * time.Second
)

var cablePower = map[string][2]bool{ // DTR, RTS
	"normal": {true, false}, "reverse": {false, true}, "both": {true, true}, "none": {false, false},
}

// OpenSerial opens ups.conf's port at 2400 baud, 8N1, with the DTR/RTS
// lines set by cablepower (blazer_ser's upsdrv_initups).
func OpenSerial(ctx context.Context, d *sdk.Device) (Transport, error) {
	opts := d.Options()
	port := opts.Port()
	if port == "" {
		return nil, errors.New("no port given in ups.conf")
	}
	cp := "normal"
	if v, ok := opts.Get("cablepower"); ok {
		cp = strings.ToLower(v)
	}
	lines, ok := cablePower[cp]
	if !ok {
		v, _ := opts.Get("cablepower")
		return nil, fmt.Errorf("value '%s' not valid for 'cablepower' (want normal, reverse, both or none)", v)
	}
	s := &SerialTransport{path: port, dtr: lines[0], rts: lines[1], log: d.Logger(), timeout: SerialReplyTimeout}
	if err := s.open(); err != nil {
		return nil, err
	}
	// Let the cable power settle, as NUT does.
	select {
	case <-time.After(100 * time.Millisecond):
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
	return s, nil
}

// SerialTransport is a Megatec serial line. When the line fails (the
// device file disappears, a USB-serial adapter is unplugged, a pty is
// closed) it closes the port and reopens it on later commands, backing off
// from one second to thirty, logging once when it is lost and once when it
// is back.
type SerialTransport struct {
	path     string
	dtr, rts bool
	log      hclog.Logger
	timeout  time.Duration

	mu       sync.Mutex
	port     serial.Port
	lost     bool // the port failed and is being reopened
	backoff  time.Duration
	nextOpen time.Time
	lastErr  error
}

func (s *SerialTransport) open() error {
	p, err := serial.Open(s.path, &serial.Mode{BaudRate: 2400, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return fmt.Errorf("unable to open %s: %w", s.path, err)
	}
	// A pty or some adapters have no modem lines; NUT ignores that too.
	if err := p.SetDTR(s.dtr); err != nil {
		s.log.Trace("cannot set DTR", "port", s.path, "error", err)
	}
	if err := p.SetRTS(s.rts); err != nil {
		s.log.Trace("cannot set RTS", "port", s.path, "error", err)
	}
	s.port = p
	return nil
}

// drop closes a failed port; the next Command reopens it.
func (s *SerialTransport) drop(err error) {
	if s.port != nil {
		s.port.Close()
		s.port = nil
	}
	if !s.lost {
		s.log.Warn("serial line lost; reopening it in the background", "port", s.path, "error", err)
		s.lost = true
		s.backoff = reopenMin
	}
	s.nextOpen = time.Now().Add(s.backoff)
	s.lastErr = err
}

// Command sends cmd and reads one line of reply (up to CR or LF, as the
// tty's canonical mode gives NUT), within the reply timeout.
func (s *SerialTransport) Command(ctx context.Context, cmd string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.port == nil {
		if time.Now().Before(s.nextOpen) {
			return nil, fmt.Errorf("%s: waiting to reopen: %w", s.path, s.lastErr)
		}
		if err := s.open(); err != nil {
			s.backoff = min(2*s.backoff, reopenMax)
			s.nextOpen = time.Now().Add(s.backoff)
			s.lastErr = err
			return nil, err
		}
		s.log.Info("serial line back", "port", s.path)
		s.lost = false
	}
	// ser_flush_io: forget what a late reply left behind.
	if err := s.port.ResetInputBuffer(); err != nil {
		s.drop(err)
		return nil, err
	}
	if _, err := s.port.Write([]byte(cmd)); err != nil {
		s.drop(err)
		return nil, fmt.Errorf("%s: send: %w", s.path, err)
	}
	deadline := time.Now().Add(s.timeout)
	var line []byte
	buf := make([]byte, serialMaxReply)
	for {
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return nil, nil // timeout: no (complete) reply
		}
		if err := s.port.SetReadTimeout(left); err != nil {
			s.drop(err)
			return nil, err
		}
		// One byte at a time would be slow at 2400 baud anyway; read
		// what is there and keep only the first line, as a canonical
		// read does (the rest is flushed before the next command).
		n, err := s.port.Read(buf[:serialMaxReply-len(line)])
		if err != nil {
			s.drop(err)
			return nil, fmt.Errorf("%s: read: %w", s.path, err)
		}
		if n == 0 {
			return nil, nil
		}
		for i, c := range buf[:n] {
			if c == '\r' || c == '\n' {
				return append(line, buf[:i+1]...), nil
			}
		}
		line = append(line, buf[:n]...)
		if len(line) >= serialMaxReply-1 {
			return line, nil
		}
	}
}

// Close closes the port.
func (s *SerialTransport) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.port == nil {
		return nil
	}
	s.port.SetDTR(false)
	err := s.port.Close()
	s.port = nil
	return err
}
