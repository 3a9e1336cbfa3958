package upssched_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

func TestMain(m *testing.M) { nuttest.Main(m) }

// nutUpssched is Debian's NUT 2.8.0 upssched.
const nutUpssched = "/sbin/upssched"

const pkgUpssched = "./tools/upssched"

// cmdScript logs each call as one line: the argument count, the arguments
// separated by |, and the UPSNAME and NOTIFYTYPE it was run with.
const cmdScript = `#!/bin/sh
{
  printf '%s' "$#"
  for a in "$@"; do printf '|%s' "$a"; done
  printf ' [%s %s]\n' "$UPSNAME" "$NOTIFYTYPE"
} >> "$(dirname "$0")/calls.log"
`

// setup is one upssched under test in its own directory.
type setup struct {
	prog string
	dir  *nuttest.Dir
}

func newSetup(t *testing.T, prog, atLines string) *setup {
	t.Helper()
	d := nuttest.NewDir(t)
	d.WriteFile(t, "cmd.sh", cmdScript)
	if err := os.Chmod(d.Join("cmd.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	d.WriteFile(t, "upssched.conf", fmt.Sprintf("CMDSCRIPT %s\nPIPEFN %s\nLOCKFN %s\n%s",
		d.Join("cmd.sh"), d.Join("upssched.pipe"), d.Join("upssched.lock"), atLines))
	s := &setup{prog: prog, dir: d}
	// The timer daemon is a detached child of upssched: if it is still
	// there when the test ends, stop it by the pid that listens on PIPEFN.
	t.Cleanup(func() {
		if pid := listenerPID(d.Join("upssched.pipe")); pid > 0 {
			t.Logf("stopping timer daemon pid %d left running", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return s
}

// call runs upssched as upsmon would: NOTIFYTYPE and UPSNAME in the
// environment, the message as its argument.
func (s *setup) call(t *testing.T, notifyType, ups string) nuttest.Result {
	t.Helper()
	env := append(s.dir.Env(), "NOTIFYTYPE="+notifyType, "UPSNAME="+ups)
	for try := 1; ; try++ {
		var stdout, stderr strings.Builder
		cmd := exec.Command(s.prog, fmt.Sprintf("UPS %s: %s", ups, notifyType))
		cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, &stderr
		err := cmd.Run()
		r := nuttest.Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
		// NUT 2.8.0's upssched was seen killed by a signal when called
		// just as its daemon was leaving (its queue empty): writing the
		// request to a connection the daemon has closed raises SIGPIPE,
		// which NUT's upssched does not ignore, so the event is lost.
		// gonut's client gets EPIPE and tries again. Ask NUT's again so
		// that the comparison is about timers, and say so.
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGPIPE && s.prog == nutUpssched && try < 3 {
			t.Logf("NUT's upssched with %s %s died of SIGPIPE (its daemon was leaving); calling it again", notifyType, ups)
			continue
		}
		if err != nil || r.Code != 0 {
			t.Fatalf("%s with %s %s: %v\n%s", s.prog, notifyType, ups, err, r)
		}
		return r
	}
}

func (s *setup) calls() []string {
	b, err := os.ReadFile(s.dir.Join("calls.log"))
	if err != nil || len(b) == 0 {
		return nil
	}
	// Only whole lines: the script may be writing one right now.
	whole := string(b[:strings.LastIndexByte(string(b), '\n')+1])
	if whole == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(whole, "\n"), "\n")
}

// waitCalls waits until CMDSCRIPT has been run n times in all.
func (s *setup) waitCalls(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for len(s.calls()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("CMDSCRIPT ran %d times, want %d: %q", len(s.calls()), n, s.calls())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitDaemonGone waits until the timer daemon has left: PIPEFN removed and
// nothing listening on it.
func (s *setup) waitDaemonGone(t *testing.T, within time.Duration) {
	t.Helper()
	pipe := s.dir.Join("upssched.pipe")
	deadline := time.Now().Add(within)
	for {
		_, err := os.Stat(pipe)
		if os.IsNotExist(err) && listenerPID(pipe) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timer daemon still there after %s (pid %d, %s: %v)", within, listenerPID(pipe), pipe, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// listenerPID returns the pid of the process listening on the unix socket
// at path, or 0.
func listenerPID(path string) int {
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return 0
	}
	// Accepted connections show the path too: take the listening socket
	// (flag __SO_ACCEPTCON).
	var inode string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || f[7] != path {
			continue
		}
		if flags, err := strconv.ParseUint(f[3], 16, 32); err == nil && flags&0x10000 != 0 {
			inode = f[6]
		}
	}
	if inode == "" {
		return 0
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		if l, err := os.Readlink(fd); err == nil && l == "socket:["+inode+"]" {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid
		}
	}
	return 0
}

func requireNUTUpssched(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(nutUpssched); err != nil {
		nuttest.Missing(t, "NUT 2.8.0's upssched is not installed: %s is missing (apt-get install nut-client)", nutUpssched)
	}
}

// diffConf uses only what NUT 2.8.0 knows: START-TIMER, CANCEL-TIMER and
// EXECUTE. Timers that are cancelled last 3 s: NUT counts whole seconds, so
// its timer of n seconds fires n-1 to n s after it was started, and the
// cancelling call (a new process each time) must come before.
const diffConf = `
AT ONBATT * EXECUTE onbatt-now
AT ONBATT * START-TIMER onbatt 3
AT ONLINE * CANCEL-TIMER onbatt nothing-to-cancel
AT ONLINE ups1@h EXECUTE "online ups1"
AT LOWBATT * START-TIMER lowbatt 3
AT COMMBAD * START-TIMER commbad 3
AT COMMOK * CANCEL-TIMER commbad
AT fsd * EXECUTE fsd
`

// TestDifferential runs NUT 2.8.0's upssched and gonut's with the same
// configuration and the same sequence of calls, and compares the CMDSCRIPT
// runs: arguments and order. The environment a timer's command gets is
// not compared: NUT gives every timer the UPSNAME/NOTIFYTYPE of the call
// that started its daemon, gonut those of the call that started the timer
// (checked in TestTimerEnvironment).
func TestDifferential(t *testing.T) {
	t.Parallel()
	want := []string{
		"1|onbatt-now",                 // ONBATT ups1: EXECUTE; timer onbatt
		"2|online|ups1",                // ONLINE ups1: onbatt cancelled, EXECUTE "online ups1" (2 words: NUT's system())
		"1|nothing-to-cancel",          // ONLINE ups2: no onbatt to cancel
		"1|onbatt-now", "1|onbatt-now", // ONBATT ups1, ups2: two timers of one name
		"1|onbatt", "1|onbatt", // both fire
		"1|onbatt-now", "1|onbatt-now", // ONBATT ups1, ups2, then ONLINE ups2 cancels one
		"1|onbatt",
		"1|fsd", // LOWBATT starts lowbatt (2 s), FSD (lower case in the file) runs at once
		"1|lowbatt",
	}
	impls := []struct {
		name string
		prog func(t *testing.T) string
		// settled waits until no timer is left that could still fire.
		settled func(t *testing.T, s *setup)
	}{
		// NUT 2.8.0's daemon leaves as soon as its queue is empty.
		{"NUT", func(t *testing.T) string { requireNUTUpssched(t); return nutUpssched },
			func(t *testing.T, s *setup) { s.waitDaemonGone(t, 10*time.Second) }},
		// gonut's stays 15 s (tested in TestGonut); -l says it has no timer.
		{"gonut", func(t *testing.T) string { return nuttest.Program(t, pkgUpssched) },
			func(t *testing.T, s *setup) {
				if r := nuttest.Run(t, s.dir.Env(), s.prog, "-l"); r.Code != 0 || r.Stdout != "" {
					t.Errorf("timers left: %s", r)
				}
			}},
	}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, impl.prog(t), diffConf)
			s.call(t, "ONBATT", "ups1@h")
			s.call(t, "ONLINE", "ups1@h")
			s.call(t, "ONLINE", "ups2@h")
			s.call(t, "COMMBAD", "ups1@h")
			s.call(t, "COMMOK", "ups1@h")
			s.call(t, "COMMOK", "ups2@h")
			s.call(t, "ONBATT", "ups1@h")
			s.call(t, "ONBATT", "ups2@h")
			s.waitCalls(t, 7)
			s.call(t, "ONBATT", "ups1@h")
			s.call(t, "ONBATT", "ups2@h")
			s.call(t, "ONLINE", "ups2@h")
			s.waitCalls(t, 10)
			s.call(t, "LOWBATT", "ups1@h")
			s.call(t, "FSD", "ups1@h")
			s.waitCalls(t, 12)
			// With no timer left nothing more can run: the cancelled
			// timers (commbad, one onbatt) never fire.
			impl.settled(t, s)
			var got []string
			for _, c := range s.calls() {
				args, _, _ := strings.Cut(c, " [")
				got = append(got, args)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("CMDSCRIPT runs:\n%s", nuttest.Diff(strings.Join(want, "\n"), strings.Join(got, "\n")))
			}
		})
	}
}

// TestNUTHasNoList records that NUT 2.8.0's upssched has no -l: it ignores
// its arguments and wants UPSNAME and NOTIFYTYPE. gonut's -l is an addition.
func TestNUTHasNoList(t *testing.T) {
	t.Parallel()
	requireNUTUpssched(t)
	s := newSetup(t, nutUpssched, "")
	r := nuttest.Run(t, s.dir.Env(), nutUpssched, "-l")
	want := "Error: UPSNAME and NOTIFYTYPE must be set.\nThis program should only be run from upsmon.\n"
	if r.Code != 1 || r.Stdout != want {
		t.Errorf("NUT's upssched -l: %s\nwant exit 1 and %q", r, want)
	}
	g := newSetup(t, nuttest.Program(t, pkgUpssched), "")
	r = nuttest.Run(t, g.dir.Env(), g.prog)
	if r.Code != 1 || r.Stdout != want {
		t.Errorf("gonut's upssched without environment: %s\nwant exit 1 and %q", r, want)
	}
}

// TestGonut covers what has no NUT 2.8.0 counterpart to compare with.
func TestGonut(t *testing.T) {
	t.Parallel()
	prog := nuttest.Program(t, pkgUpssched)

	t.Run("start then cancel runs nothing, and the daemon exits when idle", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, prog, "AT ONBATT * START-TIMER onbatt 3\nAT ONLINE * CANCEL-TIMER onbatt\n")
		s.call(t, "ONBATT", "ups1")
		pid := listenerPID(s.dir.Join("upssched.pipe"))
		if pid == 0 {
			t.Fatal("no timer daemon listens on PIPEFN after START-TIMER")
		}
		s.call(t, "ONLINE", "ups1")
		s.waitDaemonGone(t, 25*time.Second)
		if c := s.calls(); len(c) != 0 {
			t.Errorf("CMDSCRIPT ran: %q", c)
		}
		if _, err := os.Stat(s.dir.Join("upssched.lock")); !os.IsNotExist(err) {
			t.Errorf("LOCKFN left behind: %v", err)
		}
	})

	t.Run("-l lists running timers; shared and matched timers", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, prog, `
AT ONBATT * START-TIMER-SHARED shutdown-soon 30
AT ONBATT * START-TIMER onbatt-${UPSNAME} 30
AT ONBATT ups1 START-TIMER onbatt-ups1 30
AT ONBATT ups2 START-TIMER onbatt-ups2 30
AT ONLINE * CANCEL-TIMER-MATCHED "onbatt-*" none-matched
AT COMMOK * CANCEL-TIMER-MATCHED "shutdown-*"
AT LOWBATT * EXECUTE "$UPSNAME-$NOTIFYTYPE"
`)
		s.call(t, "ONBATT", "ups1")
		s.call(t, "ONBATT", "ups2")
		r := nuttest.Run(t, s.dir.Env(), prog, "-l")
		if r.Code != 0 {
			t.Fatalf("-l: %s", r)
		}
		var names []string
		for _, l := range strings.Split(strings.TrimSuffix(r.Stdout, "\n"), "\n") {
			f := strings.Split(l, "\t")
			if len(f) != 4 {
				t.Fatalf("-l line %q: want name, seconds, UPS, notify type", l)
			}
			if n, err := strconv.Atoi(f[1]); err != nil || n < 1 || n > 30 {
				t.Errorf("-l line %q: seconds left not in 1..30", l)
			}
			names = append(names, f[0]+" "+f[2]+" "+f[3])
		}
		want := []string{
			"shutdown-soon ups1 ONBATT", // shared: ups2's start did not add one
			"onbatt-${UPSNAME} ups1 ONBATT",
			"onbatt-ups1 ups1 ONBATT",
			"onbatt-${UPSNAME} ups2 ONBATT",
			"onbatt-ups2 ups2 ONBATT",
		}
		if !reflect.DeepEqual(names, want) {
			t.Errorf("-l:\n%s", nuttest.Diff(strings.Join(want, "\n"), strings.Join(names, "\n")))
		}
		s.call(t, "ONLINE", "ups1") // cancels all four onbatt-* timers
		r = nuttest.Run(t, s.dir.Env(), prog, "-l")
		if strings.Count(r.Stdout, "\n") != 1 || !strings.HasPrefix(r.Stdout, "shutdown-soon\t") {
			t.Errorf("-l after CANCEL-TIMER-MATCHED: %s", r)
		}
		s.call(t, "ONLINE", "ups2") // nothing left to match: runs none-matched
		s.call(t, "COMMOK", "ups1") // cancels shutdown-soon
		s.call(t, "LOWBATT", "ups3")
		r = nuttest.Run(t, s.dir.Env(), prog, "-l")
		if r.Code != 0 || r.Stdout != "" {
			t.Errorf("-l with no timer left: %s", r)
		}
		// EXECUTE goes through /bin/sh as NUT's system() does.
		want = []string{"1|none-matched [ups2 ONLINE]", "1|ups3-LOWBATT [ups3 LOWBATT]"}
		if got := s.calls(); !reflect.DeepEqual(got, want) {
			t.Errorf("CMDSCRIPT runs %q, want %q", got, want)
		}
	})

	t.Run("concurrent calls start one daemon that holds every timer", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, prog, "AT ONBATT * START-TIMER t 30\nAT ONLINE * CANCEL-TIMER-MATCHED *\n")
		const n = 8
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			go func() {
				env := append(s.dir.Env(), "NOTIFYTYPE=ONBATT", fmt.Sprintf("UPSNAME=ups%d", i))
				cmd := exec.Command(prog)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				if err != nil {
					err = fmt.Errorf("ups%d: %v: %s", i, err, out)
				}
				errs <- err
			}()
		}
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		r := nuttest.Run(t, s.dir.Env(), prog, "-l")
		if got := strings.Count(r.Stdout, "\n"); r.Code != 0 || got != n {
			t.Errorf("-l lists %d timers, want %d: %s", got, n, r)
		}
		s.call(t, "ONLINE", "ups0")
		if r := nuttest.Run(t, s.dir.Env(), prog, "-l"); r.Code != 0 || r.Stdout != "" {
			t.Errorf("-l after cancelling them all: %s", r)
		}
		if c := s.calls(); len(c) != 0 {
			t.Errorf("CMDSCRIPT ran: %q", c)
		}
	})

	t.Run("-l with no daemon lists nothing", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, prog, "")
		if r := nuttest.Run(t, s.dir.Env(), prog, "-l"); r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
			t.Errorf("-l: %s", r)
		}
	})

	t.Run("timer command gets the environment of the call that started it", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, prog, "AT ONBATT * START-TIMER t 1\nAT LOWBATT * START-TIMER t 2\n")
		s.call(t, "ONBATT", "ups1")
		s.call(t, "LOWBATT", "ups2")
		s.waitCalls(t, 2)
		want := []string{"1|t [ups1 ONBATT]", "1|t [ups2 LOWBATT]"}
		if got := s.calls(); !reflect.DeepEqual(got, want) {
			t.Errorf("CMDSCRIPT runs %q, want %q", got, want)
		}
	})

	t.Run("bad configuration lines are named by file:line", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, prog, "AT ONBATT * EXECUTE ok\nFROB 1\nAT ONBATT * START-TIMER t\nAT ONBAT * EXECUTE x\n")
		env := append(s.dir.Env(), "NOTIFYTYPE=ONBATT", "UPSNAME=u")
		r := nuttest.Run(t, env, prog)
		conf := s.dir.Join("upssched.conf")
		for _, w := range []string{
			conf + `:5: unknown directive "FROB"`,
			conf + ":6: START-TIMER takes a timer name and a number of seconds",
			conf + `:7: unknown notify type "ONBAT"`,
		} {
			if !strings.Contains(r.Stderr, w) {
				t.Errorf("stderr lacks %q:\n%s", w, r)
			}
		}
		// The good lines still act, as NUT's upssched skips bad ones too.
		if r.Code != 1 || !reflect.DeepEqual(s.calls(), []string{"1|ok [u ONBATT]"}) {
			t.Errorf("want exit 1 and the good EXECUTE run: %s\ncalls %q", r, s.calls())
		}
	})

	t.Run("AT before CMDSCRIPT is fatal", func(t *testing.T) {
		t.Parallel()
		d := nuttest.NewDir(t)
		d.WriteFile(t, "upssched.conf", "PIPEFN /nonexistent/p\nAT ONBATT * EXECUTE x\n")
		r := nuttest.Run(t, append(d.Env(), "NOTIFYTYPE=ONBATT", "UPSNAME=u"), prog)
		if w := d.Join("upssched.conf") + ":2: CMDSCRIPT, LOCKFN must be set before any AT"; r.Code != 1 || !strings.Contains(r.Stderr, w) {
			t.Errorf("want exit 1 and %q: %s", w, r)
		}
	})
}

