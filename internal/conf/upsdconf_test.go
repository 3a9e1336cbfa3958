package conf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gonut/gonut/sdk/nutconf"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadUpsdConfFixture(t *testing.T) {
	c, err := LoadUpsdConf("testdata/upsd.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := &UpsdConf{
		File: "testdata/upsd.conf", MaxAge: 30, TrackingDelay: 600, MaxConn: 512, DebugMin: 2,
		AllowNoDevice: true, AllowNotAllListeners: true, DisableWeakSSL: true,
		StatePath: "/run/nut", DataPath: "/usr/share/nut", CertFile: "/etc/nut/upsd.pem",
		CertPath: "/etc/nut/cert db", CertIdentName: "my nut server", CertIdentPass: "MyPasSw0rD",
		CertRequest: "REQUIRE",
		Listen: []Listen{
			{Addr: "127.0.0.1", Port: "3493", Line: 15},
			{Addr: "::1", Port: "3493", Line: 16},
			{Addr: "*", Port: "13493", Line: 17},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestUpsdConfDefaults(t *testing.T) {
	c, err := LoadUpsdConf(writeFile(t, "upsd.conf", "# nothing set\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxAge != 15 || c.TrackingDelay != 3600 || c.MaxConn != DefaultMaxConn() || c.DebugMin != 0 ||
		c.AllowNoDevice || c.AllowNotAllListeners || c.DisableWeakSSL || c.Listen != nil || c.CertRequest != "" {
		t.Errorf("defaults = %+v", c)
	}
	if DefaultMaxConn() < 1 {
		t.Errorf("DefaultMaxConn = %d", DefaultMaxConn())
	}
}

func TestUpsdConfValues(t *testing.T) {
	tests := []struct {
		in    string
		check func(*UpsdConf) bool
	}{
		// The manual, 6.2.3: LISTEN 127.0.0.1 3493 / LISTEN :::1 3493
		{"LISTEN 127.0.0.1 3493\nLISTEN :::1 3493\n", func(c *UpsdConf) bool {
			return reflect.DeepEqual(c.Listen, []Listen{{"127.0.0.1", "3493", 1}, {":::1", "3493", 2}})
		}},
		{"ALLOW_NO_DEVICE 0\n", func(c *UpsdConf) bool { return !c.AllowNoDevice }},
		{"ALLOW_NO_DEVICE 7\n", func(c *UpsdConf) bool { return c.AllowNoDevice }},
		{"ALLOW_NO_DEVICE On\n", func(c *UpsdConf) bool { return c.AllowNoDevice }},
		{"ALLOW_NO_DEVICE off\n", func(c *UpsdConf) bool { return !c.AllowNoDevice }},
		{"DISABLE_WEAK_SSL FALSE\n", func(c *UpsdConf) bool { return !c.DisableWeakSSL }},
		{"CERTREQUEST 0\n", func(c *UpsdConf) bool { return c.CertRequest == "NO" }},
		{"CERTREQUEST request\n", func(c *UpsdConf) bool { return c.CertRequest == "REQUEST" }},
		{"CERTREQUEST 2\n", func(c *UpsdConf) bool { return c.CertRequest == "REQUIRE" }},
		{"DEBUG_MIN 3\n", func(c *UpsdConf) bool { return c.DebugMin == 3 }},
		{"MAXAGE 0\nMAXAGE 20\n", func(c *UpsdConf) bool { return c.MaxAge == 20 }},
		{"CERTIDENT \"my \\#1\" pa\\#ss\n", func(c *UpsdConf) bool {
			return c.CertIdentName == "my #1" && c.CertIdentPass == "pa#ss"
		}},
	}
	for _, tc := range tests {
		c, err := LoadUpsdConf(writeFile(t, "upsd.conf", tc.in))
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !tc.check(c) {
			t.Errorf("%q: got %+v", tc.in, c)
		}
		if len(c.Warnings) != 0 {
			t.Errorf("%q: warnings %q", tc.in, c.Warnings)
		}
	}
}

func TestUpsdConfWarnings(t *testing.T) {
	in := "ACL all 0.0.0.0/0\nACCEPT all\nREJECT a b\nMAXAGE 15 20\nLISTEN 127.0.0.1 3493 extra\n"
	p := writeFile(t, "upsd.conf", in)
	c, err := LoadUpsdConf(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		p + ":1: ACL in upsd.conf is no longer supported - switch to LISTEN",
		p + ":2: ACCEPT in upsd.conf is no longer supported - switch to LISTEN",
		p + ":3: REJECT in upsd.conf is no longer supported - switch to LISTEN",
		p + ":4: MAXAGE: extra words ignored: 20",
		p + ":5: LISTEN: extra words ignored: extra",
	}
	if !reflect.DeepEqual(c.Warnings, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(c.Warnings, "\n"), strings.Join(want, "\n"))
	}
	if c.MaxAge != 15 || len(c.Listen) != 1 {
		t.Errorf("values: %+v", c)
	}
}

func TestUpsdConfErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"maxage 5\n", `:1: unknown directive "maxage": upsd.conf directives are case-sensitive, write MAXAGE`},
		{"\nBOGUS 1\n", `:2: unknown directive "BOGUS"`},
		{"MAXAGE\n", `:1: MAXAGE needs 1 argument`},
		{"MAXAGE abc\n", `:1: MAXAGE: "abc" is not a whole number of at least 0`},
		{"MAXAGE 15abc\n", `:1: MAXAGE: "15abc" is not a whole number of at least 0`},
		{"TRACKINGDELAY -1\n", `:1: TRACKINGDELAY: "-1" is not a whole number of at least 0`},
		{"MAXCONN 0\n", `:1: MAXCONN: "0" is not a whole number of at least 1`},
		{"DEBUG_MIN x\n", `:1: DEBUG_MIN: "x" is not a whole number of at least 0`},
		{"ALLOW_NO_DEVICE maybe\n", `:1: ALLOW_NO_DEVICE: "maybe" is not a boolean (use true or false)`},
		{"DISABLE_WEAK_SSL 2\n", `:1: DISABLE_WEAK_SSL: "2" is not a boolean (use true or false)`},
		{"CERTREQUEST 3\n", `:1: CERTREQUEST: "3" is not one of NO, REQUEST, REQUIRE`},
		{"CERTIDENT name\n", `:1: CERTIDENT needs 2 arguments`},
		{"ACL all\n", `:1: ACL needs 2 arguments`},
		{"LISTEN\n", `:1: LISTEN needs 1 argument`},
		{"LISTEN \"\"\n", `:1: LISTEN: empty address or port`},
		{"LISTEN = 1\n", `:1: LISTEN takes its value without '=' (write: LISTEN value)`},
		{"MAXAGE=15\n", `:1: MAXAGE takes its value without '=' (write: MAXAGE value)`},
		{"STATEPATH \"/x\n", `:1: unterminated quoted string (missing closing ")`},
		// NUT 2.8.0 logs "Parse error: upsd.conf:2: Unbalanced word due to
		// unescaped # in quotes", then rejects 5" as a directive.
		{"LISTEN 127.0.0.1\nMAXAGE \"1#5\"\n", `:2: unbalanced word: unescaped # in quotes (write \# for a literal #)`},
		{"CERTIDENT \"my server\" \"pass\n#word\"\n", `:2: unbalanced word: unescaped # in quotes (write \# for a literal #)`},
	}
	for _, tc := range tests {
		p := writeFile(t, "upsd.conf", tc.in)
		_, err := LoadUpsdConf(p)
		var ce *nutconf.Error
		if !errors.As(err, &ce) {
			t.Errorf("%q: error %v (%T), want *nutconf.Error", tc.in, err, err)
			continue
		}
		if err.Error() != p+tc.want {
			t.Errorf("%q: error %q\nwant %q", tc.in, err, p+tc.want)
		}
	}
}

