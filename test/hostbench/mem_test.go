package hostbench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// mem is a process's memory: resident set (VmRSS) and proportional set
// (Pss: shared pages divided among the processes sharing them, which is
// what N copies of one Go binary really cost together), in KiB.
type mem struct{ RSS, PSS int64 }

func (m mem) add(o mem) mem { return mem{m.RSS + o.RSS, m.PSS + o.PSS} }

// readMem reads /proc/<pid>/status and /proc/<pid>/smaps_rollup.
func readMem(pid int) (mem, error) {
	rss, err := procField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
	if err != nil {
		return mem{}, err
	}
	pss, err := procField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
	if err != nil {
		return mem{}, err
	}
	return mem{RSS: rss, PSS: pss}, nil
}

// procField returns the kB figure of the first line of file starting with
// key, e.g. "VmRSS:   10240 kB".
func procField(file, key string) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, key) {
			continue
		}
		fs := strings.Fields(strings.TrimPrefix(line, key))
		if len(fs) != 2 || fs[1] != "kB" {
			return 0, fmt.Errorf("%s: unexpected line %q", file, line)
		}
		return strconv.ParseInt(fs[0], 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return 0, fmt.Errorf("%s: no %s line", file, key)
}

// sumMem adds up the memory of pids.
func sumMem(pids []int) (mem, error) {
	var total mem
	for _, pid := range pids {
		m, err := readMem(pid)
		if err != nil {
			return mem{}, fmt.Errorf("pid %d: %w", pid, err)
		}
		total = total.add(m)
	}
	return total, nil
}
