package dummyups

import (
	"strings"

	"github.com/gonut/gonut/sdk"
)

// varInfo is how dummy-ups 0.15 publishes a variable it knows: its flags
// and, for a string, its maximum length (NUT's dummy_info_t).
type varInfo struct {
	flags sdk.Flags
	aux   int // maximum length of a string; 0 for a number
}

var (
	number   = varInfo{flags: sdk.FlagRW}
	string32 = varInfo{flags: sdk.FlagRW | sdk.FlagString, aux: 32}
	string16 = varInfo{flags: sdk.FlagRW | sdk.FlagString, aux: 16}
)

// unknownVar is what dummy-ups gives every variable missing from its table.
var unknownVar = string32

// knownVars is dummy-ups 0.15's variable table, read back from NUT 2.8.0's
// dummy-ups through its driver socket (SETFLAGS/SETAUX for each name). A
// number is published with RW alone, which upsd reports as NUMBER.
var knownVars = map[string]varInfo{
	"ups.mfr":                   string32,
	"ups.model":                 string32,
	"ups.status":                string32,
	"ups.serial":                string32,
	"ups.alarm":                 string32,
	"ups.load":                  number,
	"ups.time":                  string16,
	"ups.date":                  string16,
	"ups.mfr.date":              string16,
	"ups.firmware":              string16,
	"ups.firmware.aux":          string16,
	"ups.temperature":           number,
	"ups.id":                    string16,
	"ups.delay.start":           number,
	"ups.delay.reboot":          number,
	"ups.delay.shutdown":        number,
	"ups.test.interval":         number,
	"ups.test.result":           string16,
	"input.voltage":             number,
	"input.voltage.maximum":     number,
	"input.voltage.minimum":     number,
	"input.voltage.nominal":     number,
	"input.transfer.reason":     {flags: sdk.FlagRW | sdk.FlagString, aux: 1},
	"input.transfer.low":        number,
	"input.transfer.high":       number,
	"input.sensitivity":         {flags: sdk.FlagRW | sdk.FlagString, aux: 1},
	"input.quality":             {flags: sdk.FlagRW | sdk.FlagString, aux: 6},
	"input.frequency":           number,
	"input.transfer.boost.low":  number,
	"input.transfer.boost.high": number,
	"input.transfer.trim.low":   number,
	"input.transfer.trim.high":  number,
	"output.voltage":            number,
	"output.frequency":          number,
	"output.current":            number,
	"battery.charge":            number,
	"battery.charge.low":        number,
	"battery.voltage":           number,
	"battery.current":           number,
	"battery.runtime":           number,
	"battery.runtime.low":       number,
	"battery.charge.restart":    number,
	"battery.temperature":       number,
	"battery.voltage.nominal":   number,
	"ambient.temperature":       number,
	"ambient.temperature.alarm": number,
	"ambient.temperature.high":  number,
	"ambient.temperature.low":   number,
	"ambient.humidity":          number,
	"ambient.humidity.alarm":    number,
	"ambient.humidity.high":     number,
	"ambient.humidity.low":      number,
}

// lookupVar returns a variable's flags and length; the table is searched
// without regard to case, as NUT's find_info does.
func lookupVar(name string) varInfo {
	if vi, ok := knownVars[strings.ToLower(name)]; ok {
		return vi
	}
	return unknownVar
}

// Variables dummy-ups publishes before reading its file (DU_FLAG_INIT).
var initialVars = []struct{ name, value string }{
	{"ups.mfr", "Dummy Manufacturer"},
	{"ups.model", "Dummy UPS"},
	{"ups.status", "OL"},
}
