//go:build linux

package upsd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gonut/gonut/sdk/nutconf"
	"golang.org/x/sys/unix"
)

// Plain-TCP clients are served by event loops of upsd's own: epoll,
// level-triggered, over the raw non-blocking sockets, the way NUT's upsd
// serves every client from one poll loop. Compared with a goroutine per
// client on Go's netpoller, this
//
//   - makes one read per request instead of two: Go's netpoller is
//     edge-triggered, so a goroutine reads until EAGAIN before it parks,
//     and a client that waits for each answer always leaves that second
//     read empty; level-triggered epoll says when a read will return data;
//   - holds no goroutine stack and no read buffer per client: a request is
//     read into the loop's buffer and answered before the next event, so
//     an idle client costs its conn and parser state only.
//
// A client that asks for STARTTLS leaves its loop: its socket goes to Go's
// netpoller (net.FileConn) and a goroutine runs crypto/tls as before.
// Listeners that are not TCP sockets (tests hand in their own) keep the
// accept loop and a goroutine per client.

// loopsPerServer is how many event loops serve clients: one per CPU Go
// may use, each accepting from every listener (EPOLLEXCLUSIVE wakes one).
func loopsPerServer() int { return runtime.GOMAXPROCS(0) }

// maxEvents is how many readiness events one epoll_wait returns.
const maxEvents = 256

// eventLoop serves the clients it accepted until the server stops. Only
// its goroutine touches its conns, their sockets and buf; other goroutines
// reach it through kick and stop.
type eventLoop struct {
	srv  *Server
	epfd int
	// ep is epfd as a file on Go's netpoller: the loop parks there, as
	// any goroutine waiting for a socket does, instead of blocking a
	// thread in epoll_wait (which the runtime would have to notice and
	// work around, at a cost on every request).
	ep      *os.File
	epRaw   syscall.RawConn
	armed   time.Time // the read deadline set on ep
	pollFn  func(fd uintptr) bool
	polled  int
	pollErr error
	wakefd  int // eventfd: kicks and stop
	lns     []*loopListener
	conns   []*conn // by socket descriptor
	buf     [nutconf.ReadBufSize]byte
	events  [maxEvents]unix.EpollEvent

	mu      sync.Mutex // guards kicked
	kicked  []*conn
	stopped atomic.Bool

	nextSweep time.Time // when sweep is next due
}

// loopListener is one listening socket as a loop sees it.
type loopListener struct {
	ln       net.Listener
	fd       int
	paused   bool      // out of the epoll set after an accept error
	resumeAt time.Time // when to put it back
	delay    time.Duration
}

// startLoops starts the event loops on the TCP listeners among lns and
// returns the others, which need an accept loop.
func (s *Server) startLoops(lns []net.Listener) (rest []net.Listener) {
	var fds []int
	var served []net.Listener
	for _, ln := range lns {
		fd, ok := listenerFD(ln)
		if !ok {
			rest = append(rest, ln)
			continue
		}
		fds = append(fds, fd)
		served = append(served, ln)
	}
	if len(fds) == 0 {
		return rest
	}
	n := loopsPerServer()
	for i := 0; i < n; i++ {
		l, err := newEventLoop(s, served, fds)
		if err != nil {
			// Without a loop the listeners still work the Go way.
			s.log.Error("cannot start an event loop; serving clients with goroutines", "error", err)
			if i == 0 {
				return lns
			}
			break
		}
		s.loops = append(s.loops, l)
	}
	s.loopListeners = served
	for _, l := range s.loops {
		s.loopWG.Add(1)
		go l.run()
	}
	return rest
}

// listenerFD returns the socket of a TCP listener. It stays valid while
// the listener is open: the server closes its loop listeners only after
// the loops have ended.
func listenerFD(ln net.Listener) (int, bool) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return 0, false
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return 0, false
	}
	fd := -1
	if err := rc.Control(func(p uintptr) { fd = int(p) }); err != nil || fd < 0 {
		return 0, false
	}
	return fd, true
}

