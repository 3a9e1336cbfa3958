// Package nutcli holds what NUT's command-line clients share besides the
// network protocol, so that gonut's upscmd and upsrw (and any other tool
// that must behave like NUT's) read their arguments and ask their
// questions exactly as NUT 2.8.0's do:
//
//   - Getopt reads options as glibc's getopt(3) with a leading '+' does,
//     with its error messages.
//   - Prompter asks for a username or a value on stdout and reads stdin
//     (NUT's printf and fgets), and for a password as glibc's getpass(3)
//     does: on the controlling terminal with echo off, or, with no
//     terminal, with the prompt on stderr and the answer read from stdin.
//   - ParseUint reads a number as NUT's str_to_uint does.
//   - Fatal, Stage and ReplyLine word failures as NUT's clients do, and
//     WaitResult is their -w: waiting for a tracked request's result.
package nutcli
