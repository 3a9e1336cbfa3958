// Package drivertest tests gonut drivers: an in-process harness that runs a
// driver through the real plugin path (sdk.NewServer behind go-plugin's
// gRPC transport, as nut-driver-host sees it) without starting a process,
// the conformance suite every driver runs from its own tests, and helpers
// for golden tests against NUT device dumps (.dev) and sequences (.seq).
//
// # Usage
//
// Every driver, in-tree or third-party, runs the conformance suite:
//
//	func TestConformance(t *testing.T) {
//		drivertest.Conformance(t, mydriver.Info, func() sdk.Driver { return mydriver.New() },
//			drivertest.Config{Options: []string{"port = " + simulatorPath, "mode = fast"}})
//	}
//
// Conformance starts fresh drivers (newDriver is called once per run) with
// the ups.conf section built from Config.Options (driver = <name> and
// pollinterval = 1 are added unless given) and checks, naming the variable
// or command and the rule broken in every failure:
//
//   - Init succeeds and the first update is a snapshot whose messages are
//     valid driver socket protocol; the plugin answers Capabilities;
//   - variable and command names fit NUT's naming scheme (sdk/names);
//     well-formed vendor extensions are allowed and reported with t.Log;
//   - ups.status holds only NUT's status tokens, separated by single spaces;
//   - numbers are formatted as NUT requires: digits with an optional
//     decimal point, no commas, exponents, thousands separators or units;
//   - writable (RW) variables are typed (STRING with a length, NUMBER, ENUM
//     or RANGE) and their current value fits their type, enum and range;
//   - every listed instant command, and a SET of every RW variable, answers
//     within Config.Timeout with one of NUT's STAT_* codes; an unknown
//     command or variable answers STAT_*_UNKNOWN;
//   - the heartbeat flows (one update per poll);
//   - Reload and Shutdown match the features announced in Capabilities: a
//     driver without sdk.Reloader or sdk.Shutdowner answers UNKNOWN, one
//     with Reloader accepts the configuration it runs with, and Shutdown
//     (run last, once; Config.SkipShutdown) answers in time;
//   - Run returns once its context is cancelled and Close returns within
//     Config.Timeout;
//   - cancelling the context during Init, Poll, a command or Close never
//     panics.
//
// For tests of a driver's behaviour, Start runs one driver and gives access
// to what upsd would see (StartErr, for a driver expected not to start,
// returns Init's error instead):
//
//	h := drivertest.Start(t, mydriver.Info, mydriver.New(), drivertest.Config{Options: opts})
//	h.Wait("on battery", func(st *sockproto.State) bool { v, _ := st.Value("ups.status"); return v == "OB" })
//	res, err := h.InstCmd("test.battery.start", "") // also SetVar, Reload, Shutdown
//	drivertest.CheckState(t, h.State())             // the static rules above, on any state
//
// The harness stands in for nut-driver-host: the driver runs behind
// sdk.NewServer, reached through plugin.GRPCPlugin's client over a real
// gRPC connection on a unix socket, so options, updates, commands and
// results cross the same code and encoding as in production. Driver panics
// are recovered and reported as test failures naming the call.
//
// For a unit test of one method without any of this, sdk.NewDevice gives
// the Device the SDK would hand to Init.
//
// Check is the static part of the suite without a testing.TB, for tools.
//
// Golden tests compare a published state with a .dev file (NUT's device
// dump format, "name: value" per line); ReadSeq splits a .seq file into the
// states expected after each TIMER step, and Diff tells when a state has
// reached one:
//
//	drivertest.CompareDev(t, h.State(), "testdata/smart-ups.dev", drivertest.CompareOptions{Update: *update})
//	h.Wait("step 2", func(st *sockproto.State) bool { return len(drivertest.Diff(st, steps[1].Want, opts)) == 0 })
package drivertest
