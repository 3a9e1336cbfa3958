// Command olddriver is a driver built against the frozen protocol-1.0 SDK
// in ../sdkv1: what a third-party driver compiled before protocol minor 1
// looks like to a newer host.
package main

import (
	"context"

	"github.com/gonut/gonut/sdk"
)

type driver struct{}

func (driver) Init(_ context.Context, d *sdk.Device) error {
	d.SetInfo("ups.status", "OL")
	d.SetInfo("ups.mfr", "frozen")
	d.AddCmd("test.battery.start")
	return nil
}

func (driver) Poll(context.Context, *sdk.Device) error { return nil }
func (driver) Close(context.Context) error             { return nil }

func (driver) InstCmd(_ context.Context, d *sdk.Device, cmd, _ string) error {
	d.SetInfo("ups.test.result", "started by "+cmd)
	return nil
}

func main() {
	sdk.Serve(sdk.Info{Name: "olddriver", Version: "1.0", Description: "Driver built with the protocol 1.0 SDK"}, driver{})
}
