package dummyups

import (
	"context"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/client/clienttest"
	"github.com/gonut/gonut/sdk/plugin"
	"github.com/gonut/gonut/sdk/sockproto"
)

// remoteAddr is what the repeater's port names; the tests' dialer sends
// every connection to the fake upsd serving at the moment instead.
const remoteAddr = "remote.test:3493"

// remote stands for the network between the repeater and the upsd it
// relays: it dials the fake upsd of the moment, or refuses like a host
// whose upsd is down.
type remote struct {
	mu     sync.Mutex
	srv    *clienttest.Server // nil while down
	dials  int
	dialed []string // the addresses the driver asked for
}

func (r *remote) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	r.mu.Lock()
	srv := r.srv
	r.dials++
	r.dialed = append(r.dialed, addr)
	r.mu.Unlock()
	if srv == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, srv.Addr)
}

// up serves srv from now on; down stops the current server, dropping its
// connections, and refuses new ones.
func (r *remote) up(srv *clienttest.Server) {
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
}

func (r *remote) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (r *remote) dialCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dials
}

// startRepeater runs dummy-ups relaying ups "src" through rem.
func startRepeater(t *testing.T, rem *remote, options ...string) *instance {
	t.Helper()
	in, err := startRepeaterErr(t, rem, options...)
	if err != nil {
		t.Fatalf("dummy-ups: %v", err)
	}
	return in
}

func startRepeaterErr(t *testing.T, rem *remote, options ...string) (*instance, error) {
	t.Helper()
	o := append([]string{"port = src@" + remoteAddr}, options...)
	return startSetup(t, t.TempDir(), func(d *Driver) { d.dial = rem.dial }, o...)
}

// upsDevice is the relayed UPS of most tests: variables of every type,
// driver.* variables of its own driver, and two instant commands.
func upsDevice() clienttest.Device {
	return clienttest.Device{
		Name: "src",
		Vars: [][2]string{
			{"battery.charge", "80"},
			{"battery.charge.low", "10"},
			{"driver.name", "usbhid-ups"},
			{"driver.parameter.port", "auto"},
			{"input.sensitivity", "H"},
			{"ups.id", "rack 1"},
			{"ups.mfr", `ACME "Power" #1`},
			{"ups.model", "Smart 1500"},
			{"ups.status", "OL CHRG"},
		},
		Types: map[string]string{
			"battery.charge.low": "RW RANGE NUMBER",
			"input.sensitivity":  "RW ENUM STRING:1",
			"ups.id":             "RW STRING:16",
			"ups.mfr":            "STRING:32",
		},
		Enums:  map[string][]string{"input.sensitivity": {"L", "M", "H"}},
		Ranges: map[string][][2]string{"battery.charge.low": {{"5", "50"}}},
		Cmds:   []string{"load.off.delay", "test.battery.start"},
	}
}

func (in *instance) variable(name string) (sockproto.Var, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.st.Var(name)
}

func (in *instance) cmds() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	c := in.st.Cmds()
	slices.Sort(c)
	return c
}

func (in *instance) dataOK() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.st.DataOK()
}

