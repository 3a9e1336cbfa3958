package bench

import (
	"net"
	"strconv"
	"testing"

	"github.com/gonut/gonut/internal/nuttest"
)

// TestBenchDriver checks what the benchmarks rely on: a trigger line
// becomes ups.counter through upsd without waiting for a poll (the poll
// interval is an hour), and ups.pid is the plugin's pid, as the host
// reports it.
func TestBenchDriver(t *testing.T) {
	nuttest.Build(t, nuttest.PkgHost, nuttest.PkgUpsd, pkgBenchDriver)
	d := nuttest.NewDir(t)
	sec := nuttest.Section{Name: "b", Driver: "benchdriver", Port: "none",
		Options: []string{"trigger = b.trigger", "pollinterval = 3600"}}
	d.WriteUPSConf(t, nil, sec)
	nuttest.StartHost(t, d)
	s := nuttest.StartUpsd(t, d, nuttest.UpsdConfig{})
	s.WaitUPS(t, "b")
	c := s.Dial(t)

	pid := nuttest.PluginPID(t, d, "b", giveUp)
	if v, err := c.GetVar("b", "ups.pid"); err != nil || v != strconv.Itoa(pid) {
		t.Errorf("ups.pid = %q, %v; want the plugin's pid %d", v, err, pid)
	}
	if v, err := c.GetVar("b", "ups.counter"); err != nil || v != "0" {
		t.Errorf("ups.counter before any trigger = %q, %v; want \"0\"", v, err)
	}
	trig, err := net.Dial("unix", d.Join("b.trigger"))
	if err != nil {
		t.Fatal(err)
	}
	defer trig.Close()
	for _, want := range []string{"1", "two words", "3"} {
		if _, err := propagate(c, trig, "b", want); err != nil {
			t.Fatalf("trigger %q: %v", want, err)
		}
	}
}
