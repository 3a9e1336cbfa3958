package blazer

import (
	"regexp"
	"testing"
)

// TestGousbBus opens libusb and enumerates what this machine has: without
// a Megatec UPS attached nothing matches, and every device is described
// with its bus and device numbers as NUT writes them. (The transfers
// themselves need hardware; the subdrivers are tested over the simulator.)
func TestGousbBus(t *testing.T) {
	bus, err := NewGousbBus()
	if err != nil {
		t.Skipf("no libusb here: %v", err)
	}
	defer bus.Close()
	num := regexp.MustCompile(`^[0-9]{3}$`)
	var seen []USBDescriptor
	_, _, err = bus.Find(func(d USBDescriptor) bool {
		seen = append(seen, d)
		return false
	})
	if err == nil {
		t.Fatal("Find matched although accept refused every device")
	}
	for _, d := range seen {
		if !num.MatchString(d.Bus) || !num.MatchString(d.Device) {
			t.Errorf("device %s: bus %q, device %q, want three digits", d, d.Bus, d.Device)
		}
	}
	t.Logf("%d USB devices enumerated", len(seen))
}
