package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Serial serves a UPS on a pseudo-terminal, as a Megatec UPS on a serial
// line. A driver opens the pty's slave through Link, a symlink that stays
// the same when the pty is replaced (Disconnect, then Reconnect), so that
// ups.conf's port can name it.
type Serial struct {
	ups  *UPS
	link string

	mu     sync.Mutex
	master *os.File
	slave  *os.File // kept open so the master never sees a hangup between driver opens
	done   chan struct{}
}

// ListenSerial creates a pty serving u and points link at its slave.
func ListenSerial(u *UPS, link string) (*Serial, error) {
	s := &Serial{ups: u, link: link}
	if err := s.Reconnect(); err != nil {
		return nil, err
	}
	return s, nil
}

// Link is the stable path of the pty's slave.
func (s *Serial) Link() string { return s.link }

// UPS is the simulated UPS behind the line.
func (s *Serial) UPS() *UPS { return s.ups }

// Connected reports whether a pty is there.
func (s *Serial) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.master != nil
}

// Reconnect creates a new pty (if there is none) and points the link at it.
func (s *Serial) Reconnect() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.master != nil {
		return nil
	}
	master, slave, err := openPTY()
	if err != nil {
		return fmt.Errorf("megatec-sim: open pty: %w", err)
	}
	// Raw until the driver sets its own modes: a fresh pty echoes, and the
	// simulator would read its own replies back as commands.
	if err := makeRaw(slave); err != nil {
		master.Close()
		slave.Close()
		return fmt.Errorf("megatec-sim: raw mode on %s: %w", slave.Name(), err)
	}
	tmp := s.link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(slave.Name(), tmp); err != nil {
		master.Close()
		slave.Close()
		return fmt.Errorf("megatec-sim: link %s -> %s: %w", s.link, slave.Name(), err)
	}
	if err := os.Rename(tmp, s.link); err != nil {
		os.Remove(tmp)
		master.Close()
		slave.Close()
		return fmt.Errorf("megatec-sim: link %s -> %s: %w", s.link, slave.Name(), err)
	}
	s.master, s.slave, s.done = master, slave, make(chan struct{})
	go s.serve(master, s.done)
	return nil
}

// Disconnect makes the pty disappear: the link is removed and both ends
// are closed, so a driver holding the slave sees a hangup.
func (s *Serial) Disconnect() error {
	s.mu.Lock()
	master, slave, done := s.master, s.slave, s.done
	s.master, s.slave = nil, nil
	s.mu.Unlock()
	if master == nil {
		return nil
	}
	err := os.Remove(s.link)
	master.Close()
	slave.Close()
	<-done
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("megatec-sim: remove %s: %w", s.link, err)
	}
	return nil
}

// Close disconnects for good.
func (s *Serial) Close() error { return s.Disconnect() }

func (s *Serial) serve(master *os.File, done chan struct{}) {
	defer close(done)
	buf := make([]byte, 256)
	var line []byte
	for {
		n, err := master.Read(buf)
		if err != nil {
			// EIO while no slave is open cannot happen (we hold one);
			// any error means the pty was closed under us.
			return
		}
		for _, c := range buf[:n] {
			line = append(line, c)
			if c != '\r' && len(line) < 256 {
				continue
			}
			reply := s.ups.Respond(string(line))
			line = line[:0]
			if d := s.ups.Delay(); d > 0 {
				time.Sleep(d)
			}
			if len(reply) > 0 {
				if _, err := master.Write(reply); err != nil {
					return
				}
			}
		}
	}
}

// Apply runs one script command: disconnect, reconnect and sleep here,
// everything else on the UPS.
func (s *Serial) Apply(ctx context.Context, line string) error {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	switch f[0] {
	case "disconnect":
		return s.Disconnect()
	case "reconnect":
		return s.Reconnect()
	case "sleep":
		if len(f) != 2 {
			return fmt.Errorf("%q: want sleep DURATION", line)
		}
		d, err := time.ParseDuration(f[1])
		if err != nil {
			return fmt.Errorf("%q: %v", line, err)
		}
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.ups.Apply(line)
}

// RunScript applies each line of r in turn; errors name the line.
func (s *Serial) RunScript(ctx context.Context, name string, r io.Reader) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		if err := s.Apply(ctx, sc.Text()); err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
	return sc.Err()
}

// openPTY opens a pty whose master is in non-blocking mode under Go's
// poller: pty.Open leaves it blocking, and a blocked Read would then keep
// Close from closing the fd, so a Disconnect would never reach the driver.
func openPTY() (master, slave *os.File, err error) {
	m, slave, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	fd, err := unix.Dup(int(m.Fd()))
	m.Close()
	if err != nil {
		slave.Close()
		return nil, nil, err
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		slave.Close()
		return nil, nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), slave, nil
}

// makeRaw puts a terminal in raw mode (cfmakeraw).
func makeRaw(f *os.File) error {
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// DefaultLink is where the program puts its link when not told otherwise.
func DefaultLink() string { return filepath.Join(os.TempDir(), "megatec-sim") }
