package blazer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/gonut/gonut/sdk"
	"github.com/hashicorp/go-hclog"
)

// USBDevice is what the USB subdrivers need of an open USB device: control
// transfers on endpoint 0 and reads from interrupt endpoint 0x81. The
// gousb implementation is in usb_gousb.go; tests use an in-process fake
// (tools/megatec-sim/sim.USB).
type USBDevice interface {
	// Control is libusb_control_transfer: rType's top bit says the
	// direction; it returns the bytes transferred.
	Control(rType, request uint8, value, index uint16, data []byte, timeout time.Duration) (int, error)
	// InterruptIn reads one transfer from endpoint 0x81 into buf.
	InterruptIn(buf []byte, timeout time.Duration) (int, error)
	// InterruptOut writes one transfer to endpoint 0x02 (fuji only).
	InterruptOut(data []byte, timeout time.Duration) (int, error)
	Close() error
}

// ErrUSBTimeout is a USB transfer that timed out. A USBDevice reports a
// timeout with an error that is (errors.Is) ErrUSBTimeout or has a
// Timeout() bool method returning true.
var ErrUSBTimeout = errors.New("usb: transfer timed out")

// IsUSBTimeout reports whether err is a transfer timeout rather than a
// device failure.
func IsUSBTimeout(err error) bool {
	if errors.Is(err, ErrUSBTimeout) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// Subdriver frames Megatec commands over a USB device the way one family
// of USB-serial bridges needs (NUT's *_command functions in blazer_usb.c).
// It returns the reply with every byte counted as NUT counts it; a timeout
// is (nil, nil).
type Subdriver func(dev USBDevice, cmd string, langid int) ([]byte, error)

// Subdrivers are NUT 2.8.0 blazer_usb's subdrivers by name, plus fabula
// and fuji from NUT's nutdrv_qx (chosen only with subdriver = ...).
var Subdrivers = map[string]Subdriver{
	"cypress": cypress,
	"phoenix": phoenix,
	"ippon":   ippon,
	"krauler": krauler,
	"fabula":  fabula,
	"fuji":    fuji,
}

// Class request SET_REPORT to the interface, as the bridges take commands.
const (
	reqTypeClassOut = 0x21 // host to device, class, interface
	reqSetReport    = 0x09
	reqTypeStdIn    = 0x80 // device to host, standard, device
	reqGetDesc      = 0x06
	usbSmallBuf     = 512
)

// sendChunks writes cmd in 8-byte SET_REPORT chunks, zero-padded.
func sendChunks(dev USBDevice, cmd string, value uint16, timeout time.Duration) error {
	tmp := make([]byte, len(cmd)+8)
	copy(tmp, cmd)
	for i := 0; i < len(cmd); {
		n, err := dev.Control(reqTypeClassOut, reqSetReport, value, 0, tmp[i:i+8], timeout)
		if err != nil {
			return err
		}
		if n <= 0 {
			return ErrUSBTimeout
		}
		i += n
	}
	return nil
}

// readChunks reads 8-byte interrupt transfers until a CR has arrived (as
// strchr sees the buffer: up to its first NUL) or the buffer is full.
func readChunks(dev USBDevice) ([]byte, error) {
	buf := make([]byte, usbSmallBuf)
	i := 0
	for i <= len(buf)-8 && bytes.IndexByte(cString(buf), '\r') < 0 {
		n, err := dev.InterruptIn(buf[i:i+8], time.Second)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return nil, ErrUSBTimeout
		}
		i += n
	}
	return buf[:i], nil
}

func cypress(dev USBDevice, cmd string, _ int) ([]byte, error) {
	if err := sendChunks(dev, cmd, 0x200, 5*time.Second); err != nil {
		return nil, err
	}
	return readChunks(dev)
}

func phoenix(dev USBDevice, cmd string, _ int) ([]byte, error) {
	// The bridge keeps stale data: drain it until a read times out.
	tmp := make([]byte, 8)
	for i := 0; i < 8; i++ {
		if _, err := dev.InterruptIn(tmp, time.Second); err != nil {
			break
		}
	}
	if err := sendChunks(dev, cmd, 0x200, time.Second); err != nil {
		return nil, err
	}
	return readChunks(dev)
}

