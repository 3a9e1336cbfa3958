//go:build !linux

package nutcli

import "errors"

// Elsewhere than Linux, passwords are read without turning echo off.
type termios struct{ Lflag uint32 }

const (
	lflagEcho = 0
	lflagISig = 0
)

func getTermios(int) (*termios, error) {
	return nil, errors.New("terminal modes are only handled on Linux")
}

func setTermios(int, *termios) error { return errors.New("terminal modes are only handled on Linux") }
