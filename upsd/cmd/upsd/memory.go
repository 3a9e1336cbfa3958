package main

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Memory: NUT's upsd is a small C program; the Go runtime's default
// pacing lets the heap grow to at least 4 MiB before the first collection
// and returns freed pages to the kernel only slowly, so under any load
// upsd would sit at twice the memory it needs. trackMemory instead keeps
// a soft memory limit (debug.SetMemoryLimit) just above what upsd uses:
// the runtime's non-heap memory, plus twice the live heap (what GOGC=100
// would allow), plus 1 MiB. The collector then runs when the heap reaches
// that, and the scavenger returns what is above it. The limit follows the
// live heap once a second, so 10,000 clients get the room they need.
// GOMEMLIMIT in the environment turns this off; GOGC still applies.

// memoryHeadroom is the room above twice the live heap.
const memoryHeadroom = 1 << 20

// trackMemory adjusts the memory limit every interval until stop closes.
func trackMemory(interval time.Duration, stop <-chan struct{}) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	samples := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	defer debug.SetMemoryLimit(-1)
	for {
		metrics.Read(samples)
		live := samples[0].Value.Uint64()
		heap := samples[2].Value.Uint64() + samples[3].Value.Uint64() + samples[4].Value.Uint64() + samples[5].Value.Uint64()
		other := samples[1].Value.Uint64() - heap
		debug.SetMemoryLimit(int64(other + 2*live + memoryHeadroom))
		select {
		case <-t.C:
		case <-stop:
			return
		}
	}
}
