package upsmon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/client"
)

// fakeUpsd is a set of UPSes as fake sessions see them.
type fakeUpsd struct {
	status map[string]string // UPS name -> ups.status; missing = connection refused
	stale  map[string]bool
	logins map[string]int
	fsd    []string
}

type fakeSession struct {
	u *fakeUpsd
	m MonitorConf
}

func (s *fakeSession) Login(context.Context) error { s.u.logins[s.m.Name.Name]++; return nil }
func (s *fakeSession) Status(context.Context) (string, error) {
	st, ok := s.u.status[s.m.Name.Name]
	if !ok {
		return "", errors.New("connection reset")
	}
	if s.u.stale[s.m.Name.Name] {
		return "", client.ErrDataStale
	}
	return st, nil
}
func (s *fakeSession) Var(context.Context, string) (string, error) { return "OVERHEAT", nil }
func (s *fakeSession) NumLogins(context.Context) (int, error)      { return s.u.logins[s.m.Name.Name], nil }
func (s *fakeSession) FSD(context.Context) error {
	s.u.fsd = append(s.u.fsd, s.m.Name.Name)
	s.u.status[s.m.Name.Name] = "FSD " + s.u.status[s.m.Name.Name]
	return nil
}
func (s *fakeSession) Close(logout bool) {
	if logout {
		s.u.logins[s.m.Name.Name]--
	}
}
func (s *fakeSession) TLS() bool { return false }

type rig struct {
	t        *testing.T
	now      time.Time
	upsd     *fakeUpsd
	m        *Monitor
	notes    []string
	shutdown int
	log      strings.Builder
}

func (r *rig) Shutdown() error { r.shutdown++; return nil }

func newRig(t *testing.T, conf string) *rig {
	t.Helper()
	c, err := ParseConfig(strings.NewReader(conf), "upsmon.conf")
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, now: time.Unix(1000, 0), upsd: &fakeUpsd{status: map[string]string{}, stale: map[string]bool{}, logins: map[string]int{}}}
	n := &Notifier{Log: &WriterLogger{W: io.Discard}, Wall: "/bin/true", Observe: func(n Notification) {
		r.notes = append(r.notes, n.Type.String()+" "+n.UPS)
	}}
	r.m = New(Options{Config: c, Log: &WriterLogger{W: &r.log, NoTime: true, Debugs: 2}, Shutdown: r, Notifier: n,
		Dial: func(_ context.Context, m MonitorConf) (Session, error) {
			if _, ok := r.upsd.status[m.Name.Name]; !ok {
				return nil, errors.New("connection refused")
			}
			return &fakeSession{u: r.upsd, m: m}, nil
		},
		Now: func() time.Time { return r.now }, Sleep: func(d time.Duration) { r.now = r.now.Add(d) }})
	return r
}

// step advances the clock, polls every UPS and decides, as one loop of
// Run; a shutdown goes through the whole sequence.
func (r *rig) step(d time.Duration) {
	r.now = r.now.Add(d)
	r.m.PollOnce(context.Background())
	if reason, ok := r.m.Decide(); ok {
		if err := r.m.forceShutdown(context.Background(), reason); !errors.Is(err, ErrShutdown) {
			r.t.Fatalf("forceShutdown: %v", err)
		}
	}
}

func (r *rig) set(ups, status string) { r.upsd.status[ups] = status }

const timings = "POLLFREQ 1\nPOLLFREQALERT 1\nHOSTSYNC 10\nDEADTIME 5\nFINALDELAY 1\nNOCOMMWARNTIME 3\n"