func newEventLoop(s *Server, lns []net.Listener, fds []int) (*eventLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	l := &eventLoop{srv: s, epfd: epfd, wakefd: wakefd}
	// Non-blocking, so that os.NewFile puts it on the netpoller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		l.closeFDs()
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	l.ep = os.NewFile(uintptr(epfd), "upsd event loop")
	rc, err := l.ep.SyscallConn()
	if err != nil {
		l.closeFDs()
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	l.epRaw = rc
	l.pollFn = l.poll
	if err := l.ctl(unix.EPOLL_CTL_ADD, wakefd, unix.EPOLLIN); err != nil {
		l.closeFDs()
		return nil, err
	}
	for i, fd := range fds {
		li := &loopListener{ln: lns[i], fd: fd}
		if err := l.ctl(unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE); err != nil {
			l.closeFDs()
			return nil, fmt.Errorf("listener %s: %w", lns[i].Addr(), err)
		}
		l.lns = append(l.lns, li)
	}
	return l, nil
}

func (l *eventLoop) ctl(op, fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := rawEpollCtl(l.epfd, op, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl(%d, fd %d): %w", op, fd, err)
	}
	return nil
}

func (l *eventLoop) closeFDs() {
	unix.Close(l.wakefd)
	if l.ep != nil {
		l.ep.Close()
	} else {
		unix.Close(l.epfd)
	}
}

// wait returns the next readiness events, or none when the sweep is due.
func (l *eventLoop) wait() (int, error) {
	if !l.armed.Equal(l.nextSweep) {
		if err := l.ep.SetReadDeadline(l.nextSweep); err != nil {
			return 0, err
		}
		l.armed = l.nextSweep
	}
	err := l.epRaw.Read(l.pollFn)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return l.polled, l.pollErr
}

// poll is what wait runs on the epoll descriptor (as l.pollFn, made once:
// a closure made per call would be an allocation per wait). It never
// blocks: when nothing is ready it returns false, and the goroutine parks
// until the epoll descriptor turns readable.
func (l *eventLoop) poll(fd uintptr) bool {
	l.polled, l.pollErr = epollPoll(int(fd), l.events[:])
	if l.pollErr == unix.EINTR {
		l.polled, l.pollErr = 0, nil
	}
	return l.polled > 0 || l.pollErr != nil
}

// wake interrupts the loop's epoll_wait.
func (l *eventLoop) wake() {
	var one = [8]byte{1}
	_, _ = unix.Write(l.wakefd, one[:])
}

// kick asks the loop to drop c after its current batch.
func (l *eventLoop) kick(c *conn) {
	l.mu.Lock()
	l.kicked = append(l.kicked, c)
	l.mu.Unlock()
	l.wake()
}

// stop ends the loop and every client on it.
func (l *eventLoop) stop() {
	l.stopped.Store(true)
	l.wake()
}

func (l *eventLoop) run() {
	defer l.srv.loopWG.Done()
	defer l.closeFDs()
	l.nextSweep = time.Now().Add(maxSweepWait)
	for {
		n, err := l.wait()
		if err != nil {
			// Cannot happen with a valid epoll descriptor and buffer;
			// spinning on it would take a CPU.
			l.srv.log.Error("epoll_wait failed; event loop stopping, its clients disconnected", "error", err)
			l.closeAll()
			return
		}
		for i := 0; i < n; i++ {
			ev := l.events[i]
			l.dispatch(int(ev.Fd), ev.Events)
		}
		if l.stopped.Load() {
			l.closeAll()
			return
		}
		if now := time.Now(); !now.Before(l.nextSweep) {
			l.nextSweep = l.sweep(now)
		}
	}
}

// dispatch handles one readiness event.
func (l *eventLoop) dispatch(fd int, events uint32) {
	if fd == l.wakefd {
		l.drainWake()
		return
	}
	for _, li := range l.lns {
		if li.fd == fd {
			l.accept(li)
			return
		}
	}
	if fd >= len(l.conns) || l.conns[fd] == nil {
		return
	}
	c := l.conns[fd]
	defer func() {
		if r := recover(); r != nil {
			c.logger().Error("panic while serving client; disconnecting it", "panic", r, "stack", string(debug.Stack()))
			if l.conns[fd] == c {
				l.close(c, nil)
			}
		}
	}()
	if !c.blockedAt.IsZero() {
		l.drain(c)
		return
	}
	l.read(c)
}

func (l *eventLoop) drainWake() {
	var b [8]byte
	_, _ = rawRead(l.wakefd, b[:])
	l.mu.Lock()
	kicked := l.kicked
	l.kicked = nil
	l.mu.Unlock()
	for _, c := range kicked {
		if c.fd >= 0 && c.fd < len(l.conns) && l.conns[c.fd] == c {
			l.close(c, nil)
		}
	}
}

// accept takes the clients waiting on a listener.
func (l *eventLoop) accept(li *loopListener) {
	// Bounded, so that a flood of connections does not starve the
	// clients already served; level-triggered epoll comes back for more.
	for range 64 {
		nfd, sa, err := rawAccept4(li.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch err {
		case nil:
		case unix.EAGAIN:
			return
		case unix.EINTR, unix.ECONNABORTED:
			continue
		default:
			// EMFILE and friends: the pending client stays in the
			// backlog and level-triggered epoll would report it at once
			// again, so the listener leaves the epoll set for a while,
			// backing off as the accept loop does (NUT 2.8 spins at
			// 100 % CPU here).
			li.delay = min(max(2*li.delay, 5*time.Millisecond), time.Second)
			l.srv.log.Error("accept failed; retrying", "listener", li.ln.Addr(), "error", os.NewSyscallError("accept4", err), "retry_in", li.delay)
			if l.ctl(unix.EPOLL_CTL_DEL, li.fd, 0) == nil {
				li.paused, li.resumeAt = true, time.Now().Add(li.delay)
				l.nextSweep = minTime(l.nextSweep, li.resumeAt)
			}
			return
		}
		li.delay = 0
		l.admit(nfd, sa)
	}
}

// admit registers one accepted socket, or refuses it past MAXCONN.
func (l *eventLoop) admit(fd int, sa *unix.RawSockaddrAny) {
	ip, addr := rawSockaddrStrings(sa)
	// Replies go out without Nagle's delay, as on the goroutine path
	// (docs/COMPATIBILITY.md).
	rawNoDelay(fd)
	c, ok := l.srv.admit(func(seq uint64) *conn {
		c := newConnAddr(l.srv, ip, seq)
		c.loop, c.fd = l, fd
		return c
	}, addr)
	if !ok {
		rawClose(fd)
		return
	}
	if err := l.ctl(unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN|unix.EPOLLRDHUP); err != nil {
		c.logger().Error("cannot watch client socket; disconnecting it", "error", err)
		c.fd = -1
		rawClose(fd)
		c.logout()
		l.srv.removeConn(c)
		return
	}
	for fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*conn, len(l.conns)+64)...)
	}
	l.conns[fd] = c
	c.debug("client connected")
	c.lastHeard = time.Now()
	l.nextSweep = minTime(l.nextSweep, c.lastHeard.Add(l.srv.config().IdleTimeout))
	if c.kicked.Load() {
		// Kicked (shutdown, reload) between admission and now.
		l.close(c, nil)
	}
}

