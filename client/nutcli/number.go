package nutcli

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"syscall"
)

// ParseUint reads a base-10 unsigned number as NUT's str_to_uint does:
// white space around it is allowed, a sign is not, and the whole string
// must be the number. The error is the errno NUT reports, EINVAL or
// ERANGE, whose Error text C's strerror gives with its first letter raised
// ("Invalid argument"): NUT prints it after a colon.
func ParseUint(s string) (uint, error) {
	t := strings.TrimFunc(s, isCSpace)
	if t == "" || t[0] == '+' || t[0] == '-' {
		return 0, Errno(syscall.EINVAL)
	}
	for i := 0; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return 0, Errno(syscall.EINVAL)
		}
	}
	n, err := strconv.ParseUint(t, 10, 64)
	if errors.Is(err, strconv.ErrRange) || n > math.MaxUint32 {
		return 0, Errno(syscall.ERANGE)
	}
	if err != nil {
		return 0, Errno(syscall.EINVAL)
	}
	return uint(n), nil
}

func isCSpace(r rune) bool { return r == ' ' || (r >= '\t' && r <= '\r') }

// Errno is a C errno whose message is C's strerror text ("Invalid
// argument", not Go's "invalid argument").
type Errno syscall.Errno

func (e Errno) Error() string {
	s := syscall.Errno(e).Error()
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// Unwrap makes errors.Is(err, syscall.EINVAL) work.
func (e Errno) Unwrap() error { return syscall.Errno(e) }

// Strerror is C's strerror text for the errno inside err ("Input/output
// error"), or err's own text when it carries none.
func Strerror(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return Errno(errno).Error()
	}
	return err.Error()
}
