// Package host is nut-driver-host: the supervisor that starts one driver
// process per ups.conf section and keeps it running.
//
// A gonut plugin (go-plugin over gRPC) is served by the host on a NUT
// driver state socket (STATEPATH/<driver>-<ups>) that outlives the plugin:
// upsd keeps its connection and sees DATASTALE while the plugin is down,
// then the successor's snapshot as a diff, so clients never get old data
// dressed as fresh. A NUT driver (any other executable, e.g.
// /lib/nut/dummy-ups) runs as `<exe> -a <ups> -F` and serves its socket
// itself. Either way the host restarts a crashed driver with backoff,
// kills and restarts a hung plugin (heartbeat deadline from pollinterval),
// marks a crash loop failed and retries it after a cool-down, publishes
// each instance's state as driver.state, checks drivers against
// SHA256SUMS, and resyncs with ups.conf when it changes (Resync, Watch).
//
// See docs/HOST.md for the policy, the states and the control API.
package host
