package apcsmart

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gonut/gonut/internal/nuttest"
	"github.com/gonut/gonut/tools/apcsmart-sim/sim"
)

// readDev reads a device dump: "name: value" lines, # comments.
func readDev(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" {
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("%s: bad line %q", path, l)
		}
		v = strings.TrimPrefix(v, " ")
		if v == "" {
			// A value of blanks that the dump lost (NUT publishes no
			// empty replies): leave the variable out.
			continue
		}
		vars[k] = v
	}
	return vars
}

// profileFromDump builds a simulated UPS that answers what the dumped UPS
// must have answered NUT's apcsmart for it to publish the dump: each value
// converted back to what the UPS sends (seconds to hours or minutes, the
// transfer reason to its letter), the status tokens to the status byte.
func profileFromDump(t *testing.T, dump map[string]string) sim.Profile {
	t.Helper()
	p := sim.Profile{Vars: map[byte]string{}, Strings: "cx"}
	cmds := ""
	for name, val := range dump {
		if strings.HasPrefix(name, "driver.") || strings.HasPrefix(name, "device.") || name == "ups.mfr" {
			continue
		}
		if name == "ups.status" {
			bits := map[string]byte{"CAL": sim.StatCal, "TRIM": sim.StatTrim, "BOOST": sim.StatBoost, "OL": sim.StatOL,
				"OB": sim.StatOB, "OVER": sim.StatOver, "LB": sim.StatLB, "RB": sim.StatRB, "OFF": 0}
			for _, tok := range strings.Fields(val) {
				b, ok := bits[tok]
				if !ok {
					t.Fatalf("status token %q", tok)
				}
				p.Status |= b
			}
			continue
		}
		var def *varDef
		for i := range varTable {
			v := &varTable[i]
			if v.name == name && (v.match == nil || name != "ups.firmware" || v.match.MatchString(val)) {
				def = v
				break
			}
		}
		if def == nil {
			t.Fatalf("no APC variable for %s", name)
		}
		raw := val
		switch def.format {
		case fmtHours:
			raw = strconv.Itoa(int(cStrtol(val, 10) / 3600))
			if def.match != nil { // device.uptime: "123.4"
				raw = fmt.Sprintf("%03d.0", cStrtol(val, 10)/3600)
			}
		case fmtMinutes:
			raw = fmt.Sprintf("%04d:", cStrtol(val, 10)/60)
		case fmtReason:
			for c, text := range transferReasons {
				if text == val {
					raw = string(rune(c))
				}
			}
		}
		if got := convert(def.format, raw); got != val {
			t.Fatalf("%s: %q does not convert back to %q (got %q)", name, raw, val, got)
		}
		p.Vars[def.cmd] = raw
		cmds += string(rune(def.cmd))
	}
	b := []byte(cmds)
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	p.CmdSet = "3.!$%+?=#|." + string(b)
	return p
}

// TestDeviceDumps replays the device dumps of real Smart-UPS units taken
// with NUT's apcsmart 3.x (NUT device dump library) through the driver:
// given what each UPS must have answered, the driver publishes the dump.
func TestDeviceDumps(t *testing.T) {
	dir := nuttest.DDLDir(t)
	paths, err := filepath.Glob(filepath.Join(dir, "APC__*__apcsmart__*.dev"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range paths {
		dump := readDev(t, path)
		if !strings.HasPrefix(dump["driver.version.internal"], "3.") {
			continue // older drivers published other variables
		}
		n++
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			p := profileFromDump(t, dump)
			r := startRig(t, &p)
			st := r.h.State()
			for name, want := range dump {
				if strings.HasPrefix(name, "driver.") {
					continue
				}
				if got, ok := st.Value(name); !ok || got != want {
					t.Errorf("%s = %q (published: %v), dump says %q", name, got, ok, want)
				}
			}
			for _, v := range st.Vars() {
				if _, ok := dump[v.Name]; !ok && !strings.HasPrefix(v.Name, "driver.") {
					t.Errorf("%s = %q published, not in the dump", v.Name, v.Value)
				}
			}
		})
	}
	if n == 0 {
		t.Fatalf("no apcsmart 3.x device dumps in %s", dir)
	}
}
