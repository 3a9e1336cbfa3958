// Package sim is a simulated Megatec/Q1 UPS for tests and for users
// without hardware: UPS is the protocol brain (Q1, F and I replies, the
// control commands' effects, faults such as no reply, garbage, half or
// late replies) scripted with Apply ("mains off", "lowbatt on", ...);
// Serial serves it on a pseudo-terminal behind a stable symlink that
// ups.conf's port can name, and can disappear and come back (Disconnect,
// Reconnect); USB is an in-process USB-serial bridge speaking each
// blazer_usb subdriver's framing (cypress, phoenix, ippon, krauler,
// fabula, fuji) through the methods of plugins/blazer's USBDevice.
//
// The program beside it (tools/megatec-sim) runs a Serial from the
// command line; docs/drivers/blazer.md shows how to use it.
package sim