func TestRepeaterRelays(t *testing.T) {
	upsd := clienttest.NewUPSD(upsDevice())
	rem := &remote{}
	rem.up(upsd.Start(t))
	in := startRepeater(t, rem, "username = relay", "password = s3cret")

	for name, want := range map[string]string{
		"battery.charge":     "80",
		"battery.charge.low": "10",
		"input.sensitivity":  "H",
		"ups.id":             "rack 1",
		"ups.mfr":            `ACME "Power" #1`,
		"ups.model":          "Smart 1500",
		"ups.status":         "OL CHRG",
		// The repeater's own driver.* variables, not the remote's.
		"driver.name":           "dummy-ups",
		"driver.parameter.port": "src@" + remoteAddr,
		"driver.parameter.mode": "repeater",
		// NUT's copy of ups.* to device.* at start, escaped as NUT's
		// state tree stores values.
		"device.mfr":   "ACME \\\"Power\\\" \\#1",
		"device.model": "Smart 1500",
		"device.type":  "ups",
	} {
		wantValue(t, in, name, want)
	}
	// The credentials stay inside the driver.
	wantAbsent(t, in, "driver.parameter.username")
	wantAbsent(t, in, "driver.parameter.password")

	tests := []struct {
		name   string
		flags  string
		aux    int
		enums  []string
		ranges []sockproto.Range
	}{
		{"battery.charge", "NUMBER", 0, nil, nil},
		{"battery.charge.low", "RW NUMBER", 0, nil, []sockproto.Range{{Min: 5, Max: 50}}},
		{"input.sensitivity", "RW STRING", 1, []string{"L", "M", "H"}, nil},
		{"ups.id", "RW STRING", 16, nil, nil},
		{"ups.mfr", "STRING", 32, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := in.variable(tt.name)
			if !ok {
				t.Fatalf("%s is missing", tt.name)
			}
			if v.Flags.String() != tt.flags || v.Aux != tt.aux {
				t.Errorf("flags %q aux %d, want %q aux %d", v.Flags, v.Aux, tt.flags, tt.aux)
			}
			if !reflect.DeepEqual(v.Enums, tt.enums) {
				t.Errorf("enums %q, want %q", v.Enums, tt.enums)
			}
			if !reflect.DeepEqual(v.Ranges, tt.ranges) {
				t.Errorf("ranges %v, want %v", v.Ranges, tt.ranges)
			}
		})
	}
	if got, want := in.cmds(), []string{"load.off.delay", "test.battery.start"}; !reflect.DeepEqual(got, want) {
		t.Errorf("commands %q, want the remote's %q", got, want)
	}
	if !in.dataOK() {
		t.Error("data is stale after a successful start")
	}
	if got := rem.dialed; len(got) != 1 || got[0] != remoteAddr {
		t.Errorf("dialled %q, want [%s]", got, remoteAddr)
	}
}

// The remote's requests as the tests' fake upsd saw them.
func TestRepeaterSessionOpening(t *testing.T) {
	t.Run("plain text", func(t *testing.T) {
		rem := &remote{}
		srv := clienttest.NewUPSD(upsDevice()).Start(t)
		rem.up(srv)
		startRepeater(t, rem, "username = relay", "password = s3cret")
		want := []string{"STARTTLS", "USERNAME relay", "PASSWORD s3cret", "SET TRACKING ON", "LIST CMD src", "LIST VAR src"}
		if got := srv.Requests(); len(got) < len(want) || !reflect.DeepEqual(got[:len(want)], want) {
			t.Errorf("requests %q, want them to start with %q", got, want)
		}
	})
	t.Run("TLS when offered", func(t *testing.T) {
		rem := &remote{}
		srv := clienttest.NewUPSD(upsDevice()).Start(t, clienttest.WithTLS(clienttest.NewCertificate(t).TLS))
		rem.up(srv)
		in := startRepeater(t, rem, "username = relay", "password = s3cret")
		wantValue(t, in, "ups.status", "OL CHRG")
		if got := srv.PlainRequests(); !reflect.DeepEqual(got, []string{"STARTTLS"}) {
			t.Errorf("sent in plain text: %q, want only STARTTLS", got)
		}
		if got := srv.Requests(); !slices.Contains(got, "PASSWORD s3cret") {
			t.Errorf("requests %q lack the password, sent encrypted", got)
		}
	})
}

func TestRepeaterStaleAndReconnect(t *testing.T) {
	rem := &remote{}
	rem.up(clienttest.NewUPSD(upsDevice()).Start(t))
	in := startRepeater(t, rem)
	if err := in.poll(); err != nil {
		t.Fatalf("poll: %v", err)
	}

	// The remote upsd goes away: the data is stale at the next poll, and
	// stays so while it cannot be reached.
	rem.down()
	for i := 0; i < 2; i++ {
		err := in.poll()
		if err == nil || !strings.Contains(err.Error(), "relaying src@"+remoteAddr) {
			t.Fatalf("poll %d with the remote down: %v, want an error naming it", i+1, err)
		}
		if in.dataOK() {
			t.Fatalf("poll %d with the remote down: data is fresh", i+1)
		}
	}

	// It comes back with changes: fresh again at the next poll, with the
	// new values, a variable it no longer has deleted and its commands.
	dev := upsDevice()
	dev.Vars = slices.DeleteFunc(dev.Vars, func(v [2]string) bool { return v[0] == "ups.id" })
	dev.Vars = append(dev.Vars, [2]string{"ups.load", "42"})
	dev.Vars[0][1] = "55" // battery.charge
	dev.Cmds = []string{"test.battery.start", "beeper.disable"}
	dev.Types["ups.load"] = "NUMBER"
	rem.up(clienttest.NewUPSD(dev).Start(t))
	if err := in.poll(); err != nil {
		t.Fatalf("poll after the remote came back: %v", err)
	}
	if !in.dataOK() {
		t.Error("data still stale after the remote came back")
	}
	wantValue(t, in, "battery.charge", "55")
	wantValue(t, in, "ups.load", "42")
	wantAbsent(t, in, "ups.id")
	if got, want := in.cmds(), []string{"beeper.disable", "test.battery.start"}; !reflect.DeepEqual(got, want) {
		t.Errorf("commands %q, want %q", got, want)
	}
	if !strings.Contains(in.logs.String(), "reconnected to the relayed upsd") {
		t.Errorf("reconnection not logged:\n%s", in.logs.String())
	}
}

