package client_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/client"
	"github.com/gonut/gonut/client/clienttest"
)

// adminUPSD is a stateful fake upsd with users of every kind of right.
func adminUPSD(t *testing.T) (*clienttest.UPSD, *clienttest.Server) {
	t.Helper()
	u := clienttest.NewUPSD(fakeDevices...)
	for _, usr := range []clienttest.User{
		{Name: "admin", Password: "s3cret", Actions: []string{"SET", "FSD"}, InstCmds: []string{"all"}},
		{Name: "cmdonly", Password: "pw", InstCmds: []string{"load.off"}},
		{Name: "setonly", Password: "pw", Actions: []string{"SET"}},
		{Name: "mon", Password: "pw", Upsmon: "primary"},
		{Name: "sec", Password: "pw", Upsmon: "secondary"},
		{Name: "spacey", Password: `a "quoted" pass#word \ with spaces`, InstCmds: []string{"all"}},
	} {
		u.AddUser(usr)
	}
	return u, u.Start(t)
}

// TestAdminRights runs every command beyond the read path with each kind
// of credentials, and checks upsd's answer arrives as the right sentinel.
func TestAdminRights(t *testing.T) {
	ctx := context.Background()
	type call func(*client.Client) error
	setVar := func(name, value string) call {
		return func(c *client.Client) error { return c.SetVar(ctx, "apc", name, value) }
	}
	instCmd := func(cmd string, param ...string) call {
		return func(c *client.Client) error { return c.InstCmd(ctx, "apc", cmd, param...) }
	}
	tests := []struct {
		name       string
		user, pass string // "" sends no USERNAME / PASSWORD
		call       call
		want       error
		sent       string // what the driver must have been sent
	}{
		{name: "SET without USERNAME", call: setVar("device.model", "x"), want: client.ErrUsernameRequired},
		{name: "SET without PASSWORD", user: "admin", call: setVar("device.model", "x"), want: client.ErrPasswordRequired},
		{name: "SET wrong password", user: "admin", pass: "nope", call: setVar("device.model", "x"), want: client.ErrAccessDenied},
		{name: "SET unknown user", user: "nobody", pass: "s3cret", call: setVar("device.model", "x"), want: client.ErrAccessDenied},
		{name: "SET without the right", user: "cmdonly", pass: "pw", call: setVar("device.model", "x"), want: client.ErrAccessDenied},
		{name: "SET unknown UPS", user: "admin", pass: "s3cret", call: func(c *client.Client) error { return c.SetVar(ctx, "nope", "a.b", "1") }, want: client.ErrUnknownUPS},
		{name: "SET driver gone", user: "admin", pass: "s3cret", call: func(c *client.Client) error { return c.SetVar(ctx, "dead", "a.b", "1") }, want: client.ErrDriverNotConnected},
		{name: "SET unknown variable", user: "admin", pass: "s3cret", call: setVar("nope.var", "1"), want: client.ErrVarNotSupported},
		{name: "SET read-only", user: "admin", pass: "s3cret", call: setVar("ups.status", "OB"), want: client.ErrReadOnly},
		{name: "SET too long", user: "admin", pass: "s3cret", call: setVar("device.model", strings.Repeat("x", 33)), want: client.ErrTooLong},
		{name: "SET not in ENUM", user: "admin", pass: "s3cret", call: setVar("input.sensitivity", "extreme"), want: client.ErrInvalidValue},
		{name: "SET out of RANGE", user: "admin", pass: "s3cret", call: setVar("input.transfer.low", "93"), want: client.ErrInvalidValue},
		{name: "SET ENUM", user: "admin", pass: "s3cret", call: setVar("input.sensitivity", "low"), sent: "apc SET input.sensitivity low"},
		{name: "SET RANGE", user: "setonly", pass: "pw", call: setVar("input.transfer.low", "96"), sent: "apc SET input.transfer.low 96"},
		{name: "SET awkward value", user: "admin", pass: "s3cret", call: setVar("device.model", `a "b" \ #c`), sent: `apc SET device.model a "b" \ #c`},
		{name: "SET empty value", user: "admin", pass: "s3cret", call: setVar("device.model", ""), sent: "apc SET device.model "},
		{name: "INSTCMD unknown command", user: "admin", pass: "s3cret", call: instCmd("load.on"), want: client.ErrCmdNotSupported},
		{name: "INSTCMD not allowed", user: "cmdonly", pass: "pw", call: instCmd("test.battery.start"), want: client.ErrAccessDenied},
		{name: "INSTCMD allowed by name", user: "cmdonly", pass: "pw", call: instCmd("load.off"), sent: "apc INSTCMD load.off"},
		{name: "INSTCMD with a parameter", user: "admin", pass: "s3cret", call: instCmd("load.off", "30"), sent: "apc INSTCMD load.off 30"},
		{name: "INSTCMD empty parameter is none", user: "admin", pass: "s3cret", call: instCmd("load.off", ""), sent: "apc INSTCMD load.off"},
		{name: "INSTCMD parameter with spaces", user: "admin", pass: "s3cret", call: instCmd("load.off", "a b"), sent: "apc INSTCMD load.off a b"},
		{name: "INSTCMD two parameters", user: "admin", pass: "s3cret", call: instCmd("load.off", "1", "2"), want: client.ErrBadRequest},
		{name: "password with spaces, quotes and #", user: "spacey", pass: `a "quoted" pass#word \ with spaces`, call: instCmd("load.off"), sent: "apc INSTCMD load.off"},
		{name: "LOGIN without upsmon", user: "admin", pass: "s3cret", call: func(c *client.Client) error { return c.Login(ctx, "apc") }, want: client.ErrAccessDenied},
		{name: "LOGIN", user: "sec", pass: "pw", call: func(c *client.Client) error { return c.Login(ctx, "apc") }},
		{name: "LOGIN twice", user: "sec", pass: "pw", call: func(c *client.Client) error {
			if err := c.Login(ctx, "apc"); err != nil {
				return err
			}
			return c.Login(ctx, "apc")
		}, want: client.ErrAlreadyLoggedIn},
		{name: "PRIMARY as secondary", user: "sec", pass: "pw", call: func(c *client.Client) error { return c.Primary(ctx, "apc") }, want: client.ErrAccessDenied},
		{name: "PRIMARY", user: "mon", pass: "pw", call: func(c *client.Client) error { return c.Primary(ctx, "apc") }},
		{name: "MASTER", user: "mon", pass: "pw", call: func(c *client.Client) error { return c.Master(ctx, "apc") }},
		{name: "PRIMARY unknown UPS", user: "mon", pass: "pw", call: func(c *client.Client) error { return c.Primary(ctx, "nope") }, want: client.ErrUnknownUPS},
		{name: "FSD without the right", user: "sec", pass: "pw", call: func(c *client.Client) error { return c.FSD(ctx, "apc") }, want: client.ErrAccessDenied},
		{name: "USERNAME twice", user: "admin", call: func(c *client.Client) error { return c.Username(ctx, "admin") }, want: client.ErrAlreadySetUsername},
		{name: "PASSWORD twice", pass: "x", call: func(c *client.Client) error { return c.Password(ctx, "y") }, want: client.ErrAlreadySetPassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, s := adminUPSD(t)
			c := dial(t, s)
			if tc.user != "" {
				if err := c.Username(ctx, tc.user); err != nil {
					t.Fatal(err)
				}
			}
			if tc.pass != "" {
				if err := c.Password(ctx, tc.pass); err != nil {
					t.Fatal(err)
				}
			}
			err := tc.call(c)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var sent []string
			if tc.sent != "" {
				sent = []string{tc.sent}
			}
			if got := u.Sent(); !reflect.DeepEqual(got, sent) {
				t.Errorf("the driver was sent %q, want %q", got, sent)
			}
			// An ERR answer leaves the connection usable.
			if _, err := c.GetVar(ctx, "apc", "ups.status"); err != nil {
				t.Errorf("connection unusable after the call: %v", err)
			}
		})
	}
}

