package blazer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gonut/gonut/sdk"
	"github.com/hashicorp/go-hclog"
)

// MaxTries is NUT's MAXTRIES: how often a read is tried during start-up,
// and how many failed polls pass before the data goes stale.
const MaxTries = 3

// Transport carries Megatec commands to the UPS: a serial line or one of
// the USB subdrivers. Command sends cmd (which ends in CR) and returns the
// reply as read, every byte counted (NUT's blazer_command). No reply
// within the transport's timeout is (nil, nil), not an error; an error
// means the line failed (the transport then reconnects by itself on a
// later Command).
type Transport interface {
	Command(ctx context.Context, cmd string) ([]byte, error)
	Close() error
}

// Opener opens the transport for an instance; it may publish variables
// of its own (ups.vendorid for USB).
type Opener func(ctx context.Context, d *sdk.Device) (Transport, error)

// protocol is one flavour of the Megatec protocol: its commands for
// status, rating and vendor information ("" when it has none).
type protocol struct{ name, status, rating, vendor string }

var protocols = []protocol{
	{"megatec", "Q1\r", "F\r", "I\r"},
	{"mustek", "QS\r", "F\r", "I\r"},
	{"megatec/old", "D\r", "F\r", "I\r"},
	{"zinto", "Q1\r", "F\r", "FW?\r"},
}

// CommonOptions are the ups.conf keys of blazer's core (both drivers).
var CommonOptions = []sdk.OptionInfo{
	{Name: "ondelay", Help: "Delay before UPS startup (minutes)"},
	{Name: "offdelay", Help: "Delay before UPS shutdown (seconds)"},
	{Name: "runtimecal", Help: "Parameters used for runtime calculation"},
	{Name: "chargetime", Help: "Nominal charge time for UPS battery"},
	{Name: "idleload", Help: "Minimum load to be used for runtime calculation"},
	{Name: "norating", Help: "Skip reading rating information from UPS", Flag: true},
	{Name: "novendor", Help: "Skip reading vendor information from UPS", Flag: true},
	{Name: "protocol", Help: "Preselect communication protocol (skip autodetection)"},
}

// Driver is the Megatec/Q1 driver core (NUT's blazer.c) over a Transport.
// It implements sdk.Driver, sdk.InstCmder and sdk.Shutdowner (NUT's -k).
type Driver struct {
	open Opener
	t    Transport
	log  hclog.Logger
	// now is the clock for the runtime estimation; tests replace it.
	now func() time.Time

	proto    protocol
	ondelay  int64 // minutes
	offdelay int64 // seconds
	online   bool
	retry    int

	runtimecal bool
	packs      float64
	runtNom    float64 // nominal runtime on battery at full load (s)
	runtEst    float64 // estimated runtime left at full load (s)
	runtExp    float64 // load exponent
	voltAct    float64
	voltHigh   float64
	voltNom    float64
	voltLow    float64
	chrgAct    float64
	chrgTime   int64 // seconds from empty to full
	loadAct    float64
	loadLow    float64 // idle load, as a fraction
	loadEff    float64
	lastpoll   int64 // unix seconds, as NUT's time_t
}

var (
	_ sdk.Driver     = (*Driver)(nil)
	_ sdk.InstCmder  = (*Driver)(nil)
	_ sdk.Shutdowner = (*Driver)(nil)
)

// New returns a driver that opens its transport with open.
func New(open Opener) *Driver {
	return &Driver{open: open, now: time.Now, log: hclog.NewNullLogger()}
}

// SetClock replaces the clock the runtime estimation reads (for tests:
// NUT's estimate counts whole seconds between polls).
func (dr *Driver) SetClock(now func() time.Time) { dr.now = now }

func (dr *Driver) reset() {
	dr.ondelay, dr.offdelay, dr.online, dr.retry = 3, 30, true, 0
	dr.packs, dr.runtNom, dr.runtEst, dr.runtExp = 1, -1, 0, 0
	dr.voltAct, dr.voltHigh, dr.voltNom, dr.voltLow = -1, -1, -1, -1
	dr.chrgAct, dr.chrgTime = -1, 43200
	dr.loadAct, dr.loadLow, dr.loadEff = 0, 0.1, 1
	dr.lastpoll = 0
}

func (dr *Driver) command(ctx context.Context, cmd string) ([]byte, error) {
	return dr.t.Command(ctx, cmd)
}

