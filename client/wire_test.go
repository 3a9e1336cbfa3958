package client

import (
	"errors"
	"strings"
	"testing"

	"github.com/gonut/gonut/sdk/nutconf"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		words []string
		want  string
	}{
		{[]string{"GET", "VAR", "ups", "battery.charge"}, "GET VAR ups battery.charge\n"},
		{[]string{"USERNAME", "two words"}, "USERNAME \"two words\"\n"},
		{[]string{"USERNAME", ""}, "USERNAME \"\"\n"},
		{[]string{"USERNAME", `a"b\c#d`}, `USERNAME "a\"b\\c\#d"` + "\n"},
		{[]string{"USERNAME", "k=v"}, "USERNAME \"k=v\"\n"},
		{[]string{"USERNAME", "semi;colon'quote"}, "USERNAME semi;colon'quote\n"},
	}
	for _, tc := range tests {
		b, err := newRequest(tc.words...).encode()
		if err != nil || string(b) != tc.want {
			t.Errorf("encode(%q) = %q, %v; want %q", tc.words, b, err, tc.want)
			continue
		}
		// upsd's tokenizer reads back the same words.
		back, err := nutconf.Split(string(b))
		if err != nil || strings.Join(back, "\x00") != strings.Join(tc.words, "\x00") {
			t.Errorf("%q splits back to %q, %v", b, back, err)
		}
	}
	_, err := newSecretRequest("PASSWORD", "hunter2\n").encode()
	if !errors.Is(err, ErrBadRequest) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("secret with a newline: %v", err)
	}
}

func TestSplitDialAddr(t *testing.T) {
	tests := []struct {
		in   string
		host string
		port int
	}{
		{"localhost", "localhost", 3493},
		{"10.1.2.3:4000", "10.1.2.3", 4000},
		{"[::1]:4000", "::1", 4000},
		{"::1", "::1", 3493}, // a bare IPv6 address, which NUT's splitaddr refuses
		{"fe80::1%eth0", "fe80::1%eth0", 3493},
	}
	for _, tc := range tests {
		host, port, err := splitDialAddr(tc.in)
		if err != nil || host != tc.host || port != tc.port {
			t.Errorf("splitDialAddr(%q) = %q, %d, %v; want %q, %d", tc.in, host, port, err, tc.host, tc.port)
		}
	}
	if _, _, err := splitDialAddr("host:"); err == nil {
		t.Error(`splitDialAddr("host:") succeeded`)
	}
}