// TestSetVarEffect: a SET the driver accepts changes the value; FSD shows
// in ups.status; and the SET VAR request quotes its value as NUT's upsrw
// does.
func TestSetVarEffect(t *testing.T) {
	ctx := context.Background()
	u, s := adminUPSD(t)
	c := dial(t, s)
	if err := c.Authenticate(ctx, "admin", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetVar(ctx, "apc", "input.sensitivity", "high"); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.GetVar(ctx, "apc", "input.sensitivity"); v != "high" {
		t.Errorf("after SET: input.sensitivity = %q", v)
	}
	if err := c.FSD(ctx, "apc"); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.GetVar(ctx, "apc", "ups.status"); v != "FSD OL CHRG" || !u.FSDSet("apc") {
		t.Errorf("after FSD: ups.status = %q", v)
	}
	reqs := s.Requests()
	if !slices.Contains(reqs, `SET VAR apc input.sensitivity "high"`) {
		t.Errorf("requests %q lack the quoted SET VAR", reqs)
	}
	if !slices.Contains(reqs, `PASSWORD s3cret`) || !slices.Contains(reqs, `FSD apc`) {
		t.Errorf("requests %q", reqs)
	}
}

// TestTracking follows tracked requests through PENDING to each result.
func TestTracking(t *testing.T) {
	ctx := context.Background()
	u, s := adminUPSD(t)
	u.SetResult("apc", "load.off", 2, "SUCCESS")
	u.SetResult("apc", "test.battery.start", 1, "ERR FAILED")
	u.SetResult("apc", "device.model", 0, "ERR INVALID-ARGUMENT")
	c := dial(t, s)
	if err := c.Authenticate(ctx, "admin", "s3cret"); err != nil {
		t.Fatal(err)
	}

	// Tracking is off until asked for.
	if on, err := c.TrackingEnabled(ctx); err != nil || on {
		t.Fatalf("TrackingEnabled = %v, %v; want false", on, err)
	}
	if _, err := c.GetTracking(ctx, "1234"); !errors.Is(err, client.ErrFeatureNotConfigured) {
		t.Errorf("GetTracking with tracking off: err = %v", err)
	}

	id, err := c.InstCmdTracked(ctx, "apc", "load.off", "10")
	if err != nil || len(id) != 36 {
		t.Fatalf("InstCmdTracked = %q, %v", id, err)
	}
	if on, err := c.TrackingEnabled(ctx); err != nil || !on {
		t.Fatalf("TrackingEnabled after a tracked call = %v, %v", on, err)
	}
	for i, want := range []bool{false, false, true} {
		done, err := c.GetTracking(ctx, id)
		if done != want || err != nil {
			t.Fatalf("GetTracking #%d = %v, %v; want %v, nil", i, done, err, want)
		}
	}

	id, err = c.InstCmdTracked(ctx, "apc", "test.battery.start")
	if err != nil {
		t.Fatal(err)
	}
	err = c.WaitTracking(ctx, id, time.Millisecond)
	var te *client.TrackingError
	if !errors.As(err, &te) || te.ID != id || !errors.Is(err, client.ErrFailed) {
		t.Fatalf("WaitTracking of a failing command: err = %v", err)
	}
	if !strings.Contains(err.Error(), "ERR FAILED") {
		t.Errorf("error %q does not say ERR FAILED", err)
	}

	id, err = c.SetVarTracked(ctx, "apc", "device.model", "new")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitTracking(ctx, id, 0); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("WaitTracking of a refused SET: err = %v", err)
	}
	if v, _ := u.Var("apc", "device.model"); v != `Back-UPS "ES" 750` {
		t.Errorf("a SET the driver refused changed the value to %q", v)
	}

	id, err = c.SetVarTracked(ctx, "apc", "input.sensitivity", "low")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitTracking(ctx, id, 0); err != nil {
		t.Errorf("WaitTracking of a SET: %v", err)
	}

	// An id upsd does not know: ERR UNKNOWN.
	done, err := c.GetTracking(ctx, "00000000-0000-4000-8000-000000000000")
	if !done || !errors.Is(err, client.ErrUnknown) {
		t.Errorf("unknown id: %v, %v", done, err)
	}

	// Untracked calls still work with tracking on (their id is dropped).
	if err := c.InstCmd(ctx, "apc", "load.off"); err != nil {
		t.Errorf("InstCmd with tracking on: %v", err)
	}
	if err := c.SetTracking(ctx, false); err != nil {
		t.Fatal(err)
	}
	if on, _ := c.TrackingEnabled(ctx); on {
		t.Error("tracking still on after SetTracking(false)")
	}
}