func TestShutdownDecisions(t *testing.T) {
	two := func(pv int, role string, min int) string {
		return fmt.Sprintf("MONITOR a@h %d u p %s\nMONITOR b@h %d u p %s\nMINSUPPLIES %d\n", pv, role, pv, role, min)
	}
	type step struct {
		d      time.Duration
		status map[string]string // "" deletes (upsd unreachable)
	}
	tests := []struct {
		name     string
		conf     string
		steps    []step
		shutdown bool
		reason   string // in the log when shutting down
		notes    string // notifications, in order
	}{
		{name: "primary OB LB", conf: "MONITOR a@h 1 u p primary\n",
			steps:    []step{{0, map[string]string{"a": "OL"}}, {time.Second, map[string]string{"a": "OB"}}, {time.Second, map[string]string{"a": "OB LB"}}},
			shutdown: true, reason: "shutting down: a@h OB LB for 0.0 s; MINSUPPLIES 1, supplies fed 0",
			notes: "ONBATT a@h,LOWBATT a@h,SHUTDOWN "},
		{name: "redundant: one of two critical", conf: two(1, "primary", 1),
			steps:    []step{{0, map[string]string{"a": "OL", "b": "OL"}}, {time.Second, map[string]string{"a": "OB LB"}}, {time.Second, nil}},
			shutdown: false, notes: "ONBATT a@h,LOWBATT a@h"},
		{name: "redundant: both critical", conf: two(1, "primary", 1),
			steps:    []step{{0, map[string]string{"a": "OL", "b": "OL"}}, {time.Second, map[string]string{"a": "OB LB"}}, {time.Second, map[string]string{"b": "OB LB"}}},
			shutdown: true, reason: "shutting down: a@h OB LB for 1 s, b@h OB LB for 0.0 s; MINSUPPLIES 1, supplies fed 0"},
		{name: "big box: one UPS of two lost", conf: two(2, "primary", 2),
			steps:    []step{{0, map[string]string{"a": "OL", "b": "OL"}}, {time.Second, map[string]string{"a": "OB LB"}}, {time.Second, nil}},
			shutdown: false},
		{name: "big box: both lost", conf: two(2, "primary", 2),
			steps:    []step{{0, map[string]string{"a": "OL", "b": "OL"}}, {time.Second, map[string]string{"a": "OB LB", "b": "OB LB"}}},
			shutdown: true, reason: "MINSUPPLIES 2, supplies fed 0"},
		{name: "secondary waits for FSD", conf: "MONITOR a@h 1 u p secondary\n",
			steps:    []step{{0, map[string]string{"a": "OB LB"}}, {5 * time.Second, nil}},
			shutdown: false},
		{name: "secondary gives up after HOSTSYNC", conf: "MONITOR a@h 1 u p secondary\n",
			steps:    []step{{0, map[string]string{"a": "OB"}}, {time.Second, map[string]string{"a": "OB LB"}}, {16 * time.Second, nil}},
			shutdown: true, reason: "no FSD from the primary within HOSTSYNC (15 s)"},
		{name: "secondary sees FSD", conf: "MONITOR a@h 1 u p secondary\n",
			steps:    []step{{0, map[string]string{"a": "OL"}}, {time.Second, map[string]string{"a": "FSD OL"}}},
			shutdown: true, reason: "shutting down: a@h FSD; MINSUPPLIES 1, supplies fed 0", notes: "FSD a@h,SHUTDOWN "},
		{name: "calibrating OB LB is not critical", conf: "MONITOR a@h 1 u p primary\n",
			steps:    []step{{0, map[string]string{"a": "OB LB CAL"}}, {time.Second, nil}},
			shutdown: false, notes: "ONBATT a@h,LOWBATT a@h,CAL a@h"},
		{name: "OB LB shorter than OBLBDURATION", conf: "MONITOR a@h 1 u p primary\nOBLBDURATION 3\n",
			steps:    []step{{0, map[string]string{"a": "OB"}}, {time.Second, map[string]string{"a": "OB LB"}}, {2 * time.Second, map[string]string{"a": "OB"}}, {2 * time.Second, nil}},
			shutdown: false},
		{name: "OB LB past OBLBDURATION", conf: "MONITOR a@h 1 u p primary\nOBLBDURATION 3\n",
			steps:    []step{{0, map[string]string{"a": "OB LB"}}, {2 * time.Second, nil}, {2 * time.Second, nil}},
			shutdown: true, reason: "a@h OB LB for 4 s"},
		{name: "OFF shorter than OFFDURATION", conf: "MONITOR a@h 1 u p primary\nOFFDURATION 5\n",
			steps:    []step{{0, map[string]string{"a": "OB OFF"}}, {4 * time.Second, nil}, {time.Second, map[string]string{"a": "OL"}}},
			shutdown: false, notes: "ONBATT a@h,OFF a@h,NOTOFF a@h,ONLINE a@h"},
		{name: "OFF past OFFDURATION", conf: "MONITOR a@h 1 u p primary\nOFFDURATION 5\n",
			steps:    []step{{0, map[string]string{"a": "OFF"}}, {6 * time.Second, nil}},
			shutdown: true, reason: "a@h OFF for 6 s (OFFDURATION 5 s)"},
		{name: "OFF never counts with OFFDURATION -1", conf: "MONITOR a@h 1 u p primary\nOFFDURATION -1\n",
			steps:    []step{{0, map[string]string{"a": "OFF"}}, {60 * time.Second, nil}},
			shutdown: false},
		{name: "lost while OL", conf: "MONITOR a@h 1 u p primary\n" + timings,
			steps:    []step{{0, map[string]string{"a": "OL"}}, {time.Second, map[string]string{"a": ""}}, {2 * time.Second, nil}, {2 * time.Second, nil}, {10 * time.Second, nil}},
			shutdown: false, notes: "COMMBAD a@h,NOCOMM a@h,NOCOMM a@h"},
		{name: "lost while OB, dead after DEADTIME", conf: "MONITOR a@h 1 u p primary\n" + timings,
			steps:    []step{{0, map[string]string{"a": "OB"}}, {time.Second, map[string]string{"a": ""}}, {4 * time.Second, nil}, {2 * time.Second, nil}},
			shutdown: true, reason: "a@h silent for 7 s (DEADTIME 5 s) while OB", notes: "ONBATT a@h,COMMBAD a@h,NOCOMM a@h,SHUTDOWN "},
		{name: "stale blip", conf: "MONITOR a@h 1 u p primary\n" + timings,
			steps:    []step{{0, map[string]string{"a": "OB"}}, {time.Second, nil}},
			shutdown: false},
		{name: "dead while ALARM with ALARMCRITICAL", conf: "MONITOR a@h 1 u p primary\n" + timings,
			steps:    []step{{0, map[string]string{"a": "OL ALARM"}}, {time.Second, map[string]string{"a": ""}}, {6 * time.Second, nil}},
			shutdown: true, reason: "while in ALARM (ALARMCRITICAL)"},
		{name: "dead while ALARM without ALARMCRITICAL", conf: "MONITOR a@h 1 u p primary\nALARMCRITICAL 0\n" + timings,
			steps:    []step{{0, map[string]string{"a": "OL ALARM"}}, {time.Second, map[string]string{"a": ""}}, {6 * time.Second, nil}},
			shutdown: false},
		{name: "silent while OVER past OVERDURATION", conf: "MONITOR a@h 1 u p primary\nOVERDURATION 2\n" + timings,
			steps:    []step{{0, map[string]string{"a": "OL OVER"}}, {time.Second, map[string]string{"a": ""}}, {3 * time.Second, nil}},
			shutdown: true, reason: "while OVER (OVERDURATION 2 s)"},
		{name: "power value 0 never shuts down", conf: "MONITOR a@h 0 u p secondary\nMINSUPPLIES 0\n",
			steps:    []step{{0, map[string]string{"a": "FSD OB LB"}}},
			shutdown: false},
		{name: "status notifications", conf: "MONITOR a@h 1 u p primary\n",
			steps: []step{{0, map[string]string{"a": "OL"}}, {time.Second, map[string]string{"a": "OL BYPASS TRIM RB"}},
				{time.Second, map[string]string{"a": "OL BOOST ECO ALARM OVER XYZ"}}, {time.Second, map[string]string{"a": "OL"}}},
			notes: "BYPASS a@h,TRIM a@h,REPLBATT a@h,NOTBYPASS a@h,NOTTRIM a@h,BOOST a@h,ECO a@h,ALARM a@h,OVER a@h,OTHER a@h," +
				"NOTECO a@h,NOTALARM a@h,NOTOVER a@h,NOTBOOST a@h,NOTOTHER a@h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.conf)
			for _, s := range tc.steps {
				for u, st := range s.status {
					if st == "" {
						delete(r.upsd.status, u)
					} else {
						r.set(u, st)
					}
				}
				if s.status == nil && strings.Contains(tc.name, "stale") {
					r.upsd.stale["a"] = true
					r.step(time.Second)
					r.step(time.Second)
					r.upsd.stale["a"] = false
				}
				if r.shutdown > 0 {
					break
				}
				r.step(s.d)
			}
			if got := r.shutdown > 0; got != tc.shutdown {
				t.Fatalf("shutdown %v, want %v\nlog:\n%s", got, tc.shutdown, r.log.String())
			}
			if r.shutdown > 1 {
				t.Errorf("SHUTDOWNCMD ran %d times", r.shutdown)
			}
			if tc.reason != "" && !strings.Contains(r.log.String(), tc.reason) {
				t.Errorf("log lacks %q:\n%s", tc.reason, r.log.String())
			}
			if tc.notes != "" && strings.Join(r.notes, ",") != tc.notes {
				t.Errorf("notifications %q, want %q", strings.Join(r.notes, ","), tc.notes)
			}
		})
	}
}

