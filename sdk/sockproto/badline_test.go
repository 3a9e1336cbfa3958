package sockproto

import (
	"context"
	"net"
	"path/filepath"
	"slices"
	"testing"
)

// A malformed line from a driver is skipped, as NUT's upsd skips it; the
// connection and the lines after it are kept.
func TestConnSkipsMalformedLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drv-ups")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("SETINFO ups.mfr \"a # b\"\nSETINFO ups.status \"OL\"\n"))
		select {}
	}()
	conn, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var bad [][]string
	conn.OnBadLine = func(w []string, err error) { bad = append(bad, w) }
	// Parsing resumes after the # as a new line, as parseconf does: the
	// leftover `b"` comes as a message of its own (a reader ignores it).
	for _, want := range [][]string{{`b"`}, {"SETINFO", "ups.status", "OL"}} {
		got, err := conn.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Next = %q, want %q", got, want)
		}
	}
	if len(bad) != 1 || bad[0][0] != "SETINFO" {
		t.Errorf("OnBadLine saw %q", bad)
	}
}
