// Command upssched is upsmon's timer helper, a drop-in for NUT 2.8.0's:
// run as upsmon's NOTIFYCMD with NOTIFYTYPE and UPSNAME in the
// environment, it does what the matching AT lines of upssched.conf say:
// run CMDSCRIPT at once (EXECUTE), or start and cancel named timers
// (START-TIMER, CANCEL-TIMER, and gonut's START-TIMER-SHARED and
// CANCEL-TIMER-MATCHED) whose expiry runs CMDSCRIPT with the timer's name.
//
// Timers live in a daemon, this same program started again in the
// background on demand, listening on PIPEFN with NUT's socket protocol
// (LOCKFN keeps two callers from starting two daemons); it leaves once no
// timer has been left for 15 seconds. `upssched -l` lists the running
// timers. Configuration errors name file:line.
//
// conf.go parses upssched.conf (through sdk/nutconf), daemon.go is the
// timer daemon, client.go the calls that reach it, log.go logging and
// running CMDSCRIPT. See docs/UPSSCHED.md for usage and where it differs
// from NUT.
package main
