// Command sddriver is a test driver for the standalone-mode tests: it has
// the optional interfaces dummy-ups lacks. Shutdown records that it ran in
// the file named by the marker option (and fails when fail_shutdown is
// set); Reload publishes the label option, so a test sees that a reload
// reached the driver.
package main

import (
	"context"
	"errors"
	"os"

	"github.com/gonut/gonut/sdk"
)

type driver struct{}

var (
	_ sdk.Shutdowner = driver{}
	_ sdk.Reloader   = driver{}
)

func (driver) Init(_ context.Context, d *sdk.Device) error {
	d.SetInfo("ups.status", "OL")
	d.SetInfo("ups.mfr", "gonut test")
	label, _ := d.Options().Get("label")
	d.SetInfo("ups.id", label)
	return nil
}

func (driver) Poll(context.Context, *sdk.Device) error { return nil }
func (driver) Close(context.Context) error             { return nil }

func (driver) Shutdown(_ context.Context, d *sdk.Device) error {
	marker, _ := d.Options().Get("marker")
	if d.Options().Flag("fail_shutdown") {
		return errors.New("the UPS refused the shutdown command")
	}
	return os.WriteFile(marker, []byte("shutdown "+d.Name()+"\n"), 0o644)
}

// Reload writes the re-read label to the marker file, where a test sees
// that the reload arrived with the new options.
func (driver) Reload(_ context.Context, opts sdk.Options) error {
	marker, _ := opts.Get("marker")
	label, _ := opts.Get("label")
	return os.WriteFile(marker, []byte("reload "+label+"\n"), 0o644)
}

func main() {
	sdk.Serve(sdk.Info{
		Name: "sddriver", Version: "1.0", Description: "Shutdown and reload test driver",
		Options: []sdk.OptionInfo{
			{Name: "marker", Help: "file that Shutdown and Reload write to"},
			{Name: "label", Help: "published as ups.id"},
			{Name: "fail_shutdown", Help: "make Shutdown fail", Flag: true},
		},
	}, driver{})
}
