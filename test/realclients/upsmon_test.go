package realclients

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

// nutPidPath is where Debian's upsmon 2.8.0 writes its pid file whatever
// the environment says: /run/nut/<argv[0] base name>.pid. Each upsmon here
// runs under a name of its own, so it neither finds another one's pid
// file ("a previous upsmon instance is already running") nor leaves one
// another would find.
const nutPidPath = "/run/nut"

// notifyTypes are the notifications upsmon 2.8.0 knows; every one is sent
// to the NOTIFYCMD.
var notifyTypes = []string{"ONLINE", "ONBATT", "LOWBATT", "FSD", "COMMOK", "COMMBAD", "SHUTDOWN", "REPLBATT", "NOCOMM", "NOPARENT"}

// upsmon is one run of NUT's upsmon: -F (foreground), -p (one process, no
// privileged parent to chase) and -u the test's user, with a config of its
// own whose SHUTDOWNCMD and NOTIFYCMD write into its directory.
type upsmon struct {
	role string // "primary" or "secondary"
	dir  string
	name string // argv[0]
	cmd  *exec.Cmd
	out  bytes.Buffer
	mu   sync.Mutex
	done chan struct{}
}

func (m *upsmon) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.Write(p)
}

func (m *upsmon) output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.String()
}

func startUpsmon(t *testing.T, role, addr, user, pass string) *upsmon {
	t.Helper()
	dir := t.TempDir()
	m := &upsmon{role: role, dir: dir, done: make(chan struct{})}
	m.name = "upsmon-gonut-test-" + filepath.Base(filepath.Dir(dir)) + "-" + role
	write := func(name, content string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	// The NOTIFYCMD records the type and UPS from its environment and the
	// message from its argument; the SHUTDOWNCMD leaves a file.
	write("notify.sh", "#!/bin/sh\necho \"$NOTIFYTYPE|$UPSNAME|$*\" >> "+filepath.Join(dir, "notify.log")+"\n", 0o755)
	write("shutdown.sh", "#!/bin/sh\necho shutdown >> "+filepath.Join(dir, "shutdown.log")+"\n", 0o755)
	var conf strings.Builder
	fmt.Fprintf(&conf, "RUN_AS_USER %s\n", nuttest.RunAsUser())
	fmt.Fprintf(&conf, "MONITOR ups@%s 1 %s %s %s\n", addr, user, pass, role)
	fmt.Fprintf(&conf, "MINSUPPLIES 1\nPOLLFREQ 1\nPOLLFREQALERT 1\nHOSTSYNC 10\nDEADTIME 15\nFINALDELAY 0\n")
	fmt.Fprintf(&conf, "SHUTDOWNCMD %q\nNOTIFYCMD %q\nPOWERDOWNFLAG %q\n",
		filepath.Join(dir, "shutdown.sh"), filepath.Join(dir, "notify.sh"), filepath.Join(dir, "killpower"))
	for _, ty := range notifyTypes {
		fmt.Fprintf(&conf, "NOTIFYFLAG %s SYSLOG+EXEC\n", ty)
	}
	write("upsmon.conf", conf.String(), 0o600)

	m.cmd = &exec.Cmd{
		Path:   nutUpsmon,
		Args:   []string{m.name, "-F", "-p", "-u", nuttest.RunAsUser(), "-D"},
		Dir:    dir,
		Env:    append(os.Environ(), "NUT_CONFPATH="+dir, "NUT_STATEPATH="+dir, "NUT_ALTPIDPATH="+dir, "LC_ALL=C"),
		Stdout: m, Stderr: m, WaitDelay: 2 * time.Second,
	}
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start upsmon: %v", err)
	}
	go func() {
		_ = m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		select {
		case <-m.done:
		default:
			_ = m.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-m.done:
			case <-time.After(5 * time.Second):
				_ = m.cmd.Process.Kill()
				<-m.done
			}
		}
		_ = os.Remove(filepath.Join(nutPidPath, m.name+".pid"))
		if t.Failed() {
			t.Logf("upsmon %s output:\n%s\nnotify.log:\n%s", m.role, m.output(), m.file("notify.log"))
		}
	})
	return m
}

