package upsmon

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

func TestMain(m *testing.M) { nuttest.Main(m) }

const pkgUpsmon = "./upsmon/cmd/upsmon"

// NUT 2.8.0's upsmon (Debian nut-client); /sbin/upsmon is a wrapper.
const nutUpsmon = "/lib/nut/upsmon"

// users are the upsd.users of every stack.
const users = `[admin]
	password = adminpass
	actions = SET FSD
	instcmds = all
[monp]
	password = monpass
	upsmon primary
[mons]
	password = monspass
	upsmon secondary
`

// The notify types NUT 2.8.0's upsmon knows: the cross-compatibility
// tests send only these to the NOTIFYCMD, so both upsmons see the same.
var nut280Types = []string{"ONLINE", "ONBATT", "LOWBATT", "FSD", "COMMOK", "COMMBAD", "SHUTDOWN", "REPLBATT", "NOCOMM", "NOPARENT"}

// allTypes are gonut's.
var allTypes = []string{"ONLINE", "ONBATT", "LOWBATT", "FSD", "COMMOK", "COMMBAD", "SHUTDOWN", "SHUTDOWN_HOSTSYNC", "REPLBATT",
	"NOCOMM", "NOPARENT", "CAL", "NOTCAL", "OFF", "NOTOFF", "BYPASS", "NOTBYPASS", "ECO", "NOTECO", "ALARM", "NOTALARM",
	"OVER", "NOTOVER", "TRIM", "NOTTRIM", "BOOST", "NOTBOOST", "OTHER", "NOTOTHER"}

// stack is a upsd with its drivers, serving UPSes from files.
type stack struct {
	impl nuttest.Impl // whose upsd
	dir  *nuttest.Dir
	srv  *nuttest.Server
}

// dev is one UPS of a stack: its name and the dummy-ups file it replays
// (name.seq when the content has TIMER lines, else name.dev).
type dev struct{ name, content string }

func startStack(t *testing.T, impl nuttest.Impl, upsdConf string, devs ...dev) *stack {
	t.Helper()
	return startStackWith(t, impl, impl, upsdConf, devs...)
}

// startStackWith serves devs with the drivers of one implementation under
// the upsd of another.
func startStackWith(t *testing.T, drivers, impl nuttest.Impl, upsdConf string, devs ...dev) *stack {
	t.Helper()
	d := nuttest.NewDir(t)
	var secs []nuttest.Section
	for _, dv := range devs {
		file := dv.name + ".dev"
		if strings.Contains(dv.content, "TIMER") {
			file = dv.name + ".seq"
		}
		d.WriteFile(t, file, dv.content)
		secs = append(secs, nuttest.Section{Name: dv.name, Driver: "dummy-ups", Port: file, Options: []string{"pollinterval = 1"}})
	}
	d.WriteUPSConf(t, nil, secs...)
	nuttest.Build(t, nuttest.PkgUpsd, pkgUpsmon)
	srv := nuttest.StartStack(t, d, drivers, impl, nuttest.UpsdConfig{Users: users, Conf: upsdConf})
	return &stack{impl: impl, dir: d, srv: srv}
}

// set changes a variable through upsd (SET VAR, as upsrw -s does).
func (s *stack) set(t *testing.T, ups, name, value string) {
	t.Helper()
	c := s.srv.Dial(t)
	for _, l := range []string{"USERNAME admin", "PASSWORD adminpass", fmt.Sprintf("SET VAR %s %s %q", ups, name, value)} {
		if r, err := c.Cmd(l); err != nil || !strings.HasPrefix(r, "OK") {
			t.Fatalf("%s: %q, %v", l, r, err)
		}
	}
	c.Close()
	// upsmon may react, and set FSD, before this sees the value.
	waitFor(t, 10*time.Second, fmt.Sprintf("%s %s = %q", ups, name, value), func() bool {
		c, err := nuttest.Connect(s.srv.Addr())
		if err != nil {
			return false
		}
		defer c.Close()
		got, _ := c.GetVar(ups, name)
		return got == value || (name == "ups.status" && got == "FSD "+value)
	})
}

func (s *stack) waitVar(t *testing.T, ups, name, want string) {
	t.Helper()
	var got string
	waitFor(t, 10*time.Second, fmt.Sprintf("%s %s = %q", ups, name, want), func() bool {
		c, err := nuttest.Connect(s.srv.Addr())
		if err != nil {
			return false
		}
		defer c.Close()
		got, _ = c.GetVar(ups, name)
		return got == want
	})
}

