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
// The layout follows net/http and emersion/go-smtp: an accept loop per
// listener that backs off on temporary errors, one conn struct per client
// with its own serve loop that recovers panics, a verb→handler table, and a
// graceful Shutdown. The upsd command (upsd/cmd/upsd) is a thin shell around
// it: flags, configuration files, pid file and signals.
package upsd
