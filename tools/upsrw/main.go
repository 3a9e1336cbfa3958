// Command upsrw is NUT's client for writable variables: it lists those of
// a UPS with their descriptions, types, allowed values and current values,
// and sets one as an authenticated upsd user, optionally waiting for the
// driver's result. Arguments, prompts, output and exit status are NUT
// 2.8.0's; README.md lists where it differs on purpose.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) }
