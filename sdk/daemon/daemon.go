// Package daemon puts a program in the background the way NUT's
// background() does, as far as Go allows: Go cannot fork, so the program
// starts itself again in a session of its own, and the parent waits until
// the child says it is ready (exit 0) or has failed (exit 1, the child's
// errors having gone to the parent's stderr until then). A driver in
// standalone mode uses it, and so do gonut's upsd, upsmon and upslog: it
// lives in the sdk module because the sdk module may not import the main
// one, and a vendor's own daemon can use it too.
package daemon

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// IsChild reports whether this process is the background child started by
// Start with the same env name.
func IsChild(env string) bool { return os.Getenv(env) != "" }

// Start runs the program again in the background with the same arguments
// and waits for it: ready is true once the child called Ready, false when
// it exited first. env names the variable that marks the child and carries
// the descriptor it reports on. err is a failure to start the child.
func Start(env string, stderr io.Writer) (ready bool, err error) {
	exe, err := os.Executable()
	if err != nil {
		return false, fmt.Errorf("cannot find own executable: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return false, err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), env+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stderr = stderr // until the child is ready
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		r.Close()
		return false, err
	}
	w.Close()
	buf := make([]byte, 1)
	n, _ := r.Read(buf)
	r.Close()
	if n == 1 {
		_ = cmd.Process.Release()
		return true, nil
	}
	_ = cmd.Wait()
	return false, nil
}

// Ready tells the waiting parent that the child runs, and lets go of the
// terminal: stdin, stdout and stderr become /dev/null, as after NUT's
// background().
func Ready(env string) {
	if fd, err := strconv.Atoi(os.Getenv(env)); err == nil {
		f := os.NewFile(uintptr(fd), "ready")
		_, _ = f.Write([]byte{'\n'})
		f.Close()
	}
	os.Unsetenv(env)
	if null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0); err == nil {
		for _, fd := range []int{0, 1, 2} {
			_ = syscall.Dup3(int(null.Fd()), fd, 0)
		}
		null.Close()
	}
}
