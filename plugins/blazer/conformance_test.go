package blazer

import (
	"testing"

	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/drivertest"
	"github.com/gonut/gonut/tools/megatec-sim/sim"
)

// TestConformance runs the SDK's conformance suite on blazer's core over
// an in-process simulated UPS, with the serial and with the USB driver's
// description (their options differ).
func TestConformance(t *testing.T) {
	for _, info := range []sdk.Info{SerialInfo, USBInfo} {
		t.Run(info.Name, func(t *testing.T) {
			drivertest.Conformance(t, info, func() sdk.Driver {
				u := sim.New()
				u.SetTestDuration(0)
				return newSimDriver(u)
			}, drivertest.Config{Options: []string{"port = /dev/null"}})
		})
	}
}
