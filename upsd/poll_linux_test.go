//go:build linux

package upsd

import (
	"net"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestRawSockaddrStrings checks the address an event loop reads from
// accept4 for both families, the port in network byte order.
func TestRawSockaddrStrings(t *testing.T) {
	var sa unix.RawSockaddrAny
	v4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa))
	v4.Family = unix.AF_INET
	v4.Addr = [4]byte{192, 0, 2, 7}
	(*[2]byte)(unsafe.Pointer(&v4.Port))[0], (*[2]byte)(unsafe.Pointer(&v4.Port))[1] = 0x0d, 0xa5 // 3493
	if ip, addr := rawSockaddrStrings(&sa); ip != "192.0.2.7" || addr != "192.0.2.7:3493" {
		t.Errorf("IPv4: %q %q", ip, addr)
	}
	sa = unix.RawSockaddrAny{}
	v6 := (*unix.RawSockaddrInet6)(unsafe.Pointer(&sa))
	v6.Family = unix.AF_INET6
	copy(v6.Addr[:], net.ParseIP("2001:db8::1"))
	(*[2]byte)(unsafe.Pointer(&v6.Port))[0], (*[2]byte)(unsafe.Pointer(&v6.Port))[1] = 0xea, 0x60 // 60000
	if ip, addr := rawSockaddrStrings(&sa); ip != "2001:db8::1" || addr != "[2001:db8::1]:60000" {
		t.Errorf("IPv6: %q %q", ip, addr)
	}
	sa = unix.RawSockaddrAny{}
	sa.Addr.Family = unix.AF_UNIX
	if ip, addr := rawSockaddrStrings(&sa); ip != "unknown" || addr != "unknown" {
		t.Errorf("unix: %q %q", ip, addr)
	}
}

// TestEventLoopIPv6 serves a client over IPv6 loopback through an event
// loop: LIST CLIENT names it as NUT does, without brackets or port.
func TestEventLoopIPv6(t *testing.T) {
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	f := newFixture(t, func(c *Config) { c.Listen = []Listen{{Addr: "::1", Port: "0"}} })
	if len(f.srv.loops) == 0 {
		t.Fatal("the TCP listener is not served by event loops")
	}
	s := f.dial()
	want := "OK\nOK\nOK\nBEGIN LIST CLIENT main\nCLIENT main ::1\nEND LIST CLIENT main\n"
	if got := s.exchange("USERNAME mon\nPASSWORD pw\nLOGIN main\nLIST CLIENT main\n", want); got != want {
		t.Errorf("got %q", got)
	}
}
