package blazer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/drivertest"
	"github.com/gonut/gonut/sdk/plugin"
	"github.com/gonut/gonut/sdk/sockproto"
	"github.com/gonut/gonut/tools/megatec-sim/sim"
)

const q1Reply = "(230.0 230.0 230.0 020 50.0 27.4 25.0 00001001\r"

// TestSubdriverFraming runs each subdriver against a simulated bridge of
// its kind and checks both the reply and the transfers on the wire.
func TestSubdriverFraming(t *testing.T) {
	cases := []struct {
		kind      string
		cmd       string
		reply     string
		transfers []string
	}{
		{"cypress", "Q1\r", q1Reply + "\x00", []string{
			`ctrl 21 09 0200 0000 "Q1\r\x00\x00\x00\x00\x00"`,
			"intr 8", "intr 8", "intr 8", "intr 8", "intr 8", "intr 8"}},
		{"cypress", "S.5R0003\r", "", []string{
			`ctrl 21 09 0200 0000 "S.5R0003"`, `ctrl 21 09 0200 0000 "\r\x00\x00\x00\x00\x00\x00\x00"`, "intr 8"}},
		{"ippon", "F\r", "#230.0 004 024.0 50.0\r", []string{
			`ctrl 21 09 0002 0000 "F\r\x00\x00\x00\x00\x00\x00"`, "intr 64"}},
		{"ippon", "T\r", "", []string{`ctrl 21 09 0002 0000 "T\r\x00\x00\x00\x00\x00\x00"`, "intr 64"}},
		{"phoenix", "I\r", "#MEGATEC         SIM-1000   1.00      \r\x00", []string{
			"intr 8", // drain: nothing stale, a timeout
			`ctrl 21 09 0200 0000 "I\r\x00\x00\x00\x00\x00\x00"`,
			"intr 8", "intr 8", "intr 8", "intr 8", "intr 8"}},
		{"krauler", "Q1\r", q1Reply, []string{
			`ctrl 80 06 0300 0000 "` + strings.Repeat(`\x00`, 255) + `"`,
			`ctrl 80 06 0303 0409 "` + strings.Repeat(`\x00`, 255) + `"`}},
		{"krauler", "T10\r", "T10\r", nil}, // it cannot send T<n>: echoed, so the command fails
		{"fabula", "Q1\r", q1Reply, []string{
			`ctrl 80 06 0300 0000 "` + strings.Repeat(`\x00`, 255) + `"`,
			`ctrl 80 06 0303 0409 "` + strings.Repeat(`\x00`, 255) + `"`}},
		// Shutdowns are descriptor indexes; "UPS No Ack" is no reply.
		{"fabula", "S.5R0003\r", "", []string{
			`ctrl 80 06 0300 0000 "` + strings.Repeat(`\x00`, 255) + `"`,
			`ctrl 80 06 0318 0409 "` + strings.Repeat(`\x00`, 255) + `"`}},
		{"fabula", "S02R0000\r", "", []string{
			`ctrl 80 06 0300 0000 "` + strings.Repeat(`\x00`, 255) + `"`,
			`ctrl 80 06 0370 0409 "` + strings.Repeat(`\x00`, 255) + `"`}},
		{"fabula", "T\r", "T\r", nil},
		{"fuji", "Q1\r", q1Reply, []string{`iout "\x80\x06\x03\x03Q1\x00/"`,
			"intr 8", "intr 8", "intr 8", "intr 8", "intr 8", "intr 8"}},
		{"fuji", "S.5R0003\r", "", []string{`iout "\x80\x06\x04\x03S.5\x00"`, "intr 8"}},
		{"fuji", "S.5R0000\r", "S.5R0000\r", nil},
		{"fuji", "CT\r", "", []string{`iout "\x80\x06\x03\x03CT\x00\x00"`, "intr 8"}},
	}
	for _, c := range cases {
		t.Run(c.kind+" "+strings.TrimSpace(c.cmd), func(t *testing.T) {
			u := sim.New()
			u.SetTestDuration(0)
			b, err := sim.NewUSB(u, c.kind)
			if err != nil {
				t.Fatal(err)
			}
			tr := NewUSBTransport(b, Subdrivers[c.kind], -1, nil, nil)
			got, err := tr.Command(context.Background(), c.cmd)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.reply {
				t.Errorf("reply %q, want %q", got, c.reply)
			}
			if strings.Join(b.Requests, "\n") != strings.Join(c.transfers, "\n") {
				t.Errorf("transfers:\n%s\nwant:\n%s", strings.Join(b.Requests, "\n"), strings.Join(c.transfers, "\n"))
			}
		})
	}
}