// read answers what one read(2) of a client brings.
func (l *eventLoop) read(c *conn) {
	n, err := rawRead(c.fd, l.buf[:])
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return // level-triggered: epoll reports it again if it still reads
	case err != nil:
		l.close(c, os.NewSyscallError("read", err))
		return
	case n == 0:
		l.close(c, io.EOF)
		return
	}
	ok := c.consume(l.buf[:n])
	if !c.blockedAt.IsZero() {
		return // the rest waits for the client to read its answers
	}
	l.after(c, ok)
}

// after decides a client's fate once its answers are all written.
func (l *eventLoop) after(c *conn, ok bool) {
	switch {
	case !ok || c.closing || c.kicked.Load():
		l.close(c, nil)
	case c.startTLS:
		l.handOff(c)
	}
}

// write sends c's pending replies; false means the client is gone. What
// the socket does not take now is kept, and the client is not read from
// again until it has taken all of it (drain).
func (l *eventLoop) write(c *conn) bool {
	if c.pendingOut() == 0 {
		return true
	}
	if c.blockedAt.IsZero() {
		// The write deadline, as on the goroutine path: about the idle
		// time from the batch, moved only when it lags by half of it.
		// sweep drops a client still not reading its answers by then.
		if idle := l.srv.config().IdleTimeout; c.writeDL.Sub(c.lastHeard) < idle/2 {
			c.writeDL = time.Now().Add(idle)
		}
	}
	for {
		n, err := rawWrite(c.fd, c.out.Bytes())
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			n, err = 0, nil
		}
		if err != nil {
			c.debug("write to client failed", "error", os.NewSyscallError("write", err))
			c.releaseOut()
			return false
		}
		if n == c.out.Len() {
			c.releaseOut()
			return true
		}
		c.out.Next(n)
		if c.blockedAt.IsZero() {
			if err := l.ctl(unix.EPOLL_CTL_MOD, c.fd, unix.EPOLLOUT); err != nil {
				c.logger().Error("cannot wait for client socket to drain; disconnecting it", "error", err)
				c.releaseOut()
				return false
			}
			c.blockedAt = time.Now()
			l.nextSweep = minTime(l.nextSweep, c.writeDL)
		}
		return true
	}
}

// drain goes on writing to a client that has not taken all its answers.
func (l *eventLoop) drain(c *conn) {
	if !l.write(c) {
		l.close(c, nil)
		return
	}
	if c.pendingOut() > 0 {
		return
	}
	c.blockedAt = time.Time{}
	if err := l.ctl(unix.EPOLL_CTL_MOD, c.fd, unix.EPOLLIN|unix.EPOLLRDHUP); err != nil {
		c.logger().Error("cannot watch client socket; disconnecting it", "error", err)
		l.close(c, nil)
		return
	}
	l.after(c, true)
}

