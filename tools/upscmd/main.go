// Command upscmd is NUT's administration client for instant commands: it
// lists the commands a UPS supports, and runs one (with an optional
// parameter) as an authenticated upsd user, optionally waiting for the
// driver's result. Arguments, prompts, output and exit status are NUT
// 2.8.0's; README.md lists where it differs on purpose.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) }
