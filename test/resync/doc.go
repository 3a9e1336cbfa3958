// Package resync tests nut-driver-host's live resync with ups.conf on the
// real programs (nut-driver-host, a driver plugin, gonut's upsd): sections
// added, removed and changed in the file while clients poll the others.
// Only the instances whose sections changed may change; the others keep
// their plugin processes and never go stale; upsd's LIST UPS follows
// without upsd being restarted. The resync comes from the host watching
// ups.conf, from `upsdrvsvcctl resync` and from SIGHUP.
package resync