// Init opens the device, finds the protocol, reads ratings and vendor
// information and publishes the first status: NUT's blazer_initups,
// blazer_initinfo and the first upsdrv_updateinfo.
func (dr *Driver) Init(ctx context.Context, d *sdk.Device) error {
	rc, err := dr.initups(ctx, d)
	if err != nil {
		return err
	}
	return dr.initinfo(ctx, d, rc)
}

// initups reads the options and opens the device (blazer_initups and the
// transport's upsdrv_initups).
func (dr *Driver) initups(ctx context.Context, d *sdk.Device) (runtimeCal, error) {
	dr.reset()
	opts := d.Options()
	dr.log = d.Logger()

	if v, ok := opts.Get("ondelay"); ok {
		dr.ondelay = strtol(v)
	}
	if dr.ondelay < 0 || dr.ondelay > 9999 {
		return runtimeCal{}, fmt.Errorf("start delay '%d' out of range [0..9999]", dr.ondelay)
	}
	if v, ok := opts.Get("offdelay"); ok {
		dr.offdelay = strtol(v)
	}
	if dr.offdelay < 12 || dr.offdelay > 600 {
		return runtimeCal{}, fmt.Errorf("shutdown delay '%d' out of range [12..600]", dr.offdelay)
	}
	// Truncate to the nearest value the UPS can be given.
	if dr.offdelay < 60 {
		dr.offdelay -= dr.offdelay % 6
	} else {
		dr.offdelay -= dr.offdelay % 60
	}
	if v, ok := d.Info("battery.voltage.high"); ok {
		dr.voltHigh = strtod(v)
	}
	if v, ok := d.Info("battery.voltage.low"); ok {
		dr.voltLow = strtod(v)
	}
	_, dr.runtimecal = opts.Get("runtimecal")
	// Check the battery options before touching the device, so a typo
	// is reported at once rather than after a probe.
	rc, err := parseRuntimeCal(opts)
	if err != nil {
		return rc, err
	}
	t, err := dr.open(ctx, d)
	if err != nil {
		return rc, err
	}
	dr.t = t
	return rc, nil
}

// initinfo finds the protocol and reads what the UPS tells about itself
// (blazer_initinfo), then polls once as NUT's main loop does.
func (dr *Driver) initinfo(ctx context.Context, d *sdk.Device, rc runtimeCal) error {
	opts := d.Options()
	log := dr.log
	log.Info("Please note that this driver is deprecated and will not receive new development; consider nutdrv_qx for new devices")
	want, _ := opts.Get("protocol")
	found := false
	for _, p := range protocols {
		if want != "" && !strings.EqualFold(want, p.name) {
			log.Debug("skipping protocol", "protocol", p.name)
			continue
		}
		log.Debug("trying protocol", "protocol", p.name)
		for try := 1; try <= MaxTries; try++ {
			if err := dr.status(ctx, d, p.status); err != nil {
				log.Debug("status read failed", "try", try, "error", err)
				continue
			}
			found = true
			break
		}
		if found {
			dr.proto = p
			log.Info("Supported UPS detected with " + p.name + " protocol")
			break
		}
	}
	if !found {
		dr.t.Close()
		dr.t = nil
		return errors.New("no supported UPS detected")
	}

	if dr.proto.rating != "" && !opts.Flag("norating") {
		ok := false
		for try := 1; try <= MaxTries && !ok; try++ {
			err := dr.rating(ctx, d, dr.proto.rating)
			ok = err == nil
			if !ok {
				log.Debug("rating read failed", "try", try, "error", err)
			}
		}
		if !ok {
			log.Debug("rating information unavailable")
		}
	}
	if dr.proto.vendor != "" && !opts.Flag("novendor") {
		ok := false
		for try := 1; try <= MaxTries && !ok; try++ {
			err := dr.vendor(ctx, d, dr.proto.vendor)
			ok = err == nil
			if !ok {
				log.Debug("vendor information read failed", "try", try, "error", err)
			} else {
				log.Info("vendor information read", "tries", try)
			}
		}
		if !ok {
			log.Debug("vendor information unavailable")
		}
	}

	if err := dr.initBattery(d, rc); err != nil {
		dr.t.Close()
		dr.t = nil
		return err
	}

	d.SetInfof("ups.delay.start", "%d", 60*dr.ondelay)
	d.SetInfof("ups.delay.shutdown", "%d", dr.offdelay)
	if _, ok := d.Info("device.type"); !ok {
		d.SetInfo("device.type", "ups")
	}
	for _, c := range []string{
		"beeper.toggle", "load.off", "load.on", "shutdown.return", "shutdown.stayoff",
		"shutdown.stop", "test.battery.start", "test.battery.start.deep",
		"test.battery.start.quick", "test.battery.stop",
	} {
		d.AddCmd(c)
	}
	// NUT's main loop updates once before it serves the socket.
	dr.update(ctx, d)
	return nil
}

