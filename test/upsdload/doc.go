// Package upsdload holds the load and abuse tests of gonut's upsd, on
// loopback and bounded in time: ten thousand concurrent idle clients with
// MAXCONN raised; a client past MAXCONN refused cleanly while the others
// carry on; and clients that send a 1 MiB line, binary garbage, one byte a
// second, or never read their answers, each answered or dropped while a
// well-behaved client next to them is served throughout.
//
// The tests assert outcomes and orderings, never latencies; throughput and
// latency figures come from tools/upsd-load (docs/PERFORMANCE.md ("upsd under load")).
package upsdload
