// Package standalone shows that a gonut driver binary run without the
// plugin handshake is a classic NUT 2.8.0 driver: NUT's own upsdrvctl
// starts, stops and shuts it down, NUT's own upsd reads its socket, and
// its flags, messages and exit codes are NUT's.
package standalone

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

func TestMain(m *testing.M) { nuttest.Main(m) }

const pkgSDDriver = "./test/standalone/internal/sddriver"

// The device dump both dummy-ups implementations serve.
const devFile = "APC__Back-UPS_ES_700__usbhid-ups__2.6.5__01.dev"

const users = `[admin]
	password = s3cret
	actions = SET
	instcmds = ALL
`

// nutEnv is the environment for NUT's clients: no locale, so that their
// messages are the same everywhere.
func clientEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "LC_") && !strings.HasPrefix(e, "LANG") {
			env = append(env, e)
		}
	}
	return append(env, "LC_ALL=C")
}

// clean drops the line Debian's NSS build of NUT's clients prints on
// every run.
func clean(s string) string {
	var keep []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.TrimSpace(l) != "Init SSL without certificate database" {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(nuttest.StartTimeout)
	var got string
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if got = string(b); err == nil && got == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s holds %q, want %q", path, got, want)
}

func readPID(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %s holds %q", file, b)
	}
	return pid
}

// stopOnCleanup SIGTERMs a background driver the test started, if it is
// still there when the test ends.
func stopOnCleanup(t *testing.T, pid int, exe string) {
	t.Cleanup(func() {
		if target, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); err == nil && target == exe {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			nuttest.WaitGone(pid, 5*time.Second)
		}
	})
}

