// Package protocol holds the differential tests of the network protocol:
// the same request bytes go to NUT 2.8.0's own upsd and to gonut's upsd,
// and the replies must be byte for byte the same, except for the server
// version, tracking ids and the deliberate differences listed in
// docs/COMPATIBILITY.md, each checked by its own assertion here.
//
// Both upsds read NUT's C drivers (dummy-ups fed by device dumps from the
// NUT device dump library) for the read path, and each its own copy of a
// fake driver (a gonut sockproto.Server) with ENUM, RANGE, STRING:n and
// read-only variables and commands with chosen TRACKING results for the
// write path; what each upsd passes to its driver is compared too. The
// TLS test runs NUT's upsmon over STARTTLS against gonut's upsd.
//
// Without NUT's binaries the tests fail when CI=true and are skipped
// otherwise.
package protocol
