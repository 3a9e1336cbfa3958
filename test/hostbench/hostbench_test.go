package hostbench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

func TestMain(m *testing.M) { nuttest.Main(m) }

// hostHealthyRun is nut-driver-host's default -healthy-run (10 s) plus a
// margin: a plugin killed sooner after its start is in a crash loop as far
// as the host is concerned, and backs off from retrydelay (5 s) by design.
const hostHealthyRun = 10*time.Second + 500*time.Millisecond

// variant is an environment the host (and through it every plugin) runs
// with, for the memory comparison.
type variant struct {
	name string
	env  []string
}

// variants are the ways to keep a Go plugin small that need no code
// change: fewer Ps (per-P caches, fewer threads) and a tighter GC target.
var variants = []variant{
	{"GOMAXPROCS=1", []string{"GOMAXPROCS=1"}},
	{"GOMAXPROCS=1 GOGC=20", []string{"GOMAXPROCS=1", "GOGC=20"}},
}

// result is one run of the whole comparison.
type result struct {
	n        int
	nut      nutRun // NUT's upsdrvctl start
	nutPar   nutRun // NUT's drivers started all at once
	gonut    *hostRun
	recovery samples
	variants []*hostRun
}

// compare runs everything side by side: NUT's upsdrvctl, then gonut's host
// with the default environment (start, memory after healthy, then k
// kills), then the host once per variant (start and memory).
// healthy is the host's -healthy-run; "" keeps its default.
func compare(tb testing.TB, n, k int, healthy string) result {
	tb.Helper()
	r := result{n: n}
	r.nut = runNUT(tb, n)
	r.nutPar = runNUTParallel(tb, n)

	var args []string
	wait := hostHealthyRun
	if healthy != "" {
		args = []string{"-healthy-run", healthy}
		d, err := time.ParseDuration(healthy)
		if err != nil {
			tb.Fatalf("-healthy-run %q: %v", healthy, err)
		}
		wait = d + 500*time.Millisecond
	}
	r.gonut = runHost(tb, n, nil, args...)
	// Memory is read once the instances have run for a while, as they
	// will for months: after a few polls and GC cycles.
	r.gonut.settle(wait)
	r.gonut.measureMem(tb)
	r.recovery = r.gonut.kills(tb, k, wait)
	r.gonut.stop(tb)

	for _, v := range variants {
		h := runHost(tb, n, v.env, args...)
		h.checkEnv(tb, v.env)
		h.settle(wait)
		h.measureMem(tb)
		h.stop(tb)
		r.variants = append(r.variants, h)
	}
	return r
}

// table is the result as the Markdown tables of docs/HOST-PERFORMANCE.md.
func (r result) table() string {
	var b strings.Builder
	sec := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) }
	fmt.Fprintf(&b, "instances: %d, kills: %d, nproc %d, load %s\n\n", r.n, len(r.recovery), runtime.NumCPU(), loadavg())
	fmt.Fprintf(&b, "| start until all fresh | s |\n| --- | ---: |\n")
	fmt.Fprintf(&b, "| NUT upsdrvctl start | %s (upsdrvctl returned after %s) |\n", sec(r.nut.start), sec(r.nut.ret))
	fmt.Fprintf(&b, "| NUT dummy-ups started all at once (systemd-like) | %s |\n", sec(r.nutPar.start))
	fmt.Fprintf(&b, "| gonut nut-driver-host | %s |\n", sec(r.gonut.start))
	for _, v := range r.variants {
		fmt.Fprintf(&b, "| gonut, %s | %s |\n", envName(v), sec(v.start))
	}
	fmt.Fprintf(&b, "| ratio NUT upsdrvctl / gonut | %.1f× |\n", r.nut.start.Seconds()/r.gonut.start.Seconds())
	fmt.Fprintf(&b, "| ratio NUT all at once / gonut | %.2f× |\n\n", r.nutPar.start.Seconds()/r.gonut.start.Seconds())

	n := int64(r.n)
	fmt.Fprintf(&b, "| memory (KiB) | RSS total | PSS total | RSS / instance | PSS / instance |\n| --- | ---: | ---: | ---: | ---: |\n")
	row := func(name string, m mem) {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d |\n", name, m.RSS, m.PSS, m.RSS/n, m.PSS/n)
	}
	row("NUT dummy-ups drivers (upsdrvctl)", r.nut.mem)
	for _, h := range append([]*hostRun{r.gonut}, r.variants...) {
		name := envName(h)
		row("gonut host + plugins, "+name, h.host.add(h.plugin))
		fmt.Fprintf(&b, "| &nbsp; of which host | %d | %d | | |\n", h.host.RSS, h.host.PSS)
	}
	fmt.Fprintf(&b, "\nrecovery from kill -9 to fresh (%d kills): p50 %s ms, p99 %s ms, max %s ms\n",
		len(r.recovery), ms(r.recovery.percentile(50)), ms(r.recovery.percentile(99)), ms(r.recovery.percentile(100)))
	return b.String()
}

func envName(h *hostRun) string {
	if len(h.env) == 0 {
		return "default environment"
	}
	return strings.Join(h.env, " ")
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64)
}

// loadavg is the 1-minute load average, for the record.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// TestSmall runs the whole comparison with five instances and three kills
// (and a short -healthy-run, so that it takes seconds): both sides really
// start, every instance turns fresh on its socket, memory is read, every
// kill is followed by fresh data from a new plugin, and the variants'
// environment reaches the plugins. It asserts no time.
func TestSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real drivers")
	}
	r := compare(t, 5, 3, "1s")
	if r.nut.mem.RSS <= 0 || r.gonut.plugin.RSS <= 0 || r.gonut.host.PSS <= 0 {
		t.Errorf("memory not read: NUT %+v, plugins %+v, host %+v", r.nut.mem, r.gonut.plugin, r.gonut.host)
	}
	if len(r.recovery) != 3 {
		t.Errorf("%d recoveries timed, want 3", len(r.recovery))
	}
	t.Logf("\n%s", r.table())
}

// BenchmarkHost is the full comparison: GONUT_HOSTBENCH_N instances
// (default 200) and GONUT_HOSTBENCH_KILLS kills (default 50). One
// iteration takes minutes (NUT's upsdrvctl alone takes about a second per
// driver); run it with -benchtime 1x.
func BenchmarkHost(b *testing.B) {
	n, k := envInt(b, "GONUT_HOSTBENCH_N", 200), envInt(b, "GONUT_HOSTBENCH_KILLS", 50)
	for b.Loop() {
		r := compare(b, n, k, "")
		b.ReportMetric(r.nut.start.Seconds(), "nut-start-s")
		b.ReportMetric(r.nutPar.start.Seconds(), "nut-parallel-start-s")
		b.ReportMetric(r.gonut.start.Seconds(), "gonut-start-s")
		b.ReportMetric(r.nut.start.Seconds()/r.gonut.start.Seconds(), "start-ratio")
		b.ReportMetric(float64(r.nut.mem.PSS)/float64(n), "nut-pss-KiB/inst")
		b.ReportMetric(float64(r.gonut.host.PSS+r.gonut.plugin.PSS)/float64(n), "gonut-pss-KiB/inst")
		b.ReportMetric(float64(r.recovery.percentile(50))/1e6, "recovery-p50-ms")
		b.ReportMetric(float64(r.recovery.percentile(99))/1e6, "recovery-p99-ms")
		b.ReportMetric(0, "ns/op")
		b.Logf("\n%s", r.table())
	}
}

func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		tb.Fatalf("%s=%q: want a positive number", name, s)
	}
	return v
}
