// Package nutdriver tests nut-driver-host supervising NUT's own C driver
// (Debian's /lib/nut/dummy-ups 2.8.0) beside gonut plugins: the host
// recognises it as a NUT driver, runs it as `dummy-ups -a <ups> -F -u
// <user>`, and gonut's upsd and NUT's upsc read it; kill -9 of the driver
// brings a new one; upsdrvctl status shows it; upsdrvctl stop stops it.
// The tests need NUT 2.8.0: they fail in CI (CI=true) without it and are
// skipped elsewhere.
package nutdriver
