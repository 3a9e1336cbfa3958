// Package bench holds the read path's benchmarks, run side by side with
// real NUT 2.8.0 and reported as figures and ratios (never as timed
// assertions): how fast a change in a driver reaches a client through
// upsd (propagation), and how fast fresh data is back after a driver is
// killed (recovery). docs/PERFORMANCE.md has the figures and the command
// that produced them. benchdriver/ is the driver plugin they drive.
//
// Nothing here runs without -bench; TestBenchDriver checks the benchmark
// driver itself.
package bench
