package drivertest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonut/gonut/sdk"
)

// recorder is a testing.TB that records failures instead of failing, so
// that a test can run the suite against a broken driver and assert on the
// messages. Fatal ends the calling goroutine, as testing.T does; run the
// suite in its own goroutine (see runSuite).
type recorder struct {
	testing.TB // the real test: TempDir, Cleanup, Name
	mu         sync.Mutex
	errs, logs []string
	failed     bool
}

func (r *recorder) Helper() {}

func (r *recorder) record(fatal bool, msg string) {
	r.mu.Lock()
	r.errs = append(r.errs, msg)
	r.failed = true
	r.mu.Unlock()
	if fatal {
		runtime.Goexit()
	}
}

func (r *recorder) Error(args ...any)                 { r.record(false, fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) { r.record(false, fmt.Sprintf(format, args...)) }
func (r *recorder) Fatal(args ...any)                 { r.record(true, fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) { r.record(true, fmt.Sprintf(format, args...)) }
func (r *recorder) Fail()                             { r.record(false, "Fail called") }
func (r *recorder) FailNow()                          { r.record(true, "FailNow called") }

func (r *recorder) Log(args ...any) {
	r.mu.Lock()
	r.logs = append(r.logs, fmt.Sprint(args...))
	r.mu.Unlock()
}

func (r *recorder) Logf(format string, args ...any) { r.Log(fmt.Sprintf(format, args...)) }

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *recorder) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// runSuite runs Conformance against newDriver with a recorder.
func runSuite(t *testing.T, newDriver func() sdk.Driver, cfg Config) *recorder {
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Conformance(rec, fakeInfo, newDriver, cfg)
	}()
	<-done
	return rec
}

var fakeInfo = sdk.Info{Name: "fake-ups", Version: "1.0", Description: "conformance test driver",
	Options: []sdk.OptionInfo{{Name: "serial"}}}

// fake is a small UPS driver; each field breaks it in one way.
type fake struct {
	extra     map[string]string // more variables published at Init
	status    string            // ups.status (default "OL CHRG")
	untypedRW bool              // a writable variable without a type
	badEnum   bool              // a writable enum whose value is not listed
	hangCmd   string            // this command blocks until release
	hangClose bool              // Close blocks until release
	unknownOK bool              // every listed command answers UNKNOWN
	nilClose  bool              // Close assumes Init opened the port
	pollPanic bool              // Poll indexes past a short reply
	release   chan struct{}

	port *strings.Builder // "opened" by Init; nil until then
}

func (f *fake) Init(ctx context.Context, d *sdk.Device) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("opening the device: %w", err)
	}
	f.port = &strings.Builder{}
	serial, _ := d.Options().Get("serial")
	d.SetInfo("device.serial", serial)
	d.SetInfo("device.mfr", "Fake")
	d.SetInfo("battery.charge", "100")
	d.SetInfo("input.voltage", "230.5")
	d.SetInfo("ups.delay.shutdown", "20")
	d.SetFlags("ups.delay.shutdown", sdk.FlagRW|sdk.FlagNumber)
	d.AddRange("ups.delay.shutdown", 0, 600)
	d.SetInfo("ups.id", "rack 1")
	d.SetFlags("ups.id", sdk.FlagRW|sdk.FlagString)
	d.SetAux("ups.id", 16)
	d.SetInfo("input.sensitivity", "normal")
	d.SetFlags("input.sensitivity", sdk.FlagRW)
	for _, e := range []string{"low", "normal", "high"} {
		d.AddEnum("input.sensitivity", e)
	}
	if f.untypedRW {
		d.SetInfo("ups.id", "rack 2")
		d.SetFlags("ups.id", sdk.FlagRW)
	}
	if f.badEnum {
		d.AddEnum("input.sensitivity", "medium")
		d.DelEnum("input.sensitivity", "normal")
	}
	for k, v := range f.extra {
		d.SetInfo(k, v)
	}
	st := f.status
	if st == "" {
		st = "OL CHRG"
	}
	d.SetInfo("ups.status", st)
	d.AddCmd("test.battery.start")
	d.AddCmd("beeper.toggle")
	return nil
}

func (f *fake) Poll(ctx context.Context, d *sdk.Device) error {
	if f.pollPanic {
		reply := strings.Fields("230.1 50.0")
		d.SetInfo("input.voltage", reply[0])
		d.SetInfo("battery.voltage", reply[2])
	}
	d.SetInfo("battery.charge", "100")
	return nil
}

