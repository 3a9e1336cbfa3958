package faults

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

// pkgBenchDriver publishes ups.pid (its process id), which tells a killed
// plugin's data from its successor's.
const pkgBenchDriver = "./test/bench/benchdriver"

// giveUp bounds every wait for the stack to come back; it is a deadline
// for a test that would otherwise hang, not a performance figure.
const giveUp = 20 * time.Second

func TestMain(m *testing.M) { nuttest.Main(m) }

// reply is one GET VAR exchange seen by a polling client.
type reply struct {
	client     int
	sent, recv time.Time
	line       string
}

// poller is a client polling GET VAR over one connection in a loop.
type poller struct {
	id      int
	addr    string
	request string

	mu      sync.Mutex
	replies []reply
	err     error
}

func (p *poller) run(ctx context.Context, pause time.Duration) {
	c, err := nuttest.Connect(p.addr)
	if err != nil {
		p.fail(err)
		return
	}
	defer c.Close()
	for ctx.Err() == nil {
		sent := time.Now()
		l, err := c.Cmd(p.request)
		if err != nil {
			p.fail(fmt.Errorf("client %d: %w", p.id, err))
			return
		}
		p.mu.Lock()
		p.replies = append(p.replies, reply{client: p.id, sent: sent, recv: time.Now(), line: l})
		p.mu.Unlock()
		time.Sleep(pause)
	}
}

func (p *poller) fail(err error) {
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
}

func (p *poller) last() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.replies) == 0 {
		return "", p.err
	}
	return p.replies[len(p.replies)-1].line, p.err
}

// pollers runs n clients polling request against addr until the test's
// stop function is called; stop returns every reply.
func startPollers(t *testing.T, n int, addr, request string, pause time.Duration) ([]*poller, func() []reply) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	ps := make([]*poller, n)
	for i := range ps {
		ps[i] = &poller{id: i, addr: addr, request: request}
		wg.Add(1)
		go func(p *poller) { defer wg.Done(); p.run(ctx, pause) }(ps[i])
	}
	stopped := false
	stop := func() []reply {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
		var all []reply
		for _, p := range ps {
			if p.err != nil {
				t.Errorf("poller: %v", p.err)
			}
			all = append(all, p.replies...)
		}
		return all
	}
	t.Cleanup(func() { stop() })
	return ps, stop
}

// waitAllSee waits until every poller's latest reply is want.
func waitAllSee(t *testing.T, ps []*poller, want string, what string) {
	t.Helper()
	deadline := time.Now().Add(giveUp)
	for {
		all := true
		for _, p := range ps {
			l, err := p.last()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if l != want {
				all = false
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			var lasts []string
			for _, p := range ps {
				l, _ := p.last()
				lasts = append(lasts, l)
			}
			t.Fatalf("%s: clients never all saw %q within %s; latest replies %q", what, want, giveUp, lasts)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// violations checks that no client is served older data than any client
// was already given: a reply sent after another reply was received must
// not have a lower level. Levels order what a client may learn about the
// driver: its data (2k for generation k), then that it is gone (2k+1),
// then its successor's data (2k+2). A lower level later means old data
// served as fresh after the server had said the driver was gone, or data
// flapping back to an error. level rejects replies that are wrong in
// themselves. The result describes each violation.
func violations(rs []reply, level func(reply) (int, error)) []string {
	type leveled struct {
		reply
		level int
	}
	var ls []leveled
	var bad []string
	for _, r := range rs {
		l, err := level(r)
		if err != nil {
			bad = append(bad, fmt.Sprintf("client %d at %s: %v", r.client, r.sent.Format("15:04:05.000000"), err))
			continue
		}
		ls = append(ls, leveled{r, l})
	}
	byRecv := append([]leveled(nil), ls...)
	sort.SliceStable(byRecv, func(i, j int) bool { return byRecv[i].recv.Before(byRecv[j].recv) })
	bySent := append([]leveled(nil), ls...)
	sort.SliceStable(bySent, func(i, j int) bool { return bySent[i].sent.Before(bySent[j].sent) })
	maxSeen, from, j := -1, leveled{}, 0
	for _, b := range bySent {
		for j < len(byRecv) && byRecv[j].recv.Before(b.sent) {
			if byRecv[j].level > maxSeen {
				maxSeen, from = byRecv[j].level, byRecv[j]
			}
			j++
		}
		if b.level < maxSeen {
			bad = append(bad, fmt.Sprintf("client %d asked at %s and got %q (level %d), but client %d had already been told %q (level %d) at %s",
				b.client, b.sent.Format("15:04:05.000000"), b.line, b.level,
				from.client, from.line, from.level, from.recv.Format("15:04:05.000000")))
		}
	}
	return bad
}

// reportViolations fails the test with the first few violations.
func reportViolations(t *testing.T, bad []string, total int) {
	t.Helper()
	for i, v := range bad {
		if i == 5 {
			t.Errorf("... and %d more", len(bad)-5)
			break
		}
		t.Error(v)
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d replies broke the rules", len(bad), total)
	}
}

// tally counts replies by kind for the log.
func tally(rs []reply, kind func(string) string) string {
	n := map[string]int{}
	for _, r := range rs {
		n[kind(r.line)]++
	}
	var parts []string
	for k, v := range n {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// errCode returns the code of an ERR reply, or "".
func errCode(line string) string {
	if c, ok := strings.CutPrefix(line, "ERR "); ok {
		return c
	}
	return ""
}

// availabilityErr reports whether code is one a client may get while a
// driver is down or restarting.
func availabilityErr(code string) bool {
	return code == "DRIVER-NOT-CONNECTED" || code == "DATA-STALE"
}
