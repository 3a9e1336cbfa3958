package sdk

import (
	"context"
	"errors"
)

// Driver is what a driver author implements: NUT's upsdrv_* functions as a
// Go interface. The SDK calls Init once, then Poll every poll interval, and
// Close when the host stops the instance or the process gets SIGTERM. All
// three are called from one goroutine; d may also be used from others.
type Driver interface {
	// Init opens the device and publishes its initial state (NUT's
	// upsdrv_initups followed by upsdrv_initinfo). An error ends the
	// instance; the host retries it with backoff.
	Init(ctx context.Context, d *Device) error
	// Poll reads the device and updates d (NUT's upsdrv_updateinfo). An
	// error is logged and the data marked stale; the next Poll may recover.
	Poll(ctx context.Context, d *Device) error
	// Close releases the device. It must return promptly once ctx ends.
	Close(ctx context.Context) error
}

// InstCmder is implemented by drivers that support instant commands. The
// commands themselves are announced with Device.AddCmd.
type InstCmder interface {
	InstCmd(ctx context.Context, d *Device, cmd, param string) error
}

// Setter is implemented by drivers with writable variables (flag FlagRW).
type Setter interface {
	SetVar(ctx context.Context, d *Device, name, value string) error
}

// Shutdowner is implemented by drivers that can tell the UPS to cut its
// load, possibly after a delay (NUT's upsdrv_shutdown): what `driver -k`
// and `upsdrvctl shutdown` run at the end of a power failure. Shutdown is
// called after Init, serialised with the other driver calls, with the
// instance's Device. It must not wait for the power to go; an error means
// the UPS did not accept the command (the exit status of -k is then 1).
type Shutdowner interface {
	Shutdown(ctx context.Context, dev *Device) error
}

// Reloader is implemented by drivers that can apply a changed ups.conf
// section without a restart (NUT's `driver -c reload`, SIGHUP). opts is
// the re-read configuration, already checked against the driver's option
// table; after Reload returns nil, Device.Options returns it. An error
// keeps the old configuration. Drivers without Reloader keep their
// configuration until restarted.
type Reloader interface {
	Reload(ctx context.Context, opts Options) error
}

// Errors an InstCmd or SetVar returns to tell upsd what happened; they map
// to NUT's STAT_INSTCMD_* / STAT_SET_* codes. Any other error means failed.
var (
	ErrUnknown    = errors.New("not supported")           // STAT_*_UNKNOWN
	ErrInvalid    = errors.New("invalid argument")        // STAT_*_INVALID
	ErrFailed     = errors.New("failed")                  // STAT_*_FAILED
	ErrConversion = errors.New("value conversion failed") // STAT_*_CONVERSION_FAILED
)

// Info describes a driver: what `describe` prints and what -h shows.
type Info struct {
	Name        string       // NUT driver name, e.g. "dummy-ups"
	Version     string       // the driver's own version (driver.version.internal)
	Description string       // one line, e.g. "Device simulation and repeater driver"
	Authors     []string     `json:",omitempty"`
	Options     []OptionInfo // driver-specific ups.conf keys (NUT's addvar)
}

// OptionInfo is one driver-specific ups.conf key.
type OptionInfo struct {
	Name string
	Help string
	Flag bool `json:",omitempty"` // a bare flag rather than key = value
}
