package nutconf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadUPSConfFixture(t *testing.T) {
	c, err := LoadUPSConf("testdata/ups.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %q", c.Warnings)
	}
	global := UPSConf{
		File: "testdata/ups.conf", ChRoot: "/var/chroot/nut", DriverPath: "/usr/lib/nut",
		StatePath: "/run/nut", User: "nut", Group: "nut", Synchronous: "yes",
		MaxStartDelay: 120, MaxRetry: 3, RetryDelay: 10, PollInterval: 5, DebugMin: 1, NoWait: true,
	}
	got := *c
	got.Global, got.Sections, got.Warnings = nil, nil, nil
	if !reflect.DeepEqual(got, global) {
		t.Errorf("globals = %+v\nwant      %+v", got, global)
	}
	if len(c.Global) != 12 || c.Global[1] != (Option{Key: "retrydelay", Value: "10", HasValue: true, Line: 3}) ||
		c.Global[11] != (Option{Key: "nowait", Line: 13}) {
		t.Errorf("Global = %+v", c.Global)
	}
	if len(c.Sections) != 2 {
		t.Fatalf("%d sections", len(c.Sections))
	}

	d := c.Section("dummy")
	if d == nil || d.Line != 15 || d.File != "testdata/ups.conf" || d.Driver != "dummy-ups" || d.Port != "dummy.dev" ||
		d.Desc != "Dummy UPS, in the rack" || d.SDOrder != -1 ||
		d.MaxRetry != 0 || d.PollInterval != 0 || d.MaxStartDelay != 0 || d.RetryDelay != 0 {
		t.Errorf("dummy = %+v", d)
	}
	wantKeys := []string{"driver", "port", "desc", "sdorder", "nolock",
		"default.battery.charge.low", "override.battery.runtime.low", "mode"}
	var keys []string
	for _, o := range d.Options {
		keys = append(keys, o.Key)
	}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("dummy option keys = %q", keys)
	}
	if v, ok := d.Get("mode"); !ok || v != "dummy-once" {
		t.Errorf(`Get("mode") = %q, %v`, v, ok)
	}
	if v, ok := d.Get("default.battery.charge.low"); !ok || v != "20" {
		t.Errorf(`Get(default.battery.charge.low) = %q, %v`, v, ok)
	}
	if _, ok := d.Get("nolock"); ok {
		t.Error(`Get("nolock") of a bare flag reported a value`)
	}
	if !d.Flag("nolock") || d.Flag("ignorelb") {
		t.Errorf("dummy flags: nolock=%v ignorelb=%v", d.Flag("nolock"), d.Flag("ignorelb"))
	}

	u := c.Section("usb")
	if u == nil || u.Line != 25 || u.Driver != "usbhid-ups" || u.Port != "auto" || u.SDOrder != 2 ||
		u.PollInterval != 15 || u.MaxRetry != 2 || u.RetryDelay != 1 || u.MaxStartDelay != 30 {
		t.Errorf("usb = %+v", u)
	}
	for key, want := range map[string]string{"vendorid": "0463", "productid": "FFFF", "serial": "A B#1", "desc": "second"} {
		if v, ok := u.Get(key); !ok || v != want {
			t.Errorf("usb Get(%q) = %q, %v; want %q", key, v, ok, want)
		}
	}
	// Repeated keys: every occurrence kept, the last one wins.
	if u.Desc != "second" || u.Options[len(u.Options)-2].Value != "first" {
		t.Errorf("repeated desc: Desc=%q", u.Desc)
	}
	if !u.Flag("ignorelb") || u.Flag("allow_killpower") || u.Flag("nolock") {
		t.Errorf("usb flags: ignorelb=%v allow_killpower=%v nolock=%v",
			u.Flag("ignorelb"), u.Flag("allow_killpower"), u.Flag("nolock"))
	}
	if c.Section("nope") != nil {
		t.Error("Section of an unknown name")
	}
}

func TestUPSConfDefaults(t *testing.T) {
	c, err := ParseUPSConf(strings.NewReader("[a]\ndriver=x\nport=y\n"), "ups.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxStartDelay != 75 || c.MaxRetry != 1 || c.RetryDelay != 5 || c.PollInterval != 2 || c.DebugMin != 0 || c.NoWait {
		t.Errorf("defaults = %+v", c)
	}
	empty, err := ParseUPSConf(strings.NewReader(""), "ups.conf")
	if err != nil || len(empty.Sections) != 0 {
		t.Errorf("empty file: %+v, %v", empty, err)
	}
}

