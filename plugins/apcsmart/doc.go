// Package apcsmart is the apcsmart driver: APC Smart-UPS, Matrix-UPS and
// the other units that speak APC's "Smart" serial protocol, behaving as
// NUT 2.8.0's apcsmart (driver 3.2, command table 3.1) does in everything
// a client can see: the same dialogue on the wire (smart mode with 'Y',
// the command set from 'a', the capability string from ^Z, one character
// per variable), the same variables and formatting, ups.status from the
// status byte and the alert characters, the same instant commands with
// the same confirmation rules, the same settings (ENUM from the
// capability string, 8-character strings), and the same shutdown methods
// (sdtype, advorder, awd, cshdelay) for `-k`.
//
// Where it differs on purpose: it reads the serial line raw and
// assembles lines itself (NUT's default canonical tty mode, emulated),
// a port that goes away is reopened with backoff, and a UPS that stops
// answering is nudged back on every poll rather than every tenth.
// docs/drivers/apcsmart.md is the user's documentation and lists the
// differences.
//
// The reply parsers (lineScanner, parseCaps, parseCmdSet, convert,
// parseStatus) are pure functions, fuzzed by FuzzReplies. Driver runs
// behind the gonut SDK; tools/apcsmart-sim simulates a UPS for its tests.
package apcsmart
