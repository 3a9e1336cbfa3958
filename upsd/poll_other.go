//go:build !linux

package upsd

import "net"

// eventLoop exists on Linux only (poll_linux.go); elsewhere every client
// has a goroutine.
type eventLoop struct{}

func (*eventLoop) kick(*conn)       {}
func (*eventLoop) stop()            {}
func (*eventLoop) write(*conn) bool { return false }

// startLoops serves no listener elsewhere than on Linux.
func (s *Server) startLoops(lns []net.Listener) []net.Listener { return lns }
