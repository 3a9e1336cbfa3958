package bench

import (
	"math"
	"slices"
	"testing"
	"time"
)

// samples collects durations and reports their percentiles.
type samples []time.Duration

// percentile is the nearest-rank percentile p (0 < p <= 100).
func (s samples) percentile(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// report adds p50 and p99 to b's results in the given unit, named
// "<prefix>p50-<unit name>", e.g. "gonut-p99-us".
func (s samples) report(b *testing.B, prefix string, unit time.Duration, unitName string) {
	b.ReportMetric(float64(s.percentile(50))/float64(unit), prefix+"p50-"+unitName)
	b.ReportMetric(float64(s.percentile(99))/float64(unit), prefix+"p99-"+unitName)
}