// TestSubdriversParse: through every subdriver the replies parse, so a
// whole Init works (blazer_usb end to end, in process).
func TestUSBDriverEndToEnd(t *testing.T) {
	for _, kind := range []string{"cypress", "phoenix", "ippon", "krauler", "fabula", "fuji"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			u := sim.New()
			b, err := sim.NewUSB(u, kind)
			if err != nil {
				t.Fatal(err)
			}
			// fabula and fuji are not in the table: they need subdriver.
			vid := map[string]string{"cypress": "0665", "phoenix": "06da", "ippon": "06da", "krauler": "0001", "fabula": "abcd", "fuji": "abcd"}[kind]
			pid := map[string]string{"cypress": "5161", "phoenix": "0601", "ippon": "0003", "krauler": "0000", "fabula": "0001", "fuji": "0002"}[kind]
			opts := []string{"port = auto", "pollinterval = 1"}
			if kind == "fabula" || kind == "fuji" {
				opts = append(opts, "subdriver = "+kind, "vendorid = "+vid, "productid = "+pid)
			}
			bus := &fakeBus{devs: []fakeDev{
				{desc: USBDescriptor{VendorID: 0x1234, ProductID: 0x0001, Bus: "001", Device: "002"}},
				{desc: USBDescriptor{VendorID: parseHex(vid), ProductID: parseHex(pid), Vendor: "ACME", Product: "UPS", Serial: "S1", Bus: "001", Device: "005"}, dev: b},
			}}
			h := drivertest.Start(t, USBInfo, New(OpenUSBWith(bus.open)), drivertest.Config{Options: opts, Timeout: 30 * time.Second})
			st := h.State()
			want := map[string]string{"ups.vendorid": vid, "ups.productid": pid, "ups.status": "OL", "input.voltage": "230.0", "ups.mfr": "MEGATEC"}
			for k, v := range want {
				if got, _ := st.Value(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			// The device goes away and comes back: stale, then fresh.
			// The reconnection is the transport's, the same for every
			// subdriver: once is enough (it takes MaxTries+1 polls).
			if kind == "cypress" {
				b.Unplug()
				h.Wait("stale while unplugged", func(st *sockproto.State) bool { return !st.DataOK() })
				b.Plug()
				h.Wait("fresh when plugged back", func(st *sockproto.State) bool { return st.DataOK() })
				if bus.finds() < 2 {
					t.Errorf("the device was found %d times, want a reopen", bus.finds())
				}
			}
			res, err := h.InstCmd("beeper.toggle", "")
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != plugin.StatHandled {
				t.Errorf("beeper.toggle: status %d (%s), want handled", res.Status, res.Message)
			}
		})
	}
}

func TestKraulerRetriesAndLangidFix(t *testing.T) {
	u := sim.New()
	b, _ := sim.NewUSB(u, "krauler")
	b.SetNoAcks(3)
	got, err := NewUSBTransport(b, krauler, 0x409, nil, nil).Command(context.Background(), "F\r")
	if err != nil || string(got) != "#230.0 004 024.0 50.0\r" {
		t.Fatalf("F with langid_fix after 3 No Acks: %q, %v", got, err)
	}
	// With langid_fix the language list is not asked for.
	for _, r := range b.Requests {
		if strings.HasPrefix(r, "ctrl 80 06 0300 ") {
			t.Errorf("langid list read with langid_fix: %s", r)
		}
	}
	b.SetNoAcks(10)
	got, err = NewUSBTransport(b, krauler, -1, nil, nil).Command(context.Background(), "Q1\r")
	if err != nil || got != nil {
		t.Errorf("ten No Acks: %q, %v; want no reply", got, err)
	}
}

func TestParseLangidFix(t *testing.T) {
	// NUT skips the first two characters whatever they are.
	cases := map[string]int{"0x409": 0x409, "0x4095": 0x4095, "409": 0x9, "0xzz": -1, "0x": -1}
	for v, want := range cases {
		o := &sdk.Options{Section: []sdk.Option{{Key: "langid_fix", Value: v, HasValue: true}}}
		if got := parseLangidFix(o, nil); got != want {
			t.Errorf("langid_fix %q = %#x, want %#x", v, got, want)
		}
	}
}

