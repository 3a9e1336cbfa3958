package blazer

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/gonut/gonut/sdk"
)

// USBDescriptor is what NUT's matchers see of a USB device.
type USBDescriptor struct {
	VendorID, ProductID     uint16
	Vendor, Product, Serial string // "" when the device has none
	Bus                     string // "001"
	Device                  string // "004"
}

// String names the device in logs.
func (d USBDescriptor) String() string {
	return fmt.Sprintf("%04x:%04x bus %s device %s (%q %q %q)", d.VendorID, d.ProductID, d.Bus, d.Device, d.Vendor, d.Product, d.Serial)
}

// usbIDs is blazer_usb's table of supported devices and their subdrivers.
var usbIDs = []struct {
	vid, pid uint16
	sub      string
}{
	{0x05b8, 0x0000, "cypress"}, // Agiler UPS
	{0x0001, 0x0000, "krauler"}, // Krauler UP-M500VA
	{0xffff, 0x0000, "krauler"}, // Ablerex 625L USB
	{0x0665, 0x5161, "cypress"}, // Belkin F6C1200-UNV
	{0x06da, 0x0002, "cypress"}, // Online Yunto YQ450
	{0x06da, 0x0003, "ippon"},   // Mustek Powermust
	{0x06da, 0x0004, "cypress"}, // Phoenixtec Innova 3/1 T
	{0x06da, 0x0005, "cypress"}, // Phoenixtec Innova RT
	{0x06da, 0x0201, "cypress"}, // Phoenixtec Innova T
	{0x06da, 0x0601, "phoenix"}, // Online Zinto A
	{0x0f03, 0x0001, "cypress"}, // Unitek Alpha 1200Sx
	{0x14f0, 0x00c9, "phoenix"}, // GE EP series
}

// SubdriverFor returns the subdriver NUT picks for a known device.
func SubdriverFor(vid, pid uint16) (string, bool) {
	for _, e := range usbIDs {
		if e.vid == vid && e.pid == pid {
			return e.sub, true
		}
	}
	return "", false
}

// Matcher selects USB devices as blazer_usb does: every matching option
// given in ups.conf (vendorid, productid, vendor, product, serial, bus,
// device) is an extended regular expression, case-insensitive, that must
// match the whole value (the IDs as 4 lowercase hex digits; a string the
// device lacks as ""); then the device must be in the table of supported
// devices, unless ups.conf names the subdriver.
type Matcher struct {
	res       [7]*regexp.Regexp // vendorid, productid, vendor, product, serial, bus, device
	subdriver string            // given in ups.conf, "" for the table
}

var matchKeys = [7]string{"vendorid", "productid", "vendor", "product", "serial", "bus", "device"}

// NewMatcher reads the matching options and subdriver from ups.conf.
func NewMatcher(opts *sdk.Options) (*Matcher, error) {
	m := &Matcher{}
	for i, k := range matchKeys {
		v, ok := opts.Get(k)
		if !ok {
			continue
		}
		re, err := compileNUTRegex(v)
		if err != nil {
			return nil, fmt.Errorf("invalid regular expression for %s: %q: %v", k, v, err)
		}
		m.res[i] = re
	}
	if v, ok := opts.Get("subdriver"); ok {
		if m.res[0] == nil || m.res[1] == nil {
			return nil, fmt.Errorf("when specifying a subdriver, 'vendorid' and 'productid' are mandatory")
		}
		name := strings.ToLower(v)
		if _, ok := Subdrivers[name]; !ok {
			return nil, fmt.Errorf("subdriver %q not found (known: cypress, phoenix, ippon, krauler, fabula, fuji)", v)
		}
		m.subdriver = name
	}
	return m, nil
}

// compileNUTRegex compiles a POSIX extended expression the way NUT uses it
// (REG_ICASE | REG_EXTENDED, match of the whole string, leftmost-longest).
func compileNUTRegex(expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile("(?i)^(?:" + expr + ")$")
	if err != nil {
		return nil, err
	}
	re.Longest()
	return re, nil
}

// Match reports whether the device passes the regular expressions and, if
// so, which subdriver drives it ("" when it does not match).
func (m *Matcher) Match(d USBDescriptor) string {
	vals := [7]string{
		fmt.Sprintf("%04x", d.VendorID), fmt.Sprintf("%04x", d.ProductID),
		d.Vendor, d.Product, d.Serial, d.Bus, d.Device,
	}
	for i, re := range m.res {
		if re != nil && !re.MatchString(vals[i]) {
			return ""
		}
	}
	if m.subdriver != "" {
		return m.subdriver
	}
	sub, _ := SubdriverFor(d.VendorID, d.ProductID)
	return sub
}

// SameDevice is NUT's exact matcher, used to find the device again after
// it was lost: the same IDs, strings and bus. The device number is left
// out: a device that is unplugged and plugged back gets a new one.
func SameDevice(a, b USBDescriptor) bool {
	return a.VendorID == b.VendorID && a.ProductID == b.ProductID && a.Vendor == b.Vendor &&
		a.Product == b.Product && a.Serial == b.Serial && a.Bus == b.Bus
}
