// Package host is nut-driver-host: the supervisor that starts one driver
// plugin per ups.conf section, serves each instance as a NUT driver state
// socket (STATEPATH/<driver>-<ups>) for upsd, checks each plugin's health
// with a heartbeat deadline and restarts a crashed or hung plugin with
// backoff.
//
// An instance's socket stays up across plugin restarts: upsd keeps its
// connection and sees DATASTALE while the plugin is down, then the fresh
// snapshot as a diff, so clients never get old data dressed as fresh.
package host
