package upsmon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrShutdown is what Run returns once it has shut the system down (run,
// or asked the privileged parent to run, SHUTDOWNCMD).
var ErrShutdown = errors.New("upsmon: system shutdown initiated")

// Shutdowner brings the system down: it writes POWERDOWNFLAG and runs
// SHUTDOWNCMD, itself (Direct) or through the privileged parent (Pipe).
type Shutdowner interface {
	Shutdown() error
}

// Options configure a Monitor. Config and Log are required, and Shutdown
// unless DryRun.
type Options struct {
	Config   *Config
	Log      Logger
	Shutdown Shutdowner
	// DryRun logs every decision and delivers notifications but neither
	// sets FSD on upsd, nor waits for secondaries, nor writes
	// POWERDOWNFLAG, nor runs SHUTDOWNCMD: a rehearsal.
	DryRun bool
	// Dial opens upsd sessions; NetDialer(Config) when nil.
	Dial Dialer
	// Notifier delivers notifications; one on Config.NotifyCmd when nil.
	Notifier *Notifier
	// ParentPID, when set, is the privileged parent's pid: if upsmon's
	// parent changes, the parent died and NOPARENT is sent.
	ParentPID int
	// Now and Sleep replace the clock in tests. Now must be monotonic
	// (time.Now is): wall-clock jumps must not move a deadline.
	Now   func() time.Time
	Sleep func(d time.Duration)
}

// upsState is what upsmon knows of one monitored UPS, NUT's utype_t.
type upsState struct {
	conf     MonitorConf
	sess     Session
	loggedIn bool

	ol, ob, lb, fsd, rb bool
	// The secondary flags, and whether their state is known yet (at
	// start-up their absence is not news).
	flags map[string]bool
	known bool
	other string // unclassified status words, sorted, space-separated
	alarm string // ups.alarm while ALARM is set

	commState int // -1 at start, 0 lost, 1 established (NUT's commstate)
	lineState int // -1 at start (the first OL is not news), 0 OB, 1 OL

	lastPoll, lastNonCrit, lastRBWarn, lastNCWarn time.Time
	rbWarned, ncWarned                            bool
	oblbSince, offSince                           time.Time

	failKey   string // last poll failure, for POLLFAIL_LOG_THROTTLE_MAX
	failCount int

	verdict string // last decision logged about this UPS
}

// Monitor is upsmon's monitoring loop: it polls every MONITOR line's upsd,
// sends notifications on status changes, adds up the power values of the
// UPSes still feeding this system and, when they fall below MINSUPPLIES,
// runs NUT's shutdown protocol. Every decision to shut down is logged with
// its reason on one line.
type Monitor struct {
	cfg      *Config
	log      Logger
	dial     Dialer
	notifier *Notifier
	sd       Shutdowner
	dry      bool
	ppid     int
	now      func() time.Time
	sleep    func(time.Duration)

	ups          []*upsState
	noParentSent bool
	ownDial      bool // Dial came from Options: keep it across reloads

	fsdReq    chan struct{}
	reloadReq chan *Config
}

// New builds a Monitor. Nothing is contacted before Run.
func New(o Options) *Monitor {
	m := &Monitor{
		cfg: o.Config, log: o.Log, dial: o.Dial, notifier: o.Notifier, sd: o.Shutdown,
		dry: o.DryRun, ppid: o.ParentPID, now: o.Now, sleep: o.Sleep,
		fsdReq: make(chan struct{}, 1), reloadReq: make(chan *Config, 1),
	}
	if m.dial == nil {
		m.dial = NetDialer(o.Config)
	} else {
		m.ownDial = true
	}
	if m.notifier == nil {
		m.notifier = &Notifier{Cmd: o.Config.NotifyCmd, Log: o.Log}
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.sleep == nil {
		m.sleep = time.Sleep
	}
	start := m.now()
	for _, mc := range o.Config.Monitors {
		m.ups = append(m.ups, newState(mc, start))
	}
	return m
}

func newState(mc MonitorConf, now time.Time) *upsState {
	// Never polled counts as polled at start: DEADTIME and NOCOMMWARNTIME
	// run from when upsmon started.
	return &upsState{conf: mc, commState: -1, lineState: -1, flags: map[string]bool{},
		lastPoll: now, lastNonCrit: now}
}

// RequestFSD asks the loop to shut down now, as a primary does on
// `upsmon -c fsd` (SIGUSR1): set FSD on every primary UPS, wait for the
// secondaries, run SHUTDOWNCMD.
func (m *Monitor) RequestFSD() {
	select {
	case m.fsdReq <- struct{}{}:
	default:
	}
}

// Reload hands the loop a new configuration (`upsmon -c reload`, SIGHUP).
func (m *Monitor) Reload(c *Config) {
	select {
	case <-m.reloadReq:
	default:
	}
	m.reloadReq <- c
}

// Run polls until ctx ends (nil: stopped; every session is logged out) or
// the system is shut down (ErrShutdown).
func (m *Monitor) Run(ctx context.Context) error {
	for {
		select {
		case <-m.fsdReq:
			m.log.Notice("Signal received: forced shutdown (upsmon -c fsd)")
			return m.forceShutdown(ctx, "shutting down: forced by upsmon -c fsd (SIGUSR1)")
		default:
		}
		m.PollOnce(ctx)
		if ctx.Err() != nil {
			m.closeAll(true)
			return nil
		}
		if reason, ok := m.Decide(); ok {
			return m.forceShutdown(ctx, reason)
		}
		m.checkParent()
		t := time.NewTimer(m.interval())
		select {
		case <-ctx.Done():
			t.Stop()
			m.closeAll(true)
			return nil
		case <-m.fsdReq:
			t.Stop()
			m.log.Notice("Signal received: forced shutdown (upsmon -c fsd)")
			return m.forceShutdown(ctx, "shutting down: forced by upsmon -c fsd (SIGUSR1)")
		case c := <-m.reloadReq:
			t.Stop()
			m.applyReload(c)
		case <-t.C:
		}
	}
}

// interval is POLLFREQALERT while any UPS is on battery (or in ALARM with
// ALARMCRITICAL, or overloaded), else POLLFREQ. NUT switches on each OB/OL
// transition, so one UPS returning on line slows the polling of another
// still on battery; here the worst UPS decides.
func (m *Monitor) interval() time.Duration {
	for _, u := range m.ups {
		if u.ob || u.flags["OVER"] || (u.flags["ALARM"] && m.cfg.AlarmCritical) {
			return m.cfg.PollFreqAlert
		}
	}
	return m.cfg.PollFreq
}

// PollOnce polls every UPS once, sending the notifications its status
// calls for.
func (m *Monitor) PollOnce(ctx context.Context) {
	for _, u := range m.ups {
		if ctx.Err() != nil {
			return
		}
		m.poll(ctx, u)
	}
}

func (m *Monitor) poll(ctx context.Context, u *upsState) {
	if u.sess == nil {
		cctx, cancel := context.WithTimeout(ctx, NetTimeout)
		s, err := m.dial(cctx, u.conf)
		cancel()
		if err != nil {
			m.pollFailed(u, "connect failed: "+err.Error())
			m.gone(u)
			return
		}
		u.sess = s
		m.log.Debug(1, fmt.Sprintf("Connected to UPS [%s]%s", u.conf.System, map[bool]string{true: " with TLS"}[s.TLS()]))
		cctx, cancel = context.WithTimeout(ctx, NetTimeout)
		err = s.Login(cctx)
		cancel()
		if err != nil {
			// NUT goes on polling without a login; so does gonut, but
			// says what it means.
			u.loggedIn = false
			what := "this system's logout will not be seen by the primary"
			if u.conf.Primary {
				what = "FSD cannot be set on it"
			}
			m.log.Error(fmt.Sprintf("UPS [%s]: login failed: %v; monitoring it without a login, so %s", u.conf.System, err, what))
		} else {
			u.loggedIn = true
			m.log.Debug(1, "Logged into UPS "+u.conf.System)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, NetTimeout)
	defer cancel()
	status, err := u.sess.Status(cctx)
	if err == nil && strings.TrimSpace(status) == "" {
		err = errors.New("empty ups.status")
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		m.pollFailed(u, "poll failed: "+err.Error())
		m.gone(u)
		if connectionLost(err) {
			m.drop(u)
		}
		return
	}
	if u.failKey != "" {
		m.log.Info(fmt.Sprintf("Poll UPS [%s] succeeded again after: %s", u.conf.System, u.failKey))
		u.failKey, u.failCount = "", 0
	}
	alarm := ""
	if hasWord(status, "ALARM") {
		if a, err := u.sess.Var(cctx, "ups.alarm"); err == nil {
			alarm = a
		}
	}
	m.log.Debug(2, fmt.Sprintf("pollups: %s: [%s]", u.conf.System, status))
	m.parseStatus(u, status, alarm)
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if strings.EqualFold(f, w) {
			return true
		}
	}
	return false
}

// pollFailed logs a failed poll, throttled by POLLFAIL_LOG_THROTTLE_MAX.
func (m *Monitor) pollFailed(u *upsState, why string) {
	max := m.cfg.PollFailLogThrottleMax
	if why != u.failKey {
		u.failKey, u.failCount = why, 0
		m.log.Error(fmt.Sprintf("UPS [%s]: %s", u.conf.System, why))
		return
	}
	u.failCount++
	if max < 0 || (max > 0 && u.failCount%max == 0) {
		m.log.Error(fmt.Sprintf("UPS [%s]: %s", u.conf.System, why))
	}
}

func (m *Monitor) drop(u *upsState) {
	if u.sess == nil {
		return
	}
	m.log.Debug(2, "Dropping connection to UPS ["+u.conf.System+"]")
	u.sess.Close(false)
	u.sess, u.loggedIn = nil, false
}

func (m *Monitor) closeAll(logout bool) {
	for _, u := range m.ups {
		if u.sess != nil {
			u.sess.Close(logout && u.loggedIn)
			u.sess, u.loggedIn = nil, false
		}
	}
}

func (m *Monitor) notify(t NotifyType, u *upsState, extra string) {
	ups := ""
	if u != nil {
		ups = u.conf.System
	}
	m.notifier.Send(Notification{Type: t, UPS: ups, Message: FormatMessage(m.cfg.Message(t), ups, extra), Flags: m.cfg.NotifyFlags[t]})
}

// alive: a poll succeeded (NUT's ups_is_alive).
func (m *Monitor) alive(u *upsState) {
	u.lastPoll = m.now()
	if u.commState == 0 {
		m.notify(NotifyCommOK, u, "")
	}
	u.commState = 1
}

// gone: a poll failed (NUT's ups_is_gone): COMMBAD at once, NOCOMM every
// NOCOMMWARNTIME while it lasts.
func (m *Monitor) gone(u *upsState) {
	if u.commState != 0 {
		u.commState = 0
		m.notify(NotifyCommBad, u, "")
		return
	}
	now := m.now()
	if now.Sub(u.lastPoll) < m.cfg.NoCommWarn {
		return
	}
	if !u.ncWarned || now.Sub(u.lastNCWarn) > m.cfg.NoCommWarn {
		m.notify(NotifyNoComm, u, "")
		u.lastNCWarn, u.ncWarned = now, true
	}
}

// The status words upsmon classifies; any other is OTHER.
var knownWords = map[string]bool{
	"OL": true, "OB": true, "LB": true, "HB": true, "RB": true, "CHRG": true, "DISCHRG": true,
	"BYPASS": true, "CAL": true, "OFF": true, "OVER": true, "TRIM": true, "BOOST": true,
	"FSD": true, "ALARM": true, "ECO": true,
}

// The flags notified on both edges, with their events.
var edgeFlags = []struct {
	word    string
	on, off NotifyType
}{
	{"CAL", NotifyCal, NotifyNotCal},
	{"OFF", NotifyOff, NotifyNotOff},
	{"BYPASS", NotifyBypass, NotifyNotBypass},
	{"ECO", NotifyEco, NotifyNotEco},
	{"ALARM", NotifyAlarm, NotifyNotAlarm},
	{"OVER", NotifyOver, NotifyNotOver},
	{"TRIM", NotifyTrim, NotifyNotTrim},
	{"BOOST", NotifyBoost, NotifyNotBoost},
}

// parseStatus applies one ups.status reading (NUT's parse_status):
// notifications go out in the order of the status words.
func (m *Monitor) parseStatus(u *upsState, status, alarm string) {
	m.alive(u)
	now := m.now()
	words := strings.Fields(status)
	has := map[string]bool{}
	var other []string
	for _, w := range words {
		w = strings.ToUpper(w)
		has[w] = true
		if !knownWords[w] && !contains(other, w) {
			other = append(other, w)
		}
	}
	// What went away first, as NUT clears LB, FSD and CAL early.
	if !has["LB"] {
		u.lb = false
	}
	if !has["FSD"] {
		u.fsd = false
	}
	for _, e := range edgeFlags {
		if u.flags[e.word] && !has[e.word] {
			u.flags[e.word] = false
			m.notify(e.off, u, "")
		}
	}
	for _, w := range words {
		switch w = strings.ToUpper(w); w {
		case "OL":
			if !u.ol {
				if u.lineState != -1 {
					m.notify(NotifyOnline, u, "")
				}
				u.lineState, u.ol, u.ob = 1, true, false
			}
		case "OB":
			if !u.ob {
				u.lineState = 0
				m.notify(NotifyOnBatt, u, "")
				u.ob, u.ol = true, false
			}
		case "LB":
			if !u.lb {
				m.notify(NotifyLowBatt, u, "")
				u.lb = true
			}
		case "RB":
			if !u.rbWarned || now.Sub(u.lastRBWarn) > m.cfg.RBWarnTime {
				m.notify(NotifyReplBatt, u, "")
				u.lastRBWarn, u.rbWarned = now, true
			}
		case "FSD":
			if !u.fsd {
				m.notify(NotifyFSD, u, "")
				u.fsd = true
			}
		case "ALARM":
			if !u.flags[w] || alarm != u.alarm {
				u.flags[w], u.alarm = true, alarm
				m.notify(NotifyAlarm, u, alarm)
			}
		default:
			for _, e := range edgeFlags {
				if e.word == w && !u.flags[w] {
					u.flags[w] = true
					m.notify(e.on, u, "")
				}
			}
		}
	}
	if !has["ALARM"] {
		u.alarm = ""
	}
	sort.Strings(other)
	if o := strings.Join(other, " "); o != u.other {
		if o != "" {
			m.notify(NotifyOther, u, o)
		} else {
			m.notify(NotifyNotOther, u, "")
		}
		u.other = o
	}
	if !(u.ob && u.lb) {
		u.lastNonCrit = now
		u.oblbSince = time.Time{}
	} else if u.oblbSince.IsZero() {
		u.oblbSince = now
	}
	if !u.flags["OFF"] {
		u.offSince = time.Time{}
	} else if u.offSince.IsZero() {
		u.offSince = now
	}
	u.known = true
}

func contains(s []string, w string) bool {
	for _, x := range s {
		if x == w {
			return true
		}
	}
	return false
}

// secs shows a duration in seconds: whole ones from 1 s up.
func secs(d time.Duration) string {
	if d < time.Second && d > -time.Second {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
	return strconv.FormatInt(int64(d.Round(time.Second)/time.Second), 10) + " s"
}

// critical decides whether a UPS no longer feeds this system and says why
// (NUT's is_ups_critical, with the dead-UPS promotion of its recalc).
// note is a non-critical but noteworthy state, logged when it changes.
func (m *Monitor) critical(u *upsState, now time.Time) (crit bool, why, note string) {
	sys := u.conf.System
	silent := now.Sub(u.lastPoll)
	dead := silent > m.cfg.DeadTime
	if u.fsd {
		return true, sys + " FSD", ""
	}
	if dead && u.ob && !u.lb {
		m.log.Debug(1, "Promoting dead UPS: "+sys)
		u.lb = true
		if u.oblbSince.IsZero() {
			u.oblbSince = now
		}
	}
	if dead && u.flags["ALARM"] && m.cfg.AlarmCritical {
		return true, fmt.Sprintf("%s silent for %s (DEADTIME %s) while in ALARM (ALARMCRITICAL)", sys, secs(silent), secs(m.cfg.DeadTime)), ""
	}
	if u.flags["OVER"] && u.commState == 0 && m.cfg.OverDuration >= 0 && silent > m.cfg.OverDuration {
		return true, fmt.Sprintf("%s silent for %s while OVER (OVERDURATION %s)", sys, secs(silent), secs(m.cfg.OverDuration)), ""
	}
	if !(u.ob && u.lb) {
		return false, "", ""
	}
	oblb := now.Sub(u.oblbSince)
	state := fmt.Sprintf("%s OB LB for %s", sys, secs(oblb))
	if dead {
		state = fmt.Sprintf("%s silent for %s (DEADTIME %s) while OB", sys, secs(silent), secs(m.cfg.DeadTime))
	}
	if u.flags["CAL"] {
		return false, "", fmt.Sprintf("%s is OB LB but calibrating (CAL): not critical", sys)
	}
	if !dead && m.cfg.OBLBDuration > 0 && oblb < m.cfg.OBLBDuration {
		return false, "", fmt.Sprintf("%s is OB LB: critical if it lasts OBLBDURATION (%s)", sys, secs(m.cfg.OBLBDuration))
	}
	if u.conf.Primary {
		return true, state, ""
	}
	if now.Sub(u.lastNonCrit) > m.cfg.HostSync {
		m.log.Warn(fmt.Sprintf("Giving up on the primary for UPS [%s]", sys))
		return true, fmt.Sprintf("%s; no FSD from the primary within HOSTSYNC (%s)", state, secs(m.cfg.HostSync)), ""
	}
	return false, "", fmt.Sprintf("%s is OB LB: waiting up to HOSTSYNC (%s) for the primary to set FSD", sys, secs(m.cfg.HostSync))
}

// Decide adds up the power values of the UPSes still feeding this system
// (NUT's recalc). When they fall below MINSUPPLIES it returns the one-line
// reason to shut down.
func (m *Monitor) Decide() (reason string, shutdown bool) {
	now := m.now()
	fed := 0
	var why []string
	for _, u := range m.ups {
		crit, w, note := m.critical(u, now)
		off := u.flags["OFF"] && m.cfg.OffDuration >= 0
		offFor := now.Sub(u.offSince)
		switch {
		case crit:
			note = w + ": critical"
		case off && offFor >= m.cfg.OffDuration:
			crit, w = true, fmt.Sprintf("%s OFF for %s (OFFDURATION %s)", u.conf.System, secs(offFor), secs(m.cfg.OffDuration))
			note = w + ": not feeding"
		case off:
			note = fmt.Sprintf("%s is OFF: still counted as feeding until OFFDURATION (%s)", u.conf.System, secs(m.cfg.OffDuration))
		}
		if note != u.verdict {
			if note != "" {
				m.log.Info(note)
			} else if u.verdict != "" {
				m.log.Info(u.conf.System + " feeds this system again")
			}
			u.verdict = note
		}
		if crit {
			if u.conf.PowerValue > 0 {
				why = append(why, w)
			}
			continue
		}
		fed += u.conf.PowerValue
	}
	if fed >= m.cfg.MinSupplies {
		return "", false
	}
	if len(why) == 0 {
		why = append(why, "no UPS feeds this system")
	}
	return fmt.Sprintf("shutting down: %s; MINSUPPLIES %d, supplies fed %d", strings.Join(why, ", "), m.cfg.MinSupplies, fed), true
}

// forceShutdown is NUT's forceshutdown: FSD on every primary UPS, wait for
// the secondaries, then shut down.
func (m *Monitor) forceShutdown(ctx context.Context, reason string) error {
	m.log.Crit(m.dryPrefix() + reason)
	primary := false
	for _, u := range m.ups {
		if !u.conf.Primary {
			continue
		}
		primary = true
		if m.dry {
			m.log.Notice(fmt.Sprintf("dry run: would set FSD on UPS %s", u.conf.System))
			continue
		}
		m.setFSD(u)
	}
	if primary {
		m.syncSecondaries()
	}
	return m.doShutdown(ctx)
}

func (m *Monitor) dryPrefix() string {
	if m.dry {
		return "dry run: "
	}
	return ""
}

func (m *Monitor) setFSD(u *upsState) {
	m.log.Debug(1, "Setting FSD on UPS "+u.conf.System)
	if u.sess == nil {
		m.log.Error(fmt.Sprintf("FSD set on UPS %s failed: not connected to its upsd", u.conf.System))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), NetTimeout)
	defer cancel()
	if err := u.sess.FSD(ctx); err != nil {
		m.log.Error(fmt.Sprintf("FSD set on UPS %s failed: %v", u.conf.System, err))
	}
}

// syncSecondaries waits until no primary UPS has a login besides ours, or
// HOSTSYNC has passed (NUT's sync_secondaries).
func (m *Monitor) syncSecondaries() {
	start := m.now()
	for first := true; ; first = false {
		most := 0
		for _, u := range m.ups {
			if !u.conf.Primary || u.sess == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), NetTimeout)
			n, err := u.sess.NumLogins(ctx)
			cancel()
			if err == nil && n > most {
				most = n
			}
		}
		if most <= 1 {
			if !first {
				m.log.Info("Secondaries have logged out")
			}
			return
		}
		if first {
			if m.dry {
				m.log.Notice(fmt.Sprintf("dry run: would wait up to HOSTSYNC (%s) for %d other upsmon login(s) to go", secs(m.cfg.HostSync), most-1))
				return
			}
			m.log.Info(fmt.Sprintf("This system is a primary: waiting up to HOSTSYNC (%s) for %d secondary login(s) to go", secs(m.cfg.HostSync), most-1))
			m.notify(NotifyShutdownHostsync, nil, "")
		}
		if m.now().Sub(start) > m.cfg.HostSync {
			m.log.Info(fmt.Sprintf("Host sync timer expired, forcing shutdown (%d login(s) left)", most-1))
			return
		}
		m.sleep(250 * time.Millisecond)
	}
}

