package tools

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gonut/gonut/client"
	"github.com/gonut/gonut/client/clienttest"
)

// TestClientTLSWithGonutUpsd runs the client library's STARTTLS against
// gonut's upsd with a CERTFILE: each way of checking the certificate, then
// a whole admin session (credentials, a tracked command and a tracked SET)
// inside TLS; NUT's and gonut's upscmd, which speak plain text, are
// unaffected by the certificate. NUT's upsd without a certificate refuses
// STARTTLS, and then the client sends nothing else.
func TestClientTLSWithGonutUpsd(t *testing.T) {
	l := startLab(t)
	dir := t.TempDir()
	cert := clienttest.NewCertificate(t) // localhost, 127.0.0.1, ::1
	caFile, certKey := cert.WriteFiles(t, dir)
	srv := l.startUpsd(t, true, "CERTFILE "+certKey+"\nDISABLE_WEAK_SSL true\n")
	ctx := context.Background()
	pin := client.Fingerprint(cert.Cert)
	other := clienttest.NewCertificate(t)

	verify := []struct {
		name string
		opts client.TLSOptions
		ok   bool
	}{
		{"pinned", client.TLSOptions{PinSHA256: []string{pin}}, true},
		{"CA file", client.TLSOptions{CAFile: caFile}, true},
		{"CA file and pin", client.TLSOptions{CAFile: caFile, PinSHA256: []string{pin}}, true},
		{"wrong pin", client.TLSOptions{PinSHA256: []string{client.Fingerprint(other.Cert)}}, false},
		{"unknown CA", client.TLSOptions{}, false},
	}
	for _, v := range verify {
		t.Run(v.name, func(t *testing.T) {
			cfg, err := v.opts.Config()
			if err != nil {
				t.Fatal(err)
			}
			c, err := client.Dial(ctx, srv.Addr(), client.WithStartTLS(cfg))
			if !v.ok {
				if err == nil {
					c.Close()
					t.Fatal("Dial accepted a certificate it should refuse")
				}
				t.Logf("refused as it should be: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			st, ok := c.TLSConnectionState()
			if !ok || st.Version < tls.VersionTLS12 {
				t.Fatalf("TLS state %v, version %x", ok, st.Version)
			}
			if v, err := c.GetVar(ctx, fakeUPS, "ups.status"); err != nil || v != "OL" {
				t.Errorf("GetVar over TLS = %q, %v", v, err)
			}
		})
	}

	t.Run("admin session", func(t *testing.T) {
		cfg, err := client.TLSOptions{PinSHA256: []string{pin}}.Config()
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.Dial(ctx, srv.Addr(), client.WithStartTLS(cfg))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Authenticate(ctx, "admin", "s3cret"); err != nil {
			t.Fatal(err)
		}
		l.fake.Received()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		id, err := c.InstCmdTracked(ctx, fakeUPS, cmdParam, "42")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WaitTracking(wctx, id, 50*time.Millisecond); err != nil {
			t.Errorf("tracked command: %v", err)
		}
		id, err = c.InstCmdTracked(ctx, fakeUPS, cmdFailed)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WaitTracking(wctx, id, 50*time.Millisecond); !errors.Is(err, client.ErrFailed) {
			t.Errorf("failing command: err = %v, want ERR FAILED", err)
		}
		id, err = c.SetVarTracked(ctx, fakeUPS, "ups.id", "over TLS")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WaitTracking(wctx, id, 50*time.Millisecond); err != nil {
			t.Errorf("tracked SET: %v", err)
		}
		got := l.fake.Received()
		want := []string{"INSTCMD " + cmdParam + " 42", "INSTCMD " + cmdFailed, "SET ups.id over TLS"}
		if len(got) != len(want) {
			t.Fatalf("the driver got %q, want %q", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("the driver got %q, want %q", got, want)
			}
		}
	})

	t.Run("plain-text tools unaffected", func(t *testing.T) {
		tl := upscmdTool(t)
		args := []string{"-u", "admin", "-p", "s3cret", "-w", fakeUPS + "@" + srv.Addr(), cmdOK}
		want := runTool(t, l.env, tl.nut, tl.name, "", args...)
		got := runTool(t, l.env, tl.gonut, tl.name, "", args...)
		if got != want || want.stderr != "SUCCESS\n" {
			t.Errorf("NUT's upscmd:\n%v\ngonut's:\n%v", want, got)
		}
	})

	t.Run("client certificate required", func(t *testing.T) {
		cli := clienttest.NewCertificate(t, "upsmon.example.net")
		cliCA := filepath.Join(dir, "clients.pem")
		if err := os.WriteFile(cliCA, cli.PEM, 0o644); err != nil {
			t.Fatal(err)
		}
		strict := l.startUpsd(t, true, "CERTFILE "+certKey+"\nCERTPATH "+cliCA+"\nCERTREQUEST REQUIRE\nDISABLE_WEAK_SSL true\n")
		cfg, err := client.TLSOptions{PinSHA256: []string{pin}, Certificates: []tls.Certificate{cli.TLS}}.Config()
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.Dial(ctx, strict.Addr(), client.WithStartTLS(cfg))
		if err != nil {
			t.Fatalf("with a client certificate: %v", err)
		}
		if _, err := c.GetVar(ctx, fakeUPS, "ups.status"); err != nil {
			t.Errorf("with a client certificate: %v", err)
		}
		c.Close()

		cfg, _ = client.TLSOptions{PinSHA256: []string{pin}}.Config()
		c, err = client.Dial(ctx, strict.Addr(), client.WithStartTLS(cfg))
		if err == nil {
			// TLS 1.3: the server's refusal arrives after the handshake.
			_, err = c.GetVar(ctx, fakeUPS, "ups.status")
			c.Close()
		}
		if err == nil {
			t.Error("a upsd requiring client certificates served a client without one")
		}
	})

	t.Run("NUT upsd without a certificate", func(t *testing.T) {
		cfg, _ := client.TLSOptions{PinSHA256: []string{pin}}.Config()
		_, err := client.Dial(ctx, l.nut.Addr(), client.WithStartTLS(cfg))
		if !errors.Is(err, client.ErrFeatureNotConfigured) {
			t.Errorf("err = %v, want ERR FEATURE-NOT-CONFIGURED", err)
		}
	})
}
