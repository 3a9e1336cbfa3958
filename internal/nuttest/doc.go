// Package nuttest is the shared harness for gonut's integration,
// differential, fault and benchmark tests: everything needed to run real
// NUT 2.8.0 and gonut side by side in a temporary directory on loopback.
//
// It builds gonut's programs once per test binary (Build), writes a
// configuration directory that serves as NUT_CONFPATH, NUT_STATEPATH and
// NUT_ALTPIDPATH at once (Dir), picks free loopback ports (FreePort),
// starts and stops processes by pid with their output captured (StartProc,
// Run), brings up either implementation of each layer (StartNUTDriver,
// StartNUTUpsdrvctl, StartHost, StartNUTUpsd, StartUpsd, or StartStack for
// any combination of NUT's and gonut's drivers and upsd) and waits until it
// answers, asks nut-driver-host for its plugins' pids (HostStatus,
// PluginPID), speaks the NUT network protocol byte for byte (Conn) so that
// tests see exactly what a client sees, and runs NUT's upsc for
// comparison (UpscOutput, DropVersionLines, Diff).
//
// The real NUT programs are the reference: RequireNUT makes a test fail
// when CI=true and they are missing, and skip otherwise.
//
// Every helper takes a testing.TB and registers its own cleanup, so a test
// never leaks a process: processes are stopped by pid (SIGTERM, then
// SIGKILL), never by name. When a test fails, the captured output of every
// process it started is logged. A test binary that uses Build should call
// Main from TestMain so the build directory is removed at exit.
package nuttest
