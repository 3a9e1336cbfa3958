// Package upsmon holds the scenario tests of gonut's upsmon: real upsd
// stacks (gonut's nut-driver-host and dummy-ups under gonut's upsd, or
// NUT 2.8.0's dummy-ups and upsd) driven by dummy-ups .seq/.dev files and
// SET, with one to three upsmon processes whose SHUTDOWNCMD and NOTIFYCMD
// are scripts that write files. They show the shutdowns that must happen
// (OB LB, FSD from a primary, a UPS lost while on battery) and the ones
// that must not (a redundant supply, a self-test OFF, a stale blip, an LB
// that clears within OBLBDURATION, upsd lost while on line), the
// primary/secondary protocol (FSD, NUMLOGINS, HOSTSYNC), privilege
// separation, and the same notifications and shutdowns from NUT's upsmon
// and gonut's against either upsd, and from a site mixing the two.
//
// Timings are short (POLLFREQ 1 s) so that the package runs in about a
// minute. Tests that need NUT 2.8.0 fail when CI=true and it is missing,
// and are skipped otherwise.
package upsmon
