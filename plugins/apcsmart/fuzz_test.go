package apcsmart

import (
	"strings"
	"testing"

	"github.com/gonut/gonut/tools/apcsmart-sim/sim"
)

// FuzzReplies feeds any bytes to every parser of what a UPS sends: the
// line scanner with each ignore set, the command set, the capability
// string, the status byte and value conversion. None may panic or loop;
// lines keep to NUT's buffer and hold none of the bytes their read drops;
// capability values keep to their buffer too.
func FuzzReplies(f *testing.F) {
	p := sim.DefaultProfile()
	for _, s := range []string{
		p.CmdSet, p.Caps, "##uD221234##l4110", "##uD11X#", "#uD3/abc", "08\r\n", "!$%+#?=|&*\r\n", "SM\r\n", "NA\r\n",
		"0329:", "123.4", "\x00\xff\xfe#~@\x7f\r\n", strings.Repeat("9", 600), "#u~~~", "#\x01\x02\x03\x04",
	} {
		f.Add([]byte(s))
	}
	for _, v := range p.Vars {
		f.Add([]byte(v + "\r\n"))
	}
	sets := []lineScanner{
		{ignore: ignorePlain}, {ignore: ignoreAlerts, alerts: true}, {ignore: ignoreCaps},
		{ignore: ignoreCmdSet}, {ignore: ignorePlain, asterisk: true},
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, s := range sets {
			s.onAlert = func(b byte) {
				if strings.IndexByte(alertChars, b) < 0 {
					t.Fatalf("alert handler got %q", b)
				}
			}
			for _, b := range in {
				res, err := s.feed(b)
				if err != nil || res != scanMore {
					s.buf = s.buf[:0]
				}
				if len(s.buf) > lineMax {
					t.Fatalf("line of %d bytes", len(s.buf))
				}
			}
			for _, b := range s.buf {
				if b == '\n' || b == '\r' || b == 0 || b == '*' || strings.IndexByte(s.ignore, b) >= 0 ||
					s.alerts && strings.IndexByte(alertChars, b) >= 0 {
					t.Fatalf("line %q holds %q, which this read drops", s.buf, b)
				}
			}
		}
		str := string(in)
		if cmds, ok := parseCmdSet(str); ok && !strings.Contains(str, cmds) {
			t.Fatalf("parseCmdSet(%q) = %q, not part of the reply", str, cmds)
		}
		entries, _ := parseCaps(str)
		if len(entries) > len(str) {
			t.Fatalf("parseCaps(%q): %d entries from %d bytes", str, len(entries), len(str))
		}
		for _, e := range entries {
			for _, v := range e.values {
				if len(v) > capValueMax {
					t.Fatalf("parseCaps(%q): value %q longer than %d", str, v, capValueMax)
				}
			}
		}
		if st := parseStatus(str); st < 0 || st > 0xff {
			t.Fatalf("parseStatus(%q) = %d", str, st)
		}
		for f := fmtLeave; f <= fmtReason; f++ {
			convert(f, str)
		}
		fields, _ := splitPacked(str)
		if len(fields) > packMax {
			t.Fatalf("splitPacked(%q): %d fields", str, len(fields))
		}
	})
}
