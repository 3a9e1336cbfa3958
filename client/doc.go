// Package client is a Go client for the NUT network protocol (version 1.3),
// the protocol upsd serves on TCP port 3493, for gonut's upsd and NUT's
// alike. gonut's upsc, upscmd, upsrw and upsmon are built on it, and it is
// public so that other programs can read and drive UPSes without shelling
// out to NUT's tools:
//
//	c, err := client.Dial(ctx, "localhost")
//	if err != nil { ... }
//	defer c.Close()
//	status, err := c.GetVar(ctx, "myups", "ups.status")
//	if errors.Is(err, client.ErrDataStale) { ... }
//
// There is a method for every request of the protocol: the read path (GET
// and LIST of UPSes, variables, types, ENUM and RANGE values, commands,
// descriptions, clients), credentials (Authenticate, or Username and
// Password), what upsmon does (Login, Primary and its old name Master,
// FSD), SET VAR and INSTCMD, and status tracking: SetVarTracked and
// InstCmdTracked return the id upsd gives a request, GetTracking asks how
// the driver got on and WaitTracking waits for its answer.
//
// StartTLS, or WithStartTLS for Dial, encrypts the session as NUT's clients
// do with upsd's CERTFILE. TLSOptions says how upsd's certificate is
// checked: against CA certificates and a server name, or pinned by its
// SHA-256 fingerprint (the usual way with upsd's self-signed certificates).
// With WithStartTLS nothing but STARTTLS is sent before the session is
// encrypted, so a server that cannot do TLS never sees a password.
//
// A Client is one connection. Its calls are safe for concurrent use and go
// out one at a time, since the protocol pairs replies with requests by order
// alone. Each call takes a context and is also bounded by WithTimeout.
//
// Replies are checked the way NUT's own upsclient checks them and a little
// more: words are split by NUT's parseconf rules (quotes, backslash escapes;
// through sdk/nutconf, the tokenizer upsd uses), a GET answer must echo its
// request, a LIST must be framed by BEGIN LIST and END LIST lines that echo
// the request, and every line and every list is bounded in size, so a hostile
// or broken server can make a call fail but not hang past its deadline or
// grow memory without limit. After such a failure the connection is closed,
// because request and reply are no longer known to be in step. Arguments
// are quoted and escaped as upsd's parser needs, so a password or a value
// with spaces, quotes or '#' reaches upsd intact; one that holds a control
// character (a newline would start another command) is refused before
// anything is sent.
//
// "ERR <code>" replies are *Error values, matched with errors.Is against
// ErrUnknownUPS, ErrDataStale and the other sentinels; a driver's failure
// of a tracked request is a *TrackingError wrapping one. Strerror gives the
// message NUT's client library prints for an error, for tools that must
// print NUT's exact words. ParseUPSName reads the upsname[@host[:port]]
// argument of every NUT client.
//
// Package clienttest holds fake upsd servers (scripted, read-only, and a
// stateful one with users and tracking, each optionally with STARTTLS) for
// the tests of programs built on this package.
package client
