// Package sockproto implements NUT's driver socket protocol
// (docs/sock-protocol.txt in the NUT source): the text protocol a driver
// serves on its state socket STATEPATH/<driver>-<ups> and upsd reads.
//
// It has three parts, used on both sides of the socket:
//
//   - State, a driver's state tree (variables with their flags, aux value,
//     enumerations and ranges, instant commands, the DATAOK/DATASTALE flag),
//     kept in the order and with the matching rules NUT's upsd uses
//     (common/state.c), and changed by the same messages a driver sends
//     (SETINFO, ADDCMD, ...). Encode formats one such message the way NUT's
//     drivers format it.
//   - Server, one driver instance's socket: it owns a State, broadcasts each
//     change to its connected clients, answers DUMPALL, PING, GETPID,
//     NOBROADCAST/BROADCAST and LOGOUT, and hands INSTCMD and SET to a
//     Handler. The gonut driver host serves every driver instance with it,
//     and a gonut driver run by hand (SDK standalone mode) serves its own.
//     NUT's own upsd reads it like the socket of any C driver.
//   - Client, the reading side used by upsd: it connects to a socket (a
//     gonut one or a NUT C driver's), asks for DUMPALL, keeps a State in step
//     with the driver, pings a silent driver and reconnects when the driver
//     comes back.
//
// Lines are split into words by NUT's parseconf rules (sdk/nutconf), with
// the limits NUT applies on these sockets (32 words of 512 bytes).
package sockproto
