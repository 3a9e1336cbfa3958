package upsmon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gonut/gonut/client"
)

// NetTimeout bounds every exchange with upsd, as NUT's NET_TIMEOUT.
const NetTimeout = 10 * time.Second

// Session is upsmon's connection to the upsd serving one MONITOR line.
type Session interface {
	// Login authenticates and logs in to the UPS (USERNAME, PASSWORD,
	// LOGIN), then, for a primary, claims primary mode (PRIMARY, or
	// MASTER on servers older than 2.8).
	Login(ctx context.Context) error
	Status(ctx context.Context) (string, error) // GET VAR ups ups.status
	Var(ctx context.Context, name string) (string, error)
	NumLogins(ctx context.Context) (int, error)
	FSD(ctx context.Context) error
	// Close logs out (LOGOUT) when logout is set, then hangs up.
	Close(logout bool)
	TLS() bool // the session is encrypted
}

// Dialer opens a Session for a MONITOR line.
type Dialer func(ctx context.Context, m MonitorConf) (Session, error)

// NetDialer returns the Dialer upsmon uses: gonut's client library, with
// STARTTLS as upsmon.conf asks (CERTPATH, CERTFILE, CERTVERIFY, FORCESSL,
// CERTHOST). Without FORCESSL or CERTVERIFY it tries STARTTLS and goes on
// in plain text when upsd has no certificate, as NUT's upsmon does.
func NetDialer(c *Config) Dialer {
	return func(ctx context.Context, m MonitorConf) (Session, error) {
		opts := []client.Option{client.WithTimeout(NetTimeout)}
		tcfg, required, err := tlsFor(c, m.Name.Host)
		if err != nil {
			return nil, err
		}
		if tcfg != nil {
			if required {
				opts = append(opts, client.WithStartTLS(tcfg))
			} else {
				opts = append(opts, client.WithTryStartTLS(tcfg))
			}
		}
		cl, err := client.Dial(ctx, m.Name.Addr(), opts...)
		if err != nil {
			return nil, err
		}
		return &netSession{c: cl, m: m}, nil
	}
}

// tlsFor builds the TLS settings for one upsd host. required is true when
// plain text is not acceptable (FORCESSL or CERTVERIFY, globally or by the
// host's CERTHOST line).
func tlsFor(c *Config, host string) (*tls.Config, bool, error) {
	verify, force, name := c.CertVerify, c.ForceSSL, ""
	for _, h := range c.CertHosts {
		if strings.EqualFold(h.Host, host) {
			verify, force, name = h.Verify, h.ForceSSL, h.CertName
		}
	}
	o := client.TLSOptions{ServerName: name, InsecureSkipVerify: !verify}
	if verify && c.CertPath != "" {
		st, err := os.Stat(c.CertPath)
		if err != nil {
			return nil, false, fmt.Errorf("%s: CERTPATH %s: %w", c.File, c.CertPath, err)
		}
		if st.IsDir() {
			o.CADir = c.CertPath
		} else {
			o.CAFile = c.CertPath
		}
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.CertFile)
		if err != nil {
			return nil, false, fmt.Errorf("%s: CERTFILE %s: %w", c.File, c.CertFile, err)
		}
		o.Certificates = []tls.Certificate{cert}
	}
	cfg, err := o.Config()
	if err != nil {
		return nil, false, fmt.Errorf("%s: TLS for %s: %w", c.File, host, err)
	}
	return cfg, verify || force, nil
}

type netSession struct {
	c *client.Client
	m MonitorConf
}

func (s *netSession) Login(ctx context.Context) error {
	if err := s.c.Username(ctx, s.m.Username); err != nil {
		return fmt.Errorf("USERNAME %s: %w", s.m.Username, err)
	}
	if err := s.c.Password(ctx, s.m.Password); err != nil {
		return fmt.Errorf("PASSWORD: %w", err)
	}
	if err := s.c.Login(ctx, s.m.Name.Name); err != nil {
		if errors.Is(err, client.ErrAccessDenied) {
			return fmt.Errorf("LOGIN %s as %s: %w: wrong password, or %s lacks \"upsmon primary|secondary\" in upsd.users", s.m.Name.Name, s.m.Username, err, s.m.Username)
		}
		return fmt.Errorf("LOGIN %s: %w", s.m.Name.Name, err)
	}
	if !s.m.Primary {
		return nil
	}
	err := s.c.Primary(ctx, s.m.Name.Name)
	var nerr *client.Error
	if errors.As(err, &nerr) && !errors.Is(err, client.ErrAccessDenied) {
		// upsd before 2.8 knows only MASTER.
		err = s.c.Master(ctx, s.m.Name.Name)
	}
	if err != nil {
		return fmt.Errorf("primary mode on %s (is %s \"upsmon primary\" in upsd.users?): %w", s.m.Name.Name, s.m.Username, err)
	}
	return nil
}

func (s *netSession) Status(ctx context.Context) (string, error) {
	return s.c.GetVar(ctx, s.m.Name.Name, "ups.status")
}

func (s *netSession) Var(ctx context.Context, name string) (string, error) {
	return s.c.GetVar(ctx, s.m.Name.Name, name)
}

func (s *netSession) NumLogins(ctx context.Context) (int, error) {
	return s.c.GetNumLogins(ctx, s.m.Name.Name)
}

func (s *netSession) FSD(ctx context.Context) error { return s.c.FSD(ctx, s.m.Name.Name) }

func (s *netSession) Close(logout bool) {
	if logout {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if s.c.Logout(ctx) == nil {
			return
		}
	}
	_ = s.c.Close()
}

func (s *netSession) TLS() bool {
	_, ok := s.c.TLSConnectionState()
	return ok
}

// connectionLost reports whether err leaves the session unusable (as
// opposed to an ERR answer such as DATA-STALE on a live connection).
func connectionLost(err error) bool {
	var nerr *client.Error
	return !errors.As(err, &nerr)
}
