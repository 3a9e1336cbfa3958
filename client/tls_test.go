package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/gonut/gonut/client"
	"github.com/gonut/gonut/client/clienttest"
)

// tls0 encrypts without checking anything, for tests where the server
// never gets as far as a handshake.
var tls0 = tls.Config{InsecureSkipVerify: true}

func tlsConfig(t *testing.T, o client.TLSOptions) *tls.Config {
	t.Helper()
	cfg, err := o.Config()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// tlsUPSD starts a stateful fake upsd that offers STARTTLS with cert.
func tlsUPSD(t *testing.T, cert *clienttest.Certificate) (*clienttest.UPSD, *clienttest.Server) {
	t.Helper()
	u := clienttest.NewUPSD(fakeDevices...)
	u.AddUser(clienttest.User{Name: "admin", Password: "s3cret", Actions: []string{"SET"}, InstCmds: []string{"all"}})
	return u, u.Start(t, clienttest.WithTLS(cert.TLS))
}

// TestStartTLSVerification: each way of checking the server's
// certificate accepts the right server and refuses the wrong one, and a
// refused handshake leaves nothing usable behind.
func TestStartTLSVerification(t *testing.T) {
	cert := clienttest.NewCertificate(t)
	other := clienttest.NewCertificate(t)
	named := clienttest.NewCertificate(t, "ups.example.net") // not valid for 127.0.0.1
	dir := t.TempDir()
	caFile, _ := cert.WriteFiles(t, dir)
	otherDir := t.TempDir()
	otherCA, _ := other.WriteFiles(t, otherDir)
	namedDir := t.TempDir()
	namedCA, _ := named.WriteFiles(t, namedDir)
	caDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(caDir, "upsd.crt"), cert.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(caDir, "README"), []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	var unknownAuthority x509.UnknownAuthorityError
	var badName x509.HostnameError
	tests := []struct {
		name   string
		server *clienttest.Certificate
		opts   client.TLSOptions
		want   any // nil, an error to match with errors.Is, or a pointer for errors.As
	}{
		{"CA file", cert, client.TLSOptions{CAFile: caFile}, nil},
		{"CA directory", cert, client.TLSOptions{CADir: caDir}, nil},
		{"CA of another server", cert, client.TLSOptions{CAFile: otherCA}, &unknownAuthority},
		{"system roots only", cert, client.TLSOptions{}, &unknownAuthority},
		{"pin", cert, client.TLSOptions{PinSHA256: []string{client.Fingerprint(cert.Cert)}}, nil},
		{"pin without colons, lower case", cert, client.TLSOptions{PinSHA256: []string{strings.ToLower(strings.ReplaceAll(client.Fingerprint(cert.Cert), ":", ""))}}, nil},
		{"one of several pins", cert, client.TLSOptions{PinSHA256: []string{client.Fingerprint(other.Cert), client.Fingerprint(cert.Cert)}}, nil},
		{"wrong pin", cert, client.TLSOptions{PinSHA256: []string{client.Fingerprint(other.Cert)}}, client.ErrPinMismatch},
		{"CA and pin", cert, client.TLSOptions{CAFile: caFile, PinSHA256: []string{client.Fingerprint(cert.Cert)}}, nil},
		{"CA right, pin wrong", cert, client.TLSOptions{CAFile: caFile, PinSHA256: []string{client.Fingerprint(other.Cert)}}, client.ErrPinMismatch},
		{"name mismatch", named, client.TLSOptions{CAFile: namedCA}, &badName},
		{"server name given", named, client.TLSOptions{CAFile: namedCA, ServerName: "ups.example.net"}, nil},
		{"pin ignores the name", named, client.TLSOptions{PinSHA256: []string{client.Fingerprint(named.Cert)}}, nil},
		{"insecure", other, client.TLSOptions{InsecureSkipVerify: true}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, s := tlsUPSD(t, tc.server)
			ctx := context.Background()
			c, err := client.Dial(ctx, s.Addr, client.WithStartTLS(tlsConfig(t, tc.opts)))
			switch want := tc.want.(type) {
			case *x509.UnknownAuthorityError, *x509.HostnameError:
				if !errors.As(err, want) {
					t.Fatalf("Dial: err = %v, want a %T", err, want)
				}
			case nil:
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer c.Close()
				st, ok := c.TLSConnectionState()
				if !ok || !st.HandshakeComplete || st.Version < tls.VersionTLS12 {
					t.Fatalf("TLS state %+v, %v", st, ok)
				}
				if v, err := c.GetVar(ctx, "apc", "ups.status"); err != nil || v != "OL CHRG" {
					t.Errorf("GetVar over TLS = %q, %v", v, err)
				}
			case error:
				if !errors.Is(err, want) {
					t.Fatalf("Dial: err = %v, want %v", err, want)
				}
			}
			if tc.want != nil && !strings.Contains(err.Error(), s.Addr) {
				t.Errorf("error %q does not name the server", err)
			}
			if got := s.PlainRequests(); !reflect.DeepEqual(got, []string{"STARTTLS"}) {
				t.Errorf("sent in plain text: %q, want only STARTTLS", got)
			}
		})
	}
}

