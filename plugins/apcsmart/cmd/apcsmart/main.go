// Command apcsmart is the apcsmart driver plugin: APC Smart-UPS (and
// other units speaking the APC Smart protocol) on a serial port.
// nut-driver-host starts it for each ups.conf section with
// driver = apcsmart.
package main

import (
	"github.com/gonut/gonut/plugins/apcsmart"
	"github.com/gonut/gonut/sdk"
)

func main() { sdk.Serve(apcsmart.Info, apcsmart.New()) }
