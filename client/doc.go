// Package client is a Go client for the NUT network protocol (version 1.3),
// the protocol upsd serves on TCP port 3493, for gonut's upsd and NUT's
// alike. gonut's upsc, upscmd, upsrw and upsmon are built on it, and it is
// public so that other programs can read UPS data without shelling out to
// upsc:
//
//	c, err := client.Dial(ctx, "localhost")
//	if err != nil { ... }
//	defer c.Close()
//	status, err := c.GetVar(ctx, "myups", "ups.status")
//	if errors.Is(err, client.ErrDataStale) { ... }
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
// because request and reply are no longer known to be in step.
//
// "ERR <code>" replies are *Error values, matched with errors.Is against
// ErrUnknownUPS, ErrDataStale and the other sentinels. Strerror gives the
// message NUT's client library prints for an error, for tools that must
// print NUT's exact words. ParseUPSName reads the upsname[@host[:port]]
// argument of every NUT client.
package client
