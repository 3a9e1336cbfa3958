package nutcli

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/user"
	"strconv"
)

// Prompter asks the questions NUT's clients ask when an answer is missing
// from the command line. Its zero value is not usable: set Stdin, Stdout
// and Stderr, and OpenTTY for password prompts on a terminal.
type Prompter struct {
	Stdin  io.Reader // answers: usernames, values, and passwords without a terminal
	Stdout io.Writer // prompts for usernames and values
	Stderr io.Writer // the password prompt when there is no terminal
	// OpenTTY opens the controlling terminal, read-write (OpenTTY in this
	// package opens /dev/tty). When it fails, or is nil, passwords are
	// read from Stdin.
	OpenTTY func() (*os.File, error)

	in *bufio.Reader // Stdin, buffered once as C's stdin is
}

// OpenTTY opens the controlling terminal, /dev/tty, as getpass(3) does.
func OpenTTY() (*os.File, error) {
	return os.OpenFile("/dev/tty", os.O_RDWR, 0)
}

func (p *Prompter) stdin() *bufio.Reader {
	if p.in == nil {
		p.in = bufio.NewReader(p.Stdin)
	}
	return p.in
}

// ReadLine writes prompt on Stdout and reads one line from Stdin, as NUT's
// printf and fgets do: the line is returned with its newline, if it had
// one. ok is false at the end of input with nothing read (fgets returning
// NULL).
func (p *Prompter) ReadLine(prompt string) (line string, ok bool, err error) {
	if _, err := io.WriteString(p.Stdout, prompt); err != nil {
		return "", false, err
	}
	line, err = p.stdin().ReadString('\n')
	switch {
	case err == nil:
		return line, true, nil
	case errors.Is(err, io.EOF):
		return line, line != "", nil
	}
	return line, line != "", err
}

// Password asks for a password as glibc's getpass(3) does, which NUT's
// clients call: on the controlling terminal when there is one, with echo
// off and a newline echoed after the answer; otherwise with the prompt on
// Stderr and the answer read from Stdin. The trailing newline is removed.
// At the end of input the answer is "", as getpass gives.
func (p *Prompter) Password(prompt string) (string, error) {
	var (
		in  *bufio.Reader
		out io.Writer
		fd  = -1
	)
	if p.OpenTTY != nil {
		if tty, err := p.OpenTTY(); err == nil {
			defer tty.Close()
			in, out, fd = bufio.NewReader(tty), tty, int(tty.Fd())
		}
	}
	if in == nil {
		in, out = p.stdin(), p.Stderr
		if f, isFile := p.Stdin.(*os.File); isFile {
			fd = int(f.Fd())
		}
	}
	echoOff := false
	if fd >= 0 {
		if old, err := getTermios(fd); err == nil {
			quiet := *old
			quiet.Lflag &^= lflagEcho | lflagISig
			if setTermios(fd, &quiet) == nil {
				echoOff = true
				defer setTermios(fd, old)
			}
		}
	}
	if _, err := io.WriteString(out, prompt); err != nil {
		return "", err
	}
	line, err := in.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if echoOff {
			_, _ = io.WriteString(out, "\n")
		}
	}
	return line, nil
}

// CurrentUser is the login name of the user running the program, as
// getpwuid(getuid()) gives it: the default answer to NUT's "Username"
// prompt. ok is false when the user id has no name.
func CurrentUser() (name string, ok bool) {
	u, err := user.LookupId(strconv.Itoa(os.Getuid()))
	if err != nil {
		return "", false
	}
	return u.Username, true
}

// Flushing returns a writer that flushes w after every write, for prompts
// written through a buffered stdout: they must show before the answer is
// read, as C's stdout is flushed before stdin is read.
func Flushing(w *bufio.Writer) io.Writer { return flushWriter{w} }

type flushWriter struct{ w *bufio.Writer }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.w.Flush()
	}
	return n, err
}
