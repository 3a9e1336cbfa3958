package clienttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certificate is a throw-away self-signed certificate for TLS tests. It
// is its own CA, so its PEM is both what a client trusts (a CA file) and
// what a server presents.
type Certificate struct {
	TLS    tls.Certificate   // for WithTLS or a tls.Config
	Cert   *x509.Certificate // parsed, e.g. for client.Fingerprint
	PEM    []byte            // the certificate, PEM-encoded
	KeyPEM []byte            // its private key, PEM-encoded
}

// NewCertificate makes a certificate valid for a day for hosts (DNS names
// or IP addresses), by default localhost, 127.0.0.1 and ::1.
func NewCertificate(t testing.TB, hosts ...string) *Certificate {
	t.Helper()
	c, err := GenerateCertificate(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// GenerateCertificate is NewCertificate for code without a testing.TB
// (Example functions).
func GenerateCertificate(hosts ...string) (*Certificate, error) {
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("clienttest: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("clienttest: serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0], Organization: []string{"gonut clienttest"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("clienttest: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("clienttest: parse certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("clienttest: marshal key: %w", err)
	}
	return &Certificate{
		TLS:    tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
		Cert:   cert,
		PEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// WriteFiles writes the certificate to dir as cert.pem, and the
// certificate followed by its key as certkey.pem (the form of upsd's
// CERTFILE), and returns both paths.
func (c *Certificate) WriteFiles(t testing.TB, dir string) (certFile, certKeyFile string) {
	t.Helper()
	certFile, certKeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "certkey.pem")
	if err := os.WriteFile(certFile, c.PEM, 0o644); err != nil {
		t.Fatalf("clienttest: %v", err)
	}
	if err := os.WriteFile(certKeyFile, append(append([]byte(nil), c.PEM...), c.KeyPEM...), 0o600); err != nil {
		t.Fatalf("clienttest: %v", err)
	}
	return certFile, certKeyFile
}