// The primary sets FSD, waits for the secondaries' logins to go, and gives
// up after HOSTSYNC.
func TestPrimaryWaitsForSecondaries(t *testing.T) {
	for _, stuck := range []bool{false, true} {
		t.Run(fmt.Sprintf("stuck=%v", stuck), func(t *testing.T) {
			r := newRig(t, "MONITOR a@h 1 u p primary\nHOSTSYNC 5\nFINALDELAY 0\n")
			r.set("a", "OL")
			r.step(0)
			r.upsd.logins["a"] += 2 // two secondaries
			waited := 0
			r.m.sleep = func(d time.Duration) {
				r.now = r.now.Add(d)
				waited++
				if !stuck && waited == 4 {
					r.upsd.logins["a"] -= 2
				}
			}
			r.set("a", "OB LB")
			r.step(time.Second)
			if r.shutdown != 1 || len(r.upsd.fsd) != 1 {
				t.Fatalf("shutdown %d, FSD %v", r.shutdown, r.upsd.fsd)
			}
			log := r.log.String()
			if stuck != strings.Contains(log, "Host sync timer expired") || !strings.Contains(strings.Join(r.notes, ","), "SHUTDOWN_HOSTSYNC ,SHUTDOWN ") {
				t.Errorf("notes %q\nlog:\n%s", r.notes, log)
			}
			if stuck && waited < 20 {
				t.Errorf("gave up after %d waits of 250 ms, before HOSTSYNC", waited)
			}
		})
	}
}

