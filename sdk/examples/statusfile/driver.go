package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gonut/gonut/sdk"
)

// Info describes the driver: its NUT name, its version (published as
// driver.version.internal) and its own ups.conf options besides the ones
// every NUT driver has (port, pollinterval, override.*, ...).
var Info = sdk.Info{
	Name:        "statusfile",
	Version:     "1.0",
	Description: "UPS state from a vendor daemon's status file",
	Authors:     []string{"The gonut authors"},
	Options: []sdk.OptionInfo{
		{Name: "maxage", Help: "Seconds after which an unchanged status file means the daemon is gone (default 30)"},
		{Name: "cmdfile", Help: "File the vendor daemon reads commands from (default: <port>.cmd)"},
	},
}

// Interface guards: the optional interfaces this driver implements.
var (
	_ sdk.Driver     = (*Driver)(nil)
	_ sdk.InstCmder  = (*Driver)(nil)
	_ sdk.Setter     = (*Driver)(nil)
	_ sdk.Shutdowner = (*Driver)(nil)
)

// Driver reads a key=value status file such as
//
//	status=online charging
//	charge=87
//	runtime=1800
//	input_voltage=229,8
//	load=23
//	model=PowerBox 1500
//
// The SDK calls its methods one at a time, so it needs no locks.
type Driver struct {
	path, cmdPath string
	maxAge        time.Duration
	now           func() time.Time // the clock; tests replace it
}

// New returns a driver; Init reads its configuration.
func New() *Driver { return &Driver{now: time.Now} }

// statusWords maps the daemon's status words to NUT's status tokens.
var statusWords = map[string]string{
	"online": "OL", "onbattery": "OB", "lowbattery": "LB", "charging": "CHRG",
	"discharging": "DISCHRG", "replacebattery": "RB", "overload": "OVER",
	"bypass": "BYPASS", "off": "OFF", "boost": "BOOST", "trim": "TRIM",
}

// numbers maps the daemon's numeric keys to NUT variables.
var numbers = map[string]string{
	"charge": "battery.charge", "runtime": "battery.runtime",
	"battery_voltage": "battery.voltage", "input_voltage": "input.voltage",
	"output_voltage": "output.voltage", "input_frequency": "input.frequency",
	"load": "ups.load", "temperature": "ups.temperature",
}

// texts maps the daemon's text keys to NUT variables.
var texts = map[string]string{"model": "device.model", "serial": "device.serial", "firmware": "ups.firmware"}

// Init reads the options, checks the file is there and publishes the
// device's fixed data, its commands and its writable variable.
func (d *Driver) Init(ctx context.Context, dev *sdk.Device) error {
	o := dev.Options()
	d.path = o.Port()
	if d.path == "" {
		return errors.New("port is not set: give the status file's path (port = /run/powerbox/status)")
	}
	if !filepath.IsAbs(d.path) {
		d.path = filepath.Join(o.ConfPath, d.path)
	}
	d.cmdPath = d.path + ".cmd"
	if v, ok := o.Get("cmdfile"); ok {
		d.cmdPath = v
		if !filepath.IsAbs(v) {
			d.cmdPath = filepath.Join(o.ConfPath, v)
		}
	}
	d.maxAge = 30 * time.Second
	if v, ok := o.Get("maxage"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("maxage = %q: want a whole number of seconds, at least 1", v)
		}
		d.maxAge = time.Duration(n) * time.Second
	}

	dev.SetInfo("device.type", "ups")
	dev.SetInfo("device.mfr", "PowerBox")
	// The daemon applies the shutdown delay; users may change it.
	dev.SetInfo("ups.delay.shutdown", "20")
	dev.SetFlags("ups.delay.shutdown", sdk.FlagRW|sdk.FlagNumber)
	dev.AddRange("ups.delay.shutdown", 0, 600)
	dev.AddCmd("test.battery.start")
	dev.AddCmd("beeper.mute")
	// The first read: an error here ends Init, and the host retries.
	return d.Poll(ctx, dev)
}