// Poll reads the status (upsdrv_updateinfo). As in NUT, the data goes
// stale only after MaxTries polls in a row failed.
func (dr *Driver) Poll(ctx context.Context, d *sdk.Device) error {
	return dr.update(ctx, d)
}

func (dr *Driver) update(ctx context.Context, d *sdk.Device) error {
	if err := dr.status(ctx, d, dr.proto.status); err != nil {
		switch {
		case dr.retry < MaxTries:
			d.Logger().Debug("communications with UPS lost: status read failed", "error", err)
			dr.retry++
			// Not stale yet: NUT waits MAXTRIES polls before it says so.
			return nil
		case dr.retry == MaxTries:
			// NUT logs a warning here; the SDK logs this poll's
			// error once when it marks the data stale.
			dr.retry++
		}
		d.DataStale()
		return fmt.Errorf("status read failed: %w", err)
	}
	if dr.runtimecal {
		now := dr.now().Unix()
		dt := float64(now - dr.lastpoll)
		if dr.online {
			dr.runtEst += dr.runtNom * dt / float64(dr.chrgTime)
			if dr.runtEst > dr.runtNom {
				dr.runtEst = dr.runtNom
			}
		} else {
			dr.runtEst -= dr.loadEff * dt
			if dr.runtEst < 0 {
				dr.runtEst = 0
			}
		}
		d.SetInfo("battery.charge", cFormat("%.0f", 100*dr.runtEst/dr.runtNom))
		d.SetInfo("battery.runtime", cFormat("%.0f", dr.runtEst/dr.loadEff))
		dr.lastpoll = now
	}
	if dr.retry > MaxTries {
		// The SDK logs that the device answers again.
		d.Logger().Debug("communications with UPS re-established")
	}
	dr.retry = 0
	d.DataOK()
	return nil
}

// Close releases the device.
func (dr *Driver) Close(ctx context.Context) error {
	if dr.t == nil {
		return nil
	}
	err := dr.t.Close()
	dr.t = nil
	return err
}

// battery handles a battery voltage reading: it guesses the charge from
// the voltage unless the runtime estimation keeps the charge.
func (dr *Driver) battery(d *sdk.Device, v float64) float64 {
	dr.voltAct = dr.packs * v
	_, haveCharge := d.Info("battery.charge")
	if (!dr.runtimecal || !haveCharge) && dr.voltLow > 0 && dr.voltHigh > dr.voltLow {
		dr.chrgAct = 100 * (dr.voltAct - dr.voltLow) / (dr.voltHigh - dr.voltLow)
		dr.chrgAct = math.Max(0, math.Min(100, dr.chrgAct))
		d.SetInfo("battery.charge", cFormat("%.0f", dr.chrgAct))
	}
	return dr.voltAct
}

func (dr *Driver) load(v float64) float64 {
	dr.loadAct = v
	dr.loadEff = math.Pow(dr.loadAct/100, dr.runtExp)
	if dr.loadEff < dr.loadLow {
		dr.loadEff = dr.loadLow
	}
	return dr.loadAct
}

// batteryPacks finds how many battery packs the voltage reading covers,
// from the nominal voltage: for overlapping ranges the highest multiplier
// wins, since the voltage quickly returns to nominal after a discharge.
func (dr *Driver) batteryPacks(d *sdk.Device, v float64) float64 {
	if nom, ok := d.Info("battery.voltage.nominal"); ok {
		dr.voltNom = strtod(nom)
	} else {
		dr.voltNom = v
	}
	for _, p := range []float64{120, 100, 80, 60, 48, 36, 30, 24, 18, 12, 8, 6, 4, 3, 2, 1, 0.5} {
		if p*dr.voltAct > 1.2*dr.voltNom {
			continue
		}
		if p*dr.voltAct < 0.8*dr.voltNom {
			d.Logger().Info(fmt.Sprintf("Can't autodetect number of battery packs [%.0f/%.2f]", dr.voltNom, dr.voltAct))
			break
		}
		dr.packs = p
		break
	}
	return dr.voltNom
}

