package sim

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
)

// USB is a simulated USB-serial bridge in front of a UPS, in process: it
// speaks one blazer_usb subdriver's framing (cypress, phoenix, ippon,
// krauler, fabula or fuji) through the methods of blazer.USBDevice, so that the driver's
// USB code runs against it without hardware. It checks the framing: a
// transfer the bridge would not take fails with ErrPipe.
type USB struct {
	ups  *UPS
	kind string

	mu       sync.Mutex
	cmd      []byte
	pending  []byte // reply bytes not yet read
	stale    []byte // junk a phoenix bridge holds before each command
	noAcks   int    // krauler: answer "UPS No Ack" this many times first
	unplug   bool
	closed   bool
	Requests []string // every transfer, for tests, e.g. "ctrl 21 09 0200 0000 [Q1\r\x00...]"
}

// USB transfer errors of the fake.
var (
	ErrPipe     = errors.New("usb sim: pipe error (request the bridge does not take)")
	ErrNoDevice = errors.New("usb sim: no such device")
)

// usbTimeout is a transfer that timed out; it has Timeout() true, as
// blazer.IsUSBTimeout wants.
type usbTimeout struct{}

func (usbTimeout) Error() string { return "usb sim: transfer timed out" }
func (usbTimeout) Timeout() bool { return true }

// NewUSB returns a bridge of the given kind in front of u.
func NewUSB(u *UPS, kind string) (*USB, error) {
	switch kind {
	case "cypress", "phoenix", "ippon", "krauler", "fabula", "fuji":
	default:
		return nil, fmt.Errorf("usb sim: unknown subdriver %q", kind)
	}
	return &USB{ups: u, kind: kind}, nil
}

// SetStale makes a phoenix bridge hold junk that the driver must drain
// before each command.
func (b *USB) SetStale(junk string) {
	b.mu.Lock()
	b.stale = []byte(junk)
	b.pending = append(b.pending, b.stale...)
	b.mu.Unlock()
}

// SetNoAcks makes a krauler bridge answer "UPS No Ack" n times before
// each real answer.
func (b *USB) SetNoAcks(n int) {
	b.mu.Lock()
	b.noAcks = n
	b.mu.Unlock()
}

// Unplug makes every transfer fail with ErrNoDevice until Plug.
func (b *USB) Unplug() { b.mu.Lock(); b.unplug = true; b.mu.Unlock() }

// Plug undoes Unplug.
func (b *USB) Plug() { b.mu.Lock(); b.unplug = false; b.mu.Unlock() }

// Control is a control transfer.
func (b *USB) Control(rType, request uint8, value, index uint16, data []byte, _ time.Duration) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Requests = append(b.Requests, fmt.Sprintf("ctrl %02x %02x %04x %04x %q", rType, request, value, index, data))
	if b.unplug || b.closed {
		return 0, ErrNoDevice
	}
	switch b.kind {
	case "krauler":
		return b.kraulerLocked(rType, request, value, index, data)
	case "fabula":
		return b.fabulaLocked(rType, request, value, index, data)
	case "fuji":
		return 0, ErrPipe
	}
	want := uint16(0x200)
	if b.kind == "ippon" {
		want = 0x2
	}
	if rType != 0x21 || request != 0x09 || value != want || index != 0 || len(data) != 8 {
		return 0, ErrPipe
	}
	for _, c := range data {
		if c == 0 {
			break
		}
		b.cmd = append(b.cmd, c)
		if c == '\r' {
			reply := b.ups.Respond(string(b.cmd))
			b.cmd = b.cmd[:0]
			if b.kind == "phoenix" {
				b.pending = append(b.pending, b.stale...)
			}
			b.pending = append(b.pending, reply...)
		}
	}
	return len(data), nil
}

// InterruptIn reads from endpoint 0x81: 8-byte reports (cypress,
// phoenix) or one 64-byte report (ippon).
func (b *USB) InterruptIn(buf []byte, _ time.Duration) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Requests = append(b.Requests, fmt.Sprintf("intr %d", len(buf)))
	if b.unplug || b.closed {
		return 0, ErrNoDevice
	}
	switch b.kind {
	case "krauler", "fabula":
		return 0, ErrPipe
	case "ippon":
		if len(buf) != 64 {
			return 0, ErrPipe
		}
		if len(b.pending) == 0 {
			return 0, usbTimeout{}
		}
		for i := range buf {
			buf[i] = 0
		}
		n := copy(buf, b.pending)
		b.pending = b.pending[n:]
		return 64, nil
	}
	if len(buf) != 8 {
		return 0, ErrPipe
	}
	if len(b.pending) == 0 {
		return 0, usbTimeout{}
	}
	for i := range buf {
		buf[i] = 0
	}
	n := copy(buf, b.pending)
	b.pending = b.pending[n:]
	return 8, nil
}

