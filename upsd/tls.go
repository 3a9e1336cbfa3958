package upsd

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CertRequest is upsd.conf's CERTREQUEST: whether STARTTLS asks clients
// for a certificate.
type CertRequest int

// CERTREQUEST levels, with NUT's numeric values.
const (
	// CertRequestNo asks for no client certificate (NUT's 0, the default).
	CertRequestNo CertRequest = iota
	// CertRequestRequest asks for one but accepts a client without one,
	// or with one that does not verify; a failed verification is logged
	// (NUT's 1, REQUEST).
	CertRequestRequest
	// CertRequestRequire makes the handshake fail unless the client
	// presents a certificate that verifies against CERTPATH (NUT's 2,
	// REQUIRE).
	CertRequestRequire
)

// ParseCertRequest reads CERTREQUEST's value: NO, REQUEST, REQUIRE (any
// case) or NUT's numbers 0, 1, 2; "" is NO.
func ParseCertRequest(s string) (CertRequest, error) {
	switch strings.ToUpper(s) {
	case "", "NO", "0":
		return CertRequestNo, nil
	case "REQUEST", "1":
		return CertRequestRequest, nil
	case "REQUIRE", "2":
		return CertRequestRequire, nil
	}
	return 0, fmt.Errorf("CERTREQUEST %q: want NO, REQUEST or REQUIRE", s)
}

// TLSSettings are upsd.conf's SSL directives as gonut reads them.
//
// NUT's upsd has two TLS back ends with different directives: OpenSSL
// builds read CERTFILE (a PEM file holding the certificate chain and the
// private key); NSS builds (Debian's among them) read CERTPATH (an NSS
// certificate database directory) and CERTIDENT (the certificate's
// nickname in it and the database password), and ignore CERTFILE. gonut
// runs on Go's crypto/tls, which reads PEM, so it follows the OpenSSL
// model and gives the NSS directives the nearest PEM meaning:
//
//   - CertFile (CERTFILE) enables STARTTLS: the server certificate, any
//     intermediate certificates, and the private key, PEM, in one file.
//   - CertPath (CERTPATH) is where client certificates are verified from:
//     a PEM file of CA certificates, or a directory of them (as OpenSSL's
//     CApath). An NSS database there cannot be read; LoadTLS says so.
//   - CertIdentPass (CERTIDENT's password) decrypts a private key that is
//     encrypted in the old PEM way ("Proc-Type: 4,ENCRYPTED"). The
//     nickname has no PEM meaning and is not used.
//   - CertRequest (CERTREQUEST) asks for client certificates.
//   - DisableWeakSSL (DISABLE_WEAK_SSL) allows TLS 1.2 and later only, with
//     forward-secret AEAD cipher suites. Without it TLS 1.0 and 1.1 are
//     accepted too, as NUT does for old clients.
type TLSSettings struct {
	CertFile       string
	CertPath       string
	CertIdentName  string
	CertIdentPass  string
	CertRequest    CertRequest
	DisableWeakSSL bool
}

// weakSSLWarning is NUT's own warning, word for word.
const weakSSLWarning = "Warning: DISABLE_WEAK_SSL is not enabled. Please consider enabling to improve network security."