// switchable wraps a handler: while stale is set, LIST VAR answers
// ERR DATA-STALE, as upsd does while the remote's driver is silent.
type switchable struct {
	mu    sync.Mutex
	stale bool
}

func (s *switchable) set(stale bool) {
	s.mu.Lock()
	s.stale = stale
	s.mu.Unlock()
}

func (s *switchable) wrap(h clienttest.Handler) clienttest.Handler {
	return func(w []string) clienttest.Reply {
		s.mu.Lock()
		stale := s.stale
		s.mu.Unlock()
		if stale && len(w) >= 2 && w[0] == "LIST" && w[1] == "VAR" {
			return clienttest.Reply{Data: "ERR DATA-STALE\n"}
		}
		return h(w)
	}
}

func TestRepeaterRemoteDataStale(t *testing.T) {
	upsd := clienttest.NewUPSD(upsDevice())
	sw := &switchable{}
	rem := &remote{}
	rem.up(clienttest.NewSessionServer(t, func() clienttest.Handler { return sw.wrap(upsd.Session()) }))
	in := startRepeater(t, rem)

	sw.set(true)
	if err := in.poll(); err == nil || !strings.Contains(err.Error(), "DATA-STALE") {
		t.Fatalf("poll while the remote's data is stale: %v, want ERR DATA-STALE", err)
	}
	if in.dataOK() {
		t.Error("data is fresh while the remote's is stale")
	}
	sw.set(false)
	if err := in.poll(); err != nil {
		t.Fatalf("poll once the remote's data is fresh: %v", err)
	}
	if !in.dataOK() {
		t.Error("data still stale once the remote's is fresh")
	}
	// An ERR answer leaves the connection usable: no reconnection.
	if n := rem.dialCount(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// relayUsers are the upsd.users of the relayed upsd in the SET and
// INSTCMD tests.
func relayUsers(u *clienttest.UPSD) {
	u.AddUser(clienttest.User{Name: "admin", Password: "pw", Actions: []string{"SET"}, InstCmds: []string{"all"}})
	u.AddUser(clienttest.User{Name: "viewer", Password: "pw"})
}

func TestRepeaterSetVar(t *testing.T) {
	tests := []struct {
		name        string
		creds       []string
		varName     string
		value       string
		result      string // the remote driver's answer; "" is SUCCESS
		wantStatus  int
		wantSent    bool
		wantValue   string // the local value afterwards
		wantMessage string // in the driver's log
	}{
		{"passed on", []string{"username = admin", "password = pw"}, "ups.id", "rack 2", "", plugin.StatHandled, true, "rack 2", ""},
		{"enum value", []string{"username = admin", "password = pw"}, "input.sensitivity", "L", "", plugin.StatHandled, true, "L", ""},
		{"no credentials", nil, "ups.id", "x", "", plugin.StatFailed, false, "rack 1",
			"set username and password in this ups.conf section to a user of its upsd.users with actions = SET"},
		{"no SET right", []string{"username = viewer", "password = pw"}, "ups.id", "x", "", plugin.StatFailed, false, "rack 1",
			"check that user viewer is in its upsd.users with this password and actions = SET"},
		{"wrong password", []string{"username = admin", "password = nope"}, "ups.id", "x", "", plugin.StatFailed, false, "rack 1", "ERR ACCESS-DENIED"},
		{"remote refuses the value", []string{"username = admin", "password = pw"}, "ups.id", "far too long for sixteen", "", plugin.StatInvalid, false, "rack 1", "ERR TOO-LONG"},
		{"remote driver fails", []string{"username = admin", "password = pw"}, "ups.id", "x", "ERR FAILED", plugin.StatFailed, true, "rack 1", "ERR FAILED"},
		{"remote driver says invalid", []string{"username = admin", "password = pw"}, "ups.id", "x", "ERR INVALID-ARGUMENT", plugin.StatInvalid, true, "rack 1", "ERR INVALID-ARGUMENT"},
		{"remote driver does not know it", []string{"username = admin", "password = pw"}, "ups.id", "x", "ERR UNKNOWN", plugin.StatUnknown, true, "rack 1", "ERR UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upsd := clienttest.NewUPSD(upsDevice())
			relayUsers(upsd)
			if tt.result != "" {
				upsd.SetResult("src", tt.varName, 1, tt.result)
			}
			rem := &remote{}
			rem.up(upsd.Start(t))
			in := startRepeater(t, rem, tt.creds...)
			res, err := in.srv.SetVar(context.Background(), tt.varName, tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("status %d (%s), want %d", res.Status, res.Message, tt.wantStatus)
			}
			sent := upsd.Sent()
			if want := "src SET " + tt.varName + " " + tt.value; tt.wantSent != slices.Contains(sent, want) {
				t.Errorf("remote was sent %q; want %q there: %v", sent, want, tt.wantSent)
			}
			// No poll in between: a success shows at once.
			wantValue(t, in, tt.varName, tt.wantValue)
			if tt.wantMessage != "" && !strings.Contains(in.logs.String(), tt.wantMessage) {
				t.Errorf("log lacks %q:\n%s", tt.wantMessage, in.logs.String())
			}
		})
	}
}

func TestRepeaterInstCmd(t *testing.T) {
	admin := []string{"username = admin", "password = pw"}
	tests := []struct {
		name       string
		creds      []string
		cmd, param string
		result     string
		wantStatus int
		wantSent   string // "" when nothing may reach the remote
	}{
		{"passed on", admin, "test.battery.start", "", "", plugin.StatHandled, "src INSTCMD test.battery.start"},
		{"with a parameter", admin, "load.off.delay", "30", "", plugin.StatHandled, "src INSTCMD load.off.delay 30"},
		{"not a remote command", admin, "load.off", "", "", plugin.StatUnknown, ""},
		{"no credentials", nil, "test.battery.start", "", "", plugin.StatFailed, ""},
		{"remote driver fails", admin, "test.battery.start", "", "ERR FAILED", plugin.StatFailed, "src INSTCMD test.battery.start"},
		{"remote driver does not know it", admin, "test.battery.start", "", "ERR UNKNOWN", plugin.StatUnknown, "src INSTCMD test.battery.start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upsd := clienttest.NewUPSD(upsDevice())
			relayUsers(upsd)
			if tt.result != "" {
				upsd.SetResult("src", tt.cmd, 2, tt.result)
			}
			rem := &remote{}
			rem.up(upsd.Start(t))
			in := startRepeater(t, rem, tt.creds...)
			res, err := in.srv.InstCmd(context.Background(), tt.cmd, tt.param)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("status %d (%s), want %d", res.Status, res.Message, tt.wantStatus)
			}
			sent := upsd.Sent()
			switch {
			case tt.wantSent == "" && len(sent) > 0:
				t.Errorf("remote was sent %q, want nothing", sent)
			case tt.wantSent != "" && !reflect.DeepEqual(sent, []string{tt.wantSent}):
				t.Errorf("remote was sent %q, want [%s]", sent, tt.wantSent)
			}
		})
	}
}

