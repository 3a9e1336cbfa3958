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
// clients verify a server against an NSS database too. What is checked
// against NUT here: NUT's upsmon with FORCESSL 1 talks TLS to gonut's
// upsd, which serves a PEM CERTFILE, with CERTVERIFY 0 (NSS initialised
// without a database) and with CERTVERIFY 1 against an NSS database made
// with certutil (package libnss3-tools). Client certificates are checked
// with Go clients in upsd's own tests.

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
	dir, addr := tlsLab(t)
	out := runNUTUpsmon(t, dir, addr, "CERTVERIFY 0\n", true)
	for _, want := range []string{"SSL handshake done successfully with server", "Connected to NUT server 127.0.0.1 in SSL"} {
		if !strings.Contains(out, want) {
			t.Errorf("upsmon's log lacks %q:\n%s", want, out)
		}
	}
	upsdLog, _ := os.ReadFile(filepath.Join(dir, "gonut-upsd.log"))
	if !strings.Contains(string(upsdLog), "SSL handshake done successfully with client") {
		t.Errorf("gonut's upsd did not log the handshake:\n%s", upsdLog)
	}
}

// TestNUTUpsmonCertVerify runs NUT 2.8.0's upsmon with CERTVERIFY 1 and an
// NSS database (CERTPATH, made with certutil from libnss3-tools) against
// gonut's upsd: with upsd's certificate trusted in the database upsmon
// verifies it and logs in; with an empty database it refuses the server
// and never logs in. This is the check that gonut's certificate, served
// from a PEM CERTFILE, is one NSS accepts for the host upsmon dialled.
func TestNUTUpsmonCertVerify(t *testing.T) {
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		skipOrFail(t, "certutil (apt-get install libnss3-tools) is needed to build the NSS database NUT's upsmon verifies with")
	}
	for _, trusted := range []bool{true, false} {
		t.Run(fmt.Sprintf("trusted=%v", trusted), func(t *testing.T) {
			dir, addr := tlsLab(t)
			db := filepath.Join(dir, "nssdb")
			if err := os.Mkdir(db, 0o700); err != nil {
				t.Fatal(err)
			}
			nss := func(args ...string) {
				t.Helper()
				if out, err := exec.Command(certutil, append(args, "-d", "sql:"+db)...).CombinedOutput(); err != nil {
					t.Fatalf("certutil %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
			nss("-N", "--empty-password")
			if trusted {
				// The self-signed server certificate as a trusted peer
				// ("P"): NSS then accepts exactly it for TLS servers.
				nss("-A", "-n", "gonut-upsd", "-t", "P,,", "-a", "-i", filepath.Join(dir, "upsd.pem"))
			}
			out := runNUTUpsmon(t, dir, addr, "CERTPATH "+db+"\nCERTVERIFY 1\n", trusted)
			want := []string{"Intend to authenticate server 127.0.0.1 : SUCCESS", "Connected to NUT server 127.0.0.1 in SSL"}
			if !trusted {
				want = []string{"Intend to authenticate server 127.0.0.1 : FAILED", "Certificate validation failed for 127.0.0.1"}
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("upsmon's log lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// tlsLab starts the fake driver and gonut's upsd with a self-signed
// certificate for 127.0.0.1 (dir/upsd.pem) and returns the directory and
// upsd's address.
func tlsLab(t *testing.T) (string, string) {
	t.Helper()
	requireNUT(t)
	if _, err := os.Stat(nutUpsmon); err != nil {
		skipOrFail(t, "NUT 2.8 reference binary missing: "+err.Error())
	}
	// NUT 2.8.0's upsmon keeps its pid file in /run/nut whatever the
	// environment says, and refuses to start beside another upsmon;
	// a private mount of /run/nut keeps it to itself.
	if _, err := exec.LookPath("unshare"); err != nil || os.Geteuid() != 0 {
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
	return dir, startUpsd(t, gonutUpsd, dir, dir, "gonut-upsd", "CERTFILE "+certFile+"\nDISABLE_WEAK_SSL true\n")
}

// runNUTUpsmon runs NUT's upsmon as a primary with FORCESSL 1 and the
// given TLS lines against upsd at addr, and returns its log. With
// wantLogin it waits (up to 20 s) for the login and checks LIST CLIENT;
// without, it lets upsmon try for 4 s and requires that it never logged
// in.
func runNUTUpsmon(t *testing.T, dir, addr, tlsConf string, wantLogin bool) string {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	write(t, filepath.Join(dir, "upsmon.conf"), fmt.Sprintf(`MONITOR wr@127.0.0.1:%s 1 mon pw primary
MINSUPPLIES 1
SHUTDOWNCMD "/bin/false"
POWERDOWNFLAG %s/killpower
POLLFREQ 1
POLLFREQALERT 1
FORCESSL 1
%s`, port, dir, tlsConf), 0o600)
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

	wait := 20 * time.Second
	if !wantLogin {
		wait = 4 * time.Second
	}
	deadline := time.Now().Add(wait)
	loggedIn := false
	for !loggedIn && time.Now().Before(deadline) {
		loggedIn = transcript(t, addr, "GET NUMLOGINS wr\n") == "NUMLOGINS wr 1\n"
		time.Sleep(100 * time.Millisecond)
	}
	out, _ := os.ReadFile(log.Name())
	switch {
	case wantLogin && !loggedIn:
		t.Fatalf("NUT's upsmon did not log in over TLS; upsmon said:\n%s", out)
	case !wantLogin && loggedIn:
		t.Fatalf("NUT's upsmon logged in although it could not verify upsd's certificate; upsmon said:\n%s", out)
	case wantLogin:
		if got := transcript(t, addr, "LIST CLIENT wr\n"); got != "BEGIN LIST CLIENT wr\nCLIENT wr 127.0.0.1\nEND LIST CLIENT wr\n" {
			t.Errorf("LIST CLIENT: %q", got)
		}
	}
	return string(out)
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}
