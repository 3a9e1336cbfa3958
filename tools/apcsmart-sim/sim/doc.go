// Package sim simulates an APC Smart-UPS speaking the APC Smart protocol
// ("Y" for smart mode, one-character queries answered with a line, 'a'
// for the command set, ^Z for the capability string, '-' to step a
// setting, alerts such as '!' and '$' sent on their own) on a
// pseudo-terminal, so that NUT's apcsmart driver and gonut's can be run
// and compared without hardware.
//
// UPS is the device's state machine, fed one byte at a time and scripted
// by tests (PowerFail, LowBattery, StartBatteryTest, SetMode for a UPS
// that stops answering or answers garbage, ...). Sim puts a UPS on a
// pseudo-terminal behind a stable symlink, logs every byte a driver sends,
// and can make the device disappear and come back (Disconnect,
// Reconnect). Exec and RunScript read the small script language of the
// apcsmart-sim program.
package sim