func TestMatcher(t *testing.T) {
	belkin := USBDescriptor{VendorID: 0x0665, ProductID: 0x5161, Vendor: "Belkin", Product: "UPS F6C1200", Serial: "ABC123", Bus: "003", Device: "007"}
	unknown := USBDescriptor{VendorID: 0x1234, ProductID: 0xabcd, Vendor: "Other", Bus: "001", Device: "002"}
	cases := []struct {
		name string
		opts map[string]string
		dev  USBDescriptor
		want string
		err  string
	}{
		{"table", nil, belkin, "cypress", ""},
		{"not in table", nil, unknown, "", ""},
		{"vendorid case-insensitive", map[string]string{"vendorid": "0665"}, belkin, "cypress", ""},
		{"vendorid upper", map[string]string{"vendorid": "0665", "productid": "5161"}, belkin, "cypress", ""},
		{"regex whole string", map[string]string{"vendor": "Bel"}, belkin, "", ""},
		{"regex alternatives", map[string]string{"vendor": "Bel|belkin"}, belkin, "cypress", ""},
		{"regex icase", map[string]string{"product": "ups f6c.*"}, belkin, "cypress", ""},
		{"serial", map[string]string{"serial": "ABC12[0-9]"}, belkin, "cypress", ""},
		{"serial mismatch", map[string]string{"serial": "XYZ"}, belkin, "", ""},
		{"missing string is empty", map[string]string{"serial": ""}, unknown, "", ""},
		{"bus", map[string]string{"bus": "003"}, belkin, "cypress", ""},
		{"bus mismatch", map[string]string{"bus": "00[12]"}, belkin, "", ""},
		{"device", map[string]string{"device": "007"}, belkin, "cypress", ""},
		{"explicit subdriver", map[string]string{"subdriver": "Krauler", "vendorid": "1234", "productid": "abcd"}, unknown, "krauler", ""},
		{"explicit subdriver without ids", map[string]string{"subdriver": "ippon"}, unknown, "", "'vendorid' and 'productid' are mandatory"},
		{"nutdrv_qx subdriver", map[string]string{"subdriver": "FUJI", "vendorid": "1234", "productid": "abcd"}, unknown, "fuji", ""},
		{"unknown subdriver", map[string]string{"subdriver": "bogus", "vendorid": "1", "productid": "2"}, unknown, "", `subdriver "bogus" not found`},
		{"bad regex", map[string]string{"vendor": "(["}, belkin, "", "invalid regular expression for vendor"},
	}
	for _, c := range cases {
		o := &sdk.Options{UPS: "u"}
		for k, v := range c.opts {
			o.Section = append(o.Section, sdk.Option{Key: k, Value: v, HasValue: true})
		}
		m, err := NewMatcher(o)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := m.Match(c.dev); got != c.want {
			t.Errorf("%s: Match = %q, want %q", c.name, got, c.want)
		}
	}
	if !SameDevice(belkin, USBDescriptor{VendorID: 0x0665, ProductID: 0x5161, Vendor: "Belkin", Product: "UPS F6C1200", Serial: "ABC123", Bus: "003", Device: "009"}) {
		t.Error("a replugged device (new device number) is not the same device")
	}
	if SameDevice(belkin, USBDescriptor{VendorID: 0x0665, ProductID: 0x5161, Serial: "OTHER", Bus: "003"}) {
		t.Error("another serial number is the same device")
	}
}

func TestNoUSBDevice(t *testing.T) {
	bus := &fakeBus{devs: []fakeDev{{desc: USBDescriptor{VendorID: 0x1234, ProductID: 1, Bus: "001", Device: "001"}}}}
	_, err := drivertest.StartErr(t, USBInfo, New(OpenUSBWith(bus.open)), drivertest.Config{Options: []string{"port = auto"}})
	if err == nil || !strings.Contains(err.Error(), "no supported devices found") {
		t.Fatalf("error %v, want no supported devices found", err)
	}
}

// fakeBus is a USBBus of fake devices with descriptors; a device with no
// USBDevice cannot be opened for transfers (it never matches in tests).
type fakeBus struct {
	mu    sync.Mutex
	devs  []fakeDev
	found int
}

type fakeDev struct {
	desc USBDescriptor
	dev  *sim.USB
}

func (f *fakeBus) open() (USBBus, error) { return f, nil }

func (f *fakeBus) finds() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.found
}

func (f *fakeBus) Find(accept func(USBDescriptor) bool) (USBDevice, USBDescriptor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.devs {
		if !accept(d.desc) {
			continue
		}
		if d.dev == nil {
			return nil, USBDescriptor{}, fmt.Errorf("%s: cannot open", d.desc)
		}
		dev := d.dev.Reopen()
		if dev == nil {
			continue
		}
		f.found++
		return dev, d.desc, nil
	}
	return nil, USBDescriptor{}, errors.New("no matching device")
}

func (f *fakeBus) Close() error { return nil }

func parseHex(s string) uint16 {
	var v uint16
	fmt.Sscanf(s, "%x", &v)
	return v
}
