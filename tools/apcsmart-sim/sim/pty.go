package sim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Options configure a Sim.
type Options struct {
	// Link is the path of the symlink that points at the pseudo-terminal's
	// slave: the stable name a driver's `port =` uses. It survives
	// Disconnect/Reconnect, which give the UPS a new pseudo-terminal.
	Link string
	// Profile is the UPS's initial state; the zero value means
	// DefaultProfile.
	Profile *Profile
	// Logf, when set, receives a line for every byte received, every
	// reply sent and every disconnect and reconnect.
	Logf func(format string, args ...any)
}

// Sim is a simulated APC Smart-UPS on a pseudo-terminal.
type Sim struct {
	*UPS
	link string
	logf func(string, ...any)

	mu     sync.Mutex
	master *os.File
	slave  *os.File // kept open so the master never reads EIO between drivers
	out    chan []byte
	done   chan struct{}
	closed bool
}

// Start creates the pseudo-terminal, points Options.Link at it and starts
// answering.
func Start(opts Options) (*Sim, error) {
	if opts.Link == "" {
		return nil, errors.New("apcsmart-sim: Options.Link is required (the path a driver's port = names)")
	}
	p := DefaultProfile()
	if opts.Profile != nil {
		p = *opts.Profile
	}
	s := &Sim{link: opts.Link, logf: opts.Logf}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	s.UPS = NewUPS(p, s.enqueue)
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

// Path is the symlink a driver opens.
func (s *Sim) Path() string { return s.link }

// Connected reports whether the pseudo-terminal exists.
func (s *Sim) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.master != nil
}

func (s *Sim) open() error {
	m, t, err := pty.Open()
	if err != nil {
		return fmt.Errorf("apcsmart-sim: open pseudo-terminal: %w", err)
	}
	// pty.Open leaves the master in blocking mode, where Close does not
	// interrupt a Read: Disconnect would not take effect until the driver
	// wrote something. A non-blocking copy goes through Go's poller.
	if m, err = pollable(m); err != nil {
		t.Close()
		return err
	}
	// Raw, without echo, until a driver sets its own mode: a UPS does not
	// echo, and a tty in cooked mode would.
	if tio, err := unix.IoctlGetTermios(int(t.Fd()), unix.TCGETS); err == nil {
		tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		tio.Oflag &^= unix.OPOST
		tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		tio.Cflag = tio.Cflag&^(unix.CSIZE|unix.PARENB) | unix.CS8
		tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
		if err := unix.IoctlSetTermios(int(t.Fd()), unix.TCSETS, tio); err != nil {
			m.Close()
			t.Close()
			return fmt.Errorf("apcsmart-sim: set %s raw: %w", t.Name(), err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(s.link), 0o755); err != nil {
		m.Close()
		t.Close()
		return fmt.Errorf("apcsmart-sim: %w", err)
	}
	// Replace the link atomically, so a driver never sees it missing
	// while it moves to the new pseudo-terminal.
	tmp := s.link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(t.Name(), tmp); err != nil {
		m.Close()
		t.Close()
		return fmt.Errorf("apcsmart-sim: link %s to %s: %w", s.link, t.Name(), err)
	}
	if err := os.Rename(tmp, s.link); err != nil {
		os.Remove(tmp)
		m.Close()
		t.Close()
		return fmt.Errorf("apcsmart-sim: link %s to %s: %w", s.link, t.Name(), err)
	}
	out, done := make(chan []byte, 256), make(chan struct{})
	s.mu.Lock()
	s.master, s.slave, s.out, s.done = m, t, out, done
	s.mu.Unlock()
	s.logf("apcsmart-sim: %s -> %s", s.link, t.Name())
	go s.readLoop(m, done)
	go s.writeLoop(m, out, done)
	return nil
}

func (s *Sim) readLoop(m *os.File, done chan struct{}) {
	buf := make([]byte, 256)
	for {
		n, err := m.Read(buf)
		for _, b := range buf[:n] {
			s.logf("apcsmart-sim: rx %s", printable([]byte{b}))
			s.Receive(b)
		}
		if err != nil {
			select {
			case <-done:
			default:
				s.logf("apcsmart-sim: read: %v", err)
			}
			return
		}
	}
}

func (s *Sim) writeLoop(m *os.File, out chan []byte, done chan struct{}) {
	for {
		select {
		case <-done:
			return
		case b := <-out:
			s.logf("apcsmart-sim: tx %s", printable(b))
			if _, err := m.Write(b); err != nil {
				s.logf("apcsmart-sim: write: %v", err)
			}
		}
	}
}

// enqueue hands bytes to the writer; when the pseudo-terminal is gone or
// nobody reads for a long time, they are dropped as a serial line drops
// what nobody listens to.
func (s *Sim) enqueue(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.master == nil {
		return
	}
	select {
	case s.out <- b:
	default:
		s.logf("apcsmart-sim: output queue full; dropped %s", printable(b))
	}
}

// Disconnect makes the device disappear: the pseudo-terminal is closed
// (a driver holding it open gets a hangup) and the link removed.
func (s *Sim) Disconnect() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.master == nil {
		return nil
	}
	close(s.done)
	s.master.Close()
	s.slave.Close()
	s.master, s.slave = nil, nil
	s.logf("apcsmart-sim: disconnected")
	if err := os.Remove(s.link); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("apcsmart-sim: %w", err)
	}
	return nil
}

// Reconnect brings the device back on a new pseudo-terminal behind the
// same link. The UPS keeps its state but is in dumb mode again, as after
// its serial cable was plugged back in and it was power-cycled.
func (s *Sim) Reconnect() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("apcsmart-sim: closed")
	}
	connected := s.master != nil
	s.mu.Unlock()
	if connected {
		return nil
	}
	s.ResetSmart()
	return s.open()
}

// Close stops the simulator and removes its link.
func (s *Sim) Close() error {
	err := s.Disconnect()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return err
}

// printable shows bytes for a log: printable ASCII as is, the rest as \xNN.
func printable(b []byte) string {
	var out []byte
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && c != '\\' {
			out = append(out, c)
		} else {
			out = append(out, fmt.Sprintf("\\x%02x", c)...)
		}
	}
	return string(out)
}

// pollable replaces f by a non-blocking duplicate that Go's poller
// serves, so that Close interrupts a pending Read.
func pollable(f *os.File) (*os.File, error) {
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("apcsmart-sim: dup pseudo-terminal master: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("apcsmart-sim: pseudo-terminal master: %w", err)
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), nil
}