// Krauler bridges answer each command through a string descriptor.
var kraulerIndex = map[uint16]string{
	0x03: "Q1\r", 0x0d: "F\r", 0x0c: "I\r", 0x04: "T\r", 0x05: "TL\r", 0x07: "Q\r", 0x0b: "C\r",
}

func (b *USB) kraulerLocked(rType, request uint8, value, index uint16, data []byte) (int, error) {
	if rType != 0x80 || request != 0x06 || value>>8 != 0x03 {
		return 0, ErrPipe
	}
	idx := value & 0xff
	var s string
	switch {
	case idx == 0:
		return copy(data, []byte{4, 3, 0x09, 0x04}), nil
	case index != 0x0409:
		return 0, ErrPipe
	case b.noAcks > 0:
		b.noAcks--
		s = "UPS No Ack"
	default:
		cmd, ok := kraulerIndex[idx]
		if !ok {
			return 0, ErrPipe
		}
		reply := string(b.ups.Respond(cmd))
		if reply == "" {
			return 0, usbTimeout{}
		}
		// The bridge's answer starts with a byte of its own, which
		// the driver replaces.
		s = "\x01" + strings.TrimPrefix(strings.TrimPrefix(reply, "("), "#")
	}
	var desc []byte
	for _, u := range utf16.Encode([]rune(s)) {
		desc = append(desc, byte(u), byte(u>>8))
	}
	desc = append([]byte{byte(len(desc) + 2), 3}, desc...)
	return copy(data, desc), nil
}

// InterruptOut writes to endpoint 0x02: fuji's command transfers,
// 0x80 0x06 <len+1> 0x03 <command> <padding> <answer length>.
func (b *USB) InterruptOut(data []byte, _ time.Duration) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Requests = append(b.Requests, fmt.Sprintf("iout %q", data))
	if b.unplug || b.closed {
		return 0, ErrNoDevice
	}
	if b.kind != "fuji" || len(data) != 8 || data[0] != 0x80 || data[1] != 0x06 || data[3] != 0x03 || data[2] < 2 || data[2] > 4 {
		return 0, ErrPipe
	}
	cmd := string(data[4:4+data[2]-1]) + "\r"
	b.pending = append(b.pending, b.ups.Respond(cmd)...)
	// Answers come in 8-byte reports padded with NULs.
	for len(b.pending)%8 != 0 {
		b.pending = append(b.pending, 0)
	}
	return 8, nil
}

// Fabula bridges answer queries through string descriptors and take
// commands as descriptor indexes; they answer every command "UPS No Ack".
var fabulaIndex = map[uint16]string{0x03: "Q1\r", 0x0d: "F\r", 0x0c: "I\r", 0x07: "Q\r", 0x0a: "C\r"}

func (b *USB) fabulaLocked(rType, request uint8, value, index uint16, data []byte) (int, error) {
	if rType != 0x80 || request != 0x06 || value>>8 != 0x03 {
		return 0, ErrPipe
	}
	idx := value & 0xff
	if idx == 0 {
		return copy(data, []byte{4, 3, 0x09, 0x04}), nil
	}
	if index != 0x0409 {
		return 0, ErrPipe
	}
	cmd, ok := fabulaIndex[idx]
	if !ok {
		if idx < 0x10 || idx&7 != 0 {
			return 0, ErrPipe
		}
		// A shutdown: delay code in the high nibble, 8 for "return".
		n := idx >> 4
		delay := fmt.Sprintf("%02d", n-5)
		if n <= 5 {
			delay = fmt.Sprintf(".%d", n+4)
		}
		ret := "R0000"
		if idx&8 != 0 {
			ret = "R0001"
		}
		cmd = "S" + delay + ret + "\r"
	}
	reply := string(b.ups.Respond(cmd))
	if reply == "" || idx == 0x07 || idx == 0x0a || idx >= 0x10 {
		reply = "UPS No Ack"
	}
	var desc []byte
	for _, u := range utf16.Encode([]rune(reply)) {
		desc = append(desc, byte(u), byte(u>>8))
	}
	desc = append([]byte{byte(len(desc) + 2), 3}, desc...)
	return copy(data, desc), nil
}

// Close closes the device.
func (b *USB) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// Reopen is the device found again after a Close (a new handle).
func (b *USB) Reopen() *USB {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.unplug {
		return nil
	}
	b.closed = false
	b.pending, b.cmd = nil, nil
	return b
}
