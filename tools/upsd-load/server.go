package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gonut/gonut/sdk/sockproto"
)

// upsName is the one UPS both servers serve.
const upsName = "bench"

// serverSpec names a upsd to measure.
type serverSpec struct {
	name string // for the report
	bin  string
}

// server is a running upsd.
type server struct {
	spec serverSpec
	cmd  *exec.Cmd
	addr string
	dir  string
	done chan struct{}
}

// builtinState is a small but realistic UPS, used without -dev.
var builtinState = map[string]string{
	"battery.charge": "100", "battery.charge.low": "20", "battery.runtime": "1032",
	"battery.type": "PbAc", "battery.voltage": "27.3", "device.mfr": "EATON",
	"device.model": "Eaton 5PX 2000", "device.serial": "G098D27047", "device.type": "ups",
	"driver.name": "usbhid-ups", "driver.parameter.pollinterval": "2",
	"driver.parameter.port": "auto", "driver.version": "2.8.0", "input.frequency": "49.9",
	"input.voltage": "230.0", "input.voltage.nominal": "230", "output.current": "1.20",
	"output.frequency": "49.9", "output.voltage": "230.0", "ups.beeper.status": "enabled",
	"ups.delay.shutdown": "20", "ups.firmware": "01.14.0021", "ups.load": "14",
	"ups.mfr": "EATON", "ups.model": "Eaton 5PX 2000", "ups.power": "288",
	"ups.power.nominal": "2000", "ups.realpower": "252", "ups.serial": "G098D27047",
	"ups.status": "OL CHRG", "ups.temperature": "28.1", "ups.timer.shutdown": "-1",
	"ups.timer.start": "-1", "ups.type": "offline / line interactive",
}

// driverState returns the SETINFO messages of the served UPS: a device
// dump's "name: value" lines, or the built-in state.
func driverState(devFile string) ([][]string, error) {
	vars := builtinState
	if devFile != "" {
		data, err := os.ReadFile(devFile)
		if err != nil {
			return nil, err
		}
		vars = map[string]string{}
		for i, l := range strings.Split(string(data), "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			name, val, ok := strings.Cut(l, ":")
			if !ok || strings.ContainsAny(name, " \t") {
				return nil, fmt.Errorf("%s:%d: not a \"name: value\" line", devFile, i+1)
			}
			vars[name] = strings.TrimSpace(val)
		}
	}
	if _, ok := vars["ups.status"]; !ok {
		vars["ups.status"] = "OL"
	}
	var msgs [][]string
	for n, v := range vars {
		msgs = append(msgs, []string{"SETINFO", n, v})
	}
	msgs = append(msgs, []string{"ADDCMD", "load.off"}, []string{"DATAOK"})
	return msgs, nil
}

// nopDriver ignores SET and INSTCMD: the benchmark only reads.
type nopDriver struct{}

func (nopDriver) InstCmd(cmd, param, id string) {}
func (nopDriver) SetVar(name, value, id string) {}

// startDriver serves the UPS's state socket in dir (dir/bench-bench).
func startDriver(dir, devFile string) (*sockproto.Server, error) {
	msgs, err := driverState(devFile)
	if err != nil {
		return nil, err
	}
	srv, err := sockproto.Listen(filepath.Join(dir, "bench-"+upsName), nopDriver{}, nil)
	if err != nil {
		return nil, err
	}
	if err := srv.Update(msgs...); err != nil {
		srv.Close()
		return nil, fmt.Errorf("device state: %w", err)
	}
	return srv, nil
}

// startServer runs a upsd in the foreground with its own configuration
// directory under base, reading the driver sockets in stateDir, on a free
// loopback port, and waits until it serves the UPS's data.
func startServer(spec serverSpec, base, stateDir string) (*server, error) {
	dir, err := os.MkdirTemp(base, "conf")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	files := map[string]string{
		"ups.conf":   fmt.Sprintf("[%s]\n\tdriver = bench\n\tport = none\n", upsName),
		"upsd.users": "[bench]\n\tpassword = bench\n\tupsmon primary\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			return nil, err
		}
	}
	runAs := "root"
	if u, err := user.Current(); err == nil {
		runAs = u.Username
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		// Below the ephemeral range, where the benchmark's own client
		// ports cannot collide with the listener.
		port := 20000 + rand.IntN(12000)
		// MAXCONN well above the largest connection count; both upsds
		// otherwise default to the open-file limit.
		conf := fmt.Sprintf("LISTEN 127.0.0.1 %d\nMAXCONN 8192\n", port)
		if err := os.WriteFile(filepath.Join(dir, "upsd.conf"), []byte(conf), 0o600); err != nil {
			return nil, err
		}
		log, err := os.Create(filepath.Join(dir, "upsd.log"))
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(spec.bin, "-F", "-u", runAs)
		cmd.Env = append(os.Environ(), "NUT_CONFPATH="+dir, "NUT_STATEPATH="+stateDir, "NUT_ALTPIDPATH="+dir)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			log.Close()
			return nil, fmt.Errorf("%s: %w", spec.bin, err)
		}
		log.Close()
		s := &server{spec: spec, cmd: cmd, addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(s.done) }()
		if lastErr = s.waitReady(15 * time.Second); lastErr == nil {
			return s, nil
		}
		s.stop()
	}
	out, _ := os.ReadFile(filepath.Join(dir, "upsd.log"))
	return nil, fmt.Errorf("%s did not start: %v\n%s", spec.bin, lastErr, out)
}

// waitReady waits until the server answers GET VAR with the driver's data.
func (s *server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("exited: %v", s.cmd.ProcessState)
		default:
		}
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			fmt.Fprintf(c, "GET VAR %s ups.status\n", upsName)
			last, _ = bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(last, "VAR ") && !strings.Contains(last, "WAIT") {
				return nil
			}
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not serving after %v: %q", timeout, strings.TrimSpace(last))
}

// stop ends the server by its pid.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// rssKiB reads the server's resident set size (VmRSS) in KiB.
func (s *server) rssKiB() int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// cpuTime is the server's user+system CPU time so far.
func (s *server) cpuTime() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are
	// the 14th and 15th fields overall.
	rest := string(data)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck
}
