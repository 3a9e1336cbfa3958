package nutcli

import (
	"syscall"
	"unsafe"
)

type termios = syscall.Termios

const (
	lflagEcho = syscall.ECHO
	lflagISig = syscall.ISIG
)

func getTermios(fd int) (*termios, error) {
	var t termios
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCGETS, uintptr(unsafe.Pointer(&t))); e != 0 {
		return nil, e
	}
	return &t, nil
}

// setTermios applies t once the output has drained, discarding pending
// input: tcsetattr(TCSAFLUSH), as getpass does. TCSETSF follows TCSETS
// by two on every Linux architecture.
func setTermios(fd int, t *termios) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCSETS+2, uintptr(unsafe.Pointer(t))); e != 0 {
		return e
	}
	return nil
}
