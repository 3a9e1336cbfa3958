package names

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Real NUT 2.8.0 (Debian packages nut-server, nut-client) for the
// differential test.
const (
	nutUpsd      = "/lib/nut/upsd"
	nutDummyUPS  = "/lib/nut/dummy-ups"
	nutCmdvartab = "/usr/share/nut/cmdvartab"
	testUPS      = "namestest" // unlike any UPS another test's upsd may serve
)

// trickyVars and trickyCmds probe how upsd maps a name to a description:
// indexes it might expand, ASCII case, names of the other kind, empty and
// blank words, near misses.
var (
	trickyVars = []string{
		"outlet.1.voltage", "outlet.group.2.status", "outlet.3.id", "outlet.0.id",
		"outlet.n.id", "outlet.1.ID", "input.L1.current", "input.l1.current",
		"input.bypass.L1-L2.voltage", "device.1.model", "device.0.mfr",
		"ambient.1.temperature", "ambient.0.temperature", "ambient.contacts.3.status",
		"driver.parameter.port", "driver.parameter.xxx", "driver.flag.ignorelb",
		"driver.parameter", "unknown.thing", "", " ", "ups.status ", " ups.status",
		"ups status", "ups.status.", "ups", "UPS.STATUS", "Ups.Status", "uPs.LoAd",
		"load.off", "server.INFO", "ups.watchdog.status", "input.phases",
		"battery.voltage.low", "1", ".", "..", "ups..status", "\"quoted\"", `back\slash`,
	}
	trickyCmds = []string{
		"outlet.1.load.off", "outlet.3.load.off", "outlet.0.load.off",
		"outlet.n.load.off", "outlet.group.1.load.off", "outlet.1.load.cycle",
		"device.1.load.off", "LOAD.OFF", "Load.On", "ups.status", "load",
		"load.off ", "", " ", "unknown.command", "beeper.ON",
	}
)

// TestDescMatchesNUT asks a real NUT 2.8.0 upsd for the description of every
// name in our table, in NUT's cmdvartab, in the manual and in the tricky
// lists (and of each in upper case), and checks that the reply is exactly
// the line our table implies.
func TestDescMatchesNUT(t *testing.T) {
	addr := startNUT(t)

	tab, err := readCmdvartabNames(nutCmdvartab)
	if err != nil {
		t.Fatalf("NUT's description table: %v", err)
	}

	var varNames, cmdNames []string
	varNames = append(varNames, Vars()...)
	varNames = append(varNames, tab.vars...)
	varNames = append(varNames, instances(manualVars)...)
	varNames = append(varNames, manualExamples...)
	varNames = append(varNames, trickyVars...)
	cmdNames = append(cmdNames, Cmds()...)
	cmdNames = append(cmdNames, tab.cmds...)
	cmdNames = append(cmdNames, instances(manualCmds)...)
	cmdNames = append(cmdNames, trickyCmds...)

	type query struct {
		verb, name string
		upper      bool // an upper-case spelling, asked to check case folding
	}
	var qs []query
	for _, n := range dedup(varNames) {
		qs = append(qs, query{"DESC", n, false}, query{"DESC", strings.ToUpper(n), true})
	}
	for _, n := range dedup(cmdNames) {
		qs = append(qs, query{"CMDDESC", n, false}, query{"CMDDESC", strings.ToUpper(n), true})
	}
	// The two tables are separate: a command has no variable description
	// and the other way round.
	for _, n := range Cmds()[:3] {
		qs = append(qs, query{"DESC", n, true})
	}
	for _, n := range Vars()[:3] {
		qs = append(qs, query{"CMDDESC", n, true})
	}

	reqs := make([]string, len(qs))
	for i, q := range qs {
		reqs[i] = fmt.Sprintf("GET %s %s %s", q.verb, testUPS, quoteWord(q.name))
	}
	replies := roundTrip(t, addr, reqs)

	var fixes []string
	mismatches := 0
	for i, q := range qs {
		lookup := VarDesc
		kind := "var"
		if q.verb == "CMDDESC" {
			lookup, kind = CmdDesc, "cmd"
		}
		desc, ok := lookup(q.name)
		if !ok {
			desc = Unavailable
		}
		want := fmt.Sprintf("%s %s %s \"%s\"", q.verb, testUPS, q.name, desc)
		if replies[i] == want {
			continue
		}
		mismatches++
		t.Errorf("%s:\n upsd: %s\n want: %s", reqs[i], replies[i], want)
		if q.upper {
			continue
		}
		if got, ok := strings.CutPrefix(replies[i], fmt.Sprintf("%s %s %s ", q.verb, testUPS, q.name)); ok {
			if got == `"`+Unavailable+`"` {
				fixes = append(fixes, fmt.Sprintf("%s %s -", kind, q.name))
			} else {
				fixes = append(fixes, fmt.Sprintf("%s %s %s", kind, q.name, got))
			}
		}
	}
	if len(fixes) > 0 {
		t.Logf("upsd answers these (lines for internal/gen/upsd-2.8.0.fixes; a line restating the manual must be deleted instead):\n%s",
			strings.Join(fixes, "\n"))
	}
	t.Logf("%d of %d queries answered as our table says", len(qs)-mismatches, len(qs))
}