func (m *upsmon) file(name string) string {
	b, err := os.ReadFile(filepath.Join(m.dir, name))
	if err != nil {
		return ""
	}
	return string(b)
}

// notifications returns the "TYPE|UPSNAME|message" lines the NOTIFYCMD
// got, sorted: upsmon starts one NOTIFYCMD per event without waiting, so
// the order in which they write is not the order of the events.
func (m *upsmon) notifications() []string {
	n := strings.Split(strings.TrimSuffix(m.file("notify.log"), "\n"), "\n")
	slices.Sort(n)
	return n
}

func (m *upsmon) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-m.done:
		return m.cmd.ProcessState.ExitCode()
	case <-time.After(20 * time.Second):
		t.Fatalf("upsmon %s did not exit after its shutdown:\n%s", m.role, m.output())
		return -1
	}
}

// upsmonResult is what one scenario showed, comparable across stacks.
type upsmonResult struct {
	notify    map[string][]string // notifications by role, the UPS's address replaced by ADDR
	requests  map[string][]string // distinct request/reply pairs by role, in first-seen order
	shutdown  map[string]bool     // SHUTDOWNCMD ran
	killpower map[string]bool     // POWERDOWNFLAG written
	exit      map[string]int
	status    string // ups.status at the end
}

// summary shows the result for comparison; the notifications and
// protocol of the roles in racy are left out (see TestUpsmon).
func (r upsmonResult) summary(racy ...string) string {
	var b strings.Builder
	for _, role := range []string{"primary", "secondary"} {
		fmt.Fprintf(&b, "%s: exit %d, SHUTDOWNCMD ran %v, POWERDOWNFLAG %v\n", role, r.exit[role], r.shutdown[role], r.killpower[role])
		if slices.Contains(racy, role) {
			continue
		}
		fmt.Fprintf(&b, "  notified:\n    %s\n", strings.Join(r.notify[role], "\n    "))
		fmt.Fprintf(&b, "  protocol:\n    %s\n", strings.Join(r.requests[role], "\n    "))
	}
	fmt.Fprintf(&b, "ups.status at the end: %s\n", r.status)
	return b.String()
}

