// Package upsmon is gonut's UPS monitor and shutdown controller, the
// library behind the upsmon command (upsmon/cmd/upsmon): the program that
// must shut every machine down cleanly when the battery runs out, and
// otherwise never.
//
// It follows NUT 2.8's upsmon: upsmon.conf (ParseConfig, with errors that
// name file:line), MONITOR lines with power values and MINSUPPLIES,
// primary and secondary roles, POLLFREQ/POLLFREQALERT, DEADTIME,
// NOCOMMWARNTIME, RBWARNTIME, OFFDURATION, OVERDURATION, OBLBDURATION,
// ALARMCRITICAL, SHUTDOWNEXIT, every notify event with NUT's stock
// messages (NotifyType), NOTIFYFLAG SYSLOG/WALL/EXEC/IGNORE, NOTIFYMSG, and
// NOTIFYCMD with NOTIFYTYPE and UPSNAME in its environment (Notifier).
//
// Monitor is the loop: each pass polls every UPS's ups.status through
// gonut's client library (Session, NetDialer, with STARTTLS as CERTPATH,
// CERTVERIFY, FORCESSL and CERTHOST say), sends the notifications the
// changes call for, and adds up the power values of the UPSes still
// feeding the system (Decide). A UPS stops feeding when it is critical:
// FSD; OB LB (not while calibrating, and only after OBLBDURATION; a
// secondary waits up to HOSTSYNC for the primary's FSD first); silent
// past DEADTIME while on battery, or while in ALARM with ALARMCRITICAL;
// silent past OVERDURATION while overloaded; or OFF for OFFDURATION. When
// the sum falls below MINSUPPLIES, the shutdown protocol runs: a primary
// sets FSD on its UPSes and waits up to HOSTSYNC for the secondaries to log
// out (NUMLOGINS), then every upsmon notifies SHUTDOWN, waits FINALDELAY,
// and has POWERDOWNFLAG written and SHUTDOWNCMD run, once (a Shutdowner:
// Direct in one process, Pipe to the privileged parent, RunParent, when
// upsmon splits as NUT's does).
//
// Beyond NUT: every decision to shut down is logged with its reason on one
// line ("shutting down: ups1@host OB LB for 3 s; MINSUPPLIES 1, supplies
// fed 0"), and so is every change of what upsmon thinks of a UPS ("is OB
// LB: waiting up to HOSTSYNC"); timings use Go's monotonic clock, so a
// wall-clock jump never fires or delays a deadline; and Options.DryRun
// rehearses a power failure (decisions and notifications, but no FSD, no
// POWERDOWNFLAG, no SHUTDOWNCMD). See docs/UPSMON.md.
package upsmon
