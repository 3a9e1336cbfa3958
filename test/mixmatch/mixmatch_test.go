package mixmatch

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

func TestMain(m *testing.M) { nuttest.Main(m) }

// device is one ups.conf section fed by dummy-ups.
type device struct {
	name string
	file string // a dump in the device dump library, or a file in testdata/
	desc string // ups.conf desc, shown by upsc -L
}

// devices are varied on purpose: a USB UPS with a quoted description, a
// large UPS, an ATS, a 581-line PDU with outlets, a three-phase UPS, small
// and old dumps (a 2.0-era one), one with a commented header, and a
// sequence.
var devices = []device{
	{name: "apc", file: "APC__Smart-UPS_750__usbhid-ups__2.8.0__01.dev", desc: `Smart-UPS 750 "rack" \ server room`},
	{name: "eaton", file: "Eaton__9PX_2000_RT__mge-shut__2.7.2__01.dev", desc: "Eaton 9PX"},
	{name: "ats", file: "APC__AP7724__snmp-ups__2.7.4.1__01.dev"},
	{name: "pdu", file: "Eaton__EPDU_MI_38U-A__snmp-ups__2.7.4__01.dev"},
	{name: "threephase", file: "Eaton__93PM__snmp-ups__2.7.4__01.dev"},
	{name: "blazer", file: "Lyonn__CTB-1200__blazer_usb__2.4.3__01.dev"},
	{name: "qx", file: "2E__PS1000L__nutdrv_qx__2.8.1__01.dev"},
	{name: "old", file: "APC__Back-UPS_BF_500__newhidups__2.0.3__01.dev"},
	{name: "seq", file: "powercut.seq"},
}

// seqSettled is the sequence's final state; the stack is compared once
// the sequence has got there.
const seqSettled = "OB DISCHRG"

// users lets the test log in, so that upsc -c has a client to list.
const users = "[mon]\n\tpassword = pw\n\tupsmon secondary\n"

// stack is one way of serving the devices.
type stack struct {
	name          string
	drivers, upsd nuttest.Impl
}

var stacks = []stack{
	{"all NUT", nuttest.NUT, nuttest.NUT},
	{"NUT dummy-ups, gonut upsd", nuttest.NUT, nuttest.Gonut},
	{"gonut host and dummy-ups, NUT upsd", nuttest.Gonut, nuttest.NUT},
	{"all gonut", nuttest.Gonut, nuttest.Gonut},
}