// doShutdown is NUT's doshutdown: SHUTDOWN notification, FINALDELAY,
// SHUTDOWNCMD, then exit as SHUTDOWNEXIT says.
func (m *Monitor) doShutdown(ctx context.Context) error {
	m.log.Crit(m.dryPrefix() + "Executing automatic power-fail shutdown")
	m.notify(NotifyShutdown, nil, "")
	if m.cfg.FinalDelay > 0 {
		m.sleep(m.cfg.FinalDelay)
	}
	if m.dry {
		m.log.Notice(fmt.Sprintf("dry run: would write POWERDOWNFLAG %q and run SHUTDOWNCMD %q", m.cfg.PowerDownFlag, m.cfg.ShutdownCmd))
	} else if m.sd == nil {
		m.log.Crit("no way to run SHUTDOWNCMD (programming error)")
	} else if err := m.sd.Shutdown(); err != nil {
		m.log.Crit(err.Error())
	}
	switch d := m.cfg.ShutdownExit; {
	case d > 0:
		m.log.Info(fmt.Sprintf("SHUTDOWNEXIT: staying logged in for %s", secs(d)))
		m.sleep(d)
	case d < 0:
		m.log.Info("SHUTDOWNEXIT no: staying logged in until stopped")
		<-ctx.Done()
	}
	m.closeAll(true)
	return ErrShutdown
}

