package upsd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// Bind binds cfg.Listen's addresses (cfg.Family, cfg.AllowNotAllListeners
// and cfg.Logger apply) with NUT's rules: no LISTEN means ::1 and
// 127.0.0.1 on port 3493; "*" means every IPv4 and every IPv6 address; a
// host name binds its first address that works; IPv6 listeners take IPv6
// only. It fails when nothing can be bound, or when some address cannot be
// and it is not a loopback one, unless AllowNotAllListeners. upsd binds
// before it drops root, then hands the listeners to Start in
// Config.Listeners.
func Bind(cfg Config) ([]net.Listener, error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	specs := cfg.Listen
	if len(specs) == 0 {
		if cfg.Family != IPv4Only {
			specs = append(specs, Listen{Addr: "::1"})
		}
		if cfg.Family != IPv6Only {
			specs = append(specs, Listen{Addr: "127.0.0.1"})
		}
	}
	var (
		lns      []net.Listener
		failures []error
		onlyLoop = true // every failure is a loopback address
	)
	for _, l := range specs {
		port := l.Port
		if port == "" {
			port = DefaultPort
		}
		got, err := bindSpec(l.Addr, port, cfg.Family)
		if err != nil {
			log.Error("not listening", "address", l.Addr, "port", port, "error", err)
			failures = append(failures, err)
			if !isLoopbackName(l.Addr) {
				onlyLoop = false
			}
			continue
		}
		for _, ln := range got {
			log.Info("listening", "address", ln.Addr().String())
		}
		lns = append(lns, got...)
	}
	if len(lns) == 0 {
		return nil, fmt.Errorf("no listening interface available: %w", errors.Join(failures...))
	}
	if len(failures) > 0 && !onlyLoop {
		if !cfg.AllowNotAllListeners {
			for _, ln := range lns {
				ln.Close()
			}
			return nil, fmt.Errorf("some listening interfaces were not available (set ALLOW_NOT_ALL_LISTENERS to run anyway): %w", errors.Join(failures...))
		}
		log.Warn("some listening interfaces were not available, but ALLOW_NOT_ALL_LISTENERS is set")
	}
	return lns, nil
}

// isLoopbackName reports whether a LISTEN address is a loopback one, whose
// failure NUT tolerates (the same port may be reached under another name,
// or the host may lack IPv6).
func isLoopbackName(addr string) bool {
	switch addr {
	case "localhost", "localhost6", "127.0.0.1", "::1":
		return true
	}
	return false
}

// bindSpec binds one LISTEN line.
func bindSpec(addr, port string, fam Family) ([]net.Listener, error) {
	if addr == "*" {
		var lns []net.Listener
		var errs []error
		if fam != IPv6Only {
			ln, err := listen("tcp4", net.JoinHostPort("0.0.0.0", port))
			if err == nil {
				lns = append(lns, ln)
			} else {
				errs = append(errs, err)
			}
		}
		if fam != IPv4Only {
			ln, err := listen("tcp6", net.JoinHostPort("::", port))
			if err == nil {
				lns = append(lns, ln)
			} else {
				errs = append(errs, err)
			}
		}
		if len(lns) == 0 {
			return nil, fmt.Errorf("LISTEN * %s: %w", port, errors.Join(errs...))
		}
		return lns, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		found, err := net.DefaultResolver.LookupIPAddr(context.Background(), host)
		if err != nil {
			return nil, fmt.Errorf("LISTEN %s %s: %w", addr, port, err)
		}
		for _, a := range found {
			ips = append(ips, a.IP)
		}
	}
	var errs []error
	for _, ip := range ips {
		network := "tcp6" // tcp6 sets IPV6_V6ONLY, as NUT asks
		if ip.To4() != nil {
			network = "tcp4"
		}
		if (network == "tcp4" && fam == IPv6Only) || (network == "tcp6" && fam == IPv4Only) {
			continue
		}
		ln, err := listen(network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return []net.Listener{ln}, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("LISTEN %s %s: no address of the allowed family", addr, port)
	}
	return nil, fmt.Errorf("LISTEN %s %s: %w", addr, port, errors.Join(errs...))
}

// listenConfig binds upsd's listeners. Keep-alive probes are off, as in
// NUT: silent clients are dropped after the idle time anyway, and turning
// them on costs four system calls per accepted client.
var listenConfig = net.ListenConfig{KeepAlive: -1}

func listen(network, addr string) (net.Listener, error) {
	return listenConfig.Listen(context.Background(), network, addr)
}
