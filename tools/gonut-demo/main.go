// Command gonut-demo runs gonut on its bundled simulated UPS: a
// nut-driver-host with the dummy-ups plugin replaying demo.seq (OL → OB →
// OB LB → OL, looping) and upsd on 127.0.0.1 (3493, or a free port). No
// configuration to write: everything lives in a temporary directory that
// is removed on exit. Ctrl-C stops everything.
//
// Run from the repository with `go run ./tools/gonut-demo` (it builds what it
// needs) or as bin/gonut-demo after `task build` (it uses bin/).
package main

import (
	_ "embed"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

//go:embed demo.seq
var demoSeq []byte

// The programs the demo runs; each package directory is named after its
// program, so one `go build -o dir/` builds them all.
var programs = map[string]string{
	"nut-driver-host": "./host/cmd/nut-driver-host",
	"upsd":            "./upsd/cmd/upsd",
	"dummy-ups":       "./plugins/dummyups/cmd/dummy-ups",
	"upsc":            "./tools/upsc",
}

func main() {
	port := flag.Int("port", 3493, "TCP port for upsd (a free one is chosen when it is taken)")
	binDir := flag.String("bin", "", "directory with the gonut programs (default: next to this program, else build them)")
	flag.Parse()
	if err := run(*port, *binDir); err != nil {
		fmt.Fprintf(os.Stderr, "gonut-demo: %v\n", err)
		os.Exit(1)
	}
}

func run(port int, binDir string) error {
	dir, err := os.MkdirTemp("", "gonut-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if binDir == "" {
		binDir, err = findOrBuild(dir)
		if err != nil {
			return err
		}
	}
	if !free(port) {
		port = freePort()
	}
	files := map[string]string{
		"ups.conf":   fmt.Sprintf("driverpath = %s\n\n[demo]\n\tdriver = dummy-ups\n\tport = demo.seq\n\tdesc = \"gonut simulated UPS\"\n", binDir),
		"upsd.conf":  fmt.Sprintf("LISTEN 127.0.0.1 %d\n", port),
		"upsd.users": "# no users: the demo is read-only\n",
		"demo.seq":   string(demoSeq),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o640); err != nil {
			return err
		}
	}
	env := append(os.Environ(), "NUT_CONFPATH="+dir, "NUT_STATEPATH="+dir, "NUT_ALTPIDPATH="+dir)
	start := func(name string, args ...string) (*exec.Cmd, error) {
		cmd := exec.Command(filepath.Join(binDir, name), args...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		// The children die with the demo even if it is killed.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		return cmd, cmd.Start()
	}
	hostCmd, err := start("nut-driver-host", "-F")
	if err != nil {
		return err
	}
	defer stop(hostCmd)
	sock := filepath.Join(dir, "dummy-ups-demo")
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// upsd drops root privileges to a NUT user by default; the demo's
	// files belong to whoever runs it, so it stays that user.
	upsdArgs := []string{"-F"}
	if u, err := user.Current(); err == nil {
		upsdArgs = append(upsdArgs, "-u", u.Username)
	}
	upsdCmd, err := start("upsd", upsdArgs...)
	if err != nil {
		return err
	}
	defer stop(upsdCmd)

	addr := "127.0.0.1:" + strconv.Itoa(port)
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			return fmt.Errorf("upsd did not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("\ngonut is serving a simulated UPS named \"demo\" on %s (mains fail every 30 s).\n", addr)
	fmt.Printf("Watch it in another terminal:  watch -n1 %s demo@%s\n", filepath.Join(binDir, "upsc"), addr)
	fmt.Printf("(NUT's own upsc works too: upsc demo@%s ups.status). Ctrl-C stops everything.\n\n", addr)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	exited := make(chan string, 2)
	go func() { hostCmd.Wait(); exited <- "nut-driver-host" }()
	go func() { upsdCmd.Wait(); exited <- "upsd" }()
	select {
	case <-sigs:
		fmt.Println("\nstopping…")
		return nil
	case name := <-exited:
		return fmt.Errorf("%s exited unexpectedly", name)
	}
}

func stop(cmd *exec.Cmd) {
	if cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
	}
}

// findOrBuild uses the programs next to this one (bin/ after task build),
// or builds them from the source tree into dir.
func findOrBuild(dir string) (string, error) {
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		if all(d) {
			return d, nil
		}
	}
	if all("bin") {
		return filepath.Abs("bin")
	}
	if _, err := os.Stat("go.work"); err != nil {
		return "", fmt.Errorf("gonut programs not found: run from the repository root (go run ./tools/gonut-demo) or pass -bin")
	}
	out := filepath.Join(dir, "bin")
	fmt.Fprintln(os.Stderr, "building gonut (first run takes a minute)…")
	args := []string{"build", "-o", out + "/"}
	for _, pkg := range programs {
		args = append(args, pkg)
	}
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return out, nil
}

func all(d string) bool {
	for name := range programs {
		if st, err := os.Stat(filepath.Join(d, name)); err != nil || st.IsDir() {
			return false
		}
	}
	return true
}

func free(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 3493
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