// pairs turns a transcript into "request => reply" pairs, each distinct
// pair once, in the order first seen: how often upsmon polled depends on
// timing, what it asked and was told does not. The password is kept: it
// is the test's.
func pairs(lines []string) []string {
	var out []string
	seen := map[string]bool{}
	var pending []string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "> "):
			pending = append(pending, strings.TrimPrefix(l, "> "))
		case strings.HasPrefix(l, "< ") && len(pending) > 0:
			p := pending[0] + " => " + strings.TrimPrefix(l, "< ")
			pending = pending[1:]
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	for _, req := range pending {
		p := req + " => (no reply)"
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// runUpsmonScenario brings up a stack with a recording proxy in front of
// its upsd and a primary and a secondary upsmon monitoring through it,
// checks that both are logged in, then runs trigger and waits until both
// have run their SHUTDOWNCMD and exited.
func runUpsmonScenario(t *testing.T, k kind, trigger func(t *testing.T, s *stack, primary *upsmon)) upsmonResult {
	t.Helper()
	s := startStack(t, k)
	p := startProxy(t, s.upsd.Addr())
	mons := map[string]*upsmon{
		"primary":   startUpsmon(t, "primary", p.Addr, "monp", "monpass"),
		"secondary": startUpsmon(t, "secondary", p.Addr, "mons", "monspass"),
	}
	c := s.upsd.Dial(t)
	// Both logged in: upsd counts two logins to the UPS and lists both
	// clients (through the proxy, both from 127.0.0.1).
	waitFor(t, 20*time.Second, "two upsmon logins", func() bool {
		l, err := c.Cmd("GET NUMLOGINS ups")
		return err == nil && l == "NUMLOGINS ups 2"
	})
	list, err := c.List("LIST CLIENT ups")
	if err != nil || !slices.Equal(list, []string{"BEGIN LIST CLIENT ups", "CLIENT ups 127.0.0.1", "CLIENT ups 127.0.0.1", "END LIST CLIENT ups"}) {
		t.Errorf("%s: LIST CLIENT ups = %q, %v", k, list, err)
	}
	// The primary asked for, and was granted, primary mode; the secondary
	// did not ask.
	byRole := map[string]*session{}
	waitFor(t, 10*time.Second, "both to log in and poll", func() bool {
		byRole = map[string]*session{}
		for _, sess := range p.Sessions() {
			lines := strings.Join(sess.Lines(), "\n")
			switch {
			case !strings.Contains(lines, `< VAR ups ups.status "OL"`):
				// Not polled yet: the comparison needs the state before.
			case strings.Contains(lines, "> USERNAME monp") && strings.Contains(lines, "< OK PRIMARY-GRANTED"):
				byRole["primary"] = sess
			case strings.Contains(lines, "> USERNAME mons") && strings.Contains(lines, "> LOGIN ups\n< OK"):
				byRole["secondary"] = sess
			}
		}
		return len(byRole) == 2
	})
	if strings.Contains(strings.Join(byRole["secondary"].Lines(), "\n"), "PRIMARY") {
		t.Errorf("%s: the secondary asked for primary mode", k)
	}

	trigger(t, s, mons["primary"])

	r := upsmonResult{notify: map[string][]string{}, requests: map[string][]string{}, shutdown: map[string]bool{},
		killpower: map[string]bool{}, exit: map[string]int{}}
	for role, m := range mons {
		waitFor(t, 30*time.Second, role+"'s SHUTDOWNCMD", func() bool { return m.file("shutdown.log") != "" })
		r.exit[role] = m.exitCode(t)
		r.shutdown[role] = m.file("shutdown.log") == "shutdown\n"
		_, err := os.Stat(filepath.Join(m.dir, "killpower"))
		r.killpower[role] = err == nil
		for _, n := range m.notifications() {
			r.notify[role] = append(r.notify[role], strings.ReplaceAll(n, p.Addr, "ADDR"))
		}
		for _, pr := range pairs(byRole[role].Lines()) {
			r.requests[role] = append(r.requests[role], strings.ReplaceAll(pr, p.Addr, "ADDR"))
		}
	}
	// Once both have shut down, neither is logged in any more.
	waitFor(t, 10*time.Second, "both upsmon to log out", func() bool {
		l, err := c.Cmd("GET NUMLOGINS ups")
		return err == nil && l == "NUMLOGINS ups 0"
	})
	r.status, _ = c.GetVar("ups", "ups.status")
	return r
}

// TestUpsmon runs NUT's upsmon 2.8.0 as primary and as secondary against
// each stack, in two scenarios, and requires the same behaviour from all:
//
//   - power fails (ups.status set to "OB LB" through upsrw): the primary
//     notifies ONBATT and LOWBATT, sets FSD on upsd, waits for the
//     secondary to log out, writes POWERDOWNFLAG and runs SHUTDOWNCMD; the
//     secondary shuts down too.
//   - the primary forces a shutdown while on line power (upsmon -c fsd,
//     i.e. SIGUSR1): the secondary sees FSD in ups.status ("FSD OL"),
//     notifies FSD and SHUTDOWN and runs its SHUTDOWNCMD.
//
// NOTIFYCMD gets NOTIFYTYPE and UPSNAME in its environment and the message
// as its argument. The protocol each upsmon spoke (distinct requests and
// replies) is the same against gonut's upsd as against NUT's.
func TestUpsmon(t *testing.T) {
	t.Parallel()
	requireClients(t, nutUpsmon, nutUpsrw)
	scenarios := []struct {
		name    string
		trigger func(t *testing.T, s *stack, primary *upsmon)
		check   func(t *testing.T, k kind, r upsmonResult)
		// racy roles see the same events in an order that depends on
		// timing; their notifications and protocol are not compared.
		racy []string
	}{
		{
			name: "OB LB",
			trigger: func(t *testing.T, s *stack, _ *upsmon) {
				out := clientOutput(t, nutUpsrw, "-s", "ups.status=OB LB", "-u", "admin", "-p", "adminpass", "-w", "ups@"+s.upsd.Addr())
				if out != "exit 0\nSUCCESS\n" {
					t.Fatalf("%s: upsrw -s ups.status=OB LB -w: %s", s.kind, out)
				}
			},
			check: func(t *testing.T, k kind, r upsmonResult) {
				if !slices.Contains(r.requests["primary"], "FSD ups => OK FSD-SET") {
					t.Errorf("%s: the primary did not set FSD: %q", k, r.requests["primary"])
				}
				want := []string{"LOWBATT|ups@ADDR|UPS ups@ADDR battery is low", "ONBATT|ups@ADDR|UPS ups@ADDR on battery", "SHUTDOWN||Auto logout and shutdown proceeding"}
				if !slices.Equal(r.notify["primary"], want) {
					t.Errorf("%s: the primary notified %q, want %q", k, r.notify["primary"], want)
				}
				if !r.killpower["primary"] {
					t.Errorf("%s: the primary wrote no POWERDOWNFLAG", k)
				}
				if r.status != "FSD OB LB" {
					t.Errorf("%s: ups.status %q at the end, want FSD OB LB", k, r.status)
				}
			},
			// The secondary reads either OB LB, and shuts down on its own,
			// or already FSD OB LB, depending on when it polls.
			racy: []string{"secondary"},
		},
		{
			name: "FSD from the primary",
			trigger: func(t *testing.T, s *stack, primary *upsmon) {
				if err := primary.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
					t.Fatalf("upsmon -c fsd (SIGUSR1 to the primary): %v", err)
				}
			},
			check: func(t *testing.T, k kind, r upsmonResult) {
				want := []string{"FSD|ups@ADDR|UPS ups@ADDR: forced shutdown in progress", "SHUTDOWN||Auto logout and shutdown proceeding"}
				if !slices.Equal(r.notify["secondary"], want) {
					t.Errorf("%s: the secondary notified %q, want %q", k, r.notify["secondary"], want)
				}
				if !slices.Contains(r.requests["secondary"], `GET VAR ups ups.status => VAR ups ups.status "FSD OL"`) {
					t.Errorf("%s: the secondary never read FSD OL: %q", k, r.requests["secondary"])
				}
				if r.status != "FSD OL" {
					t.Errorf("%s: ups.status %q at the end, want FSD OL", k, r.status)
				}
			},
		},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			results := make([]upsmonResult, 3)
			t.Run("stacks", func(t *testing.T) {
				for _, k := range []kind{nutStack, gonutUpsd, gonutStack} {
					t.Run(k.String(), func(t *testing.T) {
						t.Parallel()
						r := runUpsmonScenario(t, k, sc.trigger)
						for _, role := range []string{"primary", "secondary"} {
							if !r.shutdown[role] || r.exit[role] != 0 {
								t.Errorf("%s: the %s's SHUTDOWNCMD ran %v, exit %d", k, role, r.shutdown[role], r.exit[role])
							}
						}
						sc.check(t, k, r)
						results[k] = r
					})
				}
			})
			if t.Failed() {
				return
			}
			want := results[nutStack].summary(sc.racy...)
			for _, k := range []kind{gonutUpsd, gonutStack} {
				if got := results[k].summary(sc.racy...); got != want {
					t.Errorf("upsmon against %s differs from NUT upsd (- NUT, + gonut):\n%s", k, nuttest.Diff(want, got))
				}
			}
			if testing.Verbose() {
				for _, k := range []kind{nutStack, gonutUpsd, gonutStack} {
					t.Logf("%s:\n%s", k, results[k].summary())
				}
			}
		})
	}
}