// strongCipherSuites are the TLS 1.2 suites DISABLE_WEAK_SSL allows:
// ECDHE key exchange (forward secrecy) with an AEAD cipher. TLS 1.3's
// suites are all of that kind and are not configurable in Go.
var strongCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// LoadTLS builds the configuration STARTTLS uses from upsd.conf's SSL
// directives. It returns a nil Config, and no error, when CERTFILE is not
// set: STARTTLS then answers ERR FEATURE-NOT-CONFIGURED, as NUT does.
// Warnings are for the log (NUT's DISABLE_WEAK_SSL warning, a certificate
// that has expired, directives that have no effect).
func LoadTLS(ts TLSSettings) (*tls.Config, []string, error) {
	var warnings []string
	if ts.CertFile == "" {
		if ts.CertPath != "" && isNSSDatabase(ts.CertPath) {
			warnings = append(warnings, fmt.Sprintf("CERTPATH %s is an NSS certificate database (NUT built with NSS reads its server certificate from there); gonut cannot read it, so STARTTLS is off: export the certificate and key to one PEM file (pk12util -o, then openssl pkcs12 -nodes) and name it with CERTFILE", ts.CertPath))
		} else if ts.CertPath != "" || ts.CertRequest != CertRequestNo {
			warnings = append(warnings, "CERTPATH and CERTREQUEST have no effect without CERTFILE: STARTTLS is off")
		}
		return nil, warnings, nil
	}
	cert, err := loadCertFile(ts.CertFile, ts.CertIdentPass)
	if err != nil {
		return nil, nil, err
	}
	if now := time.Now(); now.After(cert.Leaf.NotAfter) {
		warnings = append(warnings, fmt.Sprintf("CERTFILE %s: the certificate expired on %s; clients that verify it will refuse to connect", ts.CertFile, cert.Leaf.NotAfter.Format(time.RFC3339)))
	} else if now.Before(cert.Leaf.NotBefore) {
		warnings = append(warnings, fmt.Sprintf("CERTFILE %s: the certificate is not valid before %s; clients that verify it will refuse to connect", ts.CertFile, cert.Leaf.NotBefore.Format(time.RFC3339)))
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		// NUT's OpenSSL build accepts TLS 1.0 and up unless
		// DISABLE_WEAK_SSL; Go's default minimum would be 1.2.
		MinVersion: tls.VersionTLS10,
	}
	if ts.DisableWeakSSL {
		cfg.MinVersion = tls.VersionTLS12
		cfg.CipherSuites = strongCipherSuites
	} else {
		warnings = append(warnings, weakSSLWarning)
	}
	var pool *x509.CertPool
	if ts.CertPath != "" {
		pool, err = loadCertPath(ts.CertPath)
		if err != nil {
			return nil, nil, err
		}
	}
	switch ts.CertRequest {
	case CertRequestNo:
		cfg.ClientAuth = tls.NoClientCert
		if pool != nil {
			warnings = append(warnings, fmt.Sprintf("CERTPATH %s is only used to verify client certificates, and CERTREQUEST is NO", ts.CertPath))
		}
	case CertRequestRequest:
		// Verified after the handshake, where a failure can be logged
		// with the client's address and the client kept (NUT's
		// BadCertHandler accepts it unless CERTREQUEST is REQUIRE).
		cfg.ClientAuth = tls.RequestClientCert
		cfg.ClientCAs = pool
	case CertRequestRequire:
		if pool == nil {
			return nil, nil, errors.New("CERTREQUEST REQUIRE needs CERTPATH: the CA certificates (a PEM file or a directory of them) that client certificates must verify against")
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = pool
	default:
		return nil, nil, fmt.Errorf("CERTREQUEST: unknown level %d", ts.CertRequest)
	}
	return cfg, warnings, nil
}

// loadCertFile reads CERTFILE: PEM certificates, the server's first, and
// its private key, in any order in one file, as NUT's OpenSSL build reads
// it (SSL_CTX_use_certificate_chain_file and SSL_CTX_use_PrivateKey_file on
// the same file).
func loadCertFile(path, password string) (tls.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("CERTFILE: %w", err)
	}
	var certPEM, keyPEM []byte
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			certPEM = append(certPEM, pem.EncodeToMemory(b)...)
		case b.Type == "ENCRYPTED PRIVATE KEY":
			return tls.Certificate{}, fmt.Errorf("CERTFILE %s: the private key is an encrypted PKCS#8 key, which gonut cannot decrypt; decrypt it (openssl pkey -in %s) or encrypt it the traditional PEM way (openssl rsa|ec -aes256) with CERTIDENT's password", path, path)
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			if keyPEM != nil {
				return tls.Certificate{}, fmt.Errorf("CERTFILE %s holds more than one private key", path)
			}
			//lint:ignore SA1019 the old PEM encryption is what "openssl rsa -aes256" writes; CERTIDENT's password opens it.
			if x509.IsEncryptedPEMBlock(b) {
				if password == "" {
					return tls.Certificate{}, fmt.Errorf("CERTFILE %s: the private key is encrypted; give its password as the second word of CERTIDENT", path)
				}
				//lint:ignore SA1019 see above; the file is local and trusted.
				der, err := x509.DecryptPEMBlock(b, []byte(password))
				if err != nil {
					return tls.Certificate{}, fmt.Errorf("CERTFILE %s: cannot decrypt the private key with CERTIDENT's password: %w", path, err)
				}
				b = &pem.Block{Type: b.Type, Bytes: der}
			}
			keyPEM = pem.EncodeToMemory(b)
		}
	}
	switch {
	case certPEM == nil:
		return tls.Certificate{}, fmt.Errorf("CERTFILE %s holds no PEM certificate (it must hold the server certificate, any intermediate ones, and the private key)", path)
	case keyPEM == nil:
		return tls.Certificate{}, fmt.Errorf("CERTFILE %s holds no PEM private key (append the server's key to the certificates)", path)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("CERTFILE %s: %w", path, err)
	}
	return cert, nil
}

// loadCertPath reads CERTPATH's CA certificates: one PEM file, or every
// regular file in a directory that holds PEM certificates (OpenSSL's
// c_rehash links included).
func loadCertPath(path string) (*x509.CertPool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("CERTPATH: %w", err)
	}
	pool := x509.NewCertPool()
	files := []string{path}
	if fi.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("CERTPATH: %w", err)
		}
		files = files[:0]
		for _, e := range entries {
			files = append(files, filepath.Join(path, e.Name()))
		}
	}
	found := 0
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || !st.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("CERTPATH: %w", err)
		}
		for rest := data; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("CERTPATH: %s: %w", f, err)
			}
			pool.AddCert(c)
			found++
		}
	}
	if found == 0 {
		if isNSSDatabase(path) {
			return nil, fmt.Errorf("CERTPATH %s is an NSS certificate database, which gonut cannot read; export the CA certificates as PEM (certutil -L -a -n <name>) into a file or directory and name that", path)
		}
		return nil, fmt.Errorf("CERTPATH %s holds no PEM certificate", path)
	}
	return pool, nil
}

// isNSSDatabase reports whether dir looks like an NSS certificate database
// (what CERTPATH names for NUT built with NSS).
func isNSSDatabase(dir string) bool {
	for _, f := range []string{"cert9.db", "cert8.db"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// verifyClientCert checks a client certificate against the CA pool the
// way a REQUIRE handshake would, for CERTREQUEST REQUEST's log line.
func verifyClientCert(cs tls.ConnectionState, pool *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err
}