func (f *fake) InstCmd(ctx context.Context, d *sdk.Device, cmd, param string) error {
	if cmd == f.hangCmd {
		<-f.release // a driver that ignores ctx
	}
	if f.unknownOK {
		return sdk.ErrUnknown
	}
	if cmd == "beeper.toggle" {
		return fmt.Errorf("beeper does not answer: %w", sdk.ErrFailed)
	}
	return nil
}

func (f *fake) SetVar(ctx context.Context, d *sdk.Device, name, value string) error {
	d.SetInfo(name, value)
	return nil
}

func (f *fake) Close(ctx context.Context) error {
	if f.hangClose {
		<-f.release
	}
	if f.port == nil && !f.nilClose {
		return nil // Init never opened the port
	}
	f.port.Reset() // with nilClose, a nil port panics here
	return nil
}

func TestConformanceGoodDriver(t *testing.T) {
	t.Parallel()
	rec := runSuite(t, func() sdk.Driver { return &fake{} }, Config{Options: []string{"serial = ABC123"}})
	if errs := rec.errors(); len(errs) > 0 {
		t.Fatalf("a conforming driver failed:\n%s\nlog:\n%s", strings.Join(errs, "\n"), strings.Join(rec.logs, "\n"))
	}
	logs := strings.Join(rec.logs, "\n")
	for _, want := range []string{
		`[instcmd] "test.battery.start" "": HANDLED`,
		`[instcmd] "beeper.toggle" "": FAILED beeper does not answer: failed`,
		`[set] "input.sensitivity" = "normal": HANDLED`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// A broken driver fails the suite with a message naming the rule, the
// variable or command, and what is wrong.
func TestConformanceBrokenDrivers(t *testing.T) {
	t.Parallel()
	short := 500 * time.Millisecond
	cases := []struct {
		name string
		drv  func(release chan struct{}) *fake
		cfg  Config
		want []string
	}{
		{"bad name", func(chan struct{}) *fake { return &fake{extra: map[string]string{"ups.Load": "5"}} }, Config{},
			[]string{`[naming] variable "ups.Load": upper-case "Load": NUT names are lower case`}},
		{"name with a space", func(chan struct{}) *fake { return &fake{extra: map[string]string{"battery.charge level": "5"}} }, Config{},
			[]string{`[naming] variable "battery.charge level": byte ' ' in segment "charge level"`}},
		{"bad status token", func(chan struct{}) *fake { return &fake{status: "ONLINE"} }, Config{},
			[]string{`[status] variable "ups.status": "ONLINE": token "ONLINE" is not one of NUT's status tokens OL OB LB`}},
		{"lower-case status", func(chan struct{}) *fake { return &fake{status: "ol"} }, Config{},
			[]string{`token "ol" is not one of NUT's status tokens`, `(status tokens are upper case)`}},
		{"FSD from a driver", func(chan struct{}) *fake { return &fake{status: "FSD OB"} }, Config{},
			[]string{`[status] variable "ups.status": "FSD OB": FSD is set by upsd`}},
		{"comma in a number", func(chan struct{}) *fake { return &fake{extra: map[string]string{"input.voltage": "230,5"}} }, Config{},
			[]string{`[number] variable "input.voltage": "230,5" holds a comma: NUT numbers use a decimal point`}},
		{"exponent", func(chan struct{}) *fake { return &fake{extra: map[string]string{"battery.runtime": "1.2e+03"}} }, Config{},
			[]string{`[number] variable "battery.runtime": "1.2e+03" is in exponent notation`}},
		{"unit in a number", func(chan struct{}) *fake { return &fake{extra: map[string]string{"input.frequency": "50Hz"}} }, Config{},
			[]string{`[number] variable "input.frequency": "50Hz" is not a plain number: NUT values carry no units`}},
		{"untyped RW", func(chan struct{}) *fake { return &fake{untypedRW: true} }, Config{},
			[]string{`[rw-type] variable "ups.id": writable without a type, so upsd reports it as NUMBER, but "rack 2" is not a number: flag it FlagString`}},
		{"value not in its enum", func(chan struct{}) *fake { return &fake{badEnum: true} }, Config{},
			[]string{`[enum] variable "input.sensitivity": value "normal" is not one of its enum values ["low" "high" "medium"]`}},
		{"listed command answers UNKNOWN", func(chan struct{}) *fake { return &fake{unknownOK: true} }, Config{},
			[]string{`[instcmd] instant command "beeper.toggle": listed by the driver but answered UNKNOWN`}},
		{"command hangs", func(r chan struct{}) *fake { return &fake{hangCmd: "beeper.toggle", release: r} }, Config{Timeout: short},
			[]string{
				`[instcmd] instant command "beeper.toggle": no answer within 500ms`,
				`still running: Run (Init, then Poll every pollinterval)`,
				`InstCmd("beeper.toggle", "")`,
			}},
		{"Close hangs", func(r chan struct{}) *fake { return &fake{hangClose: true, release: r} }, Config{Timeout: short},
			[]string{`[close] fake-ups: Close did not return within 500ms: it must return once its context ends`}},
		{"Close panics after a cancelled Init", func(chan struct{}) *fake { return &fake{nilClose: true} }, Config{},
			[]string{`[cancel] fake-ups: Close with a cancelled context panicked: runtime error: invalid memory address or nil pointer dereference`}},
		{"Poll panics", func(chan struct{}) *fake { return &fake{pollPanic: true} }, Config{},
			[]string{`[heartbeat] fake-ups: the update stream ended after 0 of 2 heartbeats: Init or Poll panicked: runtime error: index out of range [2] with length 2`}},
		{"Reload refuses its own configuration", nil, Config{},
			[]string{`[reload] fake-ups: reloading the configuration it runs with answered FAILED (disk full): Reload must accept it`}},
		{"bad option", func(chan struct{}) *fake { return &fake{} }, Config{Options: []string{"speed = 9600"}},
			[]string{`[start] fake-ups: the driver did not start: ups.conf [test]: 'speed' is not a valid variable name for driver fake-ups`}},
	}
	// The suites mostly wait for polls: run them all at once rather than
	// as parallel subtests, which go test limits to GOMAXPROCS at a time.
	recs := make([]*recorder, len(cases))
	var wg sync.WaitGroup
	for i, tt := range cases {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		newDriver := func() sdk.Driver { return refusingReload{&fake{}} }
		if tt.drv != nil {
			newDriver = func() sdk.Driver { return tt.drv(release) }
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs[i] = runSuite(t, newDriver, tt.cfg)
		}()
	}
	wg.Wait()
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			rec := recs[i]
			errs := strings.Join(rec.errors(), "\n")
			if errs == "" {
				t.Fatalf("the suite passed a broken driver; log:\n%s", strings.Join(rec.logs, "\n"))
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("failures lack %q; got:\n%s", w, errs)
				}
			}
		})
	}
}

