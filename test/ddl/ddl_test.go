package ddl

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
)

func TestMain(m *testing.M) { nuttest.Main(m) }

// batchSize is how many dumps one ups.conf serves: each side runs that
// many drivers at once.
const batchSize = 50

// sampleEvery picks the devices for which upsrw (LIST RW with every
// variable's type and description) and upscmd -l are compared too.
const sampleEvery = 10

// clientWorkers is how many clients run at once.
const clientWorkers = 8

// syncQuirk is the one NUT behaviour the comparison forgives, because it
// depends on timing rather than on the dump: with synchronous = auto (the
// default), a NUT driver whose write to upsd would block (a big dump, a
// busy upsd) drops the connection and switches itself to synchronous
// mode, which upsc then shows. TestNUTSynchronousAutoQuirk shows it and
// that gonut keeps "auto".
const (
	syncQuirk = "NUT's driver switched synchronous from auto to yes after a write to upsd would have blocked"
	syncAuto  = "driver.parameter.synchronous: auto\n"
	syncYes   = "driver.parameter.synchronous: yes\n"
)

// check is one client invocation compared between the stacks.
type check struct {
	dev  device
	what string   // "upsc", "upsrw", "upscmd -l", "upsc -l", "upsc -L"
	prog string   // the NUT client
	args []string // with %s standing for the stack's address
}

type result struct {
	check
	diff  string // empty when identical
	quirk string // the NUT quirk forgiven, if any
	nut   string // what the client printed for NUT (comparable part)
}

// TestDDL serves every dump of the device dump library through NUT 2.8.0
// and through gonut, and compares what NUT's own clients print: upsc for
// every device, upsc -l and upsc -L for every batch, upsrw and upscmd -l
// for a sample. Only driver.version and driver.version.internal may
// differ, and NUT's timing-dependent switch to synchronous mode (syncQuirk)
// is forgiven.
func TestDDL(t *testing.T) {
	if testing.Short() {
		t.Skip("differential test over the device dump library: skipped with -short")
	}
	nuttest.RequireNUT(t)
	lib := nuttest.DDLDir(t)
	devs := devices(t, lib)
	if len(devs) == 0 {
		t.Fatalf("no .dev files in %s", lib)
	}
	began := time.Now()
	var (
		mu                   sync.Mutex
		identical, different int
		quirks               int
		failures             []string
	)
	for first := 0; first < len(devs); first += batchSize {
		batch := devs[first:min(first+batchSize, len(devs))]
		name := fmt.Sprintf("batch%02d", first/batchSize+1)
		t.Run(name, func(t *testing.T) {
			t0 := time.Now()
			nut, gonut := startBatch(t, lib, batch, "")
			t1 := time.Now()
			defer func() {
				t.Logf("%d dumps: both stacks up in %s, clients done in %s",
					len(batch), t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
			}()
			var checks []check
			for i, dv := range batch {
				checks = append(checks, check{dv, "upsc", nuttest.NUTUpsc, []string{dv.ups + "@%s"}})
				if (first+i)%sampleEvery == 0 {
					checks = append(checks,
						check{dv, "upsrw", nuttest.NUTUpsrw, []string{dv.ups + "@%s"}},
						check{dv, "upscmd -l", nuttest.NUTUpscmd, []string{"-l", dv.ups + "@%s"}})
				}
			}
			checks = append(checks,
				check{device{ups: name}, "upsc -l", nuttest.NUTUpsc, []string{"-l", "%s"}},
				check{device{ups: name}, "upsc -L", nuttest.NUTUpsc, []string{"-L", "%s"}})
			for _, r := range compareAll(t, nut, gonut, checks) {
				mu.Lock()
				if r.quirk != "" {
					quirks++
					t.Logf("%s %s: %s", r.what, r.dev.ups, r.quirk)
				}
				switch {
				case r.diff == "":
					if r.what == "upsc" {
						identical++
					}
				default:
					if r.what == "upsc" {
						different++
					}
					failures = append(failures, fmt.Sprintf("%s %s (%s):\n%s", r.what, r.dev.ups, r.dev.file, r.diff))
				}
				mu.Unlock()
			}
		})
	}
	t.Logf("device dump library: %d dumps in %s; upsc output: %d identical, %d different; NUT quirk forgiven %d times",
		len(devs), time.Since(began).Round(time.Second), identical, different, quirks)
	if len(failures) > 0 {
		sort.Strings(failures)
		const show = 40
		if len(failures) > show {
			t.Errorf("%d client outputs differ between NUT 2.8.0 and gonut; the first %d:\n%s", len(failures), show, strings.Join(failures[:show], "\n"))
		} else {
			t.Errorf("%d client outputs differ between NUT 2.8.0 and gonut:\n%s", len(failures), strings.Join(failures, "\n"))
		}
	}
}

// compareAll runs every check against both stacks, a few at a time.
func compareAll(t *testing.T, nut, gonut *stack, checks []check) []result {
	t.Helper()
	jobs := make(chan check)
	results := make(chan result)
	var wg sync.WaitGroup
	for w := 0; w < clientWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range jobs {
				results <- compareOne(nut, gonut, c)
			}
		}()
	}
	go func() {
		for _, c := range checks {
			jobs <- c
		}
		close(jobs)
		wg.Wait()
		close(results)
	}()
	var out []result
	for r := range results {
		out = append(out, r)
	}
	return out
}

func compareOne(nut, gonut *stack, c check) result {
	run := func(s *stack) string {
		args := make([]string, len(c.args))
		for i, a := range c.args {
			args[i] = strings.ReplaceAll(a, "%s", s.srv.Addr())
		}
		out, err := runClient(c.prog, args...)
		if err != nil {
			return fmt.Sprintf("(%v)\n", err)
		}
		// What a client reports (SUCCESS, ERR UNKNOWN, an error) goes to
		// stderr; keep it, without NSS's greeting.
		text := comparable(out.stdout) + strings.ReplaceAll(out.stderr, "Init SSL without certificate database\n", "")
		if out.code != 0 {
			text += fmt.Sprintf("(exit %d)\n", out.code)
		}
		return text
	}
	n, g := run(nut), run(gonut)
	r := result{check: c, nut: n}
	if c.what == "upsc" && strings.Contains(n, syncYes) && strings.Contains(g, syncAuto) {
		n = strings.Replace(n, syncYes, syncAuto, 1)
		r.quirk = syncQuirk
	}
	if n != g {
		r.diff = lineDiff(n, g)
	}
	return r
}
