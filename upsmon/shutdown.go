package upsmon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// PowerDownMagic is what POWERDOWNFLAG holds, NUT's SDMAGIC: `upsmon -K`
// and the late shutdown scripts check for it.
const PowerDownMagic = "upsmon-shutdown-file"

// WritePowerDownFlag creates POWERDOWNFLAG (nothing when path is "").
func WritePowerDownFlag(path string) error {
	if path == "" {
		return nil
	}
	if err := os.WriteFile(path, []byte(PowerDownMagic), 0o644); err != nil {
		return fmt.Errorf("failed to create power down flag %s: %w", path, err)
	}
	return nil
}

// ErrNoPowerDownFlag: upsmon.conf sets no POWERDOWNFLAG.
var ErrNoPowerDownFlag = errors.New("no POWERDOWNFLAG set in upsmon.conf")

// CheckPowerDownFlag is `upsmon -K`: nil when POWERDOWNFLAG exists and
// holds the magic string, so the late shutdown script should power the
// UPS off.
func CheckPowerDownFlag(path string) error {
	if path == "" {
		return ErrNoPowerDownFlag
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("POWERDOWNFLAG %s: %w", path, err)
	}
	if !bytes.HasPrefix(b, []byte(PowerDownMagic)) {
		return fmt.Errorf("POWERDOWNFLAG (%s) does not contain the upsmon magic string", path)
	}
	return nil
}

// ClearPowerDownFlag removes a POWERDOWNFLAG left by an earlier shutdown,
// as upsmon does when it starts, so the next ordinary shutdown does not
// power the UPS off. A file without the magic string is left alone
// (ErrForeignPowerDownFlag): it is not ours.
func ClearPowerDownFlag(path string) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("POWERDOWNFLAG %s: %w", path, err)
	}
	if !bytes.HasPrefix(b, []byte(PowerDownMagic)) {
		return fmt.Errorf("%w: %s", ErrForeignPowerDownFlag, path)
	}
	return os.Remove(path)
}

// ErrForeignPowerDownFlag: the POWERDOWNFLAG file exists but upsmon did not
// write it. NUT then stops using the flag for this run, so as not to
// overwrite a file that belongs to something else; so does the command.
var ErrForeignPowerDownFlag = errors.New("POWERDOWNFLAG does not contain the upsmon magic string - disabling it")

// runShutdownCmd runs SHUTDOWNCMD through the shell, as NUT's system().
func runShutdownCmd(cmdline string, log Logger) error {
	if cmdline == "" {
		return errors.New("unable to call shutdown command: no SHUTDOWNCMD in upsmon.conf")
	}
	log.Notice("Running SHUTDOWNCMD " + cmdline)
	cmd := exec.Command("/bin/sh", "-c", cmdline)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("unable to call shutdown command %q: %w", cmdline, err)
	}
	return nil
}

// Direct shuts down from this process (upsmon -p, or a upsmon not started
// as root): POWERDOWNFLAG, then SHUTDOWNCMD.
type Direct struct {
	Cmd           string // SHUTDOWNCMD
	PowerDownFlag string
	Log           Logger
}

// Shutdown implements Shutdowner.
func (d *Direct) Shutdown() error {
	if os.Geteuid() != 0 {
		d.Log.Warn("Not root, shutdown may fail")
	}
	if err := WritePowerDownFlag(d.PowerDownFlag); err != nil {
		d.Log.Error(err.Error())
	}
	return runShutdownCmd(d.Cmd, d.Log)
}

// The one request the unprivileged child can make of its privileged
// parent, as in NUT: run the shutdown.
const pipeShutdown = 1

// Pipe asks the privileged parent (RunParent) to shut down: it writes one
// byte on the pipe between them. The parent runs its own SHUTDOWNCMD,
// read as root before the split, so the child cannot choose what runs.
type Pipe struct {
	W io.Writer
}

// Shutdown implements Shutdowner.
func (p *Pipe) Shutdown() error {
	if _, err := p.W.Write([]byte{pipeShutdown}); err != nil {
		return fmt.Errorf("unable to call parent pipe for shutdown: %w", err)
	}
	return nil
}

// RunParent is the privileged parent's whole life: it waits on the pipe
// from the unprivileged child and does one thing, when asked: write
// POWERDOWNFLAG and run SHUTDOWNCMD. It returns when the child has gone
// (the pipe closes): 0 after a shutdown it ran or a clean child exit.
// Signals other than the ones to stop are the child's business.
func RunParent(r io.Reader, shutdownCmd, powerDownFlag string, log Logger) int {
	signal.Ignore(syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	b := make([]byte, 1)
	for {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] != pipeShutdown {
				log.Crit(fmt.Sprintf("parent: bogus request %d on the pipe from the monitoring child; ignored", b[0]))
				continue
			}
			if err := WritePowerDownFlag(powerDownFlag); err != nil {
				log.Error("parent: " + err.Error())
			}
			if err := runShutdownCmd(shutdownCmd, log); err != nil {
				log.Crit("parent: " + err.Error())
				return 1
			}
			return 0
		}
		if err != nil {
			// The child exited or was killed.
			return 0
		}
	}
}
