package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// WithStartTLS makes Dial upgrade the connection with STARTTLS before it
// returns, using cfg (see TLSOptions.Config). Nothing but STARTTLS is sent
// in plain text, so if upsd cannot do TLS (ERR FEATURE-NOT-CONFIGURED when
// it has no certificate) or its certificate does not verify, Dial fails
// before any credential could leave the host.
func WithStartTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// WithTryStartTLS is WithStartTLS for servers that may not offer TLS, as
// NUT's upsc and upslog connect (UPSCLI_CONN_TRYSSL): when upsd answers
// STARTTLS with an ERR (ERR FEATURE-NOT-CONFIGURED: it has no
// certificate), Dial goes on in plain text; TLSConnectionState tells which
// it got. A certificate that does not verify still fails Dial. Anyone
// between client and server can force plain text this way: use
// WithStartTLS wherever encryption is required.
func WithTryStartTLS(cfg *tls.Config) Option {
	return func(o *options) { o.tls, o.tryTLS = cfg, true }
}

// ErrPinMismatch: upsd's certificate matches none of the pinned SHA-256
// fingerprints.
var ErrPinMismatch = errors.New("server certificate matches no pinned SHA-256 fingerprint")

// StartTLS upgrades the connection to TLS (STARTTLS), as NUT's clients do
// with upsd's CERTFILE: upsd answers "OK STARTTLS", the TLS handshake runs
// on the same TCP connection, and every later request goes encrypted.
//
// cfg decides how upsd's certificate is checked; build it with
// TLSOptions.Config. When cfg.ServerName is empty and the certificate is
// verified, the host this Client dialled is used, as crypto/tls.Dial does.
//
// An ERR answer (FEATURE-NOT-CONFIGURED: upsd has no certificate;
// ALREADY-SSL-MODE) leaves the plain connection usable. A failed handshake,
// or plain-text bytes sent by the server after "OK STARTTLS" (which an
// attacker in the middle could have injected), close the Client.
func (c *Client) StartTLS(ctx context.Context, cfg *tls.Config) error {
	if cfg == nil {
		return fmt.Errorf("upsd %s: STARTTLS: nil tls.Config", c.server)
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		if host, _, err := net.SplitHostPort(c.server); err == nil {
			cfg.ServerName = host
		}
	}
	return c.exchange(ctx, newRequest("STARTTLS"), func() error {
		line, words, err := c.readLine()
		if err != nil {
			return err
		}
		if e := errReply(words); e != nil {
			return e
		}
		if len(words) != 2 || words[0] != "OK" || !strings.EqualFold(words[1], "STARTTLS") {
			return &ProtocolError{Line: line, Reason: "expected OK STARTTLS"}
		}
		if n := c.lr.br.Buffered(); n > 0 {
			return &ProtocolError{Reason: fmt.Sprintf("%d plain-text bytes after OK STARTTLS, before the TLS handshake (an injection attempt, or a broken server)", n)}
		}
		tc := tls.Client(c.raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		st := tc.ConnectionState()
		c.conn = tc
		c.lr = lineReader{br: bufio.NewReaderSize(tc, 4096), max: c.opts.maxLine}
		c.mu.Lock()
		c.tlsState = &st
		c.mu.Unlock()
		return nil
	})
}

// TLSConnectionState returns the state of the TLS session after StartTLS,
// and false while the connection is plain text.
func (c *Client) TLSConnectionState() (tls.ConnectionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tlsState == nil {
		return tls.ConnectionState{}, false
	}
	return *c.tlsState, true
}

// TLSOptions says how a Client checks upsd's certificate after STARTTLS.
// Its zero value verifies the certificate chain against the system's
// roots and the host name dialled, like a web browser. upsd certificates
// are usually self-signed: trust them with CAFile (the certificate itself,
// or the CA that signed it, as upsmon's CERTPATH) or pin them with
// PinSHA256.
type TLSOptions struct {
	// CAFile is a PEM file of CA certificates to trust instead of the
	// system's roots.
	CAFile string
	// CADir is a directory whose files hold PEM CA certificates to trust,
	// added to CAFile's.
	CADir string
	// ServerName is the name upsd's certificate must carry (upsmon's
	// CERTHOST); by default the host dialled.
	ServerName string
	// PinSHA256 pins upsd's certificate: the SHA-256 fingerprint of its
	// DER form must be one of these, written in hex with or without
	// colons (`openssl x509 -noout -fingerprint -sha256 -in cert.pem`).
	// With pins and no CAFile or CADir, the pin alone decides: the chain
	// and the name are not checked, so a self-signed certificate works.
	// With both, the chain, the name and the pin are all checked.
	PinSHA256 []string
	// Certificates are presented to upsd when it asks for a client
	// certificate (CERTREQUEST in upsd.conf).
	Certificates []tls.Certificate
	// InsecureSkipVerify encrypts without checking the certificate at
	// all, as NUT's upsc does. An attacker in the middle can then read
	// everything, passwords included; prefer a pin.
	InsecureSkipVerify bool
}

// Config builds the tls.Config for StartTLS and WithStartTLS. It requires
// TLS 1.2 or later.
func (o TLSOptions) Config() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         o.ServerName,
		Certificates:       o.Certificates,
		InsecureSkipVerify: o.InsecureSkipVerify,
	}
	if o.CAFile != "" || o.CADir != "" {
		pool, err := loadCAs(o.CAFile, o.CADir)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if len(o.PinSHA256) == 0 {
		return cfg, nil
	}
	pins := make([][]byte, 0, len(o.PinSHA256))
	for _, p := range o.PinSHA256 {
		b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(p), ":", ""))
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("TLS pin %q: want a SHA-256 fingerprint, 64 hex digits (colons allowed)", p)
		}
		pins = append(pins, b)
	}
	if cfg.RootCAs == nil {
		// The pin replaces chain and name checks: crypto/tls still calls
		// VerifyConnection with the certificates the server sent.
		cfg.InsecureSkipVerify = true
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: upsd sent no certificate", ErrPinMismatch)
		}
		sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
		for _, p := range pins {
			if bytes.Equal(p, sum[:]) {
				return nil
			}
		}
		return fmt.Errorf("%w: upsd's is %s", ErrPinMismatch, Fingerprint(cs.PeerCertificates[0]))
	}
	return cfg, nil
}

// Fingerprint returns the SHA-256 fingerprint of a certificate as
// TLSOptions.PinSHA256 takes it, in the colon-separated upper-case hex
// openssl prints.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

func loadCAs(file, dir string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if file != "" {
		pem, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("TLS CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA file %s: no PEM certificate in it", file)
		}
	}
	if dir != "" {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("TLS CA directory: %w", err)
		}
		found := false
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				continue
			}
			pem, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("TLS CA directory: %w", err)
			}
			if pool.AppendCertsFromPEM(pem) {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("TLS CA directory %s: no file in it holds a PEM certificate", dir)
		}
	}
	return pool, nil
}
