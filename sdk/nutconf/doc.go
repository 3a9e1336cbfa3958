// Package nutconf is gonut's single reader of NUT's text formats: the
// parseconf tokenizer shared by every NUT configuration file, the network
// protocol and the driver socket protocol, and the typed loader for ups.conf.
//
// Scanner is NUT's parseconf state machine fed one byte at a time (upsd reads
// client requests and driver socket lines with it); Split applies it to one
// line; Quote is NUT's pconf_encode, the inverse for values sent in quotes.
// Parse and ParseFile turn a whole file into logical lines with the physical
// line numbers errors need; ParseUPSConf and LoadUPSConf build on them for
// ups.conf. upsd.conf and upsd.users, which only the server reads, have their
// loaders in the main module (internal/conf), on top of Parse.
//
// The splitting rules follow NUT 2.8.0's common/parseconf.c and were checked
// against a running NUT 2.8.0 upsd; see Scanner for them. parseconf's one
// error, an unescaped # inside quotes, is ErrHashInQuotes: on the wire the
// Scanner aborts the line as NUT does, while Parse stops there with an *Error
// where NUT would log it and read on confused. Likewise, where NUT silently
// ignores a configuration line it cannot read, the loaders here report an
// *Error naming file:line instead.
package nutconf
