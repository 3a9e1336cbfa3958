package ddl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
	"github.com/gonut/gonut/sdk/nutconf"
)

// device is one dump of the library and the ups.conf section serving it.
type device struct {
	file string // base name in the library, e.g. APC__Back-UPS_CS_500__usbhid-ups__2.8.0__01.dev
	ups  string // section name derived from file
	desc string // "Vendor Model", from file
}

// maxUPSName keeps STATEPATH/dummy-ups-<ups> well below the 108 bytes of
// a unix socket path.
const maxUPSName = 48

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// devices lists the library's .dev files with unique, sanitised ups names.
func devices(t *testing.T, dir string) []device {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.dev"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	used := map[string]bool{}
	var out []device
	for _, f := range files {
		base := filepath.Base(f)
		stem := strings.TrimSuffix(base, ".dev")
		name := unsafeName.ReplaceAllString(stem, "_")
		if len(name) > maxUPSName {
			name = name[:maxUPSName]
		}
		for i, n := 2, name; used[strings.ToLower(n)]; i++ {
			n = fmt.Sprintf("%s-%d", name, i)
			if !used[strings.ToLower(n)] {
				name = n
			}
		}
		used[strings.ToLower(name)] = true
		parts := strings.Split(stem, "__")
		desc := strings.ReplaceAll(parts[0], "_", " ")
		if len(parts) > 1 {
			desc += " " + strings.ReplaceAll(parts[1], "_", " ")
		}
		out = append(out, device{file: base, ups: name, desc: desc})
	}
	return out
}

// writeConf writes the batch's ups.conf into d and copies its dumps there:
// each port is relative, so both stacks resolve it against NUT_CONFPATH.
func writeConf(t *testing.T, d *nuttest.Dir, lib string, devs []device) []nuttest.Section {
	t.Helper()
	secs := make([]nuttest.Section, len(devs))
	for i, dv := range devs {
		d.CopyFile(t, filepath.Join(lib, dv.file), dv.file)
		secs[i] = nuttest.Section{Name: dv.ups, Driver: "dummy-ups", Port: dv.file,
			Options: []string{`desc = "` + nutconf.Quote(dv.desc) + `"`}}
	}
	d.WriteUPSConf(t, nil, secs...)
	return secs
}

// stack is one implementation serving a batch: NUT's or gonut's.
type stack struct {
	name string
	srv  *nuttest.Server
}

// batchTimeout bounds how long a batch's drivers may take to be served.
// Starting fifty drivers at once takes seconds; a machine shared with
// other test runs can make it much longer.
const batchTimeout = 3 * time.Minute

// startBatch serves a batch of dumps twice, each from its own
// configuration directory:
//
//   - NUT 2.8.0: one dummy-ups per section, all started at once
//     (upsdrvctl would start them one after the other, a second each),
//     then NUT's upsd;
//   - gonut, started as NUT is: nut-driver-host -F (it starts every
//     section of ups.conf, finding dummy-ups next to itself), then gonut's
//     upsd.
//
// Both sides start together and it returns once both serve every dump.
// users is the upsd.users of both upsds.
func startBatch(t *testing.T, lib string, devs []device, users string) (nut, gonut *stack) {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	bin := nuttest.Build(t, nuttest.PkgUpsd, nuttest.PkgHost, nuttest.PkgDummyUPS)

	nd := nuttest.NewDir(t)
	secs := writeConf(t, nd, lib, devs)
	drivers := make([]*nuttest.Proc, len(secs))
	for i, s := range secs {
		drivers[i] = nd.Start(t, nuttest.NUTDummyUPS, "-a", s.Name, "-u", me.Username, "-F")
	}

	gd := nuttest.NewDir(t)
	writeConf(t, gd, lib, devs)
	// Not nuttest.StartHost: a batch of plugins may take longer to start
	// than its timeout on a loaded machine; readiness is checked through
	// upsd below, with the batch's own deadline.
	host := gd.Start(t, filepath.Join(bin, "nut-driver-host"), "-F")
	gsrv := nuttest.StartUpsd(t, gd, nuttest.UpsdConfig{Users: users})

	// NUT's upsd gives up on a driver whose socket is not there when it
	// starts (it retries only every few seconds), so the sockets come first.
	for i, s := range secs {
		waitSocket(t, nd.Socket(s), drivers[i])
	}
	nsrv := nuttest.StartNUTUpsd(t, nd, nuttest.UpsdConfig{Users: users})
	waitServed(t, nsrv, devs, nil)
	waitServed(t, gsrv, devs, host)
	return &stack{name: "NUT", srv: nsrv}, &stack{name: "gonut", srv: gsrv}
}

