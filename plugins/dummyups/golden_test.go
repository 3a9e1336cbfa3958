package dummyups

import (
	"context"
	"flag"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
	"github.com/gonut/gonut/sdk/sockproto"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.golden from the real NUT 2.8.0 dummy-ups")

// A golden case is testdata/golden/<name>.<ext> (the file dummy-ups
// reads), an optional <name>.conf (more ups.conf lines for its section)
// and <name>.golden: what NUT 2.8.0's dummy-ups serves on its socket for
// it (DUMPALL), driver.version lines left out. The goldens are NUT's own
// output: TestGoldenIsNUT checks them against the real driver, and -update
// rewrites them from it.
type goldenCase struct {
	name, file string
	conf       []string
}

func goldenCases(t *testing.T) []goldenCase {
	t.Helper()
	dir := filepath.Join(testdataDir(t), "golden")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	for _, e := range ents {
		ext := filepath.Ext(e.Name())
		if ext == ".golden" || ext == ".conf" {
			continue
		}
		c := goldenCase{name: strings.TrimSuffix(e.Name(), ext), file: e.Name()}
		if b, err := os.ReadFile(filepath.Join(dir, c.name+".conf")); err == nil {
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				c.conf = append(c.conf, l)
			}
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		t.Fatal("no golden cases in testdata/golden")
	}
	return cases
}

func (c goldenCase) setsPollInterval() bool {
	for _, l := range c.conf {
		if strings.HasPrefix(l, "pollinterval") {
			return true
		}
	}
	return false
}

// TestGolden runs gonut's dummy-ups on each golden case and compares what
// it publishes with what NUT 2.8.0's dummy-ups publishes.
func TestGolden(t *testing.T) {
	dir := filepath.Join(testdataDir(t), "golden")
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, c.name+".golden"))
			if err != nil {
				t.Fatalf("%v (run go test -run TestGoldenIsNUT -update with NUT 2.8.0 installed)", err)
			}
			in := start(t, dir, append([]string{"port = " + c.file}, c.conf...)...)
			got := in.dump()
			if !c.setsPollInterval() {
				// The harness polls by hand (pollinterval = 3600); NUT
				// ran with the default.
				got = strings.Replace(got, `SETINFO driver.parameter.pollinterval "3600"`, `SETINFO driver.parameter.pollinterval "2"`, 1)
			}
			if got != string(want) {
				t.Errorf("state differs from NUT 2.8.0's\n--- got\n%s--- want (NUT)\n%s", got, want)
			}
		})
	}
}

// TestGoldenIsNUT checks that the goldens are what the real NUT 2.8.0
// dummy-ups serves (or, with -update, rewrites them from it).
func TestGoldenIsNUT(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real NUT dummy-ups")
	}
	nuttest.RequireNUT(t)
	src := filepath.Join(testdataDir(t), "golden")
	cases := goldenCases(t)
	dumps := nutDumps(t, src, cases)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := dumps[c.name]
			path := filepath.Join(src, c.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("NUT 2.8.0 now serves\n%s--- golden has\n%s", got, want)
			}
		})
	}
}

// nutDumps runs NUT's dummy-ups on every case at once, each as a section
// of one ups.conf, and returns their DUMPALLs normalised as the goldens
// are, by case name.
func nutDumps(t *testing.T, src string, cases []goldenCase) map[string]string {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	d := nuttest.NewDir(t)
	var secs []nuttest.Section
	for _, c := range cases {
		d.CopyFile(t, filepath.Join(src, c.file), c.file)
		secs = append(secs, nuttest.Section{Name: c.name, Driver: "dummy-ups", Port: c.file, Options: c.conf})
	}
	d.WriteUPSConf(t, nil, secs...)
	procs := make([]*nuttest.Proc, len(secs))
	for i, s := range secs {
		procs[i] = d.Start(t, nuttest.NUTDummyUPS, "-a", s.Name, "-u", me.Username, "-F")
	}
	out := map[string]string{}
	for i, s := range secs {
		out[s.Name] = dumpSocket(t, d.Socket(s), procs[i])
	}
	return out
}

// dumpSocket waits for a driver's socket and returns its DUMPALL,
// normalised.
func dumpSocket(t *testing.T, path string, p *nuttest.Proc) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var conn *sockproto.Conn
	for {
		var err error
		if conn, err = sockproto.Dial(ctx, path); err == nil {
			break
		}
		if p.Exited() || ctx.Err() != nil {
			t.Fatalf("NUT dummy-ups socket %s: %v\n%s", path, err, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer conn.Close()
	if err := conn.Send("DUMPALL"); err != nil {
		t.Fatal(err)
	}
	st := sockproto.NewState()
	for {
		w, err := conn.Next()
		if err != nil {
			t.Fatalf("reading NUT's dump from %s: %v", path, err)
		}
		if w[0] == "DUMPDONE" {
			break
		}
		if err := st.Apply(w); err != nil {
			t.Fatalf("NUT sent %q: %v", w, err)
		}
	}
	return normalDump(st)
}