// TestUPSConfManualExamples reads the ups.conf examples of the NUT user
// manual.
func TestUPSConfManualExamples(t *testing.T) {
	tests := []struct {
		name, in string
		check    func(*UPSSection) bool
	}{
		// 2.8 Drivers: [sparky] driver = apcsmart port = /dev/ttyS1
		{"sparky", "[sparky]\n    driver = apcsmart\n    port = /dev/ttyS1\n", func(s *UPSSection) bool {
			return s.Name == "sparky" && s.Driver == "apcsmart" && s.Port == "/dev/ttyS1"
		}},
		// 2.8.1 Extra Settings: serial = 1234567890
		{"sparky usb", "[sparky]\n    driver = usbhid-ups\n    port = auto\n    serial = 1234567890\n", func(s *UPSSection) bool {
			v, _ := s.Get("serial")
			return s.Driver == "usbhid-ups" && s.Port == "auto" && v == "1234567890"
		}},
		// 6.2.1 Driver configuration: desc = "Workstation"
		{"mydevice", "[mydevice]\n    driver = mydriver\n    port = /dev/ttyS1\n    desc = \"Workstation\"\n", func(s *UPSSection) bool {
			return s.Name == "mydevice" && s.Driver == "mydriver" && s.Desc == "Workstation"
		}},
	}
	for _, tc := range tests {
		c, err := ParseUPSConf(strings.NewReader(tc.in), "ups.conf")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if len(c.Sections) != 1 || !tc.check(c.Sections[0]) {
			t.Errorf("%s: got %+v", tc.name, c.Sections)
		}
	}
}

func TestUPSConfWarnings(t *testing.T) {
	in := "bogus = 1\n[a]\ndriver = x\nport = y\ndesc = My UPS here\n"
	c, err := ParseUPSConf(strings.NewReader(in), "w.conf")
	if err != nil {
		t.Fatal(err)
	}
	// NUT keeps the first word of an unquoted multi-word value.
	if c.Sections[0].Desc != "My" {
		t.Errorf("Desc = %q", c.Sections[0].Desc)
	}
	want := []string{
		`w.conf:1: unknown global key "bogus" ignored (a key for one UPS belongs after its [name] line)`,
		`w.conf:5: desc: only the first word "My" of the value is used, the rest ("UPS here") is ignored; quote a value that contains spaces`,
	}
	if !reflect.DeepEqual(c.Warnings, want) {
		t.Errorf("warnings = %q", c.Warnings)
	}
	if len(c.Global) != 1 || c.Global[0].Key != "bogus" {
		t.Errorf("unknown global key not kept: %+v", c.Global)
	}
}