func (s *stack) numLogins(t *testing.T, ups string) int {
	t.Helper()
	c := s.srv.Dial(t)
	defer c.Close()
	l, err := c.Cmd("GET NUMLOGINS " + ups)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(l, "NUMLOGINS "+ups+" "))
	return n
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mon is one upsmon process (gonut's or NUT's) with a directory of its
// own: upsmon.conf, notify.sh writing notify.log ("TYPE|UPSNAME|message"),
// shutdown.sh appending a time stamp to shutdown.log, killpower.
type mon struct {
	t    *testing.T
	impl nuttest.Impl
	dir  string
	proc *nuttest.Proc
}

// monConf is what differs between upsmon.conf files.
type monConf struct {
	monitors []string // "ups@addr 1 monp monpass primary"
	extra    string   // further directives
	types    []string // notify types sent to the NOTIFYCMD; allTypes when nil
}

const fastTimings = "POLLFREQ 1\nPOLLFREQALERT 1\nFINALDELAY 1\nHOSTSYNC 10\nDEADTIME 3\nNOCOMMWARNTIME 2\n"

func writeMonDir(t *testing.T, c monConf) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "um")
	if err != nil {
		t.Fatal(err)
	}
	// The monitoring child may run as another user (privilege separation).
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	write := func(name, content string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(filepath.Join(dir, name), mode)
	}
	write("notify.sh", "#!/bin/sh\necho \"$NOTIFYTYPE|$UPSNAME|$1|$(id -u)\" >> "+filepath.Join(dir, "notify.log")+"\n", 0o755)
	write("shutdown.sh", "#!/bin/sh\necho \"$(date +%s.%N) $(id -u)\" >> "+filepath.Join(dir, "shutdown.log")+"\n", 0o755)
	var b strings.Builder
	for _, m := range c.monitors {
		fmt.Fprintf(&b, "MONITOR %s\n", m)
	}
	fmt.Fprintf(&b, "MINSUPPLIES 1\n%s", fastTimings)
	fmt.Fprintf(&b, "SHUTDOWNCMD %q\nNOTIFYCMD %q\nPOWERDOWNFLAG %q\n", filepath.Join(dir, "shutdown.sh"), filepath.Join(dir, "notify.sh"), filepath.Join(dir, "killpower"))
	types := c.types
	if types == nil {
		types = allTypes
	}
	for _, ty := range types {
		fmt.Fprintf(&b, "NOTIFYFLAG %s SYSLOG+EXEC\n", ty)
	}
	b.WriteString(c.extra)
	write("upsmon.conf", b.String(), 0o644)
	return dir
}

func monEnv(dir string) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "NUT_") {
			env = append(env, e)
		}
	}
	return append(env, "NUT_CONFPATH="+dir, "NUT_STATEPATH="+dir, "NUT_ALTPIDPATH="+dir, "LC_ALL=C")
}

// startMon starts gonut's upsmon in the foreground (-F -D) with args.
func startMon(t *testing.T, c monConf, args ...string) *mon {
	t.Helper()
	dir := writeMonDir(t, c)
	bin := nuttest.Program(t, pkgUpsmon)
	p := nuttest.StartProc(t, monEnv(dir), bin, append([]string{"-F", "-D"}, args...)...)
	return &mon{t: t, impl: nuttest.Gonut, dir: dir, proc: p}
}

// startNUTMon starts NUT 2.8.0's upsmon in one process (-p) as root. It
// writes its pid file to /run/nut/<argv[0]>.pid whatever the environment
// says, so each runs under a name of its own.
func startNUTMon(t *testing.T, c monConf) *mon {
	t.Helper()
	if st, err := os.Stat(nutUpsmon); err != nil || st.Mode()&0o111 == 0 {
		nuttest.Missing(t, "NUT 2.8.0's upsmon is not installed: %s (apt-get install nut-client)", nutUpsmon)
	}
	dir := writeMonDir(t, c)
	name := filepath.Join(dir, "upsmon-gonut-test-"+filepath.Base(dir))
	if err := os.Symlink(nutUpsmon, name); err != nil {
		t.Fatal(err)
	}
	p := nuttest.StartProc(t, monEnv(dir), name, "-F", "-p", "-u", nuttest.RunAsUser(), "-D")
	t.Cleanup(func() { os.Remove(filepath.Join("/run/nut", filepath.Base(name)+".pid")) })
	return &mon{t: t, impl: nuttest.NUT, dir: dir, proc: p}
}

