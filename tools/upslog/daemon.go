package main

import (
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/gonut/gonut/sdk/daemon"
	"github.com/gonut/gonut/sdk/nutconf"
)

// envReadyFD marks a background child and names the descriptor it
// reports readiness on. NUT forks; Go starts itself again instead.
const envReadyFD = "GONUT_UPSLOG_READY_FD"

// daemonize starts upslog again in the background and returns 0 once the
// child logs (its pid file written) or 1 when it failed, its errors having
// gone to our stderr.
func daemonize(stderr io.Writer) int {
	ok, err := daemon.Start(envReadyFD, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "Unable to enter background: %v\n", err)
		return 1
	}
	if ok {
		return 0
	}
	return 1
}

// ready tells the waiting parent that the child runs.
func ready() { daemon.Ready(envReadyFD) }

// pidPath is where the pid file for -p base goes: base itself when it is
// an absolute path, as in NUT; else base.pid in $NUT_PIDPATH (NUT's own
// override), $NUT_ALTPIDPATH or the state path. NUT 2.8.0 uses its
// compiled-in /run/nut instead of the last two.
func pidPath(base string) string {
	if strings.HasPrefix(base, "/") {
		return base
	}
	dir := os.Getenv("NUT_PIDPATH")
	if dir == "" {
		dir = os.Getenv("NUT_ALTPIDPATH")
	}
	if dir == "" {
		dir = nutconf.StatePath()
	}
	return filepath.Join(dir, base+".pid")
}

// writePid writes "<pid>\n" with mode 0644, as NUT's writepid.
func writePid(fn string) error {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	return os.WriteFile(fn, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// removePid removes the pid file at exit if it still names this process
// (NUT leaves it behind).
func removePid(fn string) {
	b, err := os.ReadFile(fn)
	if err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		_ = os.Remove(fn)
	}
}

// becomeUser switches to u when running as root, as NUT's become_user:
// supplementary groups, group, then user. Anyone else keeps their
// identity.
func becomeUser(u *user.User) error {
	if os.Geteuid() != 0 || u == nil {
		return nil
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("user %s: uid %q: %w", u.Username, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("user %s: gid %q: %w", u.Username, u.Gid, err)
	}
	var groups []int
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.Atoi(s); err == nil {
				groups = append(groups, g)
			}
		}
	}
	if len(groups) == 0 {
		groups = []int{gid}
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("initgroups for user %s: %s", u.Username, strerror(err))
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid %d (user %s): %s", gid, u.Username, strerror(err))
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid %d (user %s): %s", uid, u.Username, strerror(err))
	}
	return nil
}
