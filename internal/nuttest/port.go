package nuttest

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Loopback ports handed out come from this range: below the kernel's
// ephemeral range (32768 up), so that a listener cannot collide with an
// outgoing connection's local port.
const (
	PortMin = 20000
	PortMax = 32000
)

var ports struct {
	mu   sync.Mutex
	used map[int]bool
}

// FreePort returns a loopback TCP port in [PortMin, PortMax) that was free
// a moment ago and that no other caller in this test binary was given.
// Another process may still take it before the server binds it; the
// Start* helpers retry with a new port when that happens.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.used == nil {
		ports.used = map[int]bool{}
	}
	for i := 0; i < 200; i++ {
		p := PortMin + rand.IntN(PortMax-PortMin)
		if ports.used[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		ports.used[p] = true
		return p
	}
	tb.Fatalf("nuttest: no free loopback port in %d-%d after 200 tries", PortMin, PortMax)
	return 0
}
