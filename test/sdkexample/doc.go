// Package sdkexample tests the driver SDK the way a vendor uses it: the
// example driver sdk/examples/statusfile is copied with the sdk module out
// of the repository, built as its own module (GOWORK=off, its replace
// pointing at the copied sdk), its own tests run, and the binary put in a
// driverpath of its own and run under gonut's nut-driver-host and upsd. A
// kill -9 of the plugin must be followed by a restart and fresh data. Then
// the same binary runs in standalone mode under NUT 2.8.0's own upsdrvctl
// and upsd, and Debian's upsc must show the same variables.
package sdkexample
