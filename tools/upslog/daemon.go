package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/gonut/gonut/sdk/nutconf"
)

// envReadyFD marks a background child and names the descriptor it
// reports readiness on. NUT forks; Go starts itself again instead.
const envReadyFD = "GONUT_UPSLOG_READY_FD"

// daemonize starts upslog again in the background, in a session of its
// own, and returns 0 once the child logs (its pid file written) or 1 when
// it failed, its errors having gone to our stderr.
func daemonize(stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "Unable to enter background: cannot find own executable: %v\n", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "Unable to enter background: %v\n", err)
		return 1
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), envReadyFD+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stderr = stderr // until the child is ready
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		r.Close()
		fmt.Fprintf(stderr, "Unable to enter background: %v\n", err)
		return 1
	}
	w.Close()
	buf := make([]byte, 1)
	n, _ := r.Read(buf)
	r.Close()
	if n == 1 {
		_ = cmd.Process.Release()
		return 0
	}
	_ = cmd.Wait()
	return 1
}

// ready tells the waiting parent that the child runs, and lets go of the
// terminal: stdin, stdout and stderr become /dev/null, as after NUT's
// background().
func ready() {
	if fd, err := strconv.Atoi(os.Getenv(envReadyFD)); err == nil {
		f := os.NewFile(uintptr(fd), "ready")
		_, _ = f.Write([]byte{'\n'})
		f.Close()
	}
	os.Unsetenv(envReadyFD)
	if null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0); err == nil {
		for _, fd := range []int{0, 1, 2} {
			_ = syscall.Dup3(int(null.Fd()), fd, 0)
		}
		null.Close()
	}
}

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
