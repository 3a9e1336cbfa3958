package sdkexample

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

func TestMain(m *testing.M) { nuttest.Main(m) }

const sdkModule = "github.com/gonut/gonut/sdk"

// copyTree copies src to dst, leaving out directories named in skip
// (relative to src).
func copyTree(t *testing.T, src, dst string, skip ...string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if e.IsDir() {
			for _, s := range skip {
				if rel == s {
					return filepath.SkipDir
				}
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

// goCmd runs the go command in dir as a vendor would, outside any
// workspace.
func goCmd(dir string, args ...string) (string, error) {
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("go %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out), nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// copyExample copies the sdk and the example out of the repository into
// work and points the copy's replace at the copied sdk.
func copyExample(t *testing.T, work string) string {
	t.Helper()
	root := nuttest.RepoRoot(t)
	sdk, example := filepath.Join(work, "sdk"), filepath.Join(work, "statusfile")
	copyTree(t, filepath.Join(root, "sdk"), sdk, "examples")
	copyTree(t, filepath.Join(root, "sdk", "examples", "statusfile"), example)
	// The committed go.mod points at ../..; the copy at the copied sdk.
	if out, err := goCmd(example, "mod", "edit", "-replace="+sdkModule+"="+sdk); err != nil {
		t.Fatalf("%v%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(example, "go.mod")); !strings.Contains(string(b), "=> "+sdk) {
		t.Fatalf("go.mod of the copy does not point at the copied sdk:\n%s", b)
	}
	return example
}

// buildExample runs the example's own tests (its conformance suite
// included, as its CI would) and builds it into bin. It returns the test
// output.
func buildExample(example, bin string) (string, error) {
	out, err := goCmd(example, "test", "-count=1", "./...")
	if err != nil {
		return out, err
	}
	_, err = goCmd(example, "build", "-o", filepath.Join(bin, "statusfile"), ".")
	return out, err
}

const statusFile = `status=online charging
charge=87
runtime=1800
input_voltage=229,8
load=23
model=PowerBox 1500
serial=PB1500-0042
`

func TestExampleDriverUnderHost(t *testing.T) {
	work := t.TempDir()
	example := copyExample(t, work)
	bin := filepath.Join(work, "drivers")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// The example builds while gonut's own programs do.
	type result struct {
		out string
		err error
	}
	built := make(chan result, 1)
	go func() {
		out, err := buildExample(example, bin)
		built <- result{out, err}
	}()
	upsc := nuttest.Program(t, nuttest.PkgUpsc)
	nuttest.Build(t, nuttest.PkgHost, nuttest.PkgUpsd)
	r := <-built
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("go test in the copy:\n%s", r.out)
	driver := filepath.Join(bin, "statusfile")
	if out, err := exec.Command(driver, "describe").Output(); err != nil || !strings.Contains(string(out), `"Name": "statusfile"`) {
		t.Fatalf("statusfile describe: %v\n%s", err, out)
	}

	d := nuttest.NewDir(t)
	d.WriteFile(t, "box.status", statusFile)
	// The driver's own directory, not the host's: driverpath finds it.
	d.WriteUPSConf(t, []string{"driverpath = " + filepath.Dir(driver)},
		nuttest.Section{Name: "box", Driver: "statusfile", Port: "box.status", Options: []string{"pollinterval = 1"}})
	nuttest.StartHost(t, d)
	srv := nuttest.StartUpsd(t, d, nuttest.UpsdConfig{})
	srv.WaitUPS(t, "box")

	want := []string{
		"device.model: PowerBox 1500", "device.serial: PB1500-0042", "driver.name: statusfile",
		"input.voltage: 229.8", "ups.status: OL CHRG", "ups.delay.shutdown: 20",
	}
	waitUpsc(t, d, upsc, srv.Target("box"), want)

	// kill -9 the plugin: the host starts a new one, which serves the
	// file as it is now.
	pid := nuttest.PluginPID(t, d, "box", 10*time.Second)
	d.WriteFile(t, "box.status", strings.Replace(statusFile, "online charging", "onbattery discharging", 1))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	next := nuttest.PluginPID(t, d, "box", 30*time.Second, pid)
	t.Logf("plugin %d killed; the host started %d", pid, next)
	waitUpsc(t, d, upsc, srv.Target("box"), []string{"ups.status: OB DISCHRG", "driver.name: statusfile"})

	// The same binary in standalone mode: NUT 2.8.0's own upsdrvctl starts
	// it from its driverpath (it goes to the background and writes its pid
	// file), NUT's own upsd serves it and Debian's upsc reads it.
	t.Run("under NUT", func(t *testing.T) {
		nuttest.RequireNUT(t)
		n := nuttest.NewDir(t)
		n.WriteFile(t, "box.status", statusFile)
		n.WriteUPSConf(t, []string{"driverpath = " + filepath.Dir(driver)},
			nuttest.Section{Name: "box", Driver: "statusfile", Port: "box.status", Options: []string{"pollinterval = 1"}})
		if r := n.Run(t, nuttest.NUTUpsdrvctl, "-u", nuttest.RunAsUser(), "start", "box"); r.Code != 0 {
			t.Fatalf("NUT's upsdrvctl start box: %s", r)
		}
		pidFile := n.Join("statusfile-box.pid")
		t.Cleanup(func() {
			// upsdrvctl stop is NUT's way; the pid check guards against
			// signalling anything but the driver this test started.
			n.Run(t, nuttest.NUTUpsdrvctl, "stop", "box")
			if b, err := os.ReadFile(pidFile); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); exe == driver {
						_ = syscall.Kill(pid, syscall.SIGTERM)
						nuttest.WaitGone(pid, 5*time.Second)
					}
				}
			}
		})
		nsrv := nuttest.StartNUTUpsd(t, n, nuttest.UpsdConfig{})
		nsrv.WaitUPS(t, "box")
		deadline := time.Now().Add(30 * time.Second)
		for {
			out := nuttest.UpscOutput(t, nsrv.Target("box"))
			missing := ""
			for _, w := range want {
				if !strings.Contains("\n"+out, "\n"+w+"\n") {
					missing = w
					break
				}
			}
			if missing == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Debian's upsc never showed %q from the example under NUT's upsdrvctl and upsd; last output:\n%s", missing, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if r := n.Run(t, nuttest.NUTUpsdrvctl, "stop", "box"); r.Code != 0 {
			t.Errorf("NUT's upsdrvctl stop box: %s", r)
		}
	})
}

// waitUpsc runs gonut's upsc until its output holds every wanted line.
func waitUpsc(t *testing.T, d *nuttest.Dir, upsc, target string, want []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := d.Run(t, upsc, target)
		missing := ""
		for _, w := range want {
			if !strings.Contains("\n"+r.Stdout, "\n"+w+"\n") {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("upsc %s never showed %q; last output:\n%s", target, missing, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