// sweep drops the clients that have sent no complete request for the
// idle time, and those whose answers have waited past their write
// deadline (set in write as the goroutine path sets its own), and puts
// paused listeners back; it returns when it next has something to do.
func (l *eventLoop) sweep(now time.Time) time.Time {
	idle := l.srv.config().IdleTimeout
	next := now.Add(maxSweepWait)
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		blocked := !c.blockedAt.IsZero()
		due := c.lastHeard.Add(idle)
		if blocked {
			due = minTime(due, c.writeDL)
		}
		if now.Before(due) {
			next = minTime(next, due)
			continue
		}
		if blocked {
			c.debug("write to client failed", "error", os.ErrDeadlineExceeded)
			l.close(c, nil)
			continue
		}
		l.close(c, os.ErrDeadlineExceeded)
	}
	for _, li := range l.lns {
		if li.paused && !now.Before(li.resumeAt) {
			if l.ctl(unix.EPOLL_CTL_ADD, li.fd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE) == nil {
				li.paused = false
			} else {
				li.resumeAt = now.Add(li.delay)
			}
		}
		if li.paused {
			next = minTime(next, li.resumeAt)
		}
	}
	// A sweep reads every client: not more often than this, however
	// the deadlines fall.
	return maxTime(next, now.Add(minSweepWait))
}

// The bounds of the time between two sweeps: idle limits are kept to
// within minSweepWait (as exact as the goroutine path's deadlines, for
// all practical purposes), and a loop with nothing due still wakes now
// and then.
const (
	minSweepWait = 10 * time.Millisecond
	maxSweepWait = time.Second
)

// close ends a client on this loop; err is why its reading ended, for the
// log.
func (l *eventLoop) close(c *conn, err error) {
	l.conns[c.fd] = nil
	rawClose(c.fd) // also takes it out of the epoll set
	c.fd = -1
	c.releaseOut()
	c.readErr = err
	c.logout()
	c.logEnd()
	l.srv.removeConn(c)
}

// closeAll ends every client on this loop (shutdown).
func (l *eventLoop) closeAll() {
	for _, c := range l.conns {
		if c != nil {
			l.close(c, nil)
		}
	}
}

// handOff moves a client that agreed to STARTTLS to a goroutine with the
// TLS session on Go's netpoller.
func (l *eventLoop) handOff(c *conn) {
	fd := c.fd
	l.conns[fd] = nil
	_ = l.ctl(unix.EPOLL_CTL_DEL, fd, 0)
	f := os.NewFile(uintptr(fd), "client "+c.addr)
	nc, err := net.FileConn(f) // a duplicate, on Go's netpoller
	f.Close()
	c.fd = -1
	if err != nil {
		c.logger().Error("cannot hand the client over for STARTTLS; disconnecting it", "error", err)
		c.logout()
		l.srv.removeConn(c)
		return
	}
	c.kickMu.Lock()
	c.raw, c.rw, c.loop = nc, nc, nil
	c.kickMu.Unlock()
	go c.serve(true)
}

// rawSockaddrStrings returns a client's IP address as NUT prints it and
// its address with port for logs.
func rawSockaddrStrings(sa *unix.RawSockaddrAny) (ip, addr string) {
	var port *uint16
	switch sa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		ip, port = net.IP(a.Addr[:]).String(), &a.Port
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		ip, port = net.IP(a.Addr[:]).String(), &a.Port
	default:
		return "unknown", "unknown"
	}
	p := (*[2]byte)(unsafe.Pointer(port)) // network byte order
	return ip, net.JoinHostPort(ip, strconv.Itoa(int(p[0])<<8|int(p[1])))
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// The loop's own system calls never block (non-blocking sockets, epoll
// with a zero timeout, close without SO_LINGER), so they are made raw:
// without telling the Go scheduler, which would otherwise wake its
// monitor thread on every one of them, twice per request, for nothing,
// and keep it polling every 20 µs while clients come and go (measured:
// sysmon's sleeps took 13 % of upsd's CPU under connection churn, 2 %
// after accept4, close, setsockopt and epoll_ctl were made raw too).

func rawRead(fd int, p []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// epollPoll is epoll_wait with a zero timeout.
func epollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// rawAccept4 is accept4(2); the peer's address is left in sa.
func rawAccept4(fd, flags int) (int, *unix.RawSockaddrAny, error) {
	var sa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&n)), uintptr(flags), 0, 0)
	if e != 0 {
		return -1, nil, e
	}
	return int(r), &sa, nil
}

func rawClose(fd int) {
	_, _, _ = unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

func rawEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// rawNoDelay turns Nagle's algorithm off on a TCP socket.
func rawNoDelay(fd int) {
	one := int32(1)
	_, _, _ = unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY, uintptr(unsafe.Pointer(&one)), 4, 0)
}
