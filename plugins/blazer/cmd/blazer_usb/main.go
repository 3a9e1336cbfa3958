// Command blazer_usb is the blazer_usb driver plugin: Megatec/Q1 protocol
// UPSes behind a USB-serial bridge (cypress, phoenix, ippon and krauler
// subdrivers), through libusb. nut-driver-host starts it for each ups.conf
// section with driver = blazer_usb; run by hand it is a classic NUT driver.
package main

import (
	"github.com/gonut/gonut/plugins/blazer"
	"github.com/gonut/gonut/sdk"
)

func main() { sdk.Serve(blazer.USBInfo, blazer.NewUSB()) }
