// Package blazer holds the integration tests of the blazer_ser
// driver against the Megatec simulator (tools/megatec-sim): differential
// tests against NUT 2.8.0's own blazer_ser, read through upsd by Debian's
// upsc and upscmd, and fault tests (a UPS that stops answering, answers
// garbage, or whose pty disappears and comes back).
package blazer
