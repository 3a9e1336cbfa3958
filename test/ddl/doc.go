// Package ddl holds the differential test of dummy-ups over the NUT device
// dump library (../shared/ddl from the repository root): every dump is
// served by real NUT 2.8.0 (its dummy-ups and upsd) and by gonut
// (nut-driver-host with the dummy-ups plugin, and gonut's upsd), and NUT's
// own clients must print the same for both.
//
// Run it with `go test ./test/ddl/` from the repository root; it takes a
// minute or two on two cores. It needs Debian's NUT 2.8.0 packages
// (nut-server, nut-client): without them it is skipped, or fails when
// CI=true.
package ddl