func TestUPSConfErrors(t *testing.T) {
	const ok = "driver = d\nport = p\n"
	tests := []struct{ name, in, want string }{
		{"key without value", "[a]\n" + ok + "desc =\n", `u.conf:4: desc: missing value after '=' (write desc = "" for an empty value)`},
		{"two words", "[a]\n" + ok + "serial 123\n", `u.conf:4: cannot understand "serial 123": expected key = value, or a single flag word`},
		{"section with spaces", "[my ups]\n" + ok, `u.conf:1: malformed section header "[my ups]": a section name is one word in [brackets]`},
		{"section with equals", "[a=b]\n" + ok, `u.conf:1: malformed section header "[a = b]": a section name is one word in [brackets]`},
		{"unclosed section", "[a\n" + ok, `u.conf:1: malformed section header "[a": a section name is one word in [brackets]`},
		{"section differing in case", "[ups]\n" + ok + "[UPS]\n" + ok, `u.conf:4: section [UPS] repeated (first at line 1 as [ups])`},
		{"text after header", "[a] b\n" + ok, `u.conf:1: unexpected "b" after section header [a]`},
		{"empty section name", "[]\n" + ok, `u.conf:1: empty section name []`},
		{"repeated section", "[a]\n" + ok + "[a]\n" + ok, `u.conf:4: section [a] repeated (first at line 1 as [a])`},
		{"no driver", "[a]\nport = p\n", `u.conf:1: UPS [a] has no driver (add: driver = <name>)`},
		{"no port", "\n[a]\ndriver = d\n", `u.conf:2: UPS [a] has no port (add: port = <device>)`},
		{"driver flag", "[a]\ndriver\nport = p\n", `u.conf:2: driver needs a value (driver = ...)`},
		{"bad sdorder", "[a]\n" + ok + "sdorder = first\n", `u.conf:4: sdorder: "first" is not a whole number`},
		{"sdorder too small", "[a]\n" + ok + "sdorder = -2\n", `u.conf:4: [a] sdorder: -2 is too small (minimum -1)`},
		{"zero pollinterval", "pollinterval = 0\n", `u.conf:1: pollinterval: 0 is too small (minimum 1)`},
		{"bad global number", "maxretry = many\n", `u.conf:1: maxretry: "many" is not a whole number`},
		{"bad synchronous", "synchronous = true\n", `u.conf:1: synchronous: "true" is not yes, no or auto`},
		{"global string flag", "user\n", `u.conf:1: user needs a value (user = ...)`},
		{"leading equals", "= x\n", `u.conf:1: line starts with '=': missing key name`},
		{"empty key", "\"=x\"\n", `u.conf:1: missing key name before '='`},
		{"compressed with extra", "\"a=b\" c\n", `u.conf:1: unexpected "c" after "a=b"`},
		{"unterminated quote", "[a]\n" + ok + "desc = \"x\n", `u.conf:4: unterminated quoted string (missing closing ")`},
		// NUT 2.8.0 logs a parse error here and reads b" as a flag.
		{"hash in quotes", "[a]\n" + ok + "desc = \"a # b\"\n", `u.conf:4: unbalanced word: unescaped # in quotes (write \# for a literal #)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseUPSConf(strings.NewReader(tc.in), "u.conf")
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error = %v (%T), want *Error", err, err)
			}
			if err.Error() != tc.want {
				t.Errorf("error = %q\nwant    %q", err, tc.want)
			}
		})
	}
}

func TestLoadUPSConfMissing(t *testing.T) {
	_, err := LoadUPSConf(filepath.Join(t.TempDir(), "ups.conf"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error = %v, want fs.ErrNotExist", err)
	}
}

// TestUPSConfSample reads the ups.conf installed with NUT, and again with the
// examples it carries in comments uncommented.
func TestUPSConfSample(t *testing.T) {
	data, err := os.ReadFile("/etc/nut/ups.conf")
	if err != nil {
		t.Skip("no readable /etc/nut/ups.conf:", err)
	}
	if _, err := ParseUPSConf(strings.NewReader(string(data)), "/etc/nut/ups.conf"); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	inExample := false
	for _, line := range strings.Split(string(data), "\n") {
		body := strings.TrimSpace(strings.TrimPrefix(line, "#"))
		if strings.HasPrefix(body, "[") && strings.HasSuffix(body, "]") && !strings.Contains(body, " ") &&
			body != "[upsname]" {
			inExample = true
			b.WriteString(body + "\n")
			continue
		}
		if inExample && strings.Contains(body, "=") && !strings.Contains(body, "<") {
			b.WriteString(body + "\n")
			continue
		}
		inExample = false
	}
	c, err := ParseUPSConf(strings.NewReader(b.String()), "ups.conf examples")
	if err != nil {
		t.Fatalf("%v in\n%s", err, b.String())
	}
	// The sample's two examples: [powerpal] (blazer_ser, desc "Web
	// server") and [myups] (mydriver, cable = 1234).
	if p := c.Section("powerpal"); p == nil || p.Driver != "blazer_ser" || p.Desc != "Web server" {
		t.Errorf("[powerpal] example = %+v from\n%s", p, b.String())
	}
	if m := c.Section("myups"); m == nil || m.Driver != "mydriver" {
		t.Errorf("[myups] example = %+v from\n%s", m, b.String())
	} else if v, _ := m.Get("cable"); v != "1234" {
		t.Errorf("[myups] cable = %q", v)
	}
	for _, s := range c.Sections {
		if s.Driver == "" || s.Port == "" {
			t.Errorf("example [%s] incomplete: %+v", s.Name, s)
		}
	}
}
