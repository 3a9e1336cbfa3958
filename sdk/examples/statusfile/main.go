// Command statusfile is a gonut driver for a UPS whose vendor software
// writes its state to a file: it publishes that file as a NUT device, and
// passes instant commands and SETs back through a command file the vendor
// software reads. It is the SDK's worked example (see README.md).
package main

import "github.com/gonut/gonut/sdk"

func main() { sdk.Serve(Info, New()) }
