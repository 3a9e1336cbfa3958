// Package hostbench measures nut-driver-host against NUT 2.8.0's
// upsdrvctl side by side, for the driver host's targets: how long until N
// dummy-ups instances all serve fresh data, how much memory the host and
// its plugins take against NUT's drivers, and how long a plugin killed
// with kill -9 takes to serve fresh data again. docs/HOST-PERFORMANCE.md
// has the figures and the command that produced them.
//
// "Fresh" is decided the same way for both implementations, on the
// driver state socket itself (no upsd in the way): a connection that has
// seen ups.status and whose last word on freshness was DATAOK.
//
// BenchmarkHost runs only with -bench (N=200 unless GONUT_HOSTBENCH_N says
// otherwise); TestSmall runs the same measurements with five instances in
// the normal suite, so that the harness cannot rot. No test asserts a time.
package hostbench
