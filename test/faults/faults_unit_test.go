package faults

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestViolations checks the checker itself on made-up timelines, so that
// the fault tests cannot pass by checking nothing.
func TestViolations(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// r builds a reply: client, sent and received (ms), line; the line is
	// its own level ("0", "1", "2") or "x" for a reply wrong in itself.
	r := func(c, sent, recv int, line string) reply {
		return reply{client: c, sent: at(sent), recv: at(recv), line: line}
	}
	level := func(r reply) (int, error) {
		n, err := strconv.Atoi(r.line)
		return n, err
	}
	cases := []struct {
		name    string
		replies []reply
		want    int
	}{
		{"in order, one client", []reply{r(0, 0, 1, "0"), r(0, 2, 3, "1"), r(0, 4, 5, "2")}, 0},
		{"old after gone, one client", []reply{r(0, 0, 1, "1"), r(0, 2, 3, "0")}, 1},
		{"flap back to error", []reply{r(0, 0, 1, "2"), r(0, 2, 3, "1")}, 1},
		{"old after another client was told", []reply{r(0, 0, 1, "1"), r(1, 2, 3, "0")}, 1},
		{"overlapping requests may differ", []reply{r(0, 0, 5, "1"), r(1, 2, 3, "0")}, 0},
		{"sent before the other's reply arrived", []reply{r(1, 0, 10, "0"), r(0, 0, 1, "1")}, 0},
		{"bad reply", []reply{r(0, 0, 1, "x")}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := violations(c.replies, level)
			if len(got) != c.want {
				t.Errorf("got %d violations %q, want %d", len(got), got, c.want)
			}
		})
	}
}

func TestVarValue(t *testing.T) {
	cases := []struct {
		line, want string
		ok         bool
	}{
		{`VAR f ups.pid "123"`, "123", true},
		{`VAR f ups.pid "a \"b\" \\"`, `a "b" \`, true},
		{`VAR g ups.pid "123"`, "", false},
		{`ERR DATA-STALE`, "", false},
		{`VAR f ups.pid "123`, "", false},
	}
	for _, c := range cases {
		v, ok := varValue(c.line, "f", "ups.pid")
		if v != c.want || ok != c.ok {
			t.Errorf("varValue(%q) = %q, %v; want %q, %v", c.line, v, ok, c.want, c.ok)
		}
	}
	if !strings.HasPrefix(devGen(3), "device.mfr") || !strings.Contains(devGen(3), "device.serial: gen3\n") {
		t.Errorf("devGen(3) = %q", devGen(3))
	}
}
