// Command testdriver is a gonut driver plugin for the host's own tests: it
// counts its polls in ups.counter and can be told to fail in the ways real
// drivers fail.
//
// Options: fail_init (flag) makes Init fail; exit_after = N exits the
// process with status 3 after N polls; id = X publishes X as device.serial
// so a test can tell instances apart.
package main

import (
	"context"
	"errors"
	"os"
	"strconv"

	"github.com/gonut/gonut/sdk"
)

type driver struct {
	polls     int
	exitAfter int
}

func (d *driver) Init(_ context.Context, dev *sdk.Device) error {
	o := dev.Options()
	if o.Flag("fail_init") {
		return errors.New("device not found (fail_init)")
	}
	if v, ok := o.Get("exit_after"); ok {
		d.exitAfter, _ = strconv.Atoi(v)
	}
	id, _ := o.Get("id")
	dev.SetInfo("device.serial", id)
	dev.SetInfo("ups.status", "OL")
	dev.SetInfo("ups.counter", "0")
	dev.SetInfo("ups.pid", strconv.Itoa(os.Getpid()))
	dev.SetInfo("ups.delay.shutdown", "20")
	dev.SetFlags("ups.delay.shutdown", sdk.FlagRW|sdk.FlagNumber)
	dev.AddCmd("test.battery.start")
	return nil
}

// InstCmd: test.battery.start sets ups.test.result; a parameter "fail"
// makes it fail.
func (d *driver) InstCmd(_ context.Context, dev *sdk.Device, cmd, param string) error {
	if param == "fail" {
		return sdk.ErrFailed
	}
	dev.SetInfo("ups.test.result", "started "+param)
	return nil
}

// SetVar accepts whole numbers only.
func (d *driver) SetVar(_ context.Context, dev *sdk.Device, name, value string) error {
	if _, err := strconv.Atoi(value); err != nil {
		return sdk.ErrInvalid
	}
	dev.SetInfo(name, value)
	return nil
}

func (d *driver) Poll(_ context.Context, dev *sdk.Device) error {
	d.polls++
	if d.exitAfter > 0 && d.polls >= d.exitAfter {
		os.Exit(3)
	}
	dev.SetInfo("ups.counter", strconv.Itoa(d.polls))
	return nil
}

func (d *driver) Close(context.Context) error { return nil }

func main() {
	sdk.Serve(sdk.Info{
		Name: "testdriver", Version: "1.0", Description: "host test driver",
		Options: []sdk.OptionInfo{{Name: "fail_init", Flag: true}, {Name: "exit_after"}, {Name: "id"}},
	}, &driver{})
}