func (dr *Driver) status(ctx context.Context, d *sdk.Device, cmd string) error {
	reply, err := dr.command(ctx, cmd)
	if err != nil {
		return err
	}
	q, perr := ParseQ1(reply)
	for i, v := range q.Values {
		num := v.Num
		switch v.Var {
		case "ups.load":
			num = dr.load(num)
		case "battery.voltage":
			num = dr.battery(d, num)
		}
		d.SetInfo(v.Var, cFormat(formatOf(v.Var, i), num))
	}
	if perr != nil {
		return perr
	}
	bit := func(i int) bool { return q.Bits[i] == '1' }
	if bit(7) {
		d.SetInfo("ups.beeper.status", "enabled")
	} else {
		d.SetInfo("ups.beeper.status", "disabled")
	}
	if bit(4) {
		d.SetInfo("ups.type", "offline / line interactive")
	} else {
		d.SetInfo("ups.type", "online")
	}
	d.StatusInit()
	if bit(0) {
		d.StatusSet("OB")
		dr.online = false
	} else {
		d.StatusSet("OL")
		dr.online = true
	}
	if bit(1) {
		d.StatusSet("LB")
	}
	if bit(2) {
		// Bypass, boost or buck: which one shows in the voltages.
		vi, _ := d.Info("input.voltage")
		vo, _ := d.Info("output.voltage")
		in, out := strtod(vi), strtod(vo)
		switch {
		case out < 0.5*in:
			d.Logger().Debug("output voltage too low")
		case out < 0.95*in:
			d.StatusSet("TRIM")
		case out < 1.05*in:
			d.StatusSet("BYPASS")
		case out < 1.5*in:
			d.StatusSet("BOOST")
		default:
			d.Logger().Debug("output voltage too high")
		}
	}
	if bit(5) {
		d.StatusSet("CAL")
	}
	d.AlarmInit()
	if bit(3) {
		d.AlarmSet("UPS selftest failed!")
	}
	if bit(6) {
		d.AlarmSet("Shutdown imminent!")
		d.StatusSet("FSD")
	}
	d.AlarmCommit()
	d.StatusCommit()
	return nil
}

// formatOf is the printf format of a status field.
func formatOf(name string, _ int) string {
	for _, f := range q1Fields {
		if f.name == name {
			return f.format
		}
	}
	for _, f := range fFields {
		if f.name == name {
			return f.format
		}
	}
	return "%.1f"
}

func (dr *Driver) rating(ctx context.Context, d *sdk.Device, cmd string) error {
	reply, err := dr.command(ctx, cmd)
	if err != nil {
		return err
	}
	vals, perr := ParseF(reply)
	for _, v := range vals {
		num := v.Num
		if v.Var == "battery.voltage.nominal" {
			num = dr.batteryPacks(d, num)
		}
		d.SetInfo(v.Var, cFormat(formatOf(v.Var, 0), num))
	}
	return perr
}

func (dr *Driver) vendor(ctx context.Context, d *sdk.Device, cmd string) error {
	reply, err := dr.command(ctx, cmd)
	if err != nil {
		return err
	}
	v, err := ParseI(reply)
	if err != nil {
		return err
	}
	d.SetInfo("ups.mfr", v.Mfr)
	d.SetInfo("ups.model", v.Model)
	d.SetInfo("ups.firmware", v.Firmware)
	// NUT mirrors ups.mfr and ups.model into device.*.
	d.SetInfo("device.mfr", v.Mfr)
	d.SetInfo("device.model", v.Model)
	return nil
}

// runtimeCal is the parsed runtimecal, chargetime and idleload.
type runtimeCal struct {
	set            bool
	rh, lh, rl, ll float64
	chargetime     int64
	haveChargetime bool
	idleload       float64
	haveIdleload   bool
}

