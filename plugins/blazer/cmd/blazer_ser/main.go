// Command blazer_ser is the blazer_ser driver plugin: Megatec/Q1 protocol
// UPSes on a serial line. nut-driver-host starts it for each ups.conf
// section with driver = blazer_ser; run by hand it is a classic NUT driver.
package main

import (
	"github.com/gonut/gonut/plugins/blazer"
	"github.com/gonut/gonut/sdk"
)

func main() { sdk.Serve(blazer.SerialInfo, blazer.NewSerial()) }
