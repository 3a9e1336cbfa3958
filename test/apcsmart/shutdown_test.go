package apcsmart_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
	"github.com/gonut/gonut/tools/apcsmart-sim/sim"
)

// TestShutdownOnLine runs `apcsmart -a apc -k` (the driver run by hand,
// as upsdrvctl shutdown does) with the default sdtype on a UPS that is on
// line. gonut's sends hard hibernate (@000), which an on-line UPS takes;
// NUT 2.8.0's cannot read the status reply before a shutdown (it accepts
// only one character, and the status is two), assumes "on battery" and
// sends soft hibernate (S), which the UPS refuses. Both are checked, so
// the test notices if NUT's behaviour is not what docs/drivers/apcsmart.md
// says.
func TestShutdownOnLine(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		impl nuttest.Impl
		want []string
	}{
		{nuttest.Gonut, []string{"shutdown.return @000"}},
		{nuttest.NUT, nil},
	} {
		t.Run(c.impl.String(), func(t *testing.T) {
			t.Parallel()
			prog := filepath.Join(nuttest.NUTDriverDir, "apcsmart")
			if c.impl == nuttest.NUT {
				requireNUTAPCSmart(t)
			} else {
				prog = nuttest.Program(t, pkgAPCSmart)
			}
			d := nuttest.NewDir(t)
			s, err := sim.Start(sim.Options{Link: d.Join("tty")})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			d.WriteUPSConf(t, nil, nuttest.Section{Name: upsName, Driver: "apcsmart", Port: s.Path()})
			r := d.Run(t, prog, "-a", upsName, "-u", nuttest.RunAsUser(), "-k")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if c.want != nil {
				s.WaitAction(ctx, len(c.want))
			}
			if got := s.Actions(); !slices.Equal(got, c.want) {
				t.Errorf("%s -k on line: the UPS did %q, want %q\n%s", c.impl, got, c.want, r)
			}
			if s.Count('S') > 0 && c.impl == nuttest.Gonut {
				t.Errorf("gonut sent S (soft hibernate) to a UPS on line")
			}
			if c.impl == nuttest.NUT && s.Count('S') != 1 {
				t.Errorf("NUT sent S %d times, expected once (received %q)", s.Count('S'), s.Received())
			}
		})
	}
}
