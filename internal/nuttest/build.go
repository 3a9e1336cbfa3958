package nuttest

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Package paths of gonut's programs, relative to the repository root, as
// Build takes them. Each builds to an executable named after its last
// element (the NUT program name).
const (
	PkgUpsd       = "./upsd/cmd/upsd"
	PkgHost       = "./host/cmd/nut-driver-host"
	PkgDummyUPS   = "./plugins/dummyups/cmd/dummy-ups"
	PkgUpsc       = "./tools/upsc"
	PkgUpsdrvctl  = "./tools/upsdrvctl"
	PkgTestDriver = "./host/internal/testdriver"
)

var builds struct {
	mu    sync.Mutex
	dir   string
	built map[string]bool
}

// Build compiles gonut packages (paths relative to the repository root,
// e.g. PkgUpsd) into one directory shared by the whole test binary and
// returns that directory. Each package is built once per test binary;
// later calls only build what is new. Putting every program in one
// directory matters: nut-driver-host looks for drivers next to itself.
func Build(tb testing.TB, pkgs ...string) string {
	tb.Helper()
	root := RepoRoot(tb)
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir == "" {
		d, err := os.MkdirTemp("", "gonut-nuttest-bin-")
		if err != nil {
			tb.Fatalf("nuttest: build directory: %v", err)
		}
		builds.dir, builds.built = d, map[string]bool{}
	}
	var todo []string
	for _, p := range pkgs {
		if !builds.built[p] {
			todo = append(todo, p)
		}
	}
	if len(todo) == 0 {
		return builds.dir
	}
	began := time.Now()
	cmd := exec.Command(goTool(), append([]string{"build", "-o", builds.dir + "/"}, todo...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("nuttest: go build %s (in %s): %v\n%s", strings.Join(todo, " "), root, err, out)
	}
	for _, p := range todo {
		builds.built[p] = true
	}
	tb.Logf("nuttest: built %s in %s", strings.Join(todo, " "), time.Since(began).Round(time.Millisecond))
	return builds.dir
}

// Program builds one gonut package and returns the path of its executable.
func Program(tb testing.TB, pkg string) string {
	tb.Helper()
	return filepath.Join(Build(tb, pkg), path.Base(pkg))
}

// Main runs the tests of a package and then removes the directory Build
// compiled into. Call it from TestMain:
//
//	func TestMain(m *testing.M) { nuttest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	builds.mu.Lock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	builds.mu.Unlock()
	os.Exit(code)
}

// goTool finds the go command: the one on PATH, else the toolchain that
// built this test binary.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if g := os.Getenv("GOROOT"); g != "" {
		return filepath.Join(g, "bin", "go")
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

var repoRoot struct {
	once sync.Once
	dir  string
}

// RepoRoot is the repository root: the nearest directory above the test's
// working directory that holds go.work.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	repoRoot.once.Do(func() {
		d, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
				repoRoot.dir = d
				return
			}
			up := filepath.Dir(d)
			if up == d {
				return
			}
			d = up
		}
	})
	if repoRoot.dir == "" {
		tb.Fatal("nuttest: no go.work above the working directory; run the tests from inside the gonut repository")
	}
	return repoRoot.dir
}

// DDLDir is the directory of device dumps (NUT's device dump library),
// ../shared/ddl from the repository root. The dumps are not the project's
// to commit, so tests read them from there.
func DDLDir(tb testing.TB) string {
	tb.Helper()
	d := filepath.Join(RepoRoot(tb), "..", "shared", "ddl")
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		Missing(tb, "device dump library %s is missing (it sits beside the repository as shared/ddl)", d)
	}
	return d
}

// DDL is the path of one device dump in DDLDir.
func DDL(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join(DDLDir(tb), name)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("nuttest: device dump %s: %v", p, err)
	}
	return p
}
