package nutcli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

func TestGetopt(t *testing.T) {
	const spec = "lhu:p:t:wV"
	tests := []struct {
		args []string
		opts string // letters read, with =arg for arguments and !msg for errors
		rest []string
	}{
		{[]string{}, "", nil},
		{[]string{"ups", "-l"}, "", []string{"ups", "-l"}},
		{[]string{"-l", "ups", "cmd"}, "l", []string{"ups", "cmd"}},
		{[]string{"-wl", "ups"}, "w l", []string{"ups"}},
		{[]string{"-uadmin", "-p", "pw", "ups"}, "u=admin p=pw", []string{"ups"}},
		{[]string{"-wuadmin", "ups"}, "w u=admin", []string{"ups"}},
		{[]string{"-u", "-p", "ups"}, "u=-p", []string{"ups"}},
		{[]string{"-u", "--", "ups"}, "u=--", []string{"ups"}},
		{[]string{"--", "-l", "ups"}, "", []string{"-l", "ups"}},
		{[]string{"-", "-l"}, "", []string{"-", "-l"}},
		{[]string{"-x", "-l"}, "?!prog: invalid option -- 'x' l", nil},
		{[]string{"-lxw"}, "l ?!prog: invalid option -- 'x' w", nil},
		{[]string{"--foo"}, "?!prog: invalid option -- '-' ?!prog: invalid option -- 'f' ?!prog: invalid option -- 'o' ?!prog: invalid option -- 'o'", nil},
		{[]string{"-:"}, "?!prog: invalid option -- ':'", nil},
		{[]string{"-l", "-u"}, "l ?!prog: option requires an argument -- 'u'", nil},
		{[]string{"-t", ""}, "t=", nil},
	}
	for _, tc := range tests {
		g := NewGetopt(append([]string{"prog"}, tc.args...), spec)
		var got []string
		for {
			o, more := g.Next()
			if !more {
				break
			}
			s := string(o.Letter)
			if strings.ContainsRune("upt", rune(o.Letter)) {
				s += "=" + o.Arg
			}
			if o.Err != "" {
				s += "!" + o.Err
			}
			got = append(got, s)
		}
		if strings.Join(got, " ") != tc.opts || !reflect.DeepEqual(g.Rest(), tc.rest) {
			t.Errorf("%q: options %q rest %q; want %q rest %q", tc.args, strings.Join(got, " "), g.Rest(), tc.opts, tc.rest)
		}
	}
}

func TestParseUint(t *testing.T) {
	tests := []struct {
		in   string
		want uint
		err  string
	}{
		{"10", 10, ""}, {"0", 0, ""}, {" 7 ", 7, ""}, {"\t3\n", 3, ""}, {"007", 7, ""},
		{"4294967295", 4294967295, ""},
		{"4294967296", 0, "Numerical result out of range"},
		{"99999999999999999999999", 0, "Numerical result out of range"},
		{"", 0, "Invalid argument"}, {"  ", 0, "Invalid argument"}, {"-5", 0, "Invalid argument"},
		{"+5", 0, "Invalid argument"}, {"5x", 0, "Invalid argument"}, {"abc", 0, "Invalid argument"},
		{"1 2", 0, "Invalid argument"}, {"0x10", 0, "Invalid argument"},
	}
	for _, tc := range tests {
		got, err := ParseUint(tc.in)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if got != tc.want || msg != tc.err {
			t.Errorf("ParseUint(%q) = %d, %q; want %d, %q", tc.in, got, msg, tc.want, tc.err)
		}
	}
	if _, err := ParseUint("x"); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("errors.Is(err, EINVAL) false for %v", err)
	}
}