// TestUnderNUTTools runs gonut's dummy-ups and the shutdown test driver
// the way a NUT 2.8.0 installation does: upsdrvctl starts them (they go to
// the background and write pid files), NUT's upsd serves them next to
// NUT's own dummy-ups on the same device dump, and NUT's upsc, upscmd and
// upsrw see the same thing from both; then -c reload, upsdrvctl shutdown,
// upsdrvctl stop and -c exit.
func TestUnderNUTTools(t *testing.T) {
	nuttest.RequireNUT(t)
	for _, p := range []string{nuttest.NUTUpscmd, nuttest.NUTUpsrw} {
		if _, err := os.Stat(p); err != nil {
			nuttest.Missing(t, "%s is missing (apt-get install nut-client)", p)
		}
	}
	bin := nuttest.Build(t, nuttest.PkgDummyUPS, pkgSDDriver)
	d := nuttest.NewDir(t)
	d.CopyFile(t, nuttest.DDL(t, devFile), "ups.dev")
	marker := d.Join("marker")
	d.WriteUPSConf(t, []string{`driverpath = "` + bin + `"`},
		nuttest.Section{Name: "gx", Driver: "dummy-ups", Port: "ups.dev"},
		nuttest.Section{Name: "nx", Driver: "dummy-ups", Port: "ups.dev"},
		nuttest.Section{Name: "sd", Driver: "sddriver", Port: "none", Options: []string{
			"marker = " + marker, "label = first", "user = " + nuttest.RunAsUser()}},
	)
	gonutExe, sdExe := filepath.Join(bin, "dummy-ups"), filepath.Join(bin, "sddriver")

	// NUT's upsdrvctl runs gonut's drivers from driverpath.
	for _, ups := range []string{"gx", "sd"} {
		r := d.Run(t, nuttest.NUTUpsdrvctl, "-u", nuttest.RunAsUser(), "start", ups)
		if r.Code != 0 {
			t.Fatalf("upsdrvctl start %s: %s", ups, r)
		}
	}
	gxPID := readPID(t, d.Join("dummy-ups-gx.pid"))
	stopOnCleanup(t, gxPID, gonutExe)
	sdPID := readPID(t, d.Join("sddriver-sd.pid"))
	stopOnCleanup(t, sdPID, sdExe)
	if exe, _ := os.Readlink("/proc/" + strconv.Itoa(gxPID) + "/exe"); exe != gonutExe {
		t.Fatalf("dummy-ups-gx.pid names pid %d running %q, want gonut's %s", gxPID, exe, gonutExe)
	}
	nuttest.StartNUTDriver(t, d, nuttest.Section{Name: "nx", Driver: "dummy-ups"})

	s := nuttest.StartNUTUpsd(t, d, nuttest.UpsdConfig{Users: users})
	for _, ups := range []string{"gx", "nx", "sd"} {
		s.WaitUPS(t, ups)
	}
	run := func(prog string, args ...string) string {
		r := nuttest.Run(t, clientEnv(), prog, args...)
		return clean(r.Stdout + r.Stderr + "[exit " + strconv.Itoa(r.Code) + "]")
	}
	same := func(what string, f func(ups string) string) {
		t.Helper()
		want := strings.ReplaceAll(f("nx"), "[nx]", "[UPS]")
		got := strings.ReplaceAll(f("gx"), "[gx]", "[UPS]")
		if want != got {
			t.Errorf("%s: gonut's standalone dummy-ups differs from NUT's (-NUT +gonut):\n%s", what, nuttest.Diff(want, got))
		}
	}
	same("upsc", func(ups string) string {
		return nuttest.DropVersionLines(nuttest.UpscOutput(t, s.Target(ups)))
	})
	same("upscmd -l", func(ups string) string { return run(nuttest.NUTUpscmd, "-l", s.Target(ups)) })
	same("upscmd -w load.off", func(ups string) string {
		return run(nuttest.NUTUpscmd, "-u", "admin", "-p", "s3cret", "-w", s.Target(ups), "load.off")
	})
	same("upsrw", func(ups string) string { return run(nuttest.NUTUpsrw, s.Target(ups)) })
	same("upsrw -s -w", func(ups string) string {
		return run(nuttest.NUTUpsrw, "-s", "ups.delay.shutdown=45", "-u", "admin", "-p", "s3cret", "-w", s.Target(ups))
	})
	same("upsc after SET", func(ups string) string {
		return run(nuttest.NUTUpsc, s.Target(ups), "ups.delay.shutdown")
	})

	// -c reload: the running instance re-reads ups.conf.
	conf, err := os.ReadFile(d.Join("ups.conf"))
	if err != nil {
		t.Fatal(err)
	}
	d.WriteFile(t, "ups.conf", strings.Replace(string(conf), "label = first", "label = second", 1))
	if r := d.Run(t, sdExe, "-a", "sd", "-c", "reload"); r.Code != 0 {
		t.Fatalf("sddriver -a sd -c reload: %s", r)
	}
	waitFile(t, marker, "reload second\n")

	// upsdrvctl shutdown runs `sddriver -a sd -k`, a second process.
	if r := d.Run(t, nuttest.NUTUpsdrvctl, "shutdown", "sd"); r.Code != 0 {
		t.Fatalf("upsdrvctl shutdown sd: %s", r)
	}
	waitFile(t, marker, "shutdown sd\n")

	// dummy-ups has no Reloader: -c reload reaches it, and it goes on
	// serving with the configuration it has.
	if r := d.Run(t, gonutExe, "-a", "gx", "-c", "reload"); r.Code != 0 {
		t.Fatalf("dummy-ups -a gx -c reload: %s", r)
	}
	same("upsc after -c reload", func(ups string) string {
		return run(nuttest.NUTUpsc, s.Target(ups), "ups.status")
	})
	if !nuttest.Alive(gxPID) {
		t.Fatal("dummy-ups exited on -c reload")
	}

	// upsdrvctl stop: SIGTERM through the pid file; the driver removes
	// its socket and pid file.
	if r := d.Run(t, nuttest.NUTUpsdrvctl, "stop", "gx"); r.Code != 0 {
		t.Fatalf("upsdrvctl stop gx: %s", r)
	}
	if !nuttest.WaitGone(gxPID, 10*time.Second) {
		t.Fatalf("dummy-ups (pid %d) still runs after upsdrvctl stop", gxPID)
	}
	for _, f := range []string{"dummy-ups-gx", "dummy-ups-gx.pid"} {
		if _, err := os.Lstat(d.Join(f)); err == nil {
			t.Errorf("%s is left behind after upsdrvctl stop", f)
		}
	}

	// -c exit does what upsdrvctl stop does.
	if r := d.Run(t, sdExe, "-a", "sd", "-c", "exit"); r.Code != 0 {
		t.Fatalf("sddriver -a sd -c exit: %s", r)
	}
	if !nuttest.WaitGone(sdPID, 10*time.Second) {
		t.Fatalf("sddriver (pid %d) still runs after -c exit", sdPID)
	}
	if _, err := os.Stat(d.Join("sddriver-sd.pid")); err == nil {
		t.Error("sddriver-sd.pid is left behind after -c exit")
	}
	// With nothing running, -c fails as NUT's does.
	if r := d.Run(t, sdExe, "-a", "sd", "-c", "exit"); r.Code != 1 || !strings.Contains(r.Stderr, "Failed to signal") {
		t.Errorf("-c exit with no driver running: %s", r)
	}
}

