package upsd

import (
	"bufio"
	"net"
	"testing"
)

// These benchmarks run server and clients in one process, so their figures
// include the clients' costs; their use is profiling the server
// (-cpuprofile). Comparisons with NUT's upsd are tools/upsd-load's job.

// BenchmarkGetVar measures GET VAR round trips over loopback with 64
// clients in parallel.
func BenchmarkGetVar(b *testing.B) {
	f := newFixture(b, nil)
	addr := f.srv.Addrs()[0].String()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		req := []byte("GET VAR main ups.status\n")
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			if _, err := r.ReadString('\n'); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkListVar measures LIST VAR round trips.
func BenchmarkListVar(b *testing.B) {
	f := newFixture(b, nil)
	addr := f.srv.Addrs()[0].String()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		req := []byte("LIST VAR main\n")
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					b.Error(err)
					return
				}
				if l == "END LIST VAR main\n" {
					break
				}
			}
		}
	})
}

// BenchmarkChurn measures connect, GET VAR, LOGOUT, hang up.
func BenchmarkChurn(b *testing.B) {
	f := newFixture(b, nil)
	addr := f.srv.Addrs()[0].String()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		req := []byte("GET VAR main ups.status\nLOGOUT\n")
		for pb.Next() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			r := bufio.NewReader(c)
			if _, err := c.Write(req); err != nil {
				b.Error(err)
			}
			_, _ = r.ReadString('\n')
			_, _ = r.ReadString('\n')
			c.Close()
		}
	})
}

// BenchmarkConsumeGetVar measures one GET VAR through the request path
// alone (parse, dispatch, reply), without sockets: the server's own CPU
// per request beyond the kernel's, and its allocations.
func BenchmarkConsumeGetVar(b *testing.B) {
	f := newFixture(b, nil)
	sc := newScriptConn("")
	c := newConnAddr(f.srv, "127.0.0.1", 1)
	c.raw, c.rw = sc, sc
	req := []byte("GET VAR main ups.status\n")
	// Warm the device's state as a first request would.
	c.consume(req)
	<-sc.wrote
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.consume(req)
		<-sc.wrote
		sc.mu.Lock()
		sc.writes = sc.writes[:0]
		sc.mu.Unlock()
	}
}
