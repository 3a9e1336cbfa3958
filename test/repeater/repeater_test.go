package repeater

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

func TestMain(m *testing.M) { nuttest.Main(m) }

// The relayed UPSes: a device dump and a file of odd values.
var remoteUPSes = []struct{ name, file string }{
	{"apc", "APC__Smart-UPS_750__usbhid-ups__2.8.0__01.dev"},
	{"odd", "odd.dev"},
}

// remoteUsers is the relayed upsd's upsd.users: gonut's repeater logs in
// as relay to pass SET VAR and INSTCMD on. localUsers is what the tests'
// upsrw and upscmd use on the repeaters' own upsds.
const (
	remoteUsers = "[relay]\n\tpassword = relaypw\n\tactions = SET\n\tinstcmds = ALL\n"
	localUsers  = "[admin]\n\tpassword = pw\n\tactions = SET\n\tinstcmds = ALL\n"
)

// waitTimeout bounds every wait for something that happens within a few
// poll intervals (2 s each).
const waitTimeout = 20 * time.Second

// waitUntil polls cond every 100 ms until it holds or waitTimeout passes;
// cond returns what it saw, for the failure message.
func waitUntil(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s; last saw:\n%s", what, waitTimeout, saw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startNUTDriver starts NUT's C driver for a section and waits until its
// state socket exists. nuttest.StartNUTDriver connects to the socket to
// see it answer; NUT 2.8.0's driver does not notice that the connection
// was closed until it next broadcasts a change, and then the failed write
// makes it abort ("bit out of range 0 - FD_SETSIZE on fd_set"). A relay
// broadcasts every change it relays, so this test does not probe: upsd
// is the socket's first client.
func startNUTDriver(t *testing.T, d *nuttest.Dir, s nuttest.Section) *nuttest.Proc {
	t.Helper()
	p := d.Start(t, filepath.Join(nuttest.NUTDriverDir, s.Driver), "-a", s.Name, "-u", nuttest.RunAsUser(), "-F")
	waitUntil(t, "NUT's "+s.Driver+" for ["+s.Name+"] creates its socket", func() (bool, string) {
		if p.Exited() {
			t.Fatalf("NUT's %s for [%s] exited:\n%s", s.Driver, s.Name, p.Output())
		}
		st, err := os.Stat(d.Socket(s))
		if err != nil {
			return false, err.Error()
		}
		return st.Mode()&os.ModeSocket != 0, st.Mode().String()
	})
	return p
}

// remote is the relayed NUT stack.
type remote struct {
	dir     *nuttest.Dir
	drivers map[string]*nuttest.Proc
	upsd    *nuttest.Server
}

func startRemote(t *testing.T) *remote {
	t.Helper()
	r := &remote{dir: nuttest.NewDir(t), drivers: map[string]*nuttest.Proc{}}
	var secs []nuttest.Section
	for _, u := range remoteUPSes {
		src := filepath.Join("testdata", u.file)
		if u.name == "apc" {
			src = nuttest.DDL(t, u.file)
		}
		r.dir.CopyFile(t, src, u.file)
		secs = append(secs, nuttest.Section{Name: u.name, Driver: "dummy-ups", Port: u.file})
	}
	r.dir.WriteUPSConf(t, nil, secs...)
	for _, s := range secs {
		r.drivers[s.Name] = startNUTDriver(t, r.dir, s)
	}
	r.upsd = nuttest.StartNUTUpsd(t, r.dir, nuttest.UpsdConfig{Users: remoteUsers})
	for _, s := range secs {
		r.upsd.WaitUPS(t, s.Name)
	}
	return r
}

// restart starts the relayed upsd again on the same port, as an
// administrator would after it died.
func (r *remote) restart(t *testing.T) {
	t.Helper()
	p := nuttest.StartProc(t, r.dir.Env(), nuttest.NUTUpsd, "-u", nuttest.RunAsUser(), "-F")
	r.upsd = &nuttest.Server{Proc: p, Port: r.upsd.Port}
	waitUntil(t, "the relayed upsd accepts connections again", func() (bool, string) {
		c, err := net.DialTimeout("tcp", r.upsd.Addr(), time.Second)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
}

// repeaters is one implementation's repeater stack: a dummy-ups repeater
// per relayed UPS, under that implementation's upsd.
type repeaters struct {
	impl    nuttest.Impl
	upsd    *nuttest.Server
	drivers map[string]*nuttest.Proc // NUT's only: gonut's run under the host
}

func startRepeaters(t *testing.T, impl nuttest.Impl, r *remote) *repeaters {
	t.Helper()
	d := nuttest.NewDir(t)
	var secs []nuttest.Section
	for _, u := range remoteUPSes {
		s := nuttest.Section{Name: u.name, Driver: "dummy-ups", Port: u.name + "@" + r.upsd.Addr()}
		if impl == nuttest.Gonut {
			// NUT 2.8.0's dummy-ups refuses these keys; gonut's needs
			// them to pass SET VAR and INSTCMD on.
			s.Options = []string{"username = relay", "password = relaypw"}
		}
		secs = append(secs, s)
	}
	d.WriteUPSConf(t, nil, secs...)
	rep := &repeaters{impl: impl, drivers: map[string]*nuttest.Proc{}}
	if impl == nuttest.Gonut {
		rep.upsd = nuttest.StartStack(t, d, nuttest.Gonut, nuttest.Gonut, nuttest.UpsdConfig{Users: localUsers})
		return rep
	}
	for _, s := range secs {
		rep.drivers[s.Name] = startNUTDriver(t, d, s)
	}
	rep.upsd = nuttest.StartNUTUpsd(t, d, nuttest.UpsdConfig{Users: localUsers})
	for _, s := range secs {
		rep.upsd.WaitUPS(t, s.Name)
	}
	return rep
}

// upsc is Debian's upsc output for a UPS of this stack, driver.version*
// lines left out.
func (rep *repeaters) upsc(t *testing.T, ups string, args ...string) string {
	t.Helper()
	return nuttest.DropVersionLines(nuttest.UpscOutput(t, append([]string{rep.upsd.Target(ups)}, args...)...))
}

func requireTools(t *testing.T) {
	t.Helper()
	nuttest.RequireNUT(t)
	for _, p := range []string{nuttest.NUTUpsrw, nuttest.NUTUpscmd} {
		if _, err := os.Stat(p); err != nil {
			nuttest.Missing(t, "NUT 2.8.0's %s is missing (apt-get install nut-client)", p)
		}
	}
}

func TestRepeater(t *testing.T) {
	requireTools(t)
	nuttest.Build(t, nuttest.PkgHost, nuttest.PkgDummyUPS, nuttest.PkgUpsd)
	r := startRemote(t)
	nut := startRepeaters(t, nuttest.NUT, r)
	gonut := startRepeaters(t, nuttest.Gonut, r)

	// sameUpsc waits until both repeaters print what they relay the same
	// way (NUT's may be a poll behind), then checks it is the remote's
	// data.
	sameUpsc := func(t *testing.T) {
		t.Helper()
		for _, u := range remoteUPSes {
			waitUntil(t, "upsc "+u.name+" identical through both repeaters", func() (bool, string) {
				n, g := nut.upsc(t, u.name), gonut.upsc(t, u.name)
				return n == g, "(- NUT, + gonut)\n" + nuttest.Diff(n, g)
			})
		}
	}

	t.Run("upsc", func(t *testing.T) {
		sameUpsc(t)
		for _, u := range remoteUPSes {
			got := gonut.upsc(t, u.name)
			for _, want := range []string{"driver.name: dummy-ups\n", "driver.parameter.mode: repeater\n",
				"driver.parameter.port: " + u.name + "@" + r.upsd.Addr() + "\n"} {
				if !strings.Contains(got, want) {
					t.Errorf("upsc %s lacks %q:\n%s", u.name, want, got)
				}
			}
			if strings.Contains(got, "relaypw") || strings.Contains(got, "driver.parameter.username") {
				t.Errorf("upsc %s shows the repeater's credentials:\n%s", u.name, got)
			}
		}
		l := func(rep *repeaters) string { return nuttest.UpscOutput(t, "-l", rep.upsd.Addr()) }
		if n, g := l(nut), l(gonut); n != g {
			t.Errorf("upsc -l differs:\n%s", "(- NUT, + gonut)\n"+nuttest.Diff(n, g))
		}
	})

	t.Run("SET VAR", func(t *testing.T) {
		// upsrw [-w] -s var=value ups: options first, the UPS last.
		upsrw := func(rep *repeaters, args ...string) nuttest.Result {
			return nuttest.Run(t, os.Environ(), nuttest.NUTUpsrw, append(append([]string{"-u", "admin", "-p", "pw"}, args...), rep.upsd.Target("odd"))...)
		}
		remoteValue := func() string { return nuttest.UpscOutput(t, r.upsd.Target("odd"), "x.custom") }

		// NUT 2.8.0's repeater has no SET handler: it logs so, answers
		// nothing (upsrw -w would time out), and the remote is not asked.
		if res := upsrw(nut, "-s", "x.custom=from NUT"); res.Code != 0 {
			t.Fatalf("upsrw through NUT's repeater: %s", res)
		}
		waitUntil(t, "NUT's repeater gets the SET", func() (bool, string) {
			out := nut.drivers["odd"].Output()
			return strings.Contains(out, "Got SET, but driver lacks a handler"), out
		})
		if got := remoteValue(); got != "multi word value\n" {
			t.Errorf("NUT's repeater passed SET on: remote x.custom = %q", got)
		}

		// gonut's passes it on and waits for the remote driver's answer.
		res := upsrw(gonut, "-w", "-s", "x.custom=from gonut")
		if res.Code != 0 || !strings.Contains(res.Stdout+res.Stderr, "SUCCESS") {
			t.Fatalf("upsrw -w through gonut's repeater: %s", res)
		}
		if got := remoteValue(); got != "from gonut\n" {
			t.Errorf("remote x.custom = %q after SET through gonut's repeater, want \"from gonut\"", got)
		}
		// Read back at once, not a poll later.
		if got := gonut.upsc(t, "odd", "x.custom"); got != "from gonut\n" {
			t.Errorf("gonut's repeater shows x.custom = %q right after the SET, want \"from gonut\"", got)
		}
		// Both repeaters relay the new remote value.
		sameUpsc(t)
	})

	t.Run("INSTCMD", func(t *testing.T) {
		// upscmd [-w] ups cmd [param]: its options must come first.
		upscmd := func(rep *repeaters, wait bool, cmd, param string) nuttest.Result {
			args := []string{"-u", "admin", "-p", "pw"}
			if wait {
				args = append(args, "-w")
			}
			return nuttest.Run(t, os.Environ(), nuttest.NUTUpscmd, append(args, rep.upsd.Target("odd"), cmd, param)...)
		}
		remoteLog := func() string { return r.drivers["odd"].Output() }
		// NUT's dummy-ups implements no command and logs each one it gets
		// with its parameter: where that line shows, the command arrived.
		if res := upscmd(nut, false, "load.off", "fromnut"); res.Code != 0 {
			t.Fatalf("upscmd through NUT's repeater: %s", res)
		}
		waitUntil(t, "NUT's repeater answers the command itself", func() (bool, string) {
			out := nut.drivers["odd"].Output()
			return strings.Contains(out, "instcmd: unknown command [load.off] [fromnut]"), out
		})
		if strings.Contains(remoteLog(), "[fromnut]") {
			t.Errorf("NUT's repeater passed INSTCMD on:\n%s", remoteLog())
		}

		// gonut's passes it on; the tracking result is the remote
		// driver's (NUT's dummy-ups: unknown).
		res := upscmd(gonut, true, "load.off", "fromgonut")
		if !strings.Contains(remoteLog(), "instcmd: unknown command [load.off] [fromgonut]") {
			t.Errorf("INSTCMD through gonut's repeater did not reach the remote driver (upscmd: %s); its log:\n%s", res, remoteLog())
		}
		if !strings.Contains(res.Stdout+res.Stderr, "ERR UNKNOWN") {
			t.Errorf("upscmd -w through gonut's repeater: %s, want the remote driver's ERR UNKNOWN", res)
		}
	})

	t.Run("remote upsd down and back", func(t *testing.T) {
		r.upsd.Stop()
		waitUntil(t, "gonut's repeater reports stale data", func() (bool, string) {
			out := gonut.upsc(t, "apc", "ups.status")
			return strings.Contains(out, "Error: Data stale"), out
		})
		// NUT 2.8.0's repeater keeps serving the last values as fresh
		// (README.md: a difference on purpose).
		if got := nut.upsc(t, "apc", "ups.status"); got != "OL\n" {
			t.Errorf("NUT's repeater with the remote down: %q; README.md says it still serves the last values", got)
		}

		r.restart(t)
		waitUntil(t, "gonut's repeater serves fresh data again", func() (bool, string) {
			out := gonut.upsc(t, "apc", "ups.status")
			return out == "OL\n", out
		})
		sameUpsc(t)
	})
}