func ippon(dev USBDevice, cmd string, _ int) ([]byte, error) {
	if err := sendChunks(dev, cmd, 0x2, time.Second); err != nil {
		return nil, err
	}
	// The whole reply comes in one 64-byte transfer: data up to CR, or
	// 0x00 0x0D when there is none.
	tmp := make([]byte, 64)
	n, err := dev.InterruptIn(tmp, time.Second)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, ErrUSBTimeout
	}
	s := cString(tmp)
	l := bytes.IndexByte(s, '\r')
	if l < 0 {
		l = len(s)
	}
	if l > 0 && l < len(tmp) {
		l++ // the CR
	}
	return tmp[:l], nil
}

// krauler's commands: the string descriptor index that answers each, and
// the byte that replaces the first one of the answer.
var kraulerCmds = map[string]struct {
	index  uint8
	prefix byte
}{
	"Q1\r": {0x03, '('}, "F\r": {0x0d, '#'}, "I\r": {0x0c, '#'},
	"T\r": {0x04, '\r'}, "TL\r": {0x05, '\r'}, "Q\r": {0x07, '\r'},
	"C\r": {0x0b, '\r'}, "CT\r": {0x0b, '\r'},
}

// krauler reads the reply to each command from a string descriptor. It
// cannot send other commands (T<n>, S<n>R<m>): those are echoed back, so
// they fail as a Megatec UPS's unknown commands do.
func krauler(dev USBDevice, cmd string, langid int) ([]byte, error) {
	kc, ok := kraulerCmds[cmd]
	if !ok {
		return []byte(cmd), nil
	}
	for retry := 0; retry < 10; retry++ {
		var buf []byte
		var err error
		if langid != -1 {
			buf, err = stringDescriptorRaw(dev, kc.index, uint16(langid))
			if err == nil && (len(buf) == 0 || len(buf) != int(buf[0])) {
				continue // size mismatch: corrupted
			}
			if err == nil {
				buf = utf16ToASCII(buf[min(2, len(buf)):])
			}
		} else {
			buf, err = stringDescriptorASCII(dev, kc.index)
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == 0 {
			return nil, ErrUSBTimeout
		}
		if strings.EqualFold(string(cString(buf)), "UPS No Ack") {
			continue
		}
		buf[0] = kc.prefix
		return buf, nil
	}
	return nil, nil
}

// stringDescriptorRaw is GET_DESCRIPTOR(STRING, index, langid): the raw
// descriptor (length, type, UTF-16LE).
func stringDescriptorRaw(dev USBDevice, index uint8, langid uint16) ([]byte, error) {
	buf := make([]byte, 255) // some devices choke on more
	n, err := dev.Control(reqTypeStdIn, reqGetDesc, 0x0300|uint16(index), langid, buf, time.Second)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// stringDescriptorASCII is libusb_get_string_descriptor_ascii: the first
// language's string, non-ASCII characters as '?'.
func stringDescriptorASCII(dev USBDevice, index uint8) ([]byte, error) {
	langs, err := stringDescriptorRaw(dev, 0, 0)
	if err != nil {
		return nil, err
	}
	if len(langs) < 4 {
		return nil, fmt.Errorf("usb: no language in string descriptor 0 (%d bytes)", len(langs))
	}
	langid := uint16(langs[2]) | uint16(langs[3])<<8
	d, err := stringDescriptorRaw(dev, index, langid)
	if err != nil {
		return nil, err
	}
	if len(d) < 2 || d[1] != 0x03 || d[0] < 2 || int(d[0]) > len(d) {
		return nil, fmt.Errorf("usb: invalid string descriptor %d", index)
	}
	return utf16ToASCII(d[2:d[0]]), nil
}

func utf16ToASCII(b []byte) []byte {
	out := make([]byte, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		if b[i+1] != 0 {
			out = append(out, '?')
		} else {
			out = append(out, b[i])
		}
	}
	return out
}

// encodeUTF16 is the inverse of utf16ToASCII, for fakes and tests.
func encodeUTF16(s string) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u), byte(u>>8))
	}
	return out
}

