package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// row is one workload at one connection count, measured on every server.
type row struct {
	workload string
	conns    int
	res      []result // per server, in report.servers order
}

// report is a whole run.
type report struct {
	args    []string
	servers []string
	nvars   int
	rows    []row
	idleRSS []int // KiB after start-up, per server
	heldRSS []int // KiB holding the largest connection count idle
	held    int
	rounds  int
	started time.Time
}

// benchmark starts the driver and the servers and measures every phase,
// one server at a time; progress goes to log.
func benchmark(ctx context.Context, o options, log io.Writer) (*report, error) {
	// Short: the driver socket's path must fit in 107 bytes.
	base, err := os.MkdirTemp("", "upsdload")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(base)
	drv, err := startDriver(base, o.devFile)
	if err != nil {
		return nil, err
	}
	defer drv.Close()
	rep := &report{args: os.Args[1:], nvars: drv.Snapshot().Len(), rounds: o.rounds, started: time.Now()}
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for _, spec := range o.servers {
		s, err := startServer(spec, base, base)
		if err != nil {
			return nil, err
		}
		servers = append(servers, s)
		rep.servers = append(rep.servers, spec.name)
	}
	sleepCtx(ctx, time.Second)
	for _, s := range servers {
		rep.idleRSS = append(rep.idleRSS, s.rssKiB())
	}
	measure := func(workload string, conns int, fn func(*server) (result, error)) error {
		rounds := make([][]result, len(servers))
		for round := 0; round < o.rounds; round++ {
			for k := range servers {
				// Alternate which server goes first, so that a slow
				// drift of the machine does not favour one.
				i := k
				if round%2 == 1 {
					i = len(servers) - 1 - k
				}
				s := servers[i]
				fmt.Fprintf(log, "round %d  %-9s %-9s %5d connections ... ", round+1, s.spec.name, workload, conns)
				res, err := fn(s)
				if err != nil {
					fmt.Fprintln(log)
					return fmt.Errorf("%s, %s at %d connections: %w", s.spec.name, workload, conns, err)
				}
				fmt.Fprintf(log, "%9.0f/s  p99 %v  errors %d\n", res.rate(), res.pct(99), res.errors)
				if res.firstErr != nil {
					fmt.Fprintf(log, "          first error: %v\n", res.firstErr)
				}
				rounds[i] = append(rounds[i], res)
			}
		}
		r := row{workload: workload, conns: conns}
		for _, rs := range rounds {
			r.res = append(r.res, median(rs))
		}
		rep.rows = append(rep.rows, r)
		return nil
	}
	for _, n := range o.conns {
		if err := measure("GET VAR", n, func(s *server) (result, error) {
			return closedLoop(ctx, s, n, getVar(o.variable), o.warmup, o.duration)
		}); err != nil {
			return nil, err
		}
		if err := measure("LIST VAR", n, func(s *server) (result, error) {
			return closedLoop(ctx, s, n, listVar(rep.nvars), o.warmup, o.duration)
		}); err != nil {
			return nil, err
		}
	}
	if err := measure("churn", o.churnWorkers, func(s *server) (result, error) {
		return churn(ctx, s, o.churnWorkers, o.warmup, o.duration)
	}); err != nil {
		return nil, err
	}
	rep.held = slicesMax(o.conns)
	for _, s := range servers {
		kib, err := idleConns(ctx, s, rep.held)
		if err != nil {
			return nil, fmt.Errorf("%s, holding %d idle connections: %w", s.spec.name, rep.held, err)
		}
		rep.heldRSS = append(rep.heldRSS, kib)
	}
	return rep, nil
}

// median returns the round with the median throughput, with the peak
// memory and the failures of all rounds.
func median(rs []result) result {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b result) int { return cmp.Compare(a.rate(), b.rate()) })
	m := sorted[len(sorted)/2]
	m.errors = 0
	for _, r := range rs {
		m.peakRSS = max(m.peakRSS, r.peakRSS)
		m.errors += r.errors
		if m.firstErr == nil {
			m.firstErr = r.firstErr
		}
	}
	return m
}

func slicesMax(s []int) int {
	m := 0
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

// ratio formats b/a, "–" when undefined.
func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	if r := b / a; r < 0.1 {
		return fmt.Sprintf("%.3f×", r)
	}
	return fmt.Sprintf("%.2f×", b/a)
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond))
}