// TestPromptWithoutTerminal: with no terminal, the password prompt goes to
// stderr and the answer comes from stdin, after the username, as glibc's
// getpass does.
func TestPromptWithoutTerminal(t *testing.T) {
	tests := []struct {
		in               string
		user, pass       string
		userOK           bool
		stdout, stderr   string
		noTTYOpenerGiven bool
	}{
		{in: "admin\nsecret\n", user: "admin\n", userOK: true, pass: "secret", stdout: "User: ", stderr: "Password: "},
		{in: "admin\nsecret", user: "admin\n", userOK: true, pass: "secret", stdout: "User: ", stderr: "Password: "},
		{in: "admin", user: "admin", userOK: true, pass: "", stdout: "User: ", stderr: "Password: "},
		{in: "", user: "", userOK: false, pass: "", stdout: "User: ", stderr: "Password: "},
		{in: "\n\n", user: "\n", userOK: true, pass: "", stdout: "User: ", stderr: "Password: ", noTTYOpenerGiven: true},
		{in: "a b\n p#w \"x\" \n", user: "a b\n", userOK: true, pass: ` p#w "x" `, stdout: "User: ", stderr: "Password: "},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		p := Prompter{Stdin: strings.NewReader(tc.in), Stdout: &stdout, Stderr: &stderr}
		if !tc.noTTYOpenerGiven {
			p.OpenTTY = func() (*os.File, error) { return nil, errors.New("no tty") }
		}
		user, ok, err := p.ReadLine("User: ")
		if err != nil || user != tc.user || ok != tc.userOK {
			t.Errorf("%q: ReadLine = %q, %v, %v; want %q, %v", tc.in, user, ok, err, tc.user, tc.userOK)
		}
		pass, err := p.Password("Password: ")
		if err != nil || pass != tc.pass {
			t.Errorf("%q: Password = %q, %v; want %q", tc.in, pass, err, tc.pass)
		}
		if stdout.String() != tc.stdout || stderr.String() != tc.stderr {
			t.Errorf("%q: stdout %q stderr %q; want %q, %q", tc.in, stdout.String(), stderr.String(), tc.stdout, tc.stderr)
		}
	}
}

// openPTY opens a pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Skipf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Skipf("ptsname: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pts: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// TestPasswordOnTerminal: on a terminal the password is read with echo
// off, a newline is echoed after it, and the terminal's modes are restored.
func TestPasswordOnTerminal(t *testing.T) {
	master, slave := openPTY(t)
	before, err := getTermios(int(slave.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	p := Prompter{
		Stdin:  strings.NewReader("never read\n"),
		Stdout: io.Discard, Stderr: &stderr,
		OpenTTY: func() (*os.File, error) { return os.OpenFile(slave.Name(), os.O_RDWR|syscall.O_NOCTTY, 0) },
	}
	type answer struct {
		pw  string
		err error
	}
	done := make(chan answer, 1)
	go func() {
		pw, err := p.Password("Password: ")
		done <- answer{pw, err}
	}()
	// Type the password only once the prompt is out: echo is off by then,
	// and getpass discards what was typed before (TCSAFLUSH).
	seen := readUntil(t, master, "Password: ")
	if _, err := master.Write([]byte("s3cret\n")); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a.err != nil || a.pw != "s3cret" {
		t.Fatalf("Password = %q, %v", a.pw, a.err)
	}
	seen += readUntil(t, master, "\n")
	if strings.Contains(seen, "s3cret") {
		t.Errorf("the password was echoed: %q", seen)
	}
	if seen != "Password: \r\n" {
		t.Errorf("terminal shows %q, want %q", seen, "Password: \r\n")
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr got %q with a terminal", stderr.String())
	}
	after, err := getTermios(int(slave.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag {
		t.Errorf("terminal modes not restored: lflag %#x, was %#x", after.Lflag, before.Lflag)
	}
}

// readUntil reads the pty master until what was read ends with suffix.
func readUntil(t *testing.T, master *os.File, suffix string) string {
	t.Helper()
	_ = master.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	buf := make([]byte, 1)
	for !strings.HasSuffix(string(got), suffix) {
		if _, err := master.Read(buf); err != nil {
			t.Fatalf("reading the terminal after %q: %v", got, err)
		}
		got = append(got, buf[0])
	}
	return string(got)
}

func TestStrerror(t *testing.T) {
	if got := Strerror(fmt.Errorf("read: %w", syscall.EIO)); got != "Input/output error" {
		t.Errorf("Strerror = %q", got)
	}
	if got := Strerror(errors.New("plain")); got != "plain" {
		t.Errorf("Strerror = %q", got)
	}
}