// parseRuntimeCal reads and checks runtimecal ("runtime_high,load_high,
// runtime_low,load_low", as sscanf "%lf,%lf,%lf,%lf"), chargetime and
// idleload.
func parseRuntimeCal(opts *sdk.Options) (runtimeCal, error) {
	var rc runtimeCal
	v, ok := opts.Get("runtimecal")
	if !ok {
		return rc, nil
	}
	rc.set = true
	nums, n := scanFloats(v, 4)
	if n < 4 {
		return rc, fmt.Errorf("insufficient parameters for runtimecal %q: want runtime_high,load_high,runtime_low,load_low", v)
	}
	rc.rh, rc.lh, rc.rl, rc.ll = nums[0], nums[1], nums[2], nums[3]
	if rc.rl < rc.rh || rc.rh <= 0 {
		return rc, fmt.Errorf("runtimecal %q: parameter out of range (runtime)", v)
	}
	if rc.lh > 100 || rc.ll > rc.lh || rc.ll <= 0 {
		return rc, fmt.Errorf("runtimecal %q: parameter out of range (load)", v)
	}
	if v, ok := opts.Get("chargetime"); ok {
		rc.chargetime, rc.haveChargetime = strtol(v), true
		if rc.chargetime <= 0 {
			return rc, fmt.Errorf("chargetime %q out of range [1..s]", v)
		}
	}
	if v, ok := opts.Get("idleload"); ok {
		rc.idleload, rc.haveIdleload = strtod(v)/100, true
		if rc.idleload < 0 || rc.idleload > 1 {
			return rc, fmt.Errorf("idleload %q out of range [0..100]", v)
		}
	}
	return rc, nil
}

// scanFloats is sscanf(s, "%lf,%lf,...") for n numbers: it returns the
// numbers read and how many conversions succeeded.
func scanFloats(s string, n int) ([]float64, int) {
	var out []float64
	for i := 0; i < n; i++ {
		if i > 0 {
			if s == "" || s[0] != ',' {
				break
			}
			s = s[1:]
		}
		v, used := strtodPrefix(s)
		if used == 0 {
			break
		}
		out = append(out, v)
		s = s[used:]
	}
	return out, len(out)
}

// initBattery guesses the battery's voltage range when ups.conf gives
// none, and sets up the runtime estimation (blazer_initbattery).
func (dr *Driver) initBattery(d *sdk.Device, rc runtimeCal) error {
	log := d.Logger()
	if dr.voltNom != 1 && (dr.voltHigh == -1 || dr.voltLow == -1) {
		log.Info("No values provided for battery high/low voltages in ups.conf")
		dr.voltLow = 104 * dr.voltNom / 120
		dr.voltHigh = 130 * dr.voltNom / 120
		d.SetInfo("battery.voltage.low", cFormat("%.2f", dr.voltLow))
		d.SetInfo("battery.voltage.high", cFormat("%.2f", dr.voltHigh))
		log.Info(fmt.Sprintf("Using 'guestimation' (low: %f, high: %f)!", dr.voltLow, dr.voltHigh))
	}
	if !rc.set {
		log.Info("Battery runtime will not be calculated (runtimecal not set)")
		return nil
	}
	dr.lastpoll = dr.now().Unix()
	dr.runtExp = math.Log(rc.rl/rc.rh) / math.Log(rc.lh/rc.ll)
	dr.runtNom = rc.rh * math.Pow(rc.lh/100, dr.runtExp)
	log.Debug("battery runtime", "exponent", dr.runtExp, "nominal", dr.runtNom)
	if dr.chrgAct < 0 {
		dr.voltLow = dr.voltNom
		dr.voltHigh = 1.15 * dr.voltNom
		v, _ := d.Info("battery.voltage")
		dr.battery(d, strtod(v))
	}
	v, ok := d.Info("battery.charge")
	if !ok {
		return errors.New("initial battery charge undetermined")
	}
	dr.runtEst = dr.runtNom * strtod(v) / 100
	if rc.haveChargetime {
		dr.chrgTime = rc.chargetime
	} else {
		log.Info(fmt.Sprintf("No charge time specified, using built in default [%d seconds]", dr.chrgTime))
	}
	if rc.haveIdleload {
		dr.loadLow = rc.idleload
	} else {
		log.Info(fmt.Sprintf("No idle load specified, using built in default [%.1f %%]", 100*dr.loadLow))
	}
	return nil
}

