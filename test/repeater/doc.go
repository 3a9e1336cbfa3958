// Package repeater tests dummy-ups' repeater mode end to end against NUT
// 2.8.0: one remote NUT stack (NUT's dummy-ups behind NUT's upsd, with an
// upsd.users granting SET and every instant command) is relayed at once
// by NUT's dummy-ups repeater under NUT's upsd and by gonut's dummy-ups
// repeater under nut-driver-host and gonut's upsd. Debian's upsc must
// print the same for both (driver.version* aside); SET through upsrw and
// INSTCMD through upscmd must reach the remote through gonut's repeater
// (NUT 2.8.0's answers them itself); and when the remote upsd is killed
// gonut's repeater must go stale, then fresh again once it is back.
package repeater
