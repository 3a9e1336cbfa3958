package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/plugin"
)

// powerBox is a complete small driver. Its device is a struct here; a real
// driver talks to a serial port, USB or the network in Init and Poll.
type powerBox struct {
	charge    int
	onBattery bool
}

var powerBoxInfo = sdk.Info{
	Name:        "powerbox",
	Version:     "1.0",
	Description: "PowerBox UPS",
	Options:     []sdk.OptionInfo{{Name: "baud", Help: "serial speed"}},
}

// Interface guards for the optional interfaces.
var (
	_ sdk.InstCmder = (*powerBox)(nil)
	_ sdk.Setter    = (*powerBox)(nil)
)

func (p *powerBox) Init(ctx context.Context, dev *sdk.Device) error {
	dev.SetInfo("device.mfr", "PowerBox")
	dev.SetInfo("device.model", "PB 1500")
	dev.SetInfo("ups.delay.shutdown", "20")
	dev.SetFlags("ups.delay.shutdown", sdk.FlagRW|sdk.FlagNumber)
	dev.AddRange("ups.delay.shutdown", 0, 600)
	dev.AddCmd("test.battery.start")
	return p.Poll(ctx, dev)
}

func (p *powerBox) Poll(ctx context.Context, dev *sdk.Device) error {
	dev.SetInfo("battery.charge", strconv.Itoa(p.charge))
	dev.StatusInit()
	if p.onBattery {
		dev.StatusSet("OB")
	} else {
		dev.StatusSet("OL")
	}
	if p.charge < 20 {
		dev.StatusSet("LB")
	}
	dev.StatusCommit()
	return nil
}

func (p *powerBox) InstCmd(ctx context.Context, dev *sdk.Device, cmd, param string) error {
	if param != "" {
		return fmt.Errorf("%s takes no parameter: %w", cmd, sdk.ErrInvalid)
	}
	dev.SetInfo("ups.test.result", "In progress")
	return nil
}

func (p *powerBox) SetVar(ctx context.Context, dev *sdk.Device, name, value string) error {
	n, err := strconv.Atoi(value)
	if err != nil {
		return fmt.Errorf("%q: %w", value, sdk.ErrConversion)
	}
	dev.SetInfo(name, strconv.Itoa(n))
	return nil
}

func (p *powerBox) Close(ctx context.Context) error { return nil }

// A driver's main is one call. Run by nut-driver-host, the binary serves
// the plugin protocol; run by hand, it is a classic NUT driver (-a <ups>).
func ExampleServe() {
	sdk.Serve(powerBoxInfo, &powerBox{charge: 100})
}