// start brings a stack up and waits until every device is served and the
// sequence has reached its final state.
func (st stack) start(t *testing.T) *nuttest.Server {
	t.Helper()
	d := nuttest.NewDir(t)
	var secs []nuttest.Section
	for _, dev := range devices {
		src := filepath.Join("testdata", dev.file)
		if strings.HasSuffix(dev.file, ".dev") {
			src = nuttest.DDL(t, dev.file)
		}
		d.CopyFile(t, src, dev.file)
		sec := nuttest.Section{Name: dev.name, Driver: "dummy-ups", Port: dev.file}
		if dev.desc != "" {
			sec.Options = []string{"desc = " + quote(dev.desc)}
		}
		secs = append(secs, sec)
	}
	// NUT's drivers default to synchronous = auto: a dump write that
	// finds the socket full (a large dump while the machine is busy) makes
	// the driver drop upsd's connection, and NUT 2.8.0's dummy-ups then
	// may abort ("bit out of range 0 - FD_SETSIZE on fd_set"). Blocking
	// writes make the reference dependable; every stack gets the same
	// ups.conf, so driver.parameter.synchronous reads "yes" everywhere.
	d.WriteUPSConf(t, []string{"synchronous = yes"}, secs...)
	s := nuttest.StartStack(t, d, st.drivers, st.upsd, nuttest.UpsdConfig{Users: users})
	c := s.Dial(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := c.GetVar("seq", "ups.status")
		if err == nil && v == seqSettled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sequence never reached ups.status %q (last %q, %v)", seqSettled, v, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	settle(t, c)
	return s
}

// quote writes a ups.conf value in double quotes, escaping as NUT's
// parser reads it.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// settle waits until LIST VAR of every device reads the same twice in a
// row, so that no driver is still working through its file.
func settle(t *testing.T, c *nuttest.Conn) {
	t.Helper()
	read := func() string {
		var b strings.Builder
		for _, dev := range devices {
			l, err := c.List("LIST VAR " + dev.name)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString(strings.Join(l, "\n"))
		}
		return b.String()
	}
	prev := read()
	for i := 0; i < 20; i++ {
		time.Sleep(300 * time.Millisecond)
		cur := read()
		if cur == prev {
			return
		}
		prev = cur
	}
	t.Fatal("the devices' variables never settled")
}

// login logs a client in to ups, as upsmon does, so that upsc -c lists it.
// The connection stays open until the test ends.
func login(t *testing.T, s *nuttest.Server, ups string) {
	t.Helper()
	c := s.Dial(t)
	for _, req := range []string{"USERNAME mon", "PASSWORD pw", "LOGIN " + ups} {
		if l, err := c.Cmd(req); err != nil || !strings.HasPrefix(l, "OK") {
			t.Fatalf("%s: %q, %v", req, l, err)
		}
	}
}

// outputs runs every upsc form against s. Keys name the invocation with
// the server's address left out, so that stacks can be compared key by key.
// vars picks, per device, the variables asked one by one.
func outputs(t *testing.T, s *nuttest.Server, vars map[string][]string) map[string]string {
	t.Helper()
	login(t, s, "apc")
	out := map[string]string{
		"upsc -l":                    nuttest.UpscOutput(t, "-l", s.Addr()),
		"upsc -L":                    nuttest.UpscOutput(t, "-L", s.Addr()),
		"upsc nosuch":                nuttest.UpscOutput(t, s.Target("nosuch")),
		"upsc nosuch ups.status":     nuttest.UpscOutput(t, s.Target("nosuch"), "ups.status"),
		"upsc -c nosuch":             nuttest.UpscOutput(t, "-c", s.Target("nosuch")),
		"upsc apc nosuch.variable":   nuttest.UpscOutput(t, s.Target("apc"), "nosuch.variable"),
		"upsc apc oldstylevariable":  nuttest.UpscOutput(t, s.Target("apc"), "oldstylevariable"),
		"upsc APC ups.status (case)": nuttest.UpscOutput(t, s.Target("APC"), "ups.status"),
	}
	for _, dev := range devices {
		out["upsc "+dev.name] = nuttest.UpscOutput(t, s.Target(dev.name))
		out["upsc -c "+dev.name] = nuttest.UpscOutput(t, "-c", s.Target(dev.name))
		for _, v := range vars[dev.name] {
			out["upsc "+dev.name+" "+v] = nuttest.UpscOutput(t, s.Target(dev.name), v)
		}
	}
	return out
}

// pickVars chooses, from a device's upsc listing, the variables to ask for
// one by one: the first three, the last two and ups.status, leaving out
// the implementation-specific driver.version* and driver.state.
func pickVars(listing string) []string {
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(listing), "\n") {
		name, _, ok := strings.Cut(l, ": ")
		if ok && !nuttest.ImplementationSpecific(name) {
			names = append(names, name)
		}
	}
	picked := map[string]bool{"ups.status": true}
	for i, n := range names {
		if i < 3 || i >= len(names)-2 {
			picked[n] = true
		}
	}
	var out []string
	for n := range picked {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestMixMatch serves the devices with each stack and compares every upsc
// output with the all-NUT stack's. The reference runs first; the other
// stacks then run side by side, each in its own directory on its own port.
func TestMixMatch(t *testing.T) {
	nuttest.RequireNUT(t)
	var want map[string]string
	vars := map[string][]string{}
	ok := t.Run(stacks[0].name, func(t *testing.T) {
		s := stacks[0].start(t)
		for _, dev := range devices {
			vars[dev.name] = pickVars(nuttest.UpscOutput(t, s.Target(dev.name)))
		}
		want = outputs(t, s, vars)
		for _, k := range []string{"upsc -l", "upsc -c apc", "upsc seq ups.status"} {
			if want[k] == "" {
				t.Fatalf("reference %q is empty: the all-NUT stack did not work", k)
			}
		}
	})
	if !ok {
		t.Fatal("no reference: the all-NUT stack failed")
	}
	// Build once before the parallel stacks ask for it.
	nuttest.Build(t, nuttest.PkgHost, nuttest.PkgDummyUPS, nuttest.PkgUpsd)
	t.Run("vs all NUT", func(t *testing.T) {
		for _, st := range stacks[1:] {
			t.Run(st.name, func(t *testing.T) {
				t.Parallel()
				got := outputs(t, st.start(t), vars)
				var keys []string
				for k := range want {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				differ := 0
				for _, k := range keys {
					w, g := nuttest.DropVersionLines(want[k]), nuttest.DropVersionLines(got[k])
					if w != g {
						differ++
						t.Errorf("%s differs from all NUT (- NUT, + %s):\n%s", k, st.name, nuttest.Diff(w, g))
					}
				}
				if differ > 0 {
					t.Errorf("%d of %d upsc outputs differ", differ, len(keys))
				} else {
					t.Logf("all %d upsc outputs match all NUT", len(keys))
				}
			})
		}
	})
}

// TestPickVars checks the variable choice on a made-up listing.
func TestPickVars(t *testing.T) {
	listing := "a.one: 1\nb.two: 2\nc.three: 3\ndriver.version: 2.8.0\nd.four: 4\ne.five: 5\nf.six: 6\n"
	got := fmt.Sprint(pickVars(listing))
	if want := "[a.one b.two c.three e.five f.six ups.status]"; got != want {
		t.Errorf("pickVars = %s, want %s", got, want)
	}
}
