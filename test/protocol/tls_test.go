package protocol

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Debian's NUT 2.8.0 is built with Mozilla NSS, not OpenSSL (ldd
// /lib/nut/upsd shows libnss3 and libssl3): its upsd reads CERTPATH (an NSS
// database) and CERTIDENT and ignores CERTFILE and CERTREQUEST, and its
// clients verify a server against an NSS database too. Without NSS's
// certutil (package libnss3-tools) no such database can be made here, so
// what can be checked against NUT is: NUT's upsmon with FORCESSL 1 and
// CERTVERIFY 0 (NSS initialised without a database) talks TLS to gonut's
// upsd, which serves a PEM CERTFILE. Certificate verification and client
// certificates are checked with Go clients in upsd's own tests.

const nutUpsmon = "/lib/nut/upsmon"

// writeServerPEM writes a self-signed certificate for 127.0.0.1 and its
// key, one PEM file, as CERTFILE wants it.
func writeServerPEM(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})...)
	write(t, path, string(data), 0o600)
}

// TestNUTUpsmonOverTLS runs NUT 2.8.0's upsmon as a primary with FORCESSL
// against gonut's upsd: it must STARTTLS, complete the handshake with NSS,
// and log in.
func TestNUTUpsmonOverTLS(t *testing.T) {
	requireNUT(t)
	if _, err := os.Stat(nutUpsmon); err != nil {
		skipOrFail(t, "NUT 2.8 reference binary missing: "+err.Error())
	}
	// NUT 2.8.0's upsmon keeps its pid file in /run/nut whatever the
	// environment says, and refuses to start beside another upsmon;
	// a private mount of /run/nut keeps it to itself.
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		skipOrFail(t, "running NUT's upsmon beside others needs root and unshare(1) for a private /run/nut")
	}
	dir, err := os.MkdirTemp("", "gt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(dir)
		}
	})
	startFakeDriver(t, dir, "fakegon")
	write(t, filepath.Join(dir, "ups.conf"), "[wr]\n\tdriver = fakegon\n\tport = none\n", 0o644)
	write(t, filepath.Join(dir, "upsd.users"), usersConf, 0o600)
	certFile := filepath.Join(dir, "upsd.pem")
	writeServerPEM(t, certFile)
	addr := startUpsd(t, gonutUpsd, dir, dir, "gonut-upsd", "CERTFILE "+certFile+"\nDISABLE_WEAK_SSL true\n")
	_, port, _ := net.SplitHostPort(addr)

	write(t, filepath.Join(dir, "upsmon.conf"), fmt.Sprintf(`MONITOR wr@127.0.0.1:%s 1 mon pw primary
MINSUPPLIES 1
SHUTDOWNCMD "/bin/false"
POWERDOWNFLAG %s/killpower
POLLFREQ 1
POLLFREQALERT 1
FORCESSL 1
CERTVERIFY 0
`, port, dir), 0o600)
	log, err := os.Create(filepath.Join(dir, "upsmon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(unshare, "-m", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs tmpfs /run/nut && exec "$0" "$@"`, nutUpsmon, "-F", "-D", "-u", "root")
	cmd.Env = append(os.Environ(), "NUT_CONFPATH="+dir, "NUT_STATEPATH="+dir, "NUT_ALTPIDPATH="+dir)
	cmd.Stdout, cmd.Stderr = log, log
	// upsmon forks a privileged parent and an unprivileged child: run
	// them in a process group of their own, stopped together by its id.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		// The child may outlive the group leader briefly.
		for i := 0; i < 50 && syscall.Kill(-cmd.Process.Pid, 0) == nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}()

	deadline := time.Now().Add(20 * time.Second)
	for {
		got := transcript(t, addr, "GET NUMLOGINS wr\n")
		if got == "NUMLOGINS wr 1\n" {
			break
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("NUT's upsmon did not log in over TLS (NUMLOGINS: %q); upsmon said:\n%s", got, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := transcript(t, addr, "LIST CLIENT wr\n"); got != "BEGIN LIST CLIENT wr\nCLIENT wr 127.0.0.1\nEND LIST CLIENT wr\n" {
		t.Errorf("LIST CLIENT: %q", got)
	}
	out, _ := os.ReadFile(log.Name())
	for _, want := range []string{"SSL handshake done successfully with server", "Connected to NUT server 127.0.0.1 in SSL"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("upsmon's log lacks %q:\n%s", want, out)
		}
	}
	upsdLog, _ := os.ReadFile(filepath.Join(dir, "gonut-upsd.log"))
	if !strings.Contains(string(upsdLog), "SSL handshake done successfully with client") {
		t.Errorf("gonut's upsd did not log the handshake:\n%s", upsdLog)
	}
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}