// TestWaitTrackingTimeout: a driver that never answers leaves the wait to
// the context.
func TestWaitTrackingTimeout(t *testing.T) {
	u, s := adminUPSD(t)
	u.SetResult("apc", "load.off", 1<<30, "SUCCESS")
	c := dial(t, s)
	ctx := context.Background()
	if err := c.Authenticate(ctx, "admin", "s3cret"); err != nil {
		t.Fatal(err)
	}
	id, err := c.InstCmdTracked(ctx, "apc", "load.off")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := c.WaitTracking(wctx, id, 5*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), id) {
		t.Fatalf("err = %v, want context.DeadlineExceeded naming the id", err)
	}
	// A context already done sends nothing.
	n := len(s.Requests())
	if err := c.WaitTracking(wctx, id, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("done context: err = %v", err)
	}
	if len(s.Requests()) != n {
		t.Error("WaitTracking with a done context sent a request")
	}
}

// TestAdminHostileReplies: answers of the wrong shape are protocol errors.
func TestAdminHostileReplies(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		reply string
		call  func(*client.Client) error
	}{
		{"PRIMARY answered OK", "OK\n", func(c *client.Client) error { return c.Primary(ctx, "u") }},
		{"MASTER answered PRIMARY-GRANTED", "OK PRIMARY-GRANTED\n", func(c *client.Client) error { return c.Master(ctx, "u") }},
		{"FSD answered with a list", "BEGIN LIST UPS\n", func(c *client.Client) error { return c.FSD(ctx, "u") }},
		{"SET answered with a value", "VAR u x \"1\"\n", func(c *client.Client) error { return c.SetVar(ctx, "u", "x", "1") }},
		{"GET TRACKING answered DONE", "DONE\n", func(c *client.Client) error { _, err := c.GetTracking(ctx, "id"); return err }},
		{"GET TRACKING answered SUCCESS twice", "SUCCESS SUCCESS\n", func(c *client.Client) error { _, err := c.GetTracking(ctx, "id"); return err }},
		{"GET TRACKING (mode) answered MAYBE", "MAYBE\n", func(c *client.Client) error { _, err := c.TrackingEnabled(ctx); return err }},
		{"STARTTLS answered OK", "OK\n", func(c *client.Client) error { return c.StartTLS(ctx, &tls0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := clienttest.NewServer(t, func([]string) clienttest.Reply { return reply(tc.reply) })
			c := dial(t, s)
			if err := tc.call(c); !errors.Is(err, client.ErrProtocol) {
				t.Fatalf("err = %v, want a protocol error", err)
			}
		})
	}
	// "OK TRACKING" without an id: the request went through, untracked.
	s := clienttest.NewServer(t, func([]string) clienttest.Reply { return reply("OK\n") })
	c := dial(t, s)
	if id, err := c.InstCmdTracked(ctx, "u", "load.off"); id != "" || err != nil {
		t.Errorf("InstCmdTracked against a server without tracking ids = %q, %v", id, err)
	}
}
