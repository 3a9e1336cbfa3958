// Command nut-recorder records a UPS through any upsd (gonut's or NUT's)
// into a dummy-ups sequence file: every variable first, then, whenever
// something changed between polls, "TIMER <seconds>" and what changed, so
// dummy-ups can replay a real power event in CI. Its command line is NUT's
// nut-recorder.sh's:
//
//	nut-recorder <ups>[@host[:port]] [output-file] [interval]
//
// recorder.go turns snapshots into the file (Recorder) and reads them with
// gonut's client library; main.go is the poll loop. See docs/RECORDING.md
// for usage, a worked example and where it differs from NUT's script.
package main