func TestDryRunSetsNoFSDAndRunsNothing(t *testing.T) {
	r := newRig(t, "MONITOR a@h 1 u p primary\nFINALDELAY 0\nPOWERDOWNFLAG /nonexistent/killpower\nSHUTDOWNCMD /bin/false\n")
	r.m.dry = true
	r.set("a", "OB LB")
	r.step(0)
	if r.shutdown != 0 || len(r.upsd.fsd) != 0 {
		t.Fatalf("dry run: shutdown %d, FSD %v", r.shutdown, r.upsd.fsd)
	}
	for _, want := range []string{"dry run: shutting down: a@h OB LB", "dry run: would set FSD on UPS a@h", `dry run: would write POWERDOWNFLAG "/nonexistent/killpower" and run SHUTDOWNCMD "/bin/false"`} {
		if !strings.Contains(r.log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, r.log.String())
		}
	}
}

// SHUTDOWNEXIT N keeps upsmon logged in for N seconds after SHUTDOWNCMD.
func TestShutdownExitDelay(t *testing.T) {
	r := newRig(t, "MONITOR a@h 1 u p secondary\nFINALDELAY 2\nSHUTDOWNEXIT 7\n")
	var slept []time.Duration
	r.m.sleep = func(d time.Duration) { slept = append(slept, d) }
	r.set("a", "FSD OL")
	r.step(0)
	if r.shutdown != 1 || len(slept) != 2 || slept[0] != 2*time.Second || slept[1] != 7*time.Second {
		t.Errorf("shutdown %d, slept %v; want FINALDELAY 2 s then SHUTDOWNEXIT 7 s", r.shutdown, slept)
	}
	if r.upsd.logins["a"] != 0 {
		t.Errorf("still logged in after exiting: %d", r.upsd.logins["a"])
	}
}

// POLLFAIL_LOG_THROTTLE_MAX 0 logs a failure once until it changes.
func TestPollFailThrottle(t *testing.T) {
	for _, tc := range []struct {
		max  string
		want int
	}{{"-1", 6}, {"0", 1}, {"2", 3}} {
		r := newRig(t, "MONITOR a@h 1 u p secondary\nPOLLFAIL_LOG_THROTTLE_MAX "+tc.max+"\n")
		for i := 0; i < 6; i++ {
			r.step(time.Second)
		}
		if got := strings.Count(r.log.String(), "connect failed"); got != tc.want {
			t.Errorf("POLLFAIL_LOG_THROTTLE_MAX %s: %d messages for 6 failures, want %d", tc.max, got, tc.want)
		}
	}
}

// A reload keeps what is known of the UPSes that stay, drops the ones
// that go, and logs in again where the credentials changed.
func TestReloadKeepsState(t *testing.T) {
	r := newRig(t, "MONITOR a@h 1 u p primary\nMONITOR b@h 1 u p primary\n")
	r.set("a", "OB")
	r.set("b", "OL")
	r.step(0)
	c, err := ParseConfig(strings.NewReader("MONITOR a@h 1 u p primary\nMONITOR c@h 1 u p2 primary\nNOTIFYMSG ONLINE \"back: %s\"\n"), "upsmon.conf")
	if err != nil {
		t.Fatal(err)
	}
	r.m.applyReload(c)
	r.set("c", "OL")
	r.step(time.Second)
	if got := strings.Join(r.notes, ","); got != "ONBATT a@h" {
		t.Errorf("notifications %q: a reload must not repeat ONBATT", got)
	}
	if r.upsd.logins["b"] != 0 || r.upsd.logins["c"] != 1 {
		t.Errorf("logins %v: b should be logged out, c logged in", r.upsd.logins)
	}
	r.set("a", "OL")
	r.step(time.Second)
	if !slices.Contains(r.notes, "ONLINE a@h") || !strings.Contains(r.log.String(), "Reloaded upsmon.conf") {
		t.Errorf("notes %q\n%s", r.notes, r.log.String())
	}
}
