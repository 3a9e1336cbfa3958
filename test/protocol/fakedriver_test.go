package protocol

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/gonut/gonut/sdk/sockproto"
)

// NUT's dummy-ups reports no enumerations, no ranges and no string
// lengths worth testing SET against, and one instant command. The write
// path is therefore tested against a driver the test controls: a gonut
// sockproto.Server that both upsds read (each its own copy, so that what
// each upsd asks of its driver can be compared), with ENUM, RANGE,
// STRING:n and read-only variables and commands whose TRACKING results the
// test chooses.

// wrState is the write-path device. Every kind of SET check has a
// variable: ups.id is STRING:8, ups.contact a STRING whose driver forgot
// its length (SET-FAILED), input.transfer.low an ENUM, input.sensitivity
// an ENUM that is also STRING:1, ups.delay.shutdown two RANGEs,
// battery.charge.low a plain RW NUMBER, ups.temperature read-only.
const wrState = `
SETINFO device.mfr "Fake"
SETINFO device.model "Write \"path\" \# 1"
SETINFO ups.status "OL"
SETINFO ups.id "rack 1"
SETFLAGS ups.id RW STRING
SETAUX ups.id 8
SETINFO ups.contact "nobody"
SETFLAGS ups.contact RW STRING
SETINFO input.transfer.low "95"
SETFLAGS input.transfer.low RW
ADDENUM input.transfer.low "90"
ADDENUM input.transfer.low "95"
ADDENUM input.transfer.low "100"
SETINFO input.sensitivity "M"
SETFLAGS input.sensitivity RW STRING
SETAUX input.sensitivity 1
ADDENUM input.sensitivity "L"
ADDENUM input.sensitivity "M"
ADDENUM input.sensitivity "H"
SETINFO ups.delay.shutdown "20"
SETFLAGS ups.delay.shutdown RW NUMBER
ADDRANGE ups.delay.shutdown 0 600
ADDRANGE ups.delay.shutdown 900 1200
SETINFO battery.charge.low "10"
SETFLAGS battery.charge.low RW NUMBER
SETINFO ups.temperature "25.0"
ADDCMD load.off
ADDCMD load.on
ADDCMD test.battery.start
ADDCMD beeper.disable
ADDCMD shutdown.return
DATAOK
`

// staleState is a driver that says its data is stale.
const staleState = `
SETINFO ups.status "OL"
SETINFO ups.id "old"
SETFLAGS ups.id RW STRING
SETAUX ups.id 8
ADDCMD load.off
DATASTALE
`

// trackingResults is what the fake driver reports for each tracked
// command or variable (NUT's STAT_INSTCMD_* / STAT_SET_* codes: 0 handled,
// 2 invalid, 3 failed). Names not listed get no answer, so their tracking
// stays PENDING.
var trackingResults = map[string]int{
	"load.off":           0,
	"shutdown.return":    0,
	"load.on":            3,
	"test.battery.start": 2,
	"ups.id":             0,
	"input.transfer.low": 3,
	"ups.delay.shutdown": 2,
	"battery.charge.low": 0,
}

// fakeDriver is one upsd's copy of the write-path and stale devices.
type fakeDriver struct {
	wr, stale *sockproto.Server
	h         *recorder
}

// recorder is the fake driver's Handler: it records every request and
// answers tracked ones from trackingResults.
type recorder struct {
	mu   sync.Mutex
	reqs []string
	srv  *sockproto.Server // set once listening
}

func (r *recorder) InstCmd(cmd, param, id string) {
	r.record(fmt.Sprintf("INSTCMD %q param=%q tracking=%v", cmd, param, id != ""), strings.ToLower(cmd), id)
}

func (r *recorder) SetVar(name, value, id string) {
	r.record(fmt.Sprintf("SET %q value=%q tracking=%v", name, value, id != ""), strings.ToLower(name), id)
}

func (r *recorder) record(req, key, id string) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	srv := r.srv
	r.mu.Unlock()
	if st, ok := trackingResults[key]; ok && id != "" && srv != nil {
		srv.Tracking(id, st)
	}
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

// startFakeDriver serves the wr and stale devices for driver name drv in
// dir (sockets dir/<drv>-wr and dir/<drv>-stale).
func startFakeDriver(t *testing.T, dir, drv string) *fakeDriver {
	t.Helper()
	f := &fakeDriver{h: &recorder{}}
	var err error
	f.wr, err = sockproto.Listen(filepath.Join(dir, drv+"-wr"), f.h, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.wr.Close() })
	f.h.mu.Lock()
	f.h.srv = f.wr
	f.h.mu.Unlock()
	if err := f.wr.Update(lines(t, wrState)...); err != nil {
		t.Fatal(err)
	}
	f.stale, err = sockproto.Listen(filepath.Join(dir, drv+"-stale"), &recorder{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.stale.Close() })
	if err := f.stale.Update(lines(t, staleState)...); err != nil {
		t.Fatal(err)
	}
	return f
}

func lines(t *testing.T, text string) [][]string {
	t.Helper()
	var out [][]string
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		w, err := nutconf.Split(l)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, w)
	}
	return out
}

// trackingID matches a tracking id as both upsds print it.
var trackingID = regexp.MustCompile(`[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}`)