func TestLoadUpsdConfMissing(t *testing.T) {
	_, err := LoadUpsdConf(filepath.Join(t.TempDir(), "upsd.conf"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error = %v, want fs.ErrNotExist", err)
	}
}

// TestUpsdConfSample reads the upsd.conf installed with NUT, and again with
// every directive example it carries in comments ("# MAXAGE 15") enabled.
func TestUpsdConfSample(t *testing.T) {
	const sample = "/etc/nut/upsd.conf"
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Skip("no readable sample:", err)
	}
	if _, err := LoadUpsdConf(sample); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		body := strings.TrimSpace(strings.TrimPrefix(line, "#"))
		f := strings.Fields(body)
		if len(f) < 2 || strings.Contains(body, "<") {
			continue
		}
		if _, ok := upsdDirectives[f[0]]; ok || f[0] == "DEBUG_MIN" {
			b.WriteString(body + "\n")
		}
	}
	c, err := LoadUpsdConf(writeFile(t, "upsd.conf", b.String()))
	if err != nil {
		t.Fatalf("%v in\n%s", err, b.String())
	}
	// The sample's examples include MAXAGE 15, LISTEN myhostname 83493,
	// CERTIDENT "my nut server" "MyPasSw0rD" and CERTREQUEST REQUIRE.
	if c.MaxAge != 15 || c.CertIdentName != "my nut server" || c.CertRequest != "REQUIRE" || len(c.Listen) < 3 {
		t.Errorf("examples read as %+v from\n%s", c, b.String())
	}
}
