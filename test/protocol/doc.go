// Package protocol holds the differential transcript test of the network
// protocol's read path: the same request bytes go to NUT 2.8.0's own upsd
// and to gonut's upsd, both reading the same NUT C drivers (dummy-ups fed by
// device dumps from the NUT device dump library), and the replies must be
// byte for byte the same, except for the server version and the deliberate
// differences listed in docs/COMPATIBILITY.md, each checked by its own
// assertion here.
package protocol