// USBTransport runs Megatec commands through a subdriver over a USB
// device, reopening the device (through reopen) when a transfer fails
// with anything but a timeout, as NUT's blazer_command does.
type USBTransport struct {
	sub    Subdriver
	langid int
	reopen func() (USBDevice, error)
	log    hclog.Logger

	mu      sync.Mutex
	dev     USBDevice
	lost    bool
	backoff time.Duration
	next    time.Time
	lastErr error
}

// NewUSBTransport returns a transport over dev framed by sub. langid is
// the krauler langid_fix value, -1 for none. reopen finds the device again
// after a failure (nil: never).
func NewUSBTransport(dev USBDevice, sub Subdriver, langid int, reopen func() (USBDevice, error), log hclog.Logger) *USBTransport {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &USBTransport{dev: dev, sub: sub, langid: langid, reopen: reopen, log: log}
}

// Command sends cmd and returns the reply.
func (u *USBTransport) Command(ctx context.Context, cmd string) ([]byte, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.dev == nil {
		if u.reopen == nil {
			return nil, fmt.Errorf("usb device gone: %w", u.lastErr)
		}
		if time.Now().Before(u.next) {
			return nil, fmt.Errorf("usb device gone, waiting to reopen: %w", u.lastErr)
		}
		dev, err := u.reopen()
		if err != nil {
			u.backoff = min(2*u.backoff, reopenMax)
			u.next = time.Now().Add(u.backoff)
			u.lastErr = err
			return nil, err
		}
		u.dev, u.lost = dev, false
		u.log.Info("usb device back")
	}
	reply, err := u.sub(u.dev, cmd, u.langid)
	if err == nil {
		return reply, nil
	}
	if IsUSBTimeout(err) {
		return nil, nil
	}
	u.dev.Close()
	u.dev = nil
	if !u.lost {
		u.lost = true
		u.backoff = reopenMin
		u.log.Warn("usb device lost; reopening it in the background", "error", err)
	}
	u.next = time.Now().Add(u.backoff)
	u.lastErr = err
	return nil, err
}

// Close closes the device.
func (u *USBTransport) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.dev == nil {
		return nil
	}
	err := u.dev.Close()
	u.dev = nil
	return err
}

// USBInfo describes blazer_usb.
var USBInfo = sdk.Info{
	Name:        "blazer_usb",
	Version:     "1.0",
	Description: "Megatec/Q1 protocol USB driver",
	Options: append([]sdk.OptionInfo{
		{Name: "subdriver", Help: "Serial-over-USB subdriver selection"},
		{Name: "vendor", Help: "Regular expression to match UPS Manufacturer string"},
		{Name: "product", Help: "Regular expression to match UPS Product string"},
		{Name: "serial", Help: "Regular expression to match UPS Serial number"},
		{Name: "vendorid", Help: "Regular expression to match UPS Manufacturer numerical ID (4 digits hexadecimal)"},
		{Name: "productid", Help: "Regular expression to match UPS Product numerical ID (4 digits hexadecimal)"},
		{Name: "bus", Help: "Regular expression to match USB bus name"},
		{Name: "device", Help: "Regular expression to match USB device name"},
		{Name: "usb_set_altinterface", Help: "Force redundant call to usb_set_altinterface() (value=bAlternateSetting; default=0)"},
		{Name: "langid_fix", Help: "Apply the language ID workaround to the krauler subdriver (0x409 or 0x4095)"},
	}, CommonOptions...),
}

