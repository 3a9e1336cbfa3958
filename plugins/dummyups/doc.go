// Package dummyups is the dummy-ups driver: a simulated UPS whose variables
// come from a file in upsc's output format, behaving as NUT 2.8.0's
// dummy-ups (version 0.15) does in everything a client can see.
//
// The port names the file: a .dev file (a device dump, read once and
// re-read when it changes) or a .seq file (a sequence, replayed in a loop,
// with TIMER lines pausing it). ParseDev reads either format; Driver runs
// it behind the gonut SDK. A port of the form ups@host[:port] makes it a
// repeater instead: a client (package client) of another upsd whose UPS it
// republishes, passing SET VAR and INSTCMD on. README.md is the user's
// documentation and lists the NUT quirks kept on purpose and the places
// where gonut differs.
package dummyups
