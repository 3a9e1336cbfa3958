package sdk

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gonut/gonut/sdk/plugin"
)

// optionalDriver implements Shutdowner and Reloader on top of fakeDriver.
type optionalDriver struct {
	fakeDriver
	shutdowns []string
	failWith  error
	reloaded  []Options
}

func (o *optionalDriver) Shutdown(_ context.Context, d *Device) error {
	o.shutdowns = append(o.shutdowns, d.Name())
	d.SetInfo("ups.status", "OL SD")
	return o.failWith
}

func (o *optionalDriver) Reload(_ context.Context, opts Options) error {
	if v, _ := opts.Get("label"); v == "refuse" {
		return errors.New("cannot apply label refuse")
	}
	o.reloaded = append(o.reloaded, opts)
	return nil
}

var fakeInfo = Info{Name: "fake", Options: []OptionInfo{{Name: "label", Help: "a label"}}}

func startFake(t *testing.T, drv Driver) (plugin.Instance, context.Context) {
	t.Helper()
	p, ctx, _ := startFakeServer(t, drv)
	return p, ctx
}

func startFakeServer(t *testing.T, drv Driver) (plugin.Instance, context.Context, *runtime) {
	t.Helper()
	srv := NewServer(fakeInfo, drv)
	p := dispense(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	recv, err := p.Run(ctx, plugin.RunRequest{UPS: "u1", Driver: "fake", Options: []plugin.Option{
		{Key: "port", Value: "auto", HasValue: true}, {Key: "label", Value: "one", HasValue: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := recv(); err != nil || !u.Snapshot {
		t.Fatalf("first update: %+v %v", u, err)
	}
	return p, ctx, srv.(*runtime)
}

func TestCapabilitiesListOptionalInterfaces(t *testing.T) {
	for _, tt := range []struct {
		drv  Driver
		want []string
	}{
		{&fakeDriver{}, nil},
		{&optionalDriver{}, []string{plugin.FeatureShutdown, plugin.FeatureReload}},
	} {
		p := dispense(t, NewServer(fakeInfo, tt.drv))
		caps, err := p.Capabilities(context.Background(), plugin.Capabilities{Minor: plugin.ProtocolMinor})
		if err != nil || caps.Minor != plugin.ProtocolMinor || !slices.Equal(caps.Features, tt.want) {
			t.Errorf("%T: capabilities %+v, %v; want minor %d, features %v", tt.drv, caps, err, plugin.ProtocolMinor, tt.want)
		}
	}
}

func TestShutdown(t *testing.T) {
	for _, tt := range []struct {
		name    string
		drv     Driver
		status  int
		message string
	}{
		{"without Shutdowner", &fakeDriver{}, plugin.StatUnknown, "shutdown not supported by driver fake"},
		{"accepted", &optionalDriver{}, plugin.StatHandled, ""},
		{"refused by the UPS", &optionalDriver{failWith: errors.New("no answer")}, plugin.StatFailed, "no answer"},
		{"not supported by this model", &optionalDriver{failWith: ErrUnknown}, plugin.StatUnknown, "not supported"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, ctx := startFake(t, tt.drv)
			r, err := p.Shutdown(ctx)
			if err != nil || r.Status != tt.status || r.Message != tt.message {
				t.Fatalf("Shutdown = %+v, %v; want status %d %q", r, err, tt.status, tt.message)
			}
			if o, ok := tt.drv.(*optionalDriver); ok && !slices.Equal(o.shutdowns, []string{"u1"}) {
				t.Errorf("driver saw shutdowns %v", o.shutdowns)
			}
		})
	}
	// Before Run there is no device to shut down.
	p := dispense(t, NewServer(fakeInfo, &optionalDriver{}))
	if r, err := p.Shutdown(context.Background()); err != nil || r.Status != plugin.StatFailed {
		t.Errorf("Shutdown before Run = %+v, %v; want failed", r, err)
	}
}

func TestReload(t *testing.T) {
	opt := func(k, v string) plugin.Option { return plugin.Option{Key: k, Value: v, HasValue: true} }
	drv := &optionalDriver{}
	p, ctx, rt := startFakeServer(t, drv)
	for _, tt := range []struct {
		opts   []plugin.Option
		status int
	}{
		{[]plugin.Option{opt("port", "auto"), opt("label", "two")}, plugin.StatHandled},
		{[]plugin.Option{opt("port", "auto"), opt("speed", "fast")}, plugin.StatInvalid}, // not in the option table
		{[]plugin.Option{opt("port", "auto"), opt("label", "refuse")}, plugin.StatFailed},
	} {
		r, err := p.Reload(ctx, plugin.RunRequest{Options: tt.opts})
		if err != nil || r.Status != tt.status {
			t.Errorf("Reload(%v) = %+v, %v; want status %d", tt.opts, r, err, tt.status)
		}
	}
	if len(drv.reloaded) != 1 || drv.reloaded[0].UPS != "u1" || drv.reloaded[0].Driver != "fake" {
		t.Fatalf("driver saw reloads %+v", drv.reloaded)
	}
	if v, _ := drv.reloaded[0].Get("label"); v != "two" {
		t.Errorf("reloaded label = %q", v)
	}
	// The accepted options replace the running ones; the refused do not.
	if v, _ := rt.device().Options().Get("label"); v != "two" {
		t.Errorf("Device.Options after reloads: label = %q, want two", v)
	}

	q, ctx := startFake(t, &fakeDriver{})
	if r, err := q.Reload(ctx, plugin.RunRequest{}); err != nil || !r.NotSupported() {
		t.Errorf("Reload without Reloader = %+v, %v; want not supported", r, err)
	}
}