// TestUnknownUPSIsAnError pins what upsd does before looking at the name: an
// unknown UPS is an error, not "Description unavailable". upsd (not this
// package) implements it; the test records the behaviour for it.
func TestUnknownUPSIsAnError(t *testing.T) {
	addr := startNUT(t)
	got := roundTrip(t, addr, []string{
		"GET DESC nosuchups ups.status",
		"GET CMDDESC nosuchups load.off",
		"GET DESC " + testUPS,
	})
	want := []string{"ERR UNKNOWN-UPS", "ERR UNKNOWN-UPS", "ERR INVALID-ARGUMENT"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("reply %d: upsd said %q, want %q", i, got[i], want[i])
		}
	}
}

// instances writes the manual's pattern rows with index 1 (n, x) and a
// made-up key (xxx), so that upsd is asked about names it might expand.
func instances(rows []entry) []string {
	var out []string
	for _, e := range rows {
		if !strings.Contains("."+e.name+".", ".n.") && !strings.Contains("."+e.name+".", ".x.") &&
			!strings.Contains("."+e.name+".", ".xxx.") {
			out = append(out, e.name)
			continue
		}
		segs := strings.Split(e.name, ".")
		for i, s := range segs {
			switch s {
			case "n", "x":
				segs[i] = "1"
			case "xxx":
				segs[i] = "pollinterval"
			}
		}
		out = append(out, strings.Join(segs, "."))
	}
	return out
}

// dedup drops repeated names, keeping the first spelling.
func dedup(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// quoteWord writes a protocol word so that upsd parses it back as is.
func quoteWord(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

type cmdvartabNames struct{ vars, cmds []string }

// readCmdvartabNames lists the names in NUT's cmdvartab. Only the names are
// needed (upsd itself supplies the descriptions under test), and a name is
// always the second word of a VARDESC or CMDDESC line.
func readCmdvartabNames(path string) (cmdvartabNames, error) {
	var out cmdvartabNames
	data, err := os.ReadFile(path)
	if err != nil {
		return out, err
	}
	for i, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 3 {
			return out, fmt.Errorf("%s:%d: %q: want VARDESC|CMDDESC name \"description\"", path, i+1, line)
		}
		switch f[0] {
		case "VARDESC":
			out.vars = append(out.vars, f[1])
		case "CMDDESC":
			out.cmds = append(out.cmds, f[1])
		}
	}
	if len(out.vars) == 0 || len(out.cmds) == 0 {
		return out, fmt.Errorf("%s: no VARDESC or no CMDDESC lines", path)
	}
	return out, nil
}

// roundTrip sends the request lines on one connection and returns one reply
// line per request. upsd answers pipelined requests in order.
func roundTrip(t *testing.T, addr string, reqs []string) []string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("connecting to upsd at %s: %v", addr, err)
	}
	defer conn.Close()
	// A guard against a hung server, not a latency check.
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	werr := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(conn)
		for _, r := range reqs {
			if _, err := w.WriteString(r + "\n"); err != nil {
				werr <- err
				return
			}
		}
		werr <- w.Flush()
	}()
	rd := bufio.NewReader(conn)
	out := make([]string, len(reqs))
	for i := range reqs {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("upsd at %s: reading the reply to %q (request %d of %d): %v", addr, reqs[i], i+1, len(reqs), err)
		}
		out[i] = strings.TrimSuffix(line, "\n")
	}
	if err := <-werr; err != nil {
		t.Fatalf("upsd at %s: sending requests: %v", addr, err)
	}
	return out
}