// parseLangidFix reads langid_fix ("0x409"): its digits after the first
// two characters, in hex, as NUT does; -1 when absent or unreadable.
func parseLangidFix(opts *sdk.Options, log hclog.Logger) int {
	v, ok := opts.Get("langid_fix")
	if !ok {
		return -1
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	var n uint
	if len(v) < 3 {
		log.Info("Error enabling language ID workaround", "langid_fix", v)
		return -1
	}
	if _, err := fmt.Sscanf(v[2:], "%x", &n); err != nil || n > 1<<31-1 {
		log.Info("Error enabling language ID workaround", "langid_fix", v)
		return -1
	}
	return int(n)
}

// fabula's commands and the string descriptor that answers each.
var fabulaCmds = map[string]uint8{"Q1\r": 0x03, "F\r": 0x0d, "I\r": 0x0c, "Q\r": 0x07, "C\r": 0x0a}

// fabula (nutdrv_qx's) reads answers from string descriptors like
// krauler, and encodes shutdowns in the index: the delay in the high
// nibble (.5 to .9 minutes as 1 to 5, 1 to 10 minutes as 6 to 15), and 8
// added for shutdown.return. The UPS answers "UPS No Ack" to commands,
// which counts as no reply.
func fabula(dev USBDevice, cmd string, _ int) ([]byte, error) {
	index, ok := fabulaCmds[cmd]
	if !ok {
		n, m, parsed := scanShutdown(cmd)
		if parsed == 0 {
			return []byte(cmd), nil
		}
		delay := math.Max(.5, math.Min(10, n))
		var idx int
		if delay < 1 {
			idx = 16 + int(math.Round((delay-.5)*10))*16
		} else {
			idx = 96 + int((delay-1)*16)
		}
		if parsed == 1 || m != 0 {
			idx += 8
		}
		index = uint8(idx)
	}
	buf, err := stringDescriptorASCII(dev, index)
	if err != nil {
		return nil, err
	}
	if len(buf) == 0 {
		return nil, ErrUSBTimeout
	}
	if bytes.IndexByte(buf, '\r') < 0 && len(buf) < usbSmallBuf-1 {
		buf = append(buf, '\r')
	}
	if s := cString(buf); bytes.IndexByte(s, '\r') == 10 && strings.EqualFold(string(s[:10]), "UPS No Ack") {
		return nil, nil
	}
	return buf, nil
}

// scanShutdown is sscanf(cmd, "S%lfR%d\r") falling back to
// sscanf(cmd, "S%lf\r"): it returns the numbers and 2, 1 or 0 for which
// form matched.
func scanShutdown(cmd string) (n float64, m int64, form int) {
	if !strings.HasPrefix(cmd, "S") {
		return 0, 0, 0
	}
	v, used := strtodPrefix(cmd[1:])
	if used == 0 {
		return 0, 0, 0
	}
	rest := cmd[1+used:]
	if strings.HasPrefix(rest, "R") {
		r := strings.TrimLeft(rest[1:], " \t\n\v\f\r")
		if len(r) > 0 && (r[0] >= '0' && r[0] <= '9' || (r[0] == '-' || r[0] == '+') && len(r) > 1 && r[1] >= '0' && r[1] <= '9') {
			return v, strtol(r), 2
		}
	}
	return v, -1, 1
}

// fuji (nutdrv_qx's) sends each command in one 8-byte interrupt transfer,
// 0x80 0x06 <len+1> 0x03 <command> <padding> <expected answer length>,
// and reads the answer in 8-byte chunks. Commands are three characters at
// most: a shutdown.return (SnRm, m not 0) is cut to Sn, other longer
// commands are echoed (and fail).
func fuji(dev USBDevice, cmd string, _ int) ([]byte, error) {
	command := cmd
	if i := strings.IndexByte(command, '\r'); i >= 0 {
		command = command[:i]
	}
	if _, m, form := scanShutdown(cmd); form == 2 && m != 0 && len(command) > 3 {
		command = command[:3]
	}
	if len(command) > 3 {
		return []byte(cmd), nil
	}
	answer := map[string]byte{"Q1": 47, "F": 22, "I": 39}[command]
	tmp := make([]byte, 8)
	tmp[0], tmp[1], tmp[2], tmp[3] = 0x80, 0x06, byte(len(command)+1), 0x03
	copy(tmp[4:], command)
	tmp[7] = answer
	n, err := dev.InterruptOut(tmp, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, ErrUSBTimeout
	}
	buf := make([]byte, usbSmallBuf)
	for i := 0; i <= len(buf)-8 && bytes.IndexByte(buf, '\r') < 0; {
		n, err := dev.InterruptIn(buf[i:i+8], time.Second)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return nil, ErrUSBTimeout
		}
		i += n
	}
	return cString(buf), nil
}
