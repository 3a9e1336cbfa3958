package apcsmart

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestCStrtol(t *testing.T) {
	for _, c := range []struct {
		in   string
		base int
		want int64
	}{
		{"0329:", 10, 329},
		{"  -12x", 10, -12},
		{"+7", 10, 7},
		{"", 10, 0},
		{"abc", 10, 0},
		{"336", 10, 336},
		{"ON ", 10, 0},
		{"99999999999999999999", 10, math.MaxInt64},
		{"-99999999999999999999", 10, math.MinInt64},
		{"08", 16, 8},
		{"FF", 16, 255},
		{"0x1f", 16, 31},
		{"0x", 16, 0},
		{"zz", 16, 0},
		{"1G", 16, 1},
	} {
		if got := cStrtol(c.in, c.base); got != c.want {
			t.Errorf("cStrtol(%q, %d) = %d, want %d", c.in, c.base, got, c.want)
		}
	}
}

func TestConvert(t *testing.T) {
	for _, c := range []struct {
		f       format
		in, out string
	}{
		{fmtHours, "336", "1209600"},
		{fmtHours, "123.4", "442800"},
		{fmtHours, "OFF", "0"},
		{fmtHours, "9999999", "1640258032"}, // wraps as a C int
		{fmtMinutes, "0329:", "19740"},
		{fmtMinutes, "10", "600"},
		{fmtReason, "O", "no transfers yet since turnon"},
		{fmtReason, "S", "simulated power failure or UPS test"},
		{fmtReason, "R", "unacceptable utility voltage rate of change"},
		{fmtReason, "H", "high utility voltage"},
		{fmtReason, "L", "low utility voltage"},
		{fmtReason, "T", "line voltage notch or spike"},
		{fmtReason, "Q", "Q"},
		{fmtReason, "", ""},
		{fmtVolt, "121.5", "121.5"},
		{fmtLeave, "x y", "x y"},
	} {
		if got := convert(c.f, c.in); got != c.out {
			t.Errorf("convert(%d, %q) = %q, want %q", c.f, c.in, got, c.out)
		}
	}
}

func TestParseStatus(t *testing.T) {
	for in, want := range map[string]int{"08": statOL, "10": statOB, "50": statOB | statLB, "1FF": 0xff, "": 0, "garbage": 0} {
		if got := parseStatus(in); got != want {
			t.Errorf("parseStatus(%q) = %02x, want %02x", in, got, want)
		}
	}
}

func TestParseCmdSet(t *testing.T) {
	for _, c := range []struct {
		in   string
		cmds string
		ok   bool
	}{
		{"3.!$%+?=#|.\x01\x0eABC", "\x01\x0eABC", true},
		{"3..ABC.extra", "ABC", true},
		{"3.!$.ABC.x.y", "", false},
		{"NA", "", false},
		{"", "", false},
		{"x.!.ABC", "", false},
		{"3.!.", "", false},
	} {
		cmds, ok := parseCmdSet(c.in)
		if cmds != c.cmds || ok != c.ok {
			t.Errorf("parseCmdSet(%q) = %q, %v; want %q, %v", c.in, cmds, ok, c.cmds, c.ok)
		}
	}
}

func TestParseCaps(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		want []capEntry
		err  error
	}{
		{"plain", "#uD43127130133136s431HML", []capEntry{
			{'u', 'D', []string{"127", "130", "133", "136"}},
			{'s', '4', []string{"H", "M", "L"}},
		}, nil},
		{"matrix", "##uD221234##l4110", []capEntry{{'u', 'D', []string{"12", "34"}}, {'l', '4', []string{"0"}}}, nil},
		{"matrix overflow", "##uD11X#", []capEntry{{'u', 'D', []string{"X"}}}, errCapsOverflow},
		{"short values", "#uD4312", []capEntry{{'u', 'D', []string{"12", "", "", ""}}}, nil},
		{"truncated entry", "#uD", []capEntry{{'u', 'D', nil}}, nil},
		{"negative width", "#uD3/abc", nil, errCapsOverflow},
		{"no hash", "uD43", nil, errors.New("unknown capability start character 'u'")},
		{"empty", "", nil, errors.New(`unknown capability start character '\x00'`)},
		{"only hash", "#", nil, nil},
	} {
		got, err := parseCaps(c.in)
		if (err == nil) != (c.err == nil) || err != nil && err.Error() != c.err.Error() {
			t.Errorf("%s: parseCaps(%q) error %v, want %v", c.name, c.in, err, c.err)
		}
		if !slices.EqualFunc(got, c.want, func(a, b capEntry) bool {
			return a.cmd == b.cmd && a.loc == b.loc && slices.Equal(a.values, b.values)
		}) {
			t.Errorf("%s: parseCaps(%q) = %+v, want %+v", c.name, c.in, got, c.want)
		}
	}
}

func TestLineScanner(t *testing.T) {
	for _, c := range []struct {
		name   string
		s      lineScanner
		in     string
		line   string
		res    scanResult
		alerts string
		err    error
	}{
		{"plain", lineScanner{ignore: ignorePlain}, "08\r\n", "08", scanLine, "", nil},
		{"alerts ignored", lineScanner{ignore: ignorePlain}, "!0$8\n", "08", scanLine, "", nil},
		{"alerts handled", lineScanner{ignore: ignoreAlerts, alerts: true}, "!1|&0%\n", "10", scanLine, "!%", nil},
		{"nul and asterisk dropped", lineScanner{ignore: ignorePlain}, "O\x00K*\n", "OK", scanLine, "", nil},
		{"asterisk is OK", lineScanner{ignore: ignorePlain, asterisk: true}, "*", "", scanAsterisk, "", nil},
		{"command set keeps all", lineScanner{ignore: ignoreCmdSet}, "3.!$%.\x01|\r\n", "3.!$%.\x01|", scanLine, "", nil},
		{"caps keep #", lineScanner{ignore: ignoreCaps}, "##u$!\n", "##u", scanLine, "", nil},
		{"overflow", lineScanner{ignore: ignorePlain}, strings.Repeat("x", 600), strings.Repeat("x", lineMax), scanMore, "", errOverflow},
		{"no line end", lineScanner{ignore: ignorePlain}, "08", "08", scanMore, "", nil},
	} {
		var alerts []byte
		s := c.s
		s.onAlert = func(b byte) { alerts = append(alerts, b) }
		var res scanResult
		var err error
		for i := 0; i < len(c.in) && err == nil && res == scanMore; i++ {
			res, err = s.feed(c.in[i])
		}
		if string(s.buf) != c.line || res != c.res || string(alerts) != c.alerts || !errors.Is(err, c.err) {
			t.Errorf("%s: line %q result %d alerts %q err %v; want %q %d %q %v", c.name, s.buf, res, alerts, err, c.line, c.res, c.alerts, c.err)
		}
	}
}

func TestPacked(t *testing.T) {
	f, more := splitPacked("23.50,,24.10")
	if !slices.Equal(f, []string{"23.50", "", "24.10"}) || more {
		t.Errorf("splitPacked = %q %v", f, more)
	}
	f, more = splitPacked("1,2,3,4,5,6")
	if !slices.Equal(f, []string{"1", "2", "3", "4"}) || !more {
		t.Errorf("splitPacked = %q %v", f, more)
	}
	if n := packedName("ambient.0.temperature.high", 2); n != "ambient.3.temperature.high" {
		t.Errorf("packedName = %q", n)
	}
}
