// Package faults is gonut's fault tests of the read path, run on the real
// programs (nut-driver-host, driver plugins, upsd) in a temporary
// directory: a driver killed with SIGKILL or stopped with SIGSTOP while
// clients poll, the host itself killed, and broken input (malformed
// ups.conf, upsd.conf and upsd.users, a missing or non-executable driver,
// a .dev file full of bad lines, compared with NUT 2.8.0's dummy-ups).
//
// What they hold the stack to: a client gets the data, ERR
// DRIVER-NOT-CONNECTED or ERR DATA-STALE, never a dead driver's data once
// anyone has been told it is gone; fresh data comes back by itself; and
// nothing crashes.
package faults
