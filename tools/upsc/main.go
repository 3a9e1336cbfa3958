// Command upsc is NUT's lightweight read-only client: it lists the UPSes of
// a upsd, the variables of a UPS or one variable's value, and the clients
// logged in to a UPS, with NUT 2.8.0's arguments, output and exit codes.
// See README.md for where it differs from NUT's upsc (-j, messages).
package main

import "os"

func main() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) }
