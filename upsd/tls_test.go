package upsd

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI is a CA, a server certificate for 127.0.0.1 signed by it, a
// client certificate signed by it, and a self-signed client certificate
// nobody trusts.
type testPKI struct {
	dir        string
	caFile     string // CA certificate, PEM
	serverFile string // server certificate + key, PEM, one file (CERTFILE)
	roots      *x509.CertPool
	client     tls.Certificate // signed by the CA
	stranger   tls.Certificate // self-signed
	serverCert *x509.Certificate
	serverKey  *ecdsa.PrivateKey
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), roots: x509.NewCertPool()}
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gonut test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p.roots.AddCert(ca)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writeFile(t, p.caFile, pemBytes("CERTIFICATE", caDER))

	p.serverKey = newKey(t)
	srvDER := sign(t, ca, caKey, &p.serverKey.PublicKey, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "upsd"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.serverCert, _ = x509.ParseCertificate(srvDER)
	keyDER, _ := x509.MarshalECPrivateKey(p.serverKey)
	p.serverFile = filepath.Join(p.dir, "upsd.pem")
	// Key first: CERTFILE may hold the blocks in any order.
	writeFile(t, p.serverFile, append(pemBytes("EC PRIVATE KEY", keyDER), pemBytes("CERTIFICATE", srvDER)...))

	cliKey := newKey(t)
	cliDER := sign(t, ca, caKey, &cliKey.PublicKey, &x509.Certificate{
		SerialNumber: big.NewInt(3),
		Subject:      pkix.Name{CommonName: "upsmon"},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	p.client = tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey}

	strKey := newKey(t)
	strTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4),
		Subject:      pkix.Name{CommonName: "stranger"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	strDER, err := x509.CreateCertificate(rand.Reader, strTmpl, strTmpl, &strKey.PublicKey, strKey)
	if err != nil {
		t.Fatal(err)
	}
	p.stranger = tls.Certificate{Certificate: [][]byte{strDER}, PrivateKey: strKey}
	return p
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, pub any, tmpl *x509.Certificate) []byte {
	t.Helper()
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pemBytes(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsFixture is an upsd with STARTTLS configured from ts.
func tlsFixture(t *testing.T, ts TLSSettings, mutate func(*Config)) *fixture {
	t.Helper()
	cfg, _, err := LoadTLS(ts)
	if err != nil {
		t.Fatal(err)
	}
	return newFixture(t, func(c *Config) {
		c.TLS = cfg
		if mutate != nil {
			mutate(c)
		}
	})
}

// startTLS sends STARTTLS in plain text, checks the answer and runs the
// client side of the handshake; the returned session speaks TLS.
func (s *session) startTLS(cfg *tls.Config) (*session, error) {
	s.t.Helper()
	if got := s.exchange("STARTTLS\n", "OK STARTTLS\n"); got != "OK STARTTLS\n" {
		s.t.Fatalf("STARTTLS: %q", got)
	}
	if s.r.Buffered() != 0 {
		s.t.Fatalf("%d plain-text bytes after OK STARTTLS", s.r.Buffered())
	}
	tc := tls.Client(s.c, cfg)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	_ = tc.SetDeadline(time.Time{})
	return &session{t: s.t, c: tc, r: bufio.NewReader(tc)}, nil
}

func (p *testPKI) clientConfig(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.roots, ServerName: "127.0.0.1", Certificates: certs}
}

func TestStartTLS(t *testing.T) {
	pki := newTestPKI(t)
	f := tlsFixture(t, TLSSettings{CertFile: pki.serverFile, DisableWeakSSL: true}, nil)
	s, err := f.dial().startTLS(pki.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	ver := "Network UPS Tools upsd " + Version + " - http://www.networkupstools.org/\n"
	want := ver + "ERR ALREADY-SSL-MODE\nOK\nOK\nOK\nVAR main ups.status \"OL\"\nBEGIN LIST CLIENT main\nCLIENT main 127.0.0.1\nEND LIST CLIENT main\n"
	if got := s.exchange("VER\nSTARTTLS\nUSERNAME mon\nPASSWORD pw\nLOGIN main\nGET VAR main ups.status\nLIST CLIENT main\n", want); got != want {
		t.Errorf("over TLS:\n got %q\nwant %q", got, want)
	}
	// A long list arrives whole through TLS records.
	if got := s.exchange("LIST VAR main\n", strings.Repeat("x\n", 8)); !strings.HasSuffix(got, "END LIST VAR main\n") {
		t.Errorf("LIST VAR over TLS: %q", got)
	}
	if got := s.exchange("LOGOUT\n", "OK Goodbye\n"); got != "OK Goodbye\n" {
		t.Errorf("LOGOUT over TLS: %q", got)
	}
	if _, err := s.r.ReadString('\n'); err == nil {
		t.Error("connection open after LOGOUT")
	}
	// Plain-text clients of the same server are unaffected.
	if got := f.dial().exchange("NETVER\n", "1.3\n"); got != "1.3\n" {
		t.Errorf("plain client: %q", got)
	}
}

// TestStartTLSNothingInClear checks that once STARTTLS is agreed, nothing
// goes out in plain text: requests pipelined behind STARTTLS are dropped
// unanswered, and a client that goes on in plain text gets no answer and
// is disconnected.
func TestStartTLSNothingInClear(t *testing.T) {
	pki := newTestPKI(t)
	f := tlsFixture(t, TLSSettings{CertFile: pki.serverFile}, nil)

	s := f.dial()
	if _, err := io.WriteString(s.c, "STARTTLS\nUSERNAME mon\nPASSWORD pw\nVER\n"); err != nil {
		t.Fatal(err)
	}
	if l, err := s.r.ReadString('\n'); l != "OK STARTTLS\n" || err != nil {
		t.Fatalf("STARTTLS: %q, %v", l, err)
	}
	tc := tls.Client(&prefixConn{Conn: s.c, r: s.r}, pki.clientConfig())
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(tc)
	if _, err := io.WriteString(tc, "NETVER\nPASSWORD x\n"); err != nil {
		t.Fatal(err)
	}
	// NETVER is the first request the server answers over TLS, and the
	// PASSWORD given in plain text before the handshake was not taken.
	for _, want := range []string{"1.3\n", "OK\n"} {
		if l, err := r.ReadString('\n'); l != want || err != nil {
			t.Fatalf("over TLS: %q, %v; want %q", l, err, want)
		}
	}

	plain := f.dial()
	if _, err := io.WriteString(plain.c, "STARTTLS\n"); err != nil {
		t.Fatal(err)
	}
	if l, _ := plain.r.ReadString('\n'); l != "OK STARTTLS\n" {
		t.Fatalf("STARTTLS: %q", l)
	}
	_, _ = io.WriteString(plain.c, "VER\nLIST UPS\n")
	_ = plain.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, err := io.ReadAll(plain.r)
	if err != nil && !isReset(err) {
		t.Fatalf("plain text after STARTTLS: %v", err)
	}
	if strings.Contains(string(rest), "Network UPS Tools") || strings.Contains(string(rest), "LIST") {
		t.Errorf("the server answered in plain text after STARTTLS: %q", rest)
	}
}

// prefixConn reads through r (which may hold bytes already read from the
// connection) and writes to the connection.
type prefixConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe"))
}

func TestStartTLSVersionsAndSuites(t *testing.T) {
	pki := newTestPKI(t)
	weak := tlsFixture(t, TLSSettings{CertFile: pki.serverFile}, nil)
	strong := tlsFixture(t, TLSSettings{CertFile: pki.serverFile, DisableWeakSSL: true}, nil)
	tls11 := func() *tls.Config {
		c := pki.clientConfig()
		c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		return c
	}
	cbc12 := func() *tls.Config {
		c := pki.clientConfig()
		c.MaxVersion = tls.VersionTLS12
		c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
		return c
	}
	for _, tt := range []struct {
		name string
		f    *fixture
		cfg  *tls.Config
		ok   bool
	}{
		{"default accepts TLS 1.1", weak, tls11(), true},
		{"default accepts CBC", weak, cbc12(), true},
		{"default negotiates TLS 1.3", weak, pki.clientConfig(), true},
		{"DISABLE_WEAK_SSL refuses TLS 1.1", strong, tls11(), false},
		{"DISABLE_WEAK_SSL refuses CBC", strong, cbc12(), false},
		{"DISABLE_WEAK_SSL accepts TLS 1.2 AEAD", strong, func() *tls.Config { c := pki.clientConfig(); c.MaxVersion = tls.VersionTLS12; return c }(), true},
		{"untrusted server certificate", strong, &tls.Config{ServerName: "127.0.0.1"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.f.dial().startTLS(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("handshake: %v, want success %v", err, tt.ok)
			}
			if s != nil {
				if got := s.exchange("NETVER\n", "1.3\n"); got != "1.3\n" {
					t.Errorf("NETVER over TLS: %q", got)
				}
			}
		})
	}
	// A failed handshake costs the server nothing: it still serves.
	if got := strong.dial().exchange("NETVER\n", "1.3\n"); got != "1.3\n" {
		t.Errorf("after failed handshakes: %q", got)
	}
}

func TestStartTLSClientCertificates(t *testing.T) {
	pki := newTestPKI(t)
	caDir := filepath.Join(pki.dir, "cadir")
	if err := os.Mkdir(caDir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(pki.caFile)
	writeFile(t, filepath.Join(caDir, "0a1b2c3d.0"), data)
	writeFile(t, filepath.Join(caDir, "README"), []byte("not a certificate\n"))
	request := tlsFixture(t, TLSSettings{CertFile: pki.serverFile, CertPath: pki.caFile, CertRequest: CertRequestRequest}, nil)
	require := tlsFixture(t, TLSSettings{CertFile: pki.serverFile, CertPath: caDir, CertRequest: CertRequestRequire}, nil)
	for _, tt := range []struct {
		name  string
		f     *fixture
		certs []tls.Certificate
		ok    bool
	}{
		{"REQUEST without certificate", request, nil, true},
		{"REQUEST with untrusted certificate", request, []tls.Certificate{pki.stranger}, true},
		{"REQUEST with trusted certificate", request, []tls.Certificate{pki.client}, true},
		{"REQUIRE without certificate", require, nil, false},
		{"REQUIRE with untrusted certificate", require, []tls.Certificate{pki.stranger}, false},
		{"REQUIRE with trusted certificate", require, []tls.Certificate{pki.client}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.f.dial().startTLS(pki.clientConfig(tt.certs...))
			got := ""
			if err == nil {
				// With TLS 1.3 the server checks the client's
				// certificate after the client's handshake is done;
				// a refusal shows on the first exchange.
				got = s.exchange("NETVER\n", "1.3\n")
			}
			if (got == "1.3\n") != tt.ok {
				t.Errorf("handshake %v, NETVER %q; want success %v", err, got, tt.ok)
			}
		})
	}
}

// TestStartTLSHandshakeBounded: a client that stops mid-handshake is
// dropped after the idle time and holds up nobody meanwhile.
func TestStartTLSHandshakeBounded(t *testing.T) {
	pki := newTestPKI(t)
	f := tlsFixture(t, TLSSettings{CertFile: pki.serverFile}, func(c *Config) { c.IdleTimeout = 500 * time.Millisecond })
	stuck := f.dial()
	if got := stuck.exchange("STARTTLS\n", "OK STARTTLS\n"); got != "OK STARTTLS\n" {
		t.Fatalf("STARTTLS: %q", got)
	}
	if got := f.dial().exchange("NETVER\n", "1.3\n"); got != "1.3\n" {
		t.Errorf("other client during a stuck handshake: %q", got)
	}
	_ = stuck.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(stuck.r); err != nil && !isReset(err) {
		t.Errorf("stuck handshake not dropped: %v", err)
	}
}

func TestLoadTLS(t *testing.T) {
	pki := newTestPKI(t)
	dir := pki.dir
	srv, _ := os.ReadFile(pki.serverFile)
	var certPEM, keyPEM []byte
	for rest := srv; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			certPEM = pem.EncodeToMemory(b)
		} else {
			keyPEM = pem.EncodeToMemory(b)
		}
	}
	file := func(name string, parts ...[]byte) string {
		p := filepath.Join(dir, name)
		var all []byte
		for _, x := range parts {
			all = append(all, x...)
		}
		writeFile(t, p, all)
		return p
	}
	otherKey, _ := x509.MarshalECPrivateKey(newKey(t))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 testing that keys encrypted the old PEM way open with CERTIDENT's password.
	encBlock, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), []byte("s3cret"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	// A self-signed RSA certificate for the encrypted key.
	rsaTmpl := &x509.Certificate{SerialNumber: big.NewInt(10), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	rsaCert, err := x509.CreateCertificate(rand.Reader, rsaTmpl, rsaTmpl, &rsaKey.PublicKey, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	encFile := file("enc.pem", pemBytes("CERTIFICATE", rsaCert), pem.EncodeToMemory(encBlock))
	nssDir := filepath.Join(dir, "nssdb")
	if err := os.Mkdir(nssDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(nssDir, "cert9.db"), []byte("SQLite format 3\x00"))
	expiredKey := newKey(t)
	expTmpl := &x509.Certificate{SerialNumber: big.NewInt(11), NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}
	expDER, _ := x509.CreateCertificate(rand.Reader, expTmpl, expTmpl, &expiredKey.PublicKey, expiredKey)
	expKeyDER, _ := x509.MarshalECPrivateKey(expiredKey)
	expFile := file("expired.pem", pemBytes("CERTIFICATE", expDER), pemBytes("EC PRIVATE KEY", expKeyDER))

	for _, tt := range []struct {
		name    string
		ts      TLSSettings
		enabled bool
		err     string // part of the error, "" for none
		warn    string // part of some warning, "" for none expected
	}{
		{"off", TLSSettings{}, false, "", ""},
		{"NSS database only", TLSSettings{CertPath: nssDir}, false, "", "NSS certificate database"},
		{"CERTPATH alone", TLSSettings{CertPath: pki.caFile}, false, "", "no effect without CERTFILE"},
		{"cert and key", TLSSettings{CertFile: pki.serverFile}, true, "", "DISABLE_WEAK_SSL is not enabled"},
		{"strong", TLSSettings{CertFile: pki.serverFile, DisableWeakSSL: true}, true, "", ""},
		{"missing file", TLSSettings{CertFile: filepath.Join(dir, "nope.pem")}, false, "no such file", ""},
		{"no key", TLSSettings{CertFile: file("nokey.pem", certPEM)}, false, "no PEM private key", ""},
		{"no certificate", TLSSettings{CertFile: file("nocert.pem", keyPEM)}, false, "no PEM certificate", ""},
		{"two keys", TLSSettings{CertFile: file("twokeys.pem", certPEM, keyPEM, keyPEM)}, false, "more than one private key", ""},
		{"wrong key", TLSSettings{CertFile: file("wrongkey.pem", certPEM, pemBytes("EC PRIVATE KEY", otherKey))}, false, "does not match", ""},
		{"encrypted key", TLSSettings{CertFile: encFile, CertIdentName: "upsd", CertIdentPass: "s3cret", DisableWeakSSL: true}, true, "", ""},
		{"encrypted key, no password", TLSSettings{CertFile: encFile}, false, "give its password as the second word of CERTIDENT", ""},
		{"encrypted key, wrong password", TLSSettings{CertFile: encFile, CertIdentPass: "nope"}, false, "cannot decrypt", ""},
		{"PKCS#8 encrypted", TLSSettings{CertFile: file("p8.pem", certPEM, pemBytes("ENCRYPTED PRIVATE KEY", []byte{1}))}, false, "encrypted PKCS#8", ""},
		{"expired", TLSSettings{CertFile: expFile, DisableWeakSSL: true}, true, "", "expired"},
		{"REQUIRE without CERTPATH", TLSSettings{CertFile: pki.serverFile, CertRequest: CertRequestRequire}, false, "needs CERTPATH", ""},
		{"REQUIRE with NSS database", TLSSettings{CertFile: pki.serverFile, CertPath: nssDir, CertRequest: CertRequestRequire}, false, "NSS certificate database", ""},
		{"REQUIRE with empty directory", TLSSettings{CertFile: pki.serverFile, CertPath: t.TempDir(), CertRequest: CertRequestRequire}, false, "holds no PEM certificate", ""},
		{"REQUEST without CERTPATH", TLSSettings{CertFile: pki.serverFile, CertRequest: CertRequestRequest, DisableWeakSSL: true}, true, "", ""},
		{"CERTPATH unused", TLSSettings{CertFile: pki.serverFile, CertPath: pki.caFile, DisableWeakSSL: true}, true, "", "only used to verify client certificates"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, warnings, err := LoadTLS(tt.ts)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (cfg != nil) != tt.enabled {
				t.Errorf("STARTTLS enabled = %v, want %v", cfg != nil, tt.enabled)
			}
			joined := strings.Join(warnings, "\n")
			if tt.warn == "" && joined != "" {
				t.Errorf("unexpected warnings: %s", joined)
			}
			if !strings.Contains(joined, tt.warn) {
				t.Errorf("warnings %q lack %q", joined, tt.warn)
			}
		})
	}
}

func TestParseCertRequest(t *testing.T) {
	for in, want := range map[string]CertRequest{"": CertRequestNo, "no": CertRequestNo, "0": CertRequestNo, "REQUEST": CertRequestRequest, "1": CertRequestRequest, "Require": CertRequestRequire, "2": CertRequestRequire} {
		if got, err := ParseCertRequest(in); err != nil || got != want {
			t.Errorf("ParseCertRequest(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseCertRequest("3"); err == nil {
		t.Error("CERTREQUEST 3 accepted")
	}
}