func mib(kib int) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }

// write prints the report as Markdown. With two servers the ratio columns
// give the second against the first (gonut/NUT): above 1 means more
// throughput, or more latency, CPU or memory.
func (r *report) write(w io.Writer) {
	two := len(r.servers) == 2
	fmt.Fprintf(w, "Command: `upsd-load %s`  \n", strings.Join(r.args, " "))
	fmt.Fprintf(w, "Run: %s, %d CPUs, %s/%s, %d variables in the UPS, median of %d rounds.\n\n", r.started.Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, r.nvars, r.rounds)
	fmt.Fprint(w, "| Workload | Conns |")
	for _, s := range r.servers {
		fmt.Fprintf(w, " %s ops/s |", s)
	}
	if two {
		fmt.Fprint(w, " ratio |")
	}
	for _, s := range r.servers {
		fmt.Fprintf(w, " %s p50 ms | %s p99 ms |", s, s)
	}
	if two {
		fmt.Fprint(w, " p99 ratio |")
	}
	for _, s := range r.servers {
		fmt.Fprintf(w, " %s CPU µs/op |", s)
	}
	for _, s := range r.servers {
		fmt.Fprintf(w, " load tool CPU µs/op (%s) |", s)
	}
	if two {
		fmt.Fprint(w, " ceiling |")
	}
	fmt.Fprintln(w)
	cols := 2 + len(r.servers)*5
	if two {
		cols += 3
	}
	fmt.Fprintln(w, "|"+strings.Repeat("---|", cols))
	for _, row := range r.rows {
		fmt.Fprintf(w, "| %s | %d |", row.workload, row.conns)
		for _, res := range row.res {
			fmt.Fprintf(w, " %.0f |", res.rate())
		}
		if two {
			fmt.Fprintf(w, " %s |", ratio(row.res[0].rate(), row.res[1].rate()))
		}
		for _, res := range row.res {
			fmt.Fprintf(w, " %s | %s |", ms(res.pct(50)), ms(res.pct(99)))
		}
		if two {
			fmt.Fprintf(w, " %s |", ratio(float64(row.res[0].pct(99)), float64(row.res[1].pct(99))))
		}
		for _, res := range row.res {
			fmt.Fprintf(w, " %.1f |", float64(res.cpuPerOp())/float64(time.Microsecond))
		}
		for _, res := range row.res {
			fmt.Fprintf(w, " %.1f |", float64(res.genPerOp())/float64(time.Microsecond))
		}
		if two {
			if c := row.res[0].ceiling(); c > 0 {
				fmt.Fprintf(w, " %.2f× |", c)
			} else {
				fmt.Fprint(w, " – (not CPU-bound) |")
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	if two {
		fmt.Fprintf(w, "Ceiling: the throughput ratio a server using no CPU at all could reach against %s here, "+
			"the load tool sharing the CPUs: (tool + %s CPU per op) / tool CPU per op; "+
			"only where the two kept the CPUs at least 75 %% busy.\n\n", r.servers[0], r.servers[0])
	}
	fmt.Fprint(w, "| Resident memory (MiB) |")
	for _, s := range r.servers {
		fmt.Fprintf(w, " %s |", s)
	}
	if two {
		fmt.Fprint(w, " ratio |")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "|"+strings.Repeat("---|", 1+len(r.servers)+btoi(two)))
	mem := func(label string, v []int) {
		fmt.Fprintf(w, "| %s |", label)
		for _, k := range v {
			fmt.Fprintf(w, " %s |", mib(k))
		}
		if two {
			fmt.Fprintf(w, " %s |", ratio(float64(v[0]), float64(v[1])))
		}
		fmt.Fprintln(w)
	}
	mem("idle, after start-up", r.idleRSS)
	mem(fmt.Sprintf("holding %d idle connections", r.held), r.heldRSS)
	for _, row := range r.rows {
		var peaks []int
		for _, res := range row.res {
			peaks = append(peaks, res.peakRSS)
		}
		mem(fmt.Sprintf("peak during %s at %d", row.workload, row.conns), peaks)
	}
	errs := 0
	for _, row := range r.rows {
		for _, res := range row.res {
			errs += res.errors
		}
	}
	if errs > 0 {
		fmt.Fprintf(w, "\n%d requests failed during the run (see the progress log).\n", errs)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
