// Package tools compares gonut's upscmd and upsrw with NUT 2.8.0's,
// byte for byte: Debian's /usr/bin/upscmd and /usr/bin/upsrw and gonut's
// run with the same arguments and the same answers on stdin (or typed on a
// pseudo-terminal, for the password prompts), against NUT's upsd 2.8.0 and
// against gonut's upsd, both serving NUT's dummy-ups and a driver of the
// test's own (a sockproto.Server) with the ENUM, RANGE and STRING:n
// variables and the tracked command results dummy-ups lacks. Every pair
// must print the same stdout and stderr and exit the same way, which also
// shows that Debian's tools work unchanged with gonut's upsd.
//
// It also checks, on the same drivers, the client library's STARTTLS
// against gonut's upsd with a CERTFILE, and that clienttest.UPSD, the fake
// upsd the unit tests of the client library and the tools run against,
// answers a transcript of sessions exactly as NUT's upsd does.
//
// The tests need NUT 2.8.0 (nut-server, nut-client): they fail when
// CI=true and it is missing, and skip otherwise.
package tools