func (m *mon) file(name string) string {
	b, _ := os.ReadFile(filepath.Join(m.dir, name))
	return string(b)
}

// notes are the notifications as "TYPE|UPSNAME|message", sorted: each
// NOTIFYCMD runs in the background, so the file's order is not the
// events' order.
func (m *mon) notes() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(m.file("notify.log")))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) >= 3 {
			out = append(out, strings.Join(f[:3], "|"))
		}
	}
	sort.Strings(out)
	return out
}

// types are the notification types, sorted.
func (m *mon) types() []string {
	var out []string
	for _, n := range m.notes() {
		out = append(out, strings.SplitN(n, "|", 2)[0])
	}
	sort.Strings(out)
	return out
}

// waitTypes waits up to d for the notification types to be want (each
// NOTIFYCMD runs in the background and may finish late) and returns the
// last ones seen.
func (m *mon) waitTypes(want []string, d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		got := m.types()
		if slices.Equal(got, want) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *mon) waitNote(typ string, d time.Duration) {
	m.t.Helper()
	waitFor(m.t, d, fmt.Sprintf("%s notification (have %q)", typ, m.types()), func() bool {
		for _, n := range m.types() {
			if n == typ {
				return true
			}
		}
		return false
	})
}

// shutdowns are the SHUTDOWNCMD runs: their times and the uid they ran as.
func (m *mon) shutdowns() (times []float64, uids []string) {
	for _, l := range strings.Split(strings.TrimSpace(m.file("shutdown.log")), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		ts, _ := strconv.ParseFloat(f[0], 64)
		times = append(times, ts)
		uids = append(uids, f[1])
	}
	return
}

func (m *mon) waitShutdown(d time.Duration) float64 {
	m.t.Helper()
	waitFor(m.t, d, "SHUTDOWNCMD of upsmon in "+m.dir, func() bool { ts, _ := m.shutdowns(); return len(ts) > 0 })
	ts, _ := m.shutdowns()
	return ts[0]
}

// waitExit waits for upsmon to exit after its shutdown and returns its
// exit code.
func (m *mon) waitExit(d time.Duration) int {
	m.t.Helper()
	code, ok := m.proc.Wait(d)
	if !ok {
		m.t.Fatalf("upsmon did not exit within %s:\n%s", d, m.proc.Output())
	}
	return code
}

func (m *mon) logHas(s string) bool { return strings.Contains(m.proc.Output(), s) }

func (m *mon) waitLog(s string, d time.Duration) {
	m.t.Helper()
	waitFor(m.t, d, fmt.Sprintf("%q in upsmon's log", s), func() bool { return m.logHas(s) })
}

// killpower reports whether POWERDOWNFLAG was written with NUT's magic.
func (m *mon) killpower() bool { return m.file("killpower") == "upsmon-shutdown-file" }

// stuckLogin logs in to ups as a secondary and never logs out: a
// secondary upsmon that hangs during shutdown.
func stuckLogin(t *testing.T, s *stack, ups string) {
	t.Helper()
	c, err := net.Dial("tcp", s.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "USERNAME mons\nPASSWORD monspass\nLOGIN %s\n", ups)
	r := bufio.NewReader(c)
	for i := 0; i < 3; i++ {
		if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "OK") {
			t.Fatalf("stuck secondary's login: %q, %v", l, err)
		}
	}
}

// watchStatus records when ups.status first holds each word.
type watcher struct {
	mu    sync.Mutex
	first map[string]time.Time
	stop  chan struct{}
}

func watchStatus(t *testing.T, s *stack, ups string) *watcher {
	w := &watcher{first: map[string]time.Time{}, stop: make(chan struct{})}
	c, err := nuttest.Connect(s.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.Close()
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			st, err := c.GetVar(ups, "ups.status")
			if err != nil {
				continue
			}
			now := time.Now()
			w.mu.Lock()
			for _, f := range strings.Fields(st) {
				if _, ok := w.first[f]; !ok {
					w.first[f] = now
				}
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { close(w.stop); <-done })
	return w
}

func (w *watcher) when(word string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ts, ok := w.first[word]
	return ts, ok
}

// stopMon sends SIGTERM and waits for the exit.
func (m *mon) stop() int {
	m.t.Helper()
	_ = m.proc.Signal(syscall.SIGTERM)
	return m.waitExit(10 * time.Second)
}
