// Package realclients runs real NUT 2.8.0 clients, unchanged, against
// gonut's upsd, and the same clients against NUT's own upsd to compare:
// Debian's upscmd and upsrw (including -w, which waits for the driver's
// result through TRACKING), Debian's upslog, NUT's upsmon as primary and
// as secondary (login, PRIMARY, FSD, NUMLOGINS, SHUTDOWNCMD and NOTIFYCMD),
// and PyNUT (python3-nut) listing, reading, setting, running commands and
// FSD.
//
// Three stacks serve the same device: NUT's dummy-ups under NUT's upsd
// (the reference), NUT's dummy-ups under gonut's upsd (only upsd differs),
// and gonut's nut-driver-host with gonut's dummy-ups under gonut's upsd
// (all gonut). Each test brings up its own stacks in a temporary directory
// on free loopback ports and stops every process it started by pid.
//
// The package holds only tests. Without the real NUT clients they fail
// when CI=true and are skipped otherwise.
package realclients