// InstCmd runs an instant command (blazer_instcmd). A command the UPS
// does not know is echoed back; a reply other than ACK or (ACK therefore
// means failure, and no reply at all means success.
func (dr *Driver) InstCmd(ctx context.Context, d *sdk.Device, name, param string) error {
	cmd, err := dr.instcmdBytes(name, param)
	if err != nil {
		dr.log.Error("instcmd failed", "cmd", name, "error", err)
		return err
	}
	return dr.send(ctx, name, cmd)
}

// instcmdBytes is the Megatec command for an instant command.
func (dr *Driver) instcmdBytes(name, param string) (string, error) {
	simple := map[string]string{
		"beeper.toggle":            "Q\r",
		"load.off":                 "S00R0000\r",
		"load.on":                  "C\r",
		"shutdown.stop":            "C\r",
		"test.battery.start.deep":  "TL\r",
		"test.battery.start.quick": "T\r",
		"test.battery.stop":        "CT\r",
	}
	lname := strings.ToLower(name)
	if c, ok := simple[lname]; ok {
		return c, nil
	}
	switch lname {
	case "shutdown.return":
		switch {
		case dr.ondelay == 0 && dr.offdelay < 60:
			return fmt.Sprintf("S.%d\r", dr.offdelay/6), nil
		case dr.ondelay == 0:
			return fmt.Sprintf("S%02d\r", dr.offdelay/60), nil
		case dr.offdelay < 60:
			return fmt.Sprintf("S.%dR%04d\r", dr.offdelay/6, dr.ondelay), nil
		}
		return fmt.Sprintf("S%02dR%04d\r", dr.offdelay/60, dr.ondelay), nil
	case "shutdown.stayoff":
		if dr.offdelay < 60 {
			return fmt.Sprintf("S.%dR0000\r", dr.offdelay/6), nil
		}
		return fmt.Sprintf("S%02dR0000\r", dr.offdelay/60), nil
	case "test.battery.start":
		delay := int64(10)
		if param != "" {
			delay = strtol(param)
		}
		if delay < 1 || delay > 99 {
			return "", fmt.Errorf("%w: delay [%s] out of range [1..99] minutes", sdk.ErrFailed, param)
		}
		return fmt.Sprintf("T%02d\r", delay), nil
	}
	return "", fmt.Errorf("%w: instant command %s", sdk.ErrUnknown, name)
}

func (dr *Driver) send(ctx context.Context, name, cmd string) error {
	if dr.t == nil {
		return fmt.Errorf("%w: device not open", sdk.ErrFailed)
	}
	reply, err := dr.command(ctx, cmd)
	if err != nil {
		return fmt.Errorf("%w: sending %q: %v", sdk.ErrFailed, strings.TrimSuffix(cmd, "\r"), err)
	}
	if len(reply) > 0 && !strings.HasPrefix(string(reply), "ACK") && !strings.HasPrefix(string(reply), "(ACK") {
		return fmt.Errorf("%w: the UPS answered %q to %q", sdk.ErrFailed, strings.TrimRight(string(reply), "\r\n"), strings.TrimSuffix(cmd, "\r"))
	}
	dr.log.Info("instcmd handled", "cmd", name)
	return nil
}

// Shutdown is NUT's -k (upsdrv_shutdown): cancel a pending shutdown, then
// turn the load off after offdelay and back on after ondelay when the
// power returns.
//
// Run without Init (as NUT's -k does), it opens the device first.
func (dr *Driver) Shutdown(ctx context.Context, d *sdk.Device) error {
	if dr.t == nil {
		if d == nil {
			return errors.New("shutdown: the device is not open")
		}
		if _, err := dr.initups(ctx, d); err != nil {
			return err
		}
	}
	stopped := false
	for try := 1; try <= MaxTries && !stopped; try++ {
		stopped = dr.InstCmd(ctx, d, "shutdown.stop", "") == nil
	}
	if !stopped {
		dr.log.Info("No shutdown pending")
	}
	var err error
	for try := 1; try <= MaxTries; try++ {
		if err = dr.InstCmd(ctx, d, "shutdown.return", ""); err == nil {
			dr.log.Error("Shutting down in " + strconv.FormatInt(dr.offdelay, 10) + " seconds")
			return nil
		}
	}
	return fmt.Errorf("shutdown failed: %w", err)
}