// TestMixed runs NUT's upssched and gonut's against one PIPEFN, as happens
// when one replaces the other while a timer daemon runs: each one's client
// talks to the other's daemon. gonut's extended requests carry arguments
// NUT's daemon ignores, and gonut's daemon takes NUT's plain ones.
func TestMixed(t *testing.T) {
	t.Parallel()
	requireNUTUpssched(t)
	gonut := nuttest.Program(t, pkgUpssched)
	const conf = "AT ONBATT * START-TIMER t 3\nAT ONLINE * CANCEL-TIMER t\nAT COMMBAD * START-TIMER u 5\n" +
		"AT LOWBATT * START-TIMER lb 60\n"
	for _, tc := range []struct {
		name            string
		daemon, client  string
		listUnsupported bool
	}{
		{"NUT daemon, gonut client", nutUpssched, gonut, true},
		{"gonut daemon, NUT client", gonut, nutUpssched, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, tc.daemon, conf)
			c := &setup{prog: tc.client, dir: s.dir}
			s.call(t, "LOWBATT", "ups1") // starts the daemon with a long timer
			daemon := listenerPID(s.dir.Join("upssched.pipe"))
			c.call(t, "ONBATT", "ups2")  // the other's client starts t on it
			c.call(t, "ONLINE", "ups2")  // and cancels it
			c.call(t, "COMMBAD", "ups3") // starts u, due after t would have been
			s.waitCalls(t, 1)
			if got := s.calls(); len(got) != 1 || !strings.HasPrefix(got[0], "1|u ") {
				t.Errorf("CMDSCRIPT runs %q, want u alone (t was cancelled)", got)
			}
			if pid := listenerPID(s.dir.Join("upssched.pipe")); pid != daemon {
				t.Errorf("the timer daemon changed (pid %d, then %d): the client did not use the running one", daemon, pid)
			}
			r := nuttest.Run(t, s.dir.Env(), gonut, "-l")
			if tc.listUnsupported {
				if r.Code != 1 || !strings.Contains(r.Stderr, "cannot list its timers") {
					t.Errorf("gonut's -l against NUT's daemon: %s", r)
				}
			} else if r.Code != 0 || !strings.HasPrefix(r.Stdout, "lb\t") {
				t.Errorf("-l: %s", r)
			}
		})
	}
}
