// Package upsd is gonut's data server: NUT's upsd rebuilt in Go.
//
// A Server reads the state socket of every device listed in ups.conf
// (STATEPATH/<driver>-<ups>, served by gonut's nut-driver-host or by one of
// NUT's C drivers), keeps a live copy of each through sockproto.Client, and
// answers NUT network protocol 1.3 on TCP (port 3493 by default) byte for
// byte as NUT 2.8.0's upsd does: VER, NETVER, PROTVER, HELP, GET, LIST,
// USERNAME, PASSWORD, LOGIN, LOGOUT, PRIMARY/MASTER, FSD, SET, INSTCMD and
// STARTTLS, with the same ERR codes for the same mistakes. STARTTLS runs on
// Go's crypto/tls with a PEM certificate (LoadTLS reads upsd.conf's
// CERTFILE, CERTPATH, CERTIDENT, CERTREQUEST and DISABLE_WEAK_SSL).
//
// The deliberate differences from NUT 2.8.0 (no reply cut at 512 bytes, a
// client past MAXCONN is refused instead of left hanging, every reply batch
// in one write, ...) are listed in docs/COMPATIBILITY.md.
//
// Plain-TCP clients are served the way NUT's upsd serves them, from poll
// loops: on Linux, one event loop per CPU (poll_linux.go: level-triggered
// epoll over the raw non-blocking sockets, the loop itself parked on Go's
// netpoller) accepts, reads each client's requests into the loop's buffer
// and answers them in one write. That is one read per request instead of
// two on Go's edge-triggered netpoller, and no goroutine or read buffer
// per idle client (docs/PERFORMANCE.md has the figures). A client that
// asks for STARTTLS leaves its loop for a goroutine of its own running
// crypto/tls; listeners that are not TCP sockets, and other systems, get
// the net/http layout: an accept loop per listener that backs off on
// temporary errors and a serve goroutine per client. Either way a conn
// struct per client recovers panics, a verb→handler table answers, and
// Shutdown is graceful. The upsd command (upsd/cmd/upsd) is a thin shell
// around it: flags, configuration files, pid file, signals, and the
// memory limit that keeps the Go runtime's footprint near NUT's.
package upsd