// TestStartTLSSecretsStayEncrypted: after STARTTLS, credentials and
// commands travel only inside TLS; and a server that cannot do TLS never
// sees them, because Dial with WithStartTLS fails first.
func TestStartTLSSecretsStayEncrypted(t *testing.T) {
	ctx := context.Background()
	cert := clienttest.NewCertificate(t)
	u, s := tlsUPSD(t, cert)
	cfg := tlsConfig(t, client.TLSOptions{PinSHA256: []string{client.Fingerprint(cert.Cert)}})
	c, err := client.Dial(ctx, s.Addr, client.WithStartTLS(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Authenticate(ctx, "admin", "s3cret"); err != nil {
		t.Fatal(err)
	}
	id, err := c.InstCmdTracked(ctx, "apc", "load.off", "5")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitTracking(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	// A second STARTTLS is refused and the session goes on.
	if err := c.StartTLS(ctx, cfg); !errors.Is(err, client.ErrAlreadySSLMode) {
		t.Errorf("second StartTLS: err = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close of a TLS session: %v", err)
	}
	if got := s.PlainRequests(); !reflect.DeepEqual(got, []string{"STARTTLS"}) {
		t.Errorf("sent in plain text: %q", got)
	}
	if got := u.Sent(); !reflect.DeepEqual(got, []string{"apc INSTCMD load.off 5"}) {
		t.Errorf("driver got %q", got)
	}
	if reqs := s.Requests(); !strings.Contains(strings.Join(reqs, "\n"), "PASSWORD s3cret") {
		t.Errorf("the server did not get the password over TLS: %q", reqs)
	}

	// A upsd without a certificate: Dial fails, only STARTTLS was sent.
	plain := clienttest.NewServer(t, clienttest.Fake(fakeDevices...))
	if _, err := client.Dial(ctx, plain.Addr, client.WithStartTLS(cfg)); !errors.Is(err, client.ErrFeatureNotConfigured) {
		t.Fatalf("Dial to a server without TLS: err = %v", err)
	}
	if got := plain.Requests(); !reflect.DeepEqual(got, []string{"STARTTLS"}) {
		t.Errorf("sent to a server without TLS: %q", got)
	}

	// Asked on an open client, the refusal leaves the plain session usable.
	c2 := dial(t, plain)
	if err := c2.StartTLS(ctx, cfg); !errors.Is(err, client.ErrFeatureNotConfigured) {
		t.Errorf("StartTLS: err = %v", err)
	}
	if _, ok := c2.TLSConnectionState(); ok {
		t.Error("TLS state reported on a plain connection")
	}
	if _, err := c2.GetVar(ctx, "apc", "ups.status"); err != nil {
		t.Errorf("after a refused STARTTLS: %v", err)
	}
}

// TestTryStartTLS: opportunistic TLS encrypts when upsd can, goes on in
// plain text when it cannot, and still refuses a bad certificate.
func TestTryStartTLS(t *testing.T) {
	ctx := context.Background()
	cert := clienttest.NewCertificate(t)
	_, withTLS := tlsUPSD(t, cert)
	plain := clienttest.NewServer(t, clienttest.Fake(fakeDevices...))
	good := tlsConfig(t, client.TLSOptions{PinSHA256: []string{client.Fingerprint(cert.Cert)}})
	bad := tlsConfig(t, client.TLSOptions{PinSHA256: []string{client.Fingerprint(clienttest.NewCertificate(t).Cert)}})
	for _, tc := range []struct {
		name    string
		addr    string
		cfg     *tls.Config
		wantTLS bool
		wantErr error
	}{
		{"server with TLS", withTLS.Addr, good, true, nil},
		{"server without TLS", plain.Addr, good, false, nil},
		{"bad certificate", withTLS.Addr, bad, false, client.ErrPinMismatch},
	} {
		c, err := client.Dial(ctx, tc.addr, client.WithTryStartTLS(tc.cfg))
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("%s: err = %v, want %v", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if _, on := c.TLSConnectionState(); on != tc.wantTLS {
			t.Errorf("%s: TLS %v, want %v", tc.name, on, tc.wantTLS)
		}
		if _, err := c.GetVar(ctx, "apc", "ups.status"); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		c.Close()
	}
}

// TestStartTLSInjection: plain text the "server" sends after OK STARTTLS
// and before the handshake (what a man in the middle would inject) is
// refused, not read as a reply.
func TestStartTLSInjection(t *testing.T) {
	s := clienttest.NewServer(t, func(w []string) clienttest.Reply {
		return reply("OK STARTTLS\nOK\n")
	})
	c := dial(t, s)
	err := c.StartTLS(context.Background(), &tls0)
	if !errors.Is(err, client.ErrProtocol) || !strings.Contains(err.Error(), "plain-text bytes after OK STARTTLS") {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.Version(context.Background()); !errors.Is(err, client.ErrClosed) {
		t.Errorf("client still usable after an injection: %v", err)
	}
}

// TestStartTLSClientCertificate: a server that requires a client
// certificate (upsd's CERTREQUEST REQUIRE) gets the one in TLSOptions.
func TestStartTLSClientCertificate(t *testing.T) {
	ctx := context.Background()
	srv := clienttest.NewCertificate(t)
	cli := clienttest.NewCertificate(t, "upsmon-client")
	pool := x509.NewCertPool()
	pool.AddCert(cli.Cert)
	s := clienttest.NewServer(t, clienttest.Fake(fakeDevices...), clienttest.WithTLSConfig(&tls.Config{
		Certificates: []tls.Certificate{srv.TLS},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}))
	pin := []string{client.Fingerprint(srv.Cert)}
	c, err := client.Dial(ctx, s.Addr, client.WithStartTLS(tlsConfig(t, client.TLSOptions{PinSHA256: pin, Certificates: []tls.Certificate{cli.TLS}})))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GetVar(ctx, "apc", "ups.status"); err != nil {
		t.Errorf("with a client certificate: %v", err)
	}

	// Without one, the server ends the session: at the handshake, or (TLS
	// 1.3) on the first request after it.
	c2, err := client.Dial(ctx, s.Addr, client.WithStartTLS(tlsConfig(t, client.TLSOptions{PinSHA256: pin})))
	if err == nil {
		defer c2.Close()
		_, err = c2.GetVar(ctx, "apc", "ups.status")
	}
	if err == nil {
		t.Error("a server requiring a client certificate accepted none")
	}
}

// TestTLSOptionsErrors: bad options are reported before connecting.
func TestTLSOptionsErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts client.TLSOptions
		in   string
	}{
		{client.TLSOptions{PinSHA256: []string{"AB:CD"}}, "64 hex digits"},
		{client.TLSOptions{PinSHA256: []string{strings.Repeat("zz", 32)}}, "64 hex digits"},
		{client.TLSOptions{CAFile: filepath.Join(dir, "missing.pem")}, "missing.pem"},
		{client.TLSOptions{CAFile: notPEM}, "no PEM certificate"},
		{client.TLSOptions{CADir: dir}, "no file in it holds a PEM certificate"},
		{client.TLSOptions{CADir: filepath.Join(dir, "nodir")}, "nodir"},
	} {
		if _, err := tc.opts.Config(); err == nil || !strings.Contains(err.Error(), tc.in) {
			t.Errorf("%+v: err = %v, want one containing %q", tc.opts, err, tc.in)
		}
	}
}

// TestTLSConcurrentCalls shares one TLS client between goroutines.
func TestTLSConcurrentCalls(t *testing.T) {
	cert := clienttest.NewCertificate(t)
	_, s := tlsUPSD(t, cert)
	ctx := context.Background()
	c, err := client.Dial(ctx, s.Addr, client.WithStartTLS(tlsConfig(t, client.TLSOptions{PinSHA256: []string{client.Fingerprint(cert.Cert)}})))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if v, err := c.GetVar(ctx, "apc", "battery.charge"); err != nil || v != "100" {
					t.Errorf("GetVar = %q, %v", v, err)
					return
				}
				if vars, err := c.ListVars(ctx, "apc"); err != nil || len(vars) != 6 {
					t.Errorf("ListVars = %d vars, %v", len(vars), err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
