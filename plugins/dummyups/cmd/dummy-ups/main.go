// Command dummy-ups is the dummy-ups driver plugin: a simulated UPS fed by
// a .dev or .seq file. nut-driver-host starts it for each ups.conf section
// with driver = dummy-ups.
package main

import (
	"github.com/gonut/gonut/plugins/dummyups"
	"github.com/gonut/gonut/sdk"
)

func main() { sdk.Serve(dummyups.Info, dummyups.New()) }