func TestRepeaterCommandWhileDisconnected(t *testing.T) {
	upsd := clienttest.NewUPSD(upsDevice())
	relayUsers(upsd)
	rem := &remote{}
	rem.up(upsd.Start(t))
	in := startRepeater(t, rem, "username = admin", "password = pw")
	rem.down()
	if err := in.poll(); err == nil {
		t.Fatal("poll with the remote down succeeded")
	}
	res, err := in.srv.SetVar(context.Background(), "ups.id", "x")
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != plugin.StatFailed || !strings.Contains(res.Message, "not connected to upsd "+remoteAddr) {
		t.Errorf("result %d %q, want failed: not connected", res.Status, res.Message)
	}
}

// A remote driver that never answers a tracked request: the repeater
// gives up within its budget and reports a failure.
func TestRepeaterNoTrackingAnswer(t *testing.T) {
	upsd := clienttest.NewUPSD(upsDevice())
	relayUsers(upsd)
	upsd.SetResult("src", "ups.id", 1<<30, "SUCCESS")
	rem := &remote{}
	rem.up(upsd.Start(t))
	in := startRepeater(t, rem, "username = admin", "password = pw")
	in.drv.rep.cmdBudget = 200 * time.Millisecond
	res, err := in.srv.SetVar(context.Background(), "ups.id", "x")
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != plugin.StatFailed || !strings.Contains(res.Message, "gave no result within") {
		t.Errorf("result %d %q, want failed: no result", res.Status, res.Message)
	}
	// The next poll works, reconnecting if the wait left the connection
	// out of step.
	if err := in.poll(); err != nil {
		t.Fatalf("poll after the timeout: %v", err)
	}
}

