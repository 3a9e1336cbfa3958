// Package recorder_test records a scripted power event (OL, OB, OB LB, OL
// set with SET VAR on a dummy-ups) with nut-recorder through gonut's upsd
// and through NUT 2.8.0's upsd, replays each recording with gonut's
// dummy-ups, and checks with Debian's upsc that the replay goes through
// the same states in the same order.
package recorder_test
