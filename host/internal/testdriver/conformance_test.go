package main

import (
	"testing"

	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/drivertest"
)

// conformanceInfo repeats what main passes to sdk.Serve (main.go keeps it
// inline); only Name and the options the tests use must match.
var conformanceInfo = sdk.Info{
	Name: "testdriver", Version: "1.0", Description: "host test driver",
	Options: []sdk.OptionInfo{{Name: "fail_init", Flag: true}, {Name: "fail_if_exists"}, {Name: "exit_after"},
		{Name: "id"}, {Name: "shutdown_log"}},
}

// TestConformance runs the SDK's conformance suite against the host's
// test driver. ups.counter and ups.pid are its own names: the suite logs
// them as vendor extensions.
func TestConformance(t *testing.T) {
	drivertest.Conformance(t, conformanceInfo, func() sdk.Driver { return &driver{} }, drivertest.Config{
		Options:   []string{"id = conformance"},
		CmdParams: map[string]string{"test.battery.start": "quick"},
	})
}

// A driver whose Init fails does not start, and says why.
func TestInitFailureIsReported(t *testing.T) {
	_, err := drivertest.StartErr(t, conformanceInfo, &driver{}, drivertest.Config{Options: []string{"fail_init"}})
	if err == nil {
		t.Fatal("fail_init: the driver started")
	}
	const want = "testdriver [test]: init: device not found (fail_init)"
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}
