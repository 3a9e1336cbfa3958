package apcsmart

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/drivertest"
	"github.com/gonut/gonut/tools/apcsmart-sim/sim"
)

// TestConformance runs the SDK's conformance suite against apcsmart on a
// simulated UPS: every instant command and a SET of every writable
// variable, among the rest.
func TestConformance(t *testing.T) {
	t.Parallel()
	s, err := sim.Start(sim.Options{Link: filepath.Join(t.TempDir(), "tty")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	drivertest.Conformance(t, Info, func() sdk.Driver { return New() }, drivertest.Config{
		UPS:     "apc",
		Options: []string{"port = " + s.Path()},
		// load.on waits 1.5 s between its two bytes, nasty commands only
		// arm; the slowest reply the driver waits for is 6 s.
		Timeout:   20 * time.Second,
		CmdParams: map[string]string{"shutdown.return": "at:5"},
	})
}
