package upsdload

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonut/gonut/sdk/sockproto"
)

// upsdBin is gonut's upsd, built by TestMain.
var upsdBin string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "upsdload-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	upsdBin = filepath.Join(dir, "upsd")
	build := exec.Command("go", "build", "-o", upsdBin, "./upsd/cmd/upsd")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gonut's upsd: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// nopDriver accepts SET and INSTCMD and does nothing.
type nopDriver struct{}

func (nopDriver) InstCmd(cmd, param, id string) {}
func (nopDriver) SetVar(name, value, id string) {}

// startDriver serves a UPS "wr" with n variables besides ups.status in
// dir (socket dir/fake-wr), so that LIST VAR wr is a long answer.
func startDriver(t testing.TB, dir string, n int) *sockproto.Server {
	t.Helper()
	d, err := sockproto.Listen(filepath.Join(dir, "fake-wr"), nopDriver{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	msgs := [][]string{{"SETINFO", "ups.status", "OL"}}
	for i := 0; i < n; i++ {
		msgs = append(msgs, []string{"SETINFO", fmt.Sprintf("test.value.%03d", i), strings.Repeat("v", 40)})
	}
	msgs = append(msgs, []string{"DATAOK"})
	if err := d.Update(msgs...); err != nil {
		t.Fatal(err)
	}
	return d
}

// upsdProc is a running gonut upsd.
type upsdProc struct {
	cmd  *exec.Cmd
	addr string
	log  string
	done chan struct{}
}

// startUpsd runs the built upsd in the foreground in dir, serving UPS
// "wr", with extra upsd.conf lines, on a free loopback port.
func startUpsd(t testing.TB, dir string, conf string) *upsdProc {
	t.Helper()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ups.conf", "[wr]\n\tdriver = fake\n\tport = none\n")
	write("upsd.users", "[mon]\n\tpassword = pw\n\tupsmon primary\n")
	var userArgs []string
	if os.Geteuid() == 0 {
		userArgs = []string{"-u", "root"}
	}
	for attempt := 0; attempt < 10; attempt++ {
		port := 20000 + rand.IntN(12000)
		write("upsd.conf", fmt.Sprintf("LISTEN 127.0.0.1 %d\n%s", port, conf))
		logName := filepath.Join(dir, "upsd.log")
		log, err := os.Create(logName)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(upsdBin, append([]string{"-F"}, userArgs...)...)
		cmd.Env = append(os.Environ(), "NUT_CONFPATH="+dir, "NUT_STATEPATH="+dir, "NUT_ALTPIDPATH="+dir)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		log.Close()
		p := &upsdProc{cmd: cmd, addr: "127.0.0.1:" + strconv.Itoa(port), log: logName, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(p.done) }()
		if p.waitReady(10 * time.Second) {
			t.Cleanup(p.stop)
			return p
		}
		p.stop()
	}
	t.Fatalf("upsd did not start; see %s", filepath.Join(dir, "upsd.log"))
	return nil
}

func (p *upsdProc) waitReady(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			fmt.Fprint(c, "GET VAR wr ups.status\n")
			l, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if l == "VAR wr ups.status \"OL\"\n" {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// alive reports whether the server process is still running.
func (p *upsdProc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *upsdProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// openFDs counts the server's open file descriptors.
func (p *upsdProc) openFDs() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// rssKiB is the server's resident size.
func (p *upsdProc) rssKiB() int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// client is a connection with a line reader.
type client struct {
	c net.Conn
	r *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{c: c, r: bufio.NewReader(c)}
}

// ask sends req and reads one line.
func (c *client) ask(req string) (string, error) {
	_ = c.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.c.Write([]byte(req)); err != nil {
		return "", err
	}
	return c.r.ReadString('\n')
}

func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ul")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