// The host's view of a driver: the snapshot after Init as driver socket
// messages, then instant commands and SETs answered with NUT's status
// codes. (sdk/drivertest does this through gRPC, for tests.)
func Example() {
	srv := sdk.NewServer(powerBoxInfo, &powerBox{charge: 100}, sdk.WithLogger(hclog.NewNullLogger()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snapshot := make(chan [][]string, 1)
	go srv.Run(ctx, plugin.RunRequest{UPS: "rack1", Driver: "powerbox", Options: []plugin.Option{
		{Key: "driver", Value: "powerbox", HasValue: true},
		{Key: "port", Value: "/dev/ttyS0", HasValue: true},
		{Key: "baud", Value: "9600", HasValue: true},
	}}, func(u plugin.Update) error {
		if u.Snapshot {
			snapshot <- u.Msgs
		}
		return nil
	})
	for _, m := range <-snapshot {
		if len(m) > 1 && strings.HasPrefix(m[1], "driver.version") {
			continue // changes with every release
		}
		fmt.Println(strings.Join(m, " "))
	}
	for _, cmd := range []struct{ name, param string }{{"test.battery.start", ""}, {"test.battery.start", "now"}, {"load.off", ""}} {
		r, _ := srv.InstCmd(ctx, cmd.name, cmd.param)
		fmt.Printf("INSTCMD %s %q: status %d\n", cmd.name, cmd.param, r.Status)
	}
	r, _ := srv.SetVar(ctx, "ups.delay.shutdown", "soon")
	fmt.Printf("SET ups.delay.shutdown soon: status %d (%s)\n", r.Status, r.Message)
	// Output:
	// SETINFO battery.charge 100
	// SETINFO device.mfr PowerBox
	// SETINFO device.model PB 1500
	// SETINFO driver.name powerbox
	// SETINFO driver.parameter.baud 9600
	// SETINFO driver.parameter.pollinterval 2
	// SETINFO driver.parameter.port /dev/ttyS0
	// SETINFO driver.parameter.synchronous auto
	// SETINFO ups.delay.shutdown 20
	// SETFLAGS ups.delay.shutdown RW NUMBER
	// ADDRANGE ups.delay.shutdown 0 600
	// SETINFO ups.status OL
	// ADDCMD test.battery.start
	// DATAOK
	// INSTCMD test.battery.start "": status 0
	// INSTCMD test.battery.start "now": status 2
	// INSTCMD load.off "": status 1
	// SET ups.delay.shutdown soon: status 4 ("soon": value conversion failed)
}

// NewDevice gives a driver's unit tests the Device the SDK would hand to
// Init, without a host or a plugin.
func ExampleNewDevice() {
	dev, err := sdk.NewDevice(powerBoxInfo, &sdk.Options{UPS: "rack1", Section: []sdk.Option{
		{Key: "port", Value: "/dev/ttyS0", HasValue: true},
	}}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	drv := &powerBox{charge: 15, onBattery: true}
	if err := drv.Poll(context.Background(), dev); err != nil {
		fmt.Println(err)
	}
	status, _ := dev.Info("ups.status")
	port, _ := dev.Info("driver.parameter.port")
	fmt.Println(status)
	fmt.Println(port)
	// Output:
	// OB LB
	// /dev/ttyS0
}

// ups.status is built from tokens, and alarms add ALARM in front, as
// NUT's status_* and alarm_* functions do.
func ExampleDevice_StatusCommit() {
	dev, _ := sdk.NewDevice(sdk.Info{Name: "x"}, nil, nil)
	dev.AlarmInit()
	dev.AlarmSet("Replace battery!")
	dev.AlarmCommit()
	dev.StatusInit()
	dev.StatusSet("OL")
	dev.StatusSet("RB")
	dev.StatusCommit()
	status, _ := dev.Info("ups.status")
	alarm, _ := dev.Info("ups.alarm")
	fmt.Println(status)
	fmt.Println(alarm)
	// Output:
	// ALARM OL RB
	// Replace battery!
}

// A value fixed with override.* in ups.conf wins over the driver, and
// names match without regard to case, as in NUT.
func ExampleDevice_SetInfo() {
	dev, _ := sdk.NewDevice(sdk.Info{Name: "x"}, &sdk.Options{UPS: "u", Section: []sdk.Option{
		{Key: "override.battery.charge.low", Value: "30", HasValue: true},
	}}, nil)
	dev.SetInfo("battery.charge.low", "10") // the device's own setting
	dev.SetInfo("battery.charge", "87")
	low, _ := dev.Info("battery.charge.low")
	charge, _ := dev.Info("BATTERY.CHARGE")
	fmt.Println(low, charge)
	// Output: 30 87
}

// Options reads the section, falling back to the global part of ups.conf.
func ExampleOptions_Get() {
	o := &sdk.Options{
		UPS:     "rack1",
		Global:  []sdk.Option{{Key: "pollinterval", Value: "5", HasValue: true}},
		Section: []sdk.Option{{Key: "baud", Value: "9600", HasValue: true}, {Key: "nolock"}},
	}
	baud, _ := o.Get("baud")
	poll, _ := o.PollInterval()
	fmt.Println(baud, poll, o.Flag("nolock"), o.Flag("ignorelb"))
	// Output: 9600 5s true false
}

// Errors returned by InstCmd and SetVar choose NUT's status code; wrap the
// sentinels to keep a message.
func ExampleErrInvalid() {
	err := fmt.Errorf("delay %d is above 600: %w", 900, sdk.ErrInvalid)
	fmt.Println(errors.Is(err, sdk.ErrInvalid), err)
	// Output: true delay 900 is above 600: invalid argument
}
