// Command upslog is NUT's UPS status logger: it polls one or more UPSes on
// upsd at an interval and appends a line per UPS, built from a format
// string (%VAR name%, %TIME fmt%, ...), to a log file or stdout. It takes
// NUT 2.8.0's arguments and writes NUT 2.8.0's lines, messages and pid
// file; SIGUSR1 logs at once, SIGHUP reopens the log files (rotation).
// See README.md for the options NUT added after 2.8.0 (-m, -d, -N, -D) and
// where gonut's upslog differs on purpose.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) }
