package client_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gonut/gonut/client"
)

// The expectations come from running NUT 2.8.0's upsc on each input; the
// last group is where NUT crashes or reads nonsense and gonut refuses.
func TestParseUPSName(t *testing.T) {
	tests := []struct {
		in   string
		want client.UPSName
		err  string // NameError.NUTMessage()
	}{
		{in: "ups", want: client.UPSName{Name: "ups", Host: "localhost", Port: 3493}},
		{in: "ups@host", want: client.UPSName{Name: "ups", Host: "host", Port: 3493}},
		{in: "ups@host:1234", want: client.UPSName{Name: "ups", Host: "host", Port: 1234}},
		{in: "ups@127.0.0.1:65535", want: client.UPSName{Name: "ups", Host: "127.0.0.1", Port: 65535}},
		{in: "ups@[::1]", want: client.UPSName{Name: "ups", Host: "::1", Port: 3493}},
		{in: "ups@[::1]:3494", want: client.UPSName{Name: "ups", Host: "::1", Port: 3494}},
		{in: "ups@[fe80::1%eth0]:1", want: client.UPSName{Name: "ups", Host: "fe80::1%eth0", Port: 1}},
		// strtol quirks NUT has: leading blanks, sign, trailing junk.
		{in: "ups@host:12x", want: client.UPSName{Name: "ups", Host: "host", Port: 12}},
		{in: "ups@host: 12", want: client.UPSName{Name: "ups", Host: "host", Port: 12}},
		{in: "ups@host:+12", want: client.UPSName{Name: "ups", Host: "host", Port: 12}},
		{in: "ups@host:012", want: client.UPSName{Name: "ups", Host: "host", Port: 12}},
		{in: "ups@host:1:2", want: client.UPSName{Name: "ups", Host: "host", Port: 1}},
		{in: "ups@[::1]x", want: client.UPSName{Name: "ups", Host: "::1", Port: 3493}},
		{in: "ups@[::1]]:12", want: client.UPSName{Name: "ups", Host: "::1", Port: 3493}},
		{in: "ups@a@b", want: client.UPSName{Name: "ups", Host: "a@b", Port: 3493}},

		{in: "", err: "upscli_splitname: can't parse empty string"},
		{in: "ups@", err: "upscli_splitaddr: can't parse empty string"},
		{in: "ups@host:", err: "upscli_splitaddr: no port specified after ':' separator"},
		{in: "ups@host:0", err: "upscli_splitaddr: no port specified after ':' separator"},
		{in: "ups@host:-5", err: "upscli_splitaddr: no port specified after ':' separator"},
		{in: "ups@host:abc", err: "upscli_splitaddr: no port specified after ':' separator"},
		{in: "ups@host:0x10", err: "upscli_splitaddr: no port specified after ':' separator"},
		{in: "ups@host:65536", err: "upscli_splitaddr: no port specified after ':' separator"},
		{in: "ups@host:4294967297", err: "upscli_splitaddr: no port specified after ':' separator"},
		{in: "ups@[::1", err: "upscli_splitaddr: missing closing bracket in [domain literal]"},
		{in: "ups@[::1]:", err: "upscli_splitaddr: no port specified after ':' separator"},
		{in: "ups@::1", err: "upscli_splitaddr: no port specified after ':' separator"},

		{in: "@", err: "upscli_splitname: no UPS name before '@'"},
		{in: "@host", err: "upscli_splitname: no UPS name before '@'"},
		{in: "ups@[]", err: "upscli_splitaddr: empty [domain literal]"},
		{in: "ups@:3493", err: "upscli_splitaddr: no hostname before ':' separator"},
	}
	for _, tc := range tests {
		got, err := client.ParseUPSName(tc.in)
		if tc.err != "" {
			var ne *client.NameError
			if !errors.As(err, &ne) || ne.NUTMessage() != tc.err {
				t.Errorf("ParseUPSName(%q) = %+v, %v; want error %q", tc.in, got, err, tc.err)
			} else if ne.Input != tc.in || ne.What != "UPS name" {
				t.Errorf("ParseUPSName(%q): NameError %+v does not name the input", tc.in, ne)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseUPSName(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseHostPort(t *testing.T) {
	tests := []struct {
		in   string
		host string
		port int
		err  string
	}{
		{in: "localhost", host: "localhost", port: 3493},
		{in: "10.0.0.1:80", host: "10.0.0.1", port: 80},
		{in: "[::1]", host: "::1", port: 3493},
		{in: "[::1]:3000", host: "::1", port: 3000},
		{in: "", err: "upscli_splitaddr: can't parse empty string"},
		{in: "host:", err: "upscli_splitaddr: no port specified after ':' separator"},
		{in: "[::1", err: "upscli_splitaddr: missing closing bracket in [domain literal]"},
	}
	for _, tc := range tests {
		host, port, err := client.ParseHostPort(tc.in)
		if tc.err != "" {
			var ne *client.NameError
			if !errors.As(err, &ne) || ne.NUTMessage() != tc.err || ne.What != "host address" {
				t.Errorf("ParseHostPort(%q) = %q, %d, %v; want error %q", tc.in, host, port, err, tc.err)
			}
			continue
		}
		if err != nil || host != tc.host || port != tc.port {
			t.Errorf("ParseHostPort(%q) = %q, %d, %v; want %q, %d", tc.in, host, port, err, tc.host, tc.port)
		}
	}
}

func TestUPSNameFormat(t *testing.T) {
	for _, tc := range []struct {
		n          client.UPSName
		addr, full string
	}{
		{client.UPSName{Name: "u", Host: "localhost", Port: 3493}, "localhost:3493", "u@localhost:3493"},
		{client.UPSName{Name: "u", Host: "::1", Port: 1}, "[::1]:1", "u@[::1]:1"},
	} {
		if tc.n.Addr() != tc.addr || tc.n.String() != tc.full {
			t.Errorf("%#v: Addr %q String %q; want %q %q", tc.n, tc.n.Addr(), tc.n.String(), tc.addr, tc.full)
		}
		back, err := client.ParseUPSName(tc.n.String())
		if err != nil || back != tc.n {
			t.Errorf("ParseUPSName(%q) = %+v, %v; want %+v", tc.n.String(), back, err, tc.n)
		}
	}
}

// FuzzParseUPSName: any input parses or gives a *NameError; what parses has
// a name, a host and a valid port, and prints back to itself.
func FuzzParseUPSName(f *testing.F) {
	for _, s := range []string{"ups", "ups@host:1234", "ups@[::1]:1", "@", "ups@[", "ups@host:12x", "a@b@c", "ups@[]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := client.ParseUPSName(s)
		if err != nil {
			var ne *client.NameError
			if !errors.As(err, &ne) || ne.Input != s || ne.Reason == "" {
				t.Fatalf("ParseUPSName(%q): bad error %#v", s, err)
			}
			return
		}
		if n.Name == "" || n.Host == "" || n.Port < 1 || n.Port > 65535 {
			t.Fatalf("ParseUPSName(%q) = %+v", s, n)
		}
		if strings.ContainsAny(n.Host, "[]") {
			return // no canonical form for such hosts
		}
		back, err := client.ParseUPSName(n.String())
		if err != nil || back != n {
			t.Fatalf("ParseUPSName(%q) = %+v, %v; want %+v (from %q)", n.String(), back, err, n, s)
		}
	})
}
