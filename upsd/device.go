package upsd

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/gonut/gonut/sdk/sockproto"
)

// device is one UPS of ups.conf and the live copy of its driver's state.
type device struct {
	name   string // as written in ups.conf
	desc   string // guarded by Server.mu (Reload may change it)
	socket string
	client *sockproto.Client
	cancel context.CancelFunc
	done   chan struct{}

	// fsd is NUT's forced-shutdown flag, set by FSD and shown as an FSD
	// prefix of ups.status. As in NUT it lasts as long as the server.
	fsd       atomic.Bool
	numLogins atomic.Int64
}

// stop ends the device's driver connection.
func (d *device) stop() { d.cancel() }

// availability is NUT's ups_available: the error code a client gets when
// the device's data may not be served, or "" when it may. A device is
// unavailable when its driver is not connected, when the driver has been
// silent longer than maxAge, or when the driver has finished its dump and
// said DATASTALE.
func availability(info sockproto.Info, maxAge time.Duration, now time.Time) string {
	switch {
	case !info.Connected:
		return errDriverNotConnected
	case now.Sub(info.LastHeard) > maxAge:
		return errDataStale
	case info.DumpDone && !info.DataOK:
		return errDataStale
	}
	return ""
}
