// Package mixmatch is gonut's mix-and-match differential test: the same
// devices (dumps from NUT's device dump library and a sequence) served by
// four stacks — all NUT 2.8.0; NUT's C dummy-ups feeding gonut's upsd;
// gonut's nut-driver-host and dummy-ups plugin feeding NUT's upsd; all
// gonut — and read with NUT's own upsc in every form it has. Every output
// must be byte for byte the all-NUT output, driver.version* lines aside.
package mixmatch