// TestLikeNUT compares gonut's dummy-ups with NUT's on the command lines
// where a script sees the difference: exit codes and stderr of refusals,
// -k (neither supports shutdown), -L, and -x on top of ups.conf in a -d
// dump.
func TestLikeNUT(t *testing.T) {
	nuttest.RequireNUT(t)
	gonut := nuttest.Program(t, nuttest.PkgDummyUPS)
	d := nuttest.NewDir(t)
	d.CopyFile(t, nuttest.DDL(t, devFile), "ups.dev")
	d.CopyFile(t, nuttest.DDL(t, "APC__Back-UPS_ES_725__usbhid-ups__2.6.5__01.dev"), "other.dev")
	d.WriteUPSConf(t, nil,
		nuttest.Section{Name: "ux", Driver: "dummy-ups", Port: "ups.dev"},
		nuttest.Section{Name: "wrong", Driver: "blazer_ser", Port: "/dev/null"},
	)
	cases := [][]string{
		{"-z"},
		{"-a"},
		{},
		{"-a", "nosuch"},
		{"-a", "wrong"},
		{"-a", "ux", "-u", nuttest.RunAsUser(), "-k"},
		{"-L"},
		{"-a", "ux", "-u", nuttest.RunAsUser(), "-x", "port=other.dev", "-d", "1"},
		{"-a", "ux", "-u", nuttest.RunAsUser(), "-x", "bogus=1", "-d", "1"},
		{"-a", "ux", "-u", nuttest.RunAsUser(), "-x", "bogus", "-d", "1"},
	}
	// The programs' paths and the banner's version are the only
	// differences allowed.
	// The programs' paths, the banner's version and the options gonut's
	// dummy-ups adds (marked "(gonut)") are the only differences allowed.
	norm := func(s, exe string) string {
		s = strings.ReplaceAll(s, exe, "DRIVER")
		s = strings.ReplaceAll(s, "(2.8.0-gonut0.1)", "(2.8.0)")
		var keep []string
		for _, l := range strings.SplitAfter(s, "\n") {
			if !strings.Contains(l, "(gonut)") {
				keep = append(keep, l)
			}
		}
		return nuttest.DropVersionLines(strings.Join(keep, ""))
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			n := d.Run(t, nuttest.NUTDummyUPS, args...)
			g := d.Run(t, gonut, args...)
			if strings.Contains(n.Stdout, "Fatal error") && n.Code == 0 {
				// NUT 2.8.0 exits 0 after refusing an unknown variable,
				// as if the driver had started; gonut exits 1.
				n.Code = 1
			}
			want := norm(n.String(), nuttest.NUTDummyUPS)
			got := norm(g.String(), gonut)
			if want != got {
				t.Errorf("dummy-ups %s (-NUT +gonut):\n%s", strings.Join(args, " "), nuttest.Diff(want, got))
			}
		})
	}
}