// Poll reads the file and publishes what changed; the SDK sends only the
// changes, as one update. An error marks the data stale.
func (d *Driver) Poll(ctx context.Context, dev *sdk.Device) error {
	st, err := os.Stat(d.path)
	if err != nil {
		return fmt.Errorf("status file: %w", err)
	}
	if age := d.now().Sub(st.ModTime()); age > d.maxAge {
		return fmt.Errorf("status file %s is %v old (maxage %v): is the vendor daemon running?", d.path, age.Round(time.Second), d.maxAge)
	}
	kv, err := readStatus(d.path)
	if err != nil {
		return err
	}
	for key, name := range numbers {
		v, ok := kv[key]
		if !ok {
			continue
		}
		n, err := parseNumber(v)
		if err != nil {
			dev.Logger().Warn("status file: bad number", "key", key, "value", v)
			continue
		}
		dev.SetInfo(name, n)
	}
	for key, name := range texts {
		if v, ok := kv[key]; ok {
			dev.SetInfo(name, v)
		}
	}
	// ups.status through the status builder: it handles ALARM and
	// ignorelb as NUT's status_set/status_commit do.
	words, ok := kv["status"]
	if !ok {
		return fmt.Errorf("status file %s has no status= line", d.path)
	}
	dev.StatusInit()
	for _, w := range strings.Fields(words) {
		tok, ok := statusWords[strings.ToLower(w)]
		if !ok {
			dev.Logger().Warn("status file: unknown status word", "word", w)
			continue
		}
		dev.StatusSet(tok)
	}
	dev.StatusCommit()
	return nil
}

// parseNumber turns the daemon's numbers (which may use a decimal comma)
// into NUT's format: digits and a decimal point, never an exponent.
func parseNumber(s string) (string, error) {
	f, err := strconv.ParseFloat(strings.Replace(strings.TrimSpace(s), ",", ".", 1), 64)
	if err != nil {
		return "", err
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}

// readStatus reads key=value lines; # starts a comment.
func readStatus(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("status file: %w", err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q: want key=value", path, n, line)
		}
		kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("status file: %w", err)
	}
	return kv, nil
}

// InstCmd passes a command to the daemon through the command file.
// Commands the SDK has not seen announced never get here.
func (d *Driver) InstCmd(ctx context.Context, dev *sdk.Device, cmd, param string) error {
	if param != "" {
		return fmt.Errorf("%s takes no parameter: %w", cmd, sdk.ErrInvalid)
	}
	return d.send(cmd)
}

// SetVar passes a new shutdown delay to the daemon.
func (d *Driver) SetVar(ctx context.Context, dev *sdk.Device, name, value string) error {
	if name != "ups.delay.shutdown" {
		return sdk.ErrUnknown
	}
	n, err := strconv.Atoi(value)
	if err != nil {
		return fmt.Errorf("%q: %w", value, sdk.ErrConversion)
	}
	if n < 0 || n > 600 {
		return fmt.Errorf("%d is outside 0..600: %w", n, sdk.ErrInvalid)
	}
	if err := d.send(fmt.Sprintf("set delay.shutdown=%d", n)); err != nil {
		return err
	}
	dev.SetInfo(name, strconv.Itoa(n))
	return nil
}

// Shutdown asks the daemon to cut the load after the shutdown delay and
// restore it when the power returns (NUT's upsdrv_shutdown, run by
// upsdrvctl shutdown and statusfile -k).
func (d *Driver) Shutdown(ctx context.Context, dev *sdk.Device) error {
	delay, _ := dev.Info("ups.delay.shutdown")
	return d.send("shutdown.return delay=" + delay)
}

// send appends one line to the command file.
func (d *Driver) send(line string) error {
	f, err := os.OpenFile(d.cmdPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("command file: %w", err)
	}
	if _, err := fmt.Fprintln(f, line); err != nil {
		f.Close()
		return fmt.Errorf("command file %s: %w", d.cmdPath, err)
	}
	return f.Close()
}

// Close has nothing to release: the driver keeps no file open.
func (d *Driver) Close(ctx context.Context) error { return nil }
