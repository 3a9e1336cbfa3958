package drivertest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonut/gonut/sdk"
	"github.com/gonut/gonut/sdk/plugin"
	"github.com/gonut/gonut/sdk/sockproto"
)

// counter counts its polls in battery.charge and can be reloaded and shut
// down.
type counter struct {
	fake
	mu       sync.Mutex
	polls    int
	reloaded string
	shutdown bool
}

func (c *counter) Poll(ctx context.Context, d *sdk.Device) error {
	c.mu.Lock()
	c.polls++
	n := c.polls
	c.mu.Unlock()
	d.SetInfof("battery.charge", "%d", 100-n)
	return nil
}

func (c *counter) Reload(_ context.Context, o sdk.Options) error {
	v, _ := o.Get("serial")
	if v == "bad" {
		return errors.New("serial bad is not this UPS")
	}
	c.mu.Lock()
	c.reloaded = v
	c.mu.Unlock()
	return nil
}

func (c *counter) Shutdown(context.Context, *sdk.Device) error {
	c.mu.Lock()
	c.shutdown = true
	c.mu.Unlock()
	return nil
}

func TestHarness(t *testing.T) {
	drv := &counter{}
	h := Start(t, fakeInfo, drv, Config{Options: []string{"serial = S1", "pollinterval = 1"}})
	if v, _ := h.Value("device.serial"); v != "S1" {
		t.Errorf("device.serial = %q", v)
	}
	if !h.Capabilities().HasFeature(plugin.FeatureShutdown) || !h.Capabilities().HasFeature(plugin.FeatureReload) {
		t.Errorf("capabilities %+v lack shutdown and reload", h.Capabilities())
	}
	before := h.Heartbeats()
	h.WaitHeartbeats(1)
	if h.Heartbeats() <= before {
		t.Errorf("heartbeats %d, then %d", before, h.Heartbeats())
	}
	st := h.Wait("a poll's change", func(st *sockproto.State) bool { v, _ := st.Value("battery.charge"); return v != "100" })
	if !st.DataOK() {
		t.Error("data stale after a poll")
	}
	if r, err := h.InstCmd("test.battery.start", ""); err != nil || r.Status != plugin.StatHandled {
		t.Errorf("InstCmd: %+v %v", r, err)
	}
	if r, err := h.SetVar("ups.id", "rack 9"); err != nil || r.Status != plugin.StatHandled {
		t.Errorf("SetVar: %+v %v", r, err)
	}
	h.Wait("the SET's effect", func(st *sockproto.State) bool { v, _ := st.Value("ups.id"); return v == "rack 9" })

	if r, err := h.Reload(Config{Options: []string{"serial = S2"}}); err != nil || r.Status != plugin.StatHandled {
		t.Errorf("Reload: %+v %v", r, err)
	}
	if r, _ := h.Reload(Config{Options: []string{"serial = bad"}}); r.Status != plugin.StatFailed || !strings.Contains(r.Message, "serial bad is not this UPS") {
		t.Errorf("Reload refused by the driver: %+v", r)
	}
	if r, _ := h.Reload(Config{Options: []string{"speed = 1"}}); r.Status != plugin.StatInvalid {
		t.Errorf("Reload with an unknown option: %+v", r)
	}
	if r, err := h.Shutdown(); err != nil || r.Status != plugin.StatHandled {
		t.Errorf("Shutdown: %+v %v", r, err)
	}
	if err := h.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	drv.mu.Lock()
	defer drv.mu.Unlock()
	if drv.reloaded != "S2" || !drv.shutdown {
		t.Errorf("driver saw reload %q, shutdown %v", drv.reloaded, drv.shutdown)
	}
	CheckState(t, h.State())
}

// Wait names what it waited for and shows the state when it gives up.
func TestWaitFailureMessage(t *testing.T) {
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h := Start(rec, fakeInfo, &fake{}, Config{Timeout: 200 * time.Millisecond})
		h.Wait("on battery", func(st *sockproto.State) bool { v, _ := st.Value("ups.status"); return v == "OB" })
	}()
	<-done
	errs := strings.Join(rec.errors(), "\n")
	for _, want := range []string{"waiting for on battery: not reached within 200ms", `SETINFO ups.status "OL CHRG"`} {
		if !strings.Contains(errs, want) {
			t.Errorf("failure lacks %q:\n%s", want, errs)
		}
	}
}

func TestConfigOptions(t *testing.T) {
	req, err := Config{UPS: "rack", Options: []string{`desc = "Rack 1 UPS"`, "nolock", "pollinterval = 5"}, Global: []string{"user = nut"}, ConfPath: "/etc/nut"}.
		request("mydrv", "pollinterval", "1", "port", "auto")
	if err != nil {
		t.Fatal(err)
	}
	want := []plugin.Option{
		{Key: "driver", Value: "mydrv", HasValue: true},
		{Key: "desc", Value: "Rack 1 UPS", HasValue: true},
		{Key: "nolock"},
		{Key: "pollinterval", Value: "5", HasValue: true},
		{Key: "port", Value: "auto", HasValue: true},
	}
	if len(req.Options) != len(want) {
		t.Fatalf("options %+v, want %+v", req.Options, want)
	}
	for i := range want {
		if req.Options[i] != want[i] {
			t.Errorf("option %d = %+v, want %+v", i, req.Options[i], want[i])
		}
	}
	if req.UPS != "rack" || req.ConfPath != "/etc/nut" || len(req.Global) != 1 {
		t.Errorf("request %+v", req)
	}
	if _, err := (Config{Options: []string{"a = b = c"}}).request("x"); err == nil || !strings.Contains(err.Error(), `Config.Options[0] "a = b = c": want "key = value" or a bare flag`) {
		t.Errorf("bad option line: %v", err)
	}
}