// TestForegroundAndShutdownFailure needs no NUT: -F keeps the driver in the
// foreground without a pid file, as NUT's, and SIGTERM removes its socket;
// a Shutdowner that fails makes -k exit 1 with the driver's reason.
func TestForegroundAndShutdownFailure(t *testing.T) {
	sdExe := nuttest.Program(t, pkgSDDriver)
	d := nuttest.NewDir(t)
	marker := d.Join("marker")
	d.WriteUPSConf(t, nil, nuttest.Section{Name: "sd", Driver: "sddriver", Port: "none",
		Options: []string{"marker = " + marker, "user = " + nuttest.RunAsUser()}})

	p := d.Start(t, sdExe, "-a", "sd", "-F", "-x", "label=fg")
	sock := d.Join("sddriver-sd")
	deadline := time.Now().Add(nuttest.StartTimeout)
	for {
		if _, err := os.Lstat(sock); err == nil {
			break
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("sddriver -F never made its socket %s:\n%s", sock, p.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(d.Join("sddriver-sd.pid")); err == nil {
		t.Error("sddriver -F wrote a pid file; NUT's drivers write one only in the background")
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, ok := p.Wait(10 * time.Second); !ok || code != 0 {
		t.Fatalf("sddriver -F after SIGTERM: exit %d (exited: %v)\n%s", code, ok, p.Output())
	}
	if _, err := os.Lstat(sock); err == nil {
		t.Error("socket left behind after SIGTERM")
	}

	cases := []struct {
		args     []string
		code     int
		stderr   string
		wantFile string
	}{
		{[]string{"-a", "sd", "-k"}, 0, "Initiating UPS shutdown\n", "shutdown sd\n"},
		{[]string{"-a", "sd", "-k", "-x", "fail_shutdown"}, 1,
			"Initiating UPS shutdown\nshutdown failed: the UPS refused the shutdown command\n", ""},
	}
	for _, c := range cases {
		os.Remove(marker)
		r := d.Run(t, sdExe, c.args...)
		if r.Code != c.code || !strings.HasSuffix(r.Stderr, c.stderr) {
			t.Errorf("sddriver %s: want exit %d and stderr ending %q, got %s", strings.Join(c.args, " "), c.code, c.stderr, r)
		}
		b, _ := os.ReadFile(marker)
		if string(b) != c.wantFile {
			t.Errorf("sddriver %s: marker holds %q, want %q", strings.Join(c.args, " "), b, c.wantFile)
		}
	}
}

// TestDescribe: `<driver> describe` works without the host too and lists
// the optional calls the driver supports.
func TestDescribe(t *testing.T) {
	bin := nuttest.Build(t, nuttest.PkgDummyUPS, pkgSDDriver)
	for _, tt := range []struct {
		driver   string
		features []string
	}{
		{"sddriver", []string{"shutdown", "reload"}},
		{"dummy-ups", nil},
	} {
		r := nuttest.Run(t, os.Environ(), filepath.Join(bin, tt.driver), "describe")
		var d struct {
			Name          string
			ProtocolMajor int
			ProtocolMinor int
			Features      []string
		}
		if err := json.Unmarshal([]byte(r.Stdout), &d); err != nil || r.Code != 0 {
			t.Fatalf("%s describe: %v\n%s", tt.driver, err, r)
		}
		if d.Name != tt.driver || d.ProtocolMajor != 1 || d.ProtocolMinor != 1 || !slices.Equal(d.Features, tt.features) {
			t.Errorf("%s describe: %+v, want features %v at protocol 1.1", tt.driver, d, tt.features)
		}
	}
}
