// Command testdriver is a gonut driver plugin for the host's own tests: it
// counts its polls in ups.counter and can be told to fail in the ways real
// drivers fail.
//
// Options: fail_init (flag) makes Init fail; fail_if_exists = PATH makes
// Init fail while PATH exists (a crash loop whose cause a test can fix);
// stale_if_exists = PATH makes each poll fail (data stale) while PATH
// exists; exit_after = N exits the process with status 3 after N polls; id = X
// publishes X as device.serial so a test can tell instances apart (a
// reload in place takes a new id);
// shutdown_log = PATH makes the shutdown sequence (NUT's -k) append
// "<ups> <unix nanoseconds>" to PATH.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gonut/gonut/sdk"
)

type driver struct {
	mu sync.Mutex
	id string // device.serial; Reload changes it, the next poll publishes it

	polls       int
	exitAfter   int
	staleIf     string
	shutdownLog string
}

func (d *driver) Init(_ context.Context, dev *sdk.Device) error {
	o := dev.Options()
	if o.Flag("fail_init") {
		return errors.New("device not found (fail_init)")
	}
	if p, ok := o.Get("fail_if_exists"); ok {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("device not found (fail_if_exists: %s exists)", p)
		}
	}
	d.shutdownLog, _ = o.Get("shutdown_log")
	d.staleIf, _ = o.Get("stale_if_exists")
	if v, ok := o.Get("exit_after"); ok {
		d.exitAfter, _ = strconv.Atoi(v)
	}
	id, _ := o.Get("id")
	d.mu.Lock()
	d.id = id
	d.mu.Unlock()
	dev.SetInfo("device.serial", id)
	dev.SetInfo("ups.status", "OL")
	dev.SetInfo("ups.counter", "0")
	dev.SetInfo("ups.pid", strconv.Itoa(os.Getpid()))
	dev.SetInfo("ups.delay.shutdown", "20")
	dev.SetFlags("ups.delay.shutdown", sdk.FlagRW|sdk.FlagNumber)
	dev.AddCmd("test.battery.start")
	return nil
}

// InstCmd: test.battery.start sets ups.test.result; a parameter "fail"
// makes it fail.
func (d *driver) InstCmd(_ context.Context, dev *sdk.Device, cmd, param string) error {
	if param == "fail" {
		return sdk.ErrFailed
	}
	dev.SetInfo("ups.test.result", "started "+param)
	return nil
}

// SetVar accepts whole numbers only.
func (d *driver) SetVar(_ context.Context, dev *sdk.Device, name, value string) error {
	if _, err := strconv.Atoi(value); err != nil {
		return sdk.ErrInvalid
	}
	dev.SetInfo(name, value)
	return nil
}

func (d *driver) Poll(_ context.Context, dev *sdk.Device) error {
	d.polls++
	if d.exitAfter > 0 && d.polls >= d.exitAfter {
		os.Exit(3)
	}
	if d.staleIf != "" {
		if _, err := os.Stat(d.staleIf); err == nil {
			return fmt.Errorf("device not answering (stale_if_exists: %s exists)", d.staleIf)
		}
	}
	dev.SetInfo("ups.counter", strconv.Itoa(d.polls))
	d.mu.Lock()
	dev.SetInfo("device.serial", d.id)
	d.mu.Unlock()
	return nil
}

// Reload takes a new id in place (sdk.Reloader, NUT's -c reload).
func (d *driver) Reload(_ context.Context, o sdk.Options) error {
	id, _ := o.Get("id")
	d.mu.Lock()
	d.id = id
	d.mu.Unlock()
	return nil
}

func (d *driver) Close(context.Context) error { return nil }

// Shutdown records the call (sdk.Shutdowner: the shutdown sequence of
// `upsdrvctl shutdown`).
func (d *driver) Shutdown(_ context.Context, dev *sdk.Device) error {
	if d.shutdownLog == "" {
		return errors.New("no shutdown_log option: refusing to pretend the UPS was shut down")
	}
	f, err := os.OpenFile(d.shutdownLog, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%s %d\n", dev.Name(), time.Now().UnixNano())
	return err
}

func main() {
	sdk.Serve(sdk.Info{
		Name: "testdriver", Version: "1.0", Description: "host test driver",
		Options: []sdk.OptionInfo{{Name: "fail_init", Flag: true}, {Name: "fail_if_exists"}, {Name: "exit_after"},
			{Name: "id"}, {Name: "shutdown_log"}, {Name: "stale_if_exists"}},
	}, &driver{})
}