// A well-formed name outside NUT's scheme is a vendor extension: logged,
// not failed.
func TestConformanceVendorExtensionIsLogged(t *testing.T) {
	t.Parallel()
	rec := runSuite(t, func() sdk.Driver {
		return &fake{extra: map[string]string{"ups.fancy.mode.level": "3"}}
	}, Config{})
	if errs := rec.errors(); len(errs) > 0 {
		t.Fatalf("a vendor extension failed the suite:\n%s", strings.Join(errs, "\n"))
	}
	logs := strings.Join(rec.logs, "\n")
	want := `[naming] variable "ups.fancy.mode.level": not in NUT's naming scheme (vendor extension)`
	if !strings.Contains(logs, want) {
		t.Errorf("log lacks %q:\n%s", want, logs)
	}
}

func TestStartErrReturnsInitError(t *testing.T) {
	t.Parallel()
	drv := &fake{}
	_, err := StartErr(t, fakeInfo, initFails{drv}, Config{})
	if err == nil || !strings.Contains(err.Error(), "fake-ups [test]: init: no UPS on /dev/null") {
		t.Fatalf("StartErr = %v", err)
	}
}

type initFails struct{ *fake }

func (initFails) Init(context.Context, *sdk.Device) error { return errors.New("no UPS on /dev/null") }
func (initFails) Close(context.Context) error             { return nil }

// refusingReload is a driver whose Reload always fails.
type refusingReload struct{ *fake }

func (refusingReload) Reload(context.Context, sdk.Options) error { return errors.New("disk full") }
