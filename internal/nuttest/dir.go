package nuttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Dir is a temporary NUT configuration directory. It serves as
// NUT_CONFPATH, NUT_STATEPATH and NUT_ALTPIDPATH at once, so config files,
// driver sockets and pid files of one test all live in it and vanish with
// it. Its path is short (under os.TempDir) because driver sockets live in
// it and a unix socket path is limited to 108 bytes.
type Dir struct {
	Path string
}

// NewDir makes an empty configuration directory, removed when the test ends.
func NewDir(tb testing.TB) *Dir {
	tb.Helper()
	p, err := os.MkdirTemp("", "nut")
	if err != nil {
		tb.Fatalf("nuttest: %v", err)
	}
	// NUT drivers dropping privileges still need to reach their socket.
	if err := os.Chmod(p, 0o755); err != nil {
		tb.Fatalf("nuttest: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(p) })
	return &Dir{Path: p}
}

// Join returns the path of name inside the directory.
func (d *Dir) Join(name string) string { return filepath.Join(d.Path, name) }

// WriteFile writes a file into the directory.
func (d *Dir) WriteFile(tb testing.TB, name, content string) {
	tb.Helper()
	if err := os.WriteFile(d.Join(name), []byte(content), 0o644); err != nil {
		tb.Fatalf("nuttest: %v", err)
	}
}

// CopyFile copies src into the directory as name (a .dev or .seq file for
// dummy-ups, whose port is relative to the configuration directory).
func (d *Dir) CopyFile(tb testing.TB, src, name string) {
	tb.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		tb.Fatalf("nuttest: %v", err)
	}
	d.WriteFile(tb, name, string(b))
}

// Env is the environment for programs run on this directory: the test's
// own environment with NUT_CONFPATH, NUT_STATEPATH and NUT_ALTPIDPATH
// pointing here (any inherited NUT_* paths are dropped).
func (d *Dir) Env() []string {
	var env []string
	for _, e := range os.Environ() {
		switch {
		case strings.HasPrefix(e, "NUT_CONFPATH="), strings.HasPrefix(e, "NUT_STATEPATH="),
			strings.HasPrefix(e, "NUT_ALTPIDPATH="):
			continue
		}
		env = append(env, e)
	}
	return append(env, "NUT_CONFPATH="+d.Path, "NUT_STATEPATH="+d.Path, "NUT_ALTPIDPATH="+d.Path)
}

// Section is one [ups] section of ups.conf.
type Section struct {
	Name    string
	Driver  string
	Port    string
	Options []string // further lines, e.g. "pollinterval = 1", "desc = \"a UPS\""
}

// Socket is where the section's driver serves its state:
// STATEPATH/<driver>-<ups>.
func (d *Dir) Socket(s Section) string { return d.Join(s.Driver + "-" + s.Name) }

// WriteUPSConf writes ups.conf: the global lines first, then each section.
func (d *Dir) WriteUPSConf(tb testing.TB, global []string, sections ...Section) {
	tb.Helper()
	var b strings.Builder
	for _, g := range global {
		b.WriteString(g + "\n")
	}
	for _, s := range sections {
		fmt.Fprintf(&b, "[%s]\n\tdriver = %s\n\tport = %s\n", s.Name, s.Driver, s.Port)
		for _, o := range s.Options {
			b.WriteString("\t" + o + "\n")
		}
	}
	d.WriteFile(tb, "ups.conf", b.String())
}

// Run runs a program with the directory's environment; see Run.
func (d *Dir) Run(tb testing.TB, name string, args ...string) Result {
	tb.Helper()
	return Run(tb, d.Env(), name, args...)
}

// Start starts a program with the directory's environment; see StartProc.
func (d *Dir) Start(tb testing.TB, name string, args ...string) *Proc {
	tb.Helper()
	return StartProc(tb, d.Env(), name, args...)
}
