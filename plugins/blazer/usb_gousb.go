package blazer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/gousb"

	"github.com/gonut/gonut/sdk"
)

// USBBus finds and opens USB devices. The gousb implementation talks to
// libusb; tests give OpenUSBWith a bus of fake devices.
type USBBus interface {
	// Find opens the first device accept takes and returns it with its
	// descriptor; the other devices it had to open to read their strings
	// are closed again.
	Find(accept func(USBDescriptor) bool) (USBDevice, USBDescriptor, error)
	Close() error
}

// NewUSB returns the blazer_usb driver, on libusb.
func NewUSB() *Driver { return New(OpenUSBWith(NewGousbBus)) }

// errNoDevice is Find's answer when nothing matched.
var errNoDevice = errors.New("no supported devices found: check that the device is there with 'lsusb'; " +
	"if it is, give at least 'subdriver', 'vendorid' and 'productid' in ups.conf (see docs/drivers/blazer.md)")

// OpenUSBWith is blazer_usb's upsdrv_initups over the buses newBus
// returns: it reads the matching options, finds the device, and publishes
// ups.vendorid and ups.productid.
func OpenUSBWith(newBus func() (USBBus, error)) Opener {
	return func(ctx context.Context, d *sdk.Device) (Transport, error) {
		opts := d.Options()
		log := d.Logger()
		m, err := NewMatcher(opts)
		if err != nil {
			return nil, err
		}
		langid := parseLangidFix(opts, log)
		bus, err := newBus()
		if err != nil {
			return nil, err
		}
		var sub string
		dev, desc, err := bus.Find(func(dd USBDescriptor) bool {
			sub = m.Match(dd)
			return sub != ""
		})
		if err != nil {
			bus.Close()
			return nil, fmt.Errorf("%w: %v", errNoDevice, err)
		}
		log.Info("using USB device", "device", desc.String(), "subdriver", sub)
		d.SetInfof("ups.vendorid", "%04x", desc.VendorID)
		d.SetInfof("ups.productid", "%04x", desc.ProductID)
		reopen := func() (USBDevice, error) {
			dev, _, err := bus.Find(func(dd USBDescriptor) bool { return SameDevice(dd, desc) && m.Match(dd) != "" })
			return dev, err
		}
		return &busTransport{USBTransport: NewUSBTransport(dev, Subdrivers[sub], langid, reopen, log), bus: bus}, nil
	}
}

// busTransport closes the bus with the transport.
type busTransport struct {
	*USBTransport
	bus USBBus
}

func (b *busTransport) Close() error {
	err := b.USBTransport.Close()
	if cerr := b.bus.Close(); err == nil {
		err = cerr
	}
	return err
}

// gousbBus is a USBBus on libusb through gousb.
type gousbBus struct {
	ctx *gousb.Context
}

// NewGousbBus opens a libusb context. gousb panics when libusb cannot
// start (no usbfs, as in many containers); that is an error here.
func NewGousbBus() (bus USBBus, err error) {
	defer func() {
		if r := recover(); r != nil {
			bus, err = nil, fmt.Errorf("libusb: cannot initialise: %v", r)
		}
	}()
	return &gousbBus{ctx: gousb.NewContext()}, nil
}

func (b *gousbBus) Close() error { return b.ctx.Close() }

func (b *gousbBus) Find(accept func(USBDescriptor) bool) (USBDevice, USBDescriptor, error) {
	// Strings need an open device, so open every device and close the
	// ones that do not match, as NUT does. Devices we may not open are
	// reported only when nothing matched.
	devs, openErr := b.ctx.OpenDevices(func(*gousb.DeviceDesc) bool { return true })
	var found *gousb.Device
	var desc USBDescriptor
	for _, dev := range devs {
		if found != nil {
			dev.Close()
			continue
		}
		dd := describe(dev)
		if !accept(dd) {
			dev.Close()
			continue
		}
		found, desc = dev, dd
	}
	if found == nil {
		if openErr != nil {
			return nil, USBDescriptor{}, fmt.Errorf("no matching device (some devices could not be opened: %v)", openErr)
		}
		return nil, USBDescriptor{}, errors.New("no matching device")
	}
	gd, err := claim(found)
	if err != nil {
		found.Close()
		return nil, USBDescriptor{}, fmt.Errorf("%s: %w", desc, err)
	}
	return gd, desc, nil
}

func describe(dev *gousb.Device) USBDescriptor {
	dd := USBDescriptor{
		VendorID: uint16(dev.Desc.Vendor), ProductID: uint16(dev.Desc.Product),
		Bus: fmt.Sprintf("%03d", dev.Desc.Bus), Device: fmt.Sprintf("%03d", dev.Desc.Address),
	}
	dd.Vendor, _ = dev.Manufacturer()
	dd.Product, _ = dev.Product()
	dd.Serial, _ = dev.SerialNumber()
	return dd
}

// gousbDevice is a claimed device: interface 0 of configuration 1 and its
// interrupt IN endpoint 0x81.
type gousbDevice struct {
	mu   sync.Mutex
	dev  *gousb.Device
	cfg  *gousb.Config
	intf *gousb.Interface
	in   *gousb.InEndpoint
	out  *gousb.OutEndpoint
}

func claim(dev *gousb.Device) (*gousbDevice, error) {
	if err := dev.SetAutoDetach(true); err != nil {
		return nil, fmt.Errorf("detach kernel driver: %w", err)
	}
	cfg, err := dev.Config(1)
	if err != nil {
		return nil, fmt.Errorf("configuration 1: %w", err)
	}
	intf, err := cfg.Interface(0, 0)
	if err != nil {
		cfg.Close()
		return nil, fmt.Errorf("claim interface 0: %w", err)
	}
	g := &gousbDevice{dev: dev, cfg: cfg, intf: intf}
	// krauler needs no endpoint; the others read 0x81.
	if in, err := intf.InEndpoint(1); err == nil {
		g.in = in
	}
	// fuji writes commands to interrupt endpoint 0x02.
	if out, err := intf.OutEndpoint(2); err == nil {
		g.out = out
	}
	return g, nil
}

func (g *gousbDevice) Control(rType, request uint8, value, index uint16, data []byte, timeout time.Duration) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.dev.ControlTimeout = timeout
	n, err := g.dev.Control(rType, request, value, index, data)
	return n, usbError(err)
}

func (g *gousbDevice) InterruptIn(buf []byte, timeout time.Duration) (int, error) {
	if g.in == nil {
		return 0, errors.New("usb: interface 0 has no IN endpoint 0x81")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	n, err := g.in.ReadContext(ctx, buf)
	if err != nil && ctx.Err() != nil {
		return n, fmt.Errorf("%w after %s", ErrUSBTimeout, timeout)
	}
	return n, usbError(err)
}

func (g *gousbDevice) InterruptOut(data []byte, timeout time.Duration) (int, error) {
	if g.out == nil {
		return 0, errors.New("usb: interface 0 has no OUT endpoint 0x02")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	n, err := g.out.WriteContext(ctx, data)
	if err != nil && ctx.Err() != nil {
		return n, fmt.Errorf("%w after %s", ErrUSBTimeout, timeout)
	}
	return n, usbError(err)
}

func (g *gousbDevice) Close() error {
	g.intf.Close()
	g.cfg.Close()
	return g.dev.Close()
}

// usbError maps libusb's timeouts to ErrUSBTimeout; other errors make the
// transport reconnect.
func usbError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gousb.ErrorTimeout) || errors.Is(err, gousb.TransferTimedOut) {
		return fmt.Errorf("%w: %v", ErrUSBTimeout, err)
	}
	return err
}
