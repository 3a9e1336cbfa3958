// Package sdkexample tests the driver SDK the way a vendor uses it: the
// example driver sdk/examples/statusfile is copied with the sdk module out
// of the repository, built as its own module (GOWORK=off, its replace
// pointing at the copied sdk), its own tests run, and the binary put in a
// driverpath of its own and run under gonut's nut-driver-host and upsd. A
// kill -9 of the plugin must be followed by a restart and fresh data.
package sdkexample