// startNUT runs NUT's dummy-ups and upsd in a temporary directory and
// returns upsd's address once it serves descriptions for testUPS. Both
// processes are stopped by pid when the test ends.
func startNUT(t *testing.T) string {
	t.Helper()
	for _, bin := range []string{nutUpsd, nutDummyUPS} {
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("NUT 2.8.0 is required in CI (packages nut-server, nut-client): %v", err)
			}
			t.Skipf("NUT 2.8.0 not installed: %v", err)
		}
	}
	dir := t.TempDir()
	files := map[string]string{
		"ups.conf":   fmt.Sprintf("[%s]\n\tdriver = dummy-ups\n\tport = x.dev\n", testUPS),
		"x.dev":      "ups.status: OL\nbattery.charge: 100\n",
		"upsd.users": "",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "NUT_CONFPATH="+dir, "NUT_STATEPATH="+dir, "NUT_ALTPIDPATH="+dir)
	userArgs := []string{}
	if os.Geteuid() == 0 {
		// NUT drops root privileges to its build-time user unless told.
		userArgs = []string{"-u", "root"}
	}

	drv := startProc(t, dir, env, "dummy-ups", nutDummyUPS, append([]string{"-a", testUPS, "-F"}, userArgs...)...)
	sock := filepath.Join(dir, "dummy-ups-"+testUPS)
	waitFor(t, "dummy-ups to create "+sock, func() bool {
		if drv.exited() {
			t.Fatalf("dummy-ups exited: %s", drv.output())
		}
		_, err := os.Stat(sock)
		return err == nil
	})

	// Ports below 32768 stay clear of the kernel's ephemeral range; a
	// busy one makes upsd exit, and another is tried.
	for attempt := 0; attempt < 5; attempt++ {
		port := 20000 + rand.IntN(12000)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken, maybe by another upsd
		}
		l.Close()
		conf := fmt.Sprintf("LISTEN 127.0.0.1 %d\n", port)
		if err := os.WriteFile(filepath.Join(dir, "upsd.conf"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		p := startProc(t, dir, env, "upsd", nutUpsd, append([]string{"-F"}, userArgs...)...)
		if serving(t, p, addr) {
			return addr
		}
		t.Logf("upsd did not come up on %s (%s); trying another port", addr, p.output())
	}
	t.Fatalf("upsd did not start; see the logs in %s", dir)
	return ""
}

// proc is a started NUT process.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return strings.TrimSpace(string(b))
}

func startProc(t *testing.T, dir string, env []string, name, bin string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano()))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting %s: %v", bin, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.exited() {
			return
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// serving waits until upsd at addr answers GET DESC for testUPS with a DESC
// line (so its driver is connected), or until upsd exits.
func serving(t *testing.T, p *proc, addr string) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return false
		}
		line, err := probe(addr, "GET DESC "+testUPS+" ups.status")
		if err == nil && strings.HasPrefix(line, "DESC ") {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("upsd at %s never answered GET DESC for %s; log: %s", addr, testUPS, p.output())
	return false
}

func probe(addr, req string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte(req + "\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", err
	}
	if line == "" {
		return "", errors.New("empty reply")
	}
	return strings.TrimSuffix(line, "\n"), nil
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