func waitSocket(t *testing.T, path string, p *nuttest.Proc) {
	t.Helper()
	deadline := time.Now().Add(batchTimeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if p.Exited() {
			t.Fatalf("%s exited before creating %s:\n%s", p.Name, path, p.Output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no socket %s after %s", p.Name, path, batchTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitServed waits until srv serves every device's data (GET VAR
// driver.name answers), or fails if srv or the driver process p exits.
func waitServed(t *testing.T, srv *nuttest.Server, devs []device, p *nuttest.Proc) {
	t.Helper()
	deadline := time.Now().Add(batchTimeout)
	for _, dv := range devs {
		var last string
		for {
			if c, err := nuttest.Connect(srv.Addr()); err == nil {
				last, err = c.Cmd("GET VAR " + dv.ups + " driver.name")
				if err != nil {
					last = err.Error()
				}
				c.Close()
				if strings.HasPrefix(last, "VAR ") {
					break
				}
			} else {
				last = err.Error()
			}
			switch {
			case srv.Exited():
				t.Fatalf("%s exited while waiting for [%s]:\n%s", srv.Name, dv.ups, srv.Output())
			case p != nil && p.Exited():
				t.Fatalf("%s exited while waiting for [%s]:\n%s", p.Name, dv.ups, p.Output())
			case time.Now().After(deadline):
				t.Fatalf("%s does not serve [%s] after %s: last reply %q", srv.Name, dv.ups, batchTimeout, last)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// clientTimeout bounds one run of a NUT client.
const clientTimeout = 30 * time.Second

// output is what a client printed. Stderr is kept for messages only: NUT's
// clients print "Init SSL without certificate database" there.
type output struct {
	stdout, stderr string
	code           int
}

// runClient runs one of NUT's clients to completion. It is safe to call
// from several goroutines.
func runClient(prog string, args ...string) (output, error) {
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := output{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return out, fmt.Errorf("%s %s ran longer than %s", prog, strings.Join(args, " "), clientTimeout)
	case errors.As(err, &exit):
		out.code = exit.ExitCode()
	case err != nil:
		return out, fmt.Errorf("run %s: %w", prog, err)
	}
	return out, nil
}

// comparable drops what is allowed to differ: the driver.version and
// driver.version.internal lines (gonut's versions are its own) and
// driver.state (which NUT 2.8.0 does not have).
func comparable(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(l, "driver.version: ") || strings.HasPrefix(l, "driver.version.internal: ") || strings.HasPrefix(l, "driver.state: ") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

// lineDiff shows the lines only one side has, in order: "-" for NUT's,
// "+" for gonut's.
func lineDiff(nut, gonut string) string {
	a, b := strings.Split(nut, "\n"), strings.Split(gonut, "\n")
	inA, inB := map[string]int{}, map[string]int{}
	for _, l := range a {
		inA[l]++
	}
	for _, l := range b {
		inB[l]++
	}
	var out strings.Builder
	for _, l := range a {
		if inB[l] > 0 {
			inB[l]--
			continue
		}
		fmt.Fprintf(&out, "  - %q\n", l)
	}
	for _, l := range b {
		if inA[l] > 0 {
			inA[l]--
			continue
		}
		fmt.Fprintf(&out, "  + %q\n", l)
	}
	if out.Len() == 0 {
		return "  (same lines in another order)\n"
	}
	return out.String()
}