// An upsd older than NUT 2.8 has no SET TRACKING: a request is done once
// upsd accepts it.
func TestRepeaterWithoutTracking(t *testing.T) {
	upsd := clienttest.NewUPSD(upsDevice())
	relayUsers(upsd)
	old := func(h clienttest.Handler) clienttest.Handler {
		return func(w []string) clienttest.Reply {
			if len(w) >= 2 && w[0] == "SET" && w[1] == "TRACKING" {
				return clienttest.Reply{Data: "ERR UNKNOWN-COMMAND\n"}
			}
			return h(w)
		}
	}
	rem := &remote{}
	rem.up(clienttest.NewSessionServer(t, func() clienttest.Handler { return old(upsd.Session()) }))
	in := startRepeater(t, rem, "username = admin", "password = pw")
	res, err := in.srv.SetVar(context.Background(), "ups.id", "rack 9")
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != plugin.StatHandled {
		t.Errorf("status %d (%s), want handled", res.Status, res.Message)
	}
	wantValue(t, in, "ups.id", "rack 9")
}

func TestRepeaterStartErrors(t *testing.T) {
	tests := []struct {
		name    string
		up      bool
		options []string
		want    string
	}{
		{"remote down", false, nil, "connect to upsd " + remoteAddr},
		{"unknown UPS", true, []string{"port = nosuch@" + remoteAddr}, "LIST VAR nosuch: ERR UNKNOWN-UPS"},
		{"no UPS name", true, []string{"port = @" + remoteAddr}, "invalid UPS definition"},
		{"password alone", true, []string{"password = pw"}, "password is set but username is not"},
		{"username alone", true, []string{"username = admin"}, "username = admin has no password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rem := &remote{}
			if tt.up {
				rem.up(clienttest.NewUPSD(upsDevice()).Start(t))
			}
			_, err := startRepeaterErr(t, rem, tt.options...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("error %v shows the password", err)
			}
		})
	}
}

func TestSelectMode(t *testing.T) {
	tests := []struct {
		port, param string
		set         bool
		mode        Mode
		name        string
	}{
		{"ups@host", "", false, ModeRepeater, "repeater"},
		{"ups@host:3493", "", false, ModeRepeater, "repeater"},
		{"ups", "repeater", true, ModeRepeater, "repeater"},
		{"file@x.dev", "dummy-once", true, ModeOnce, "dummy-once"},
		{"a.seq", "", false, ModeLoop, "dummy-loop"},
		{"a.dev", "", false, ModeOnce, "dummy-once"},
		{"a.txt", "", false, ModeLoop, "dummy"},
		{"a.dev", "dummy", true, ModeLoop, "dummy-loop"},
	}
	for _, tt := range tests {
		mode, name, err := selectMode("u", tt.port, tt.param, tt.set)
		if err != nil || mode != tt.mode || name != tt.name {
			t.Errorf("selectMode(%q, %q, %v) = %v, %q, %v; want %v, %q", tt.port, tt.param, tt.set, mode, name, err, tt.mode, tt.name)
		}
	}
}
