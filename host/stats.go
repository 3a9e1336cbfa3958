package host

import (
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Stats is the host process's own resource use, for leak checks and
// `upsdrvctl -c dump`.
type Stats struct {
	Goroutines int
	FDs        int   // open file descriptors (-1 if unknown)
	RSSBytes   int64 // resident set size (-1 if unknown)
}

// ReadStats measures the running process.
func ReadStats() Stats {
	s := Stats{Goroutines: runtime.NumGoroutine(), FDs: -1, RSSBytes: -1}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		s.FDs = len(ents) - 1 // the directory being read is one of them
	}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if pages, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				s.RSSBytes = pages * int64(os.Getpagesize())
			}
		}
	}
	return s
}
