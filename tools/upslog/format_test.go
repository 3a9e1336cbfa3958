package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gonut/gonut/client"
)

// fakeSource serves variables from a map; a missing one is an error, as
// upsd's VAR-NOT-SUPPORTED.
type fakeSource struct {
	vars  map[string]string
	asked []string
}

func (f *fakeSource) spec() string { return "myups@example.net:3493" }

func (f *fakeSource) getVar(_ context.Context, name string) (string, error) {
	f.asked = append(f.asked, name)
	if v, ok := f.vars[name]; ok {
		return v, nil
	}
	return "", client.ErrVarNotSupported
}

var fixedEnv = env{
	now:      func() time.Time { return time.Date(2026, 11, 24, 4, 41, 45, 0, time.UTC) },
	hostname: func() (string, error) { return "box", nil },
	pid:      4242,
}

// TestRenderAsNUT: lines as NUT 2.8.0's upslog writes them for the same
// format (the expectations with INVALID and odd spacing were observed
// from /usr/bin/upslog).
func TestRenderAsNUT(t *testing.T) {
	vars := map[string]string{
		"battery.charge": "95",
		"input.voltage":  "230.5",
		"ups.load":       "23",
		"ups.status":     "OL CHRG",
		"device.model":   `Back "UPS" \ 750`,
	}
	tests := []struct {
		format string
		want   string
		asked  []string // variables requested, in order
	}{
		{"", "", nil},
		{defaultFormat, "20261124 044145 95 230.5 23 [OL CHRG] NA NA",
			[]string{"battery.charge", "input.voltage", "ups.load", "ups.status", "ups.temperature", "input.frequency"}},
		{"%VAR ups.status%", "OL CHRG", []string{"ups.status"}},
		{"%var ups.load% %VARx ups.load% %Variable ups.load%", "23 23 23", []string{"ups.load", "ups.load", "ups.load"}},
		{"%VAR device.model%", `Back "UPS" \ 750`, []string{"device.model"}},
		{"%VAR no.such%", "NA", []string{"no.such"}},
		{"%VAR nodot% %VAR% %VAR %", "INVALID INVALID INVALID", nil},
		{"x %VAR  ups.status% y", "x NA y", []string{" ups.status"}},
		{"%VAR ups.status extra%", "NA", []string{"ups.status extra"}},
		{"%BOGUS% %% %%%", "INVALID % %INVALID", nil},
		{"a%", "aINVALID", nil},
		{"%VAR ups.status", "INVALIDVAR ups.status", nil},
		{"%UPSHOST% %upshost% %HOST% %hostname% %PID% %pidx%", "myups@example.net:3493 myups@example.net:3493 box box 4242 4242", nil},
		{"%ETIME% %etime junk%", "1795495305 1795495305", nil},
		{"%TIME @Y-@m-@d @H:@M:@S% %time @j%", "2026-11-24 04:41:45 328", nil},
		{"%TIME @@ @Q%", "% %Q", nil},
		{"%TIME %", "", nil},
		{"%TIME %VAR ups.load%|%TIME %|%ETIME junk%|%VAR ups.status%",
			"VAR ups.loadINVALIDTIME INVALIDETIME junkINVALIDVAR ups.statusINVALID", nil},
		{"%TIME @Y%%%TIME @m%", "2026%TIME @mINVALID", nil},
		// %t: a tab unless an escape follows (gonut and NUT 2.8.2+).
		{"%t%VAR ups.load%%t", "\t23\t", []string{"ups.load"}},
		{"a%tb", "a\tb", nil},
		{"%time @H%", "04", nil},
		{"%TIME%", "INVALID", nil},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			src := &fakeSource{vars: vars}
			got := render(context.Background(), compileFormat(tc.format), src, fixedEnv)
			if got != tc.want {
				t.Errorf("render(%q) = %q, want %q", tc.format, got, tc.want)
			}
			if len(src.asked) != len(tc.asked) {
				t.Fatalf("asked for %q, want %q", src.asked, tc.asked)
			}
			for i := range tc.asked {
				if src.asked[i] != tc.asked[i] {
					t.Errorf("asked for %q, want %q", src.asked, tc.asked)
					break
				}
			}
		})
	}
}

// TestRenderHostnameFailure: NUT writes nothing for %HOST% when
// gethostname fails.
func TestRenderHostnameFailure(t *testing.T) {
	e := fixedEnv
	e.hostname = func() (string, error) { return "", errors.New("no name") }
	if got := render(context.Background(), compileFormat("[%HOST%]"), &fakeSource{}, e); got != "[]" {
		t.Errorf("got %q, want []", got)
	}
}

// TestCompileMergesLiterals keeps a format a short list of items.
func TestCompileMergesLiterals(t *testing.T) {
	items := compileFormat("abc %% def %VAR x.y% ghi")
	if len(items) != 3 || items[0] != (item{kind: literal, arg: "abc % def "}) ||
		items[1] != (item{kind: variable, arg: "x.y"}) || items[2] != (item{kind: literal, arg: " ghi"}) {
		t.Errorf("items = %+v", items)
	}
}