func (m *Monitor) checkParent() {
	if m.ppid <= 0 || m.noParentSent || os.Getppid() == m.ppid {
		return
	}
	m.noParentSent = true
	m.log.Crit("Parent died - shutdown impossible")
	m.notify(NotifyNoParent, nil, "")
}

// applyReload switches to a new configuration, keeping the state of the
// UPSes that stay (NUT's reload_conf). SHUTDOWNCMD and POWERDOWNFLAG
// belong to the privileged parent and cannot change.
func (m *Monitor) applyReload(c *Config) {
	if c.ShutdownCmd != m.cfg.ShutdownCmd {
		m.log.Warn("SHUTDOWNCMD cannot change on reload: restart upsmon to use " + strconv.Quote(c.ShutdownCmd))
		c.ShutdownCmd = m.cfg.ShutdownCmd
	}
	if c.PowerDownFlag != m.cfg.PowerDownFlag {
		m.log.Warn("POWERDOWNFLAG cannot change on reload: restart upsmon to use " + strconv.Quote(c.PowerDownFlag))
		c.PowerDownFlag = m.cfg.PowerDownFlag
	}
	old := map[string]*upsState{}
	for _, u := range m.ups {
		old[u.conf.System] = u
	}
	var next []*upsState
	now := m.now()
	for _, mc := range c.Monitors {
		u, ok := old[mc.System]
		if !ok {
			m.log.Info("Now monitoring UPS " + mc.System)
			next = append(next, newState(mc, now))
			continue
		}
		delete(old, mc.System)
		if u.conf.Username != mc.Username || u.conf.Password != mc.Password || u.conf.Primary != mc.Primary {
			m.drop(u) // log in again with the new credentials or role
		}
		u.conf = mc
		next = append(next, u)
	}
	for _, u := range old {
		m.log.Info("No longer monitoring UPS [" + u.conf.System + "]")
		if u.sess != nil {
			u.sess.Close(u.loggedIn)
		}
	}
	m.ups = next
	m.cfg = c
	m.notifier.Cmd = c.NotifyCmd
	if !m.ownDial {
		m.dial = NetDialer(c)
	}
	m.log.Notice("Reloaded " + c.File)
}
