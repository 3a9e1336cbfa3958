package upsmon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

// selfSigned writes a self-signed certificate for 127.0.0.1: cert+key to
// pemFile (upsd's CERTFILE) and the certificate alone to caFile.
func selfSigned(t *testing.T, pemFile, caFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "upsd.test"},
		DNSNames:     []string{"upsd.test"},
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
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if pemFile != "" {
		if err := os.WriteFile(pemFile, append(cert, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(caFile, cert, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTLS: FORCESSL, CERTVERIFY, CERTPATH and CERTHOST through the client
// library's STARTTLS. upsmon monitors over TLS when upsd's certificate
// verifies, and refuses to talk to upsd at all when it does not.
func TestTLS(t *testing.T) {
	t.Parallel()
	keys, err := os.MkdirTemp("", "umtls")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(keys) })
	upsdPEM, ca, otherCA := filepath.Join(keys, "upsd.pem"), filepath.Join(keys, "ca.pem"), filepath.Join(keys, "other.pem")
	selfSigned(t, upsdPEM, ca)
	selfSigned(t, "", otherCA)
	s := startStack(t, nuttest.Gonut, "CERTFILE "+upsdPEM+"\n", dev{"ups", ol}, dev{"ups2", ol})
	for _, tc := range []struct {
		name, ups, extra string
		ok               bool
		want             string
	}{
		{"verified", "ups", "FORCESSL 1\nCERTVERIFY 1\nCERTPATH " + ca + "\n", true, "with TLS"},
		{"CERTHOST names the certificate", "ups2", "CERTPATH " + keys + "\nCERTHOST 127.0.0.1 upsd.test 1 1\n", true, "with TLS"},
		{"unknown CA", "ups", "FORCESSL 1\nCERTVERIFY 1\nCERTPATH " + otherCA + "\n", false, "certificate signed by unknown authority"},
		{"CERTHOST name mismatch", "ups", "CERTPATH " + ca + "\nCERTHOST 127.0.0.1 other.name 1 1\n", false, "other.name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := startMon(t, monConf{monitors: []string{secondary(s, tc.ups)}, extra: tc.extra}, "-p")
			if !tc.ok {
				m.waitNote("COMMBAD", 15*time.Second)
				m.waitLog(tc.want, time.Second)
				if m.logHas("Logged into UPS") {
					t.Errorf("logged in although the certificate does not verify:\n%s", m.proc.Output())
				}
				return
			}
			m.waitLog("Connected to UPS ["+s.srv.Target(tc.ups)+"] with TLS", 15*time.Second)
			m.waitLog("Logged into UPS", 5*time.Second)
		})
	}
}
