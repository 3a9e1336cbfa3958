// Package upssched_test runs gonut's upssched as upsmon does (a process per
// event, NOTIFYTYPE and UPSNAME in the environment, a CMDSCRIPT that logs
// its arguments) beside NUT 2.8.0's /sbin/upssched with the same
// configuration and calls, and compares what CMDSCRIPT was run with. It
// also covers what NUT 2.8.0 lacks (-l, START-TIMER-SHARED,
// CANCEL-TIMER-MATCHED), the timer daemon's idle exit, file:line errors,
// and each implementation's client talking to the other's daemon.
package upssched_test
