package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// The manual sits in the shared reference files beside the repository
// (/work/shared next to /work/main).
const manualPath = "../../../../../shared/nut-user-manual.txt"

// TestGeneratedIsUpToDate regenerates the table and compares it with the
// committed zz_generated.go.
func TestGeneratedIsUpToDate(t *testing.T) {
	if _, err := os.Stat(manualPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the NUT user manual is required in CI: %v", err)
		}
		t.Skipf("NUT user manual not found: %v", err)
	}
	got, err := generateFiles(manualPath, "upsd-2.8.0.fixes")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../zz_generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("sdk/names/zz_generated.go is stale: run go generate in sdk/names")
	}
}

const sampleManual = "intro\tnot\ta table\n" +
	"## C NUT command and variable naming scheme\n" +
	"#### C.1.1 device: General unit information\n" +
	"Name\tDescription\tExample value\n" +
	"device.model\tDevice model\tBladeUPS\n" +
	"ups.load\tLoad on UPS (percent)\t023.4\n" +
	"ups.gone\tOnly in the manual\t1\n" +
	"### Valid SPECS\n" +
	"Valid with/without context (i.e. per phase or aggregated/averaged)\n" +
	"Name\tDescription\n" +
	"current\tCurrent (A)\n" +
	"Valid without context (i.e. aggregation of all phases):\n" +
	"frequency\tFrequency (Hz)\n" +
	"### C.1.6 EXAMPLES\n" +
	"```\n" +
	"input.L1.current: 133.0\n" +
	"```\n" +
	"outlet.n.id\tOutlet system identifier (opaque string)\t1\n" +
	"## C.2 Instant commands\n" +
	"Name\tDescription\n" +
	"load.off\tTurn off the load immediately\n" +
	"outlet.n.load.off\tTurn off the outlet immediately\n" +
	"## D Hardware Compatibility List\n" +
	"after\tthe\tappendix\n"

func TestParseManual(t *testing.T) {
	m, err := parseManual(strings.NewReader(sampleManual), "sample")
	if err != nil {
		t.Fatal(err)
	}
	names := func(rows []row) string {
		var s []string
		for _, r := range rows {
			s = append(s, r.name+"="+r.desc)
		}
		return strings.Join(s, "|")
	}
	if got, want := names(m.vars), "device.model=Device model|ups.load=Load on UPS (percent)|ups.gone=Only in the manual|outlet.n.id=Outlet system identifier (opaque string)"; got != want {
		t.Errorf("vars = %s\nwant %s", got, want)
	}
	if got, want := names(m.cmds), "load.off=Turn off the load immediately|outlet.n.load.off=Turn off the outlet immediately"; got != want {
		t.Errorf("cmds = %s\nwant %s", got, want)
	}
	if len(m.specs) != 2 || m.specs[0].name != "current" || !m.specs[0].withContext ||
		m.specs[1].name != "frequency" || m.specs[1].withContext {
		t.Errorf("specs = %+v", m.specs)
	}
	if strings.Join(m.examples, ",") != "input.L1.current" {
		t.Errorf("examples = %v", m.examples)
	}
}

func TestParseManualErrors(t *testing.T) {
	for name, text := range map[string]string{
		"no appendix":  "just text\n",
		"empty tables": "## C NUT command and variable naming scheme\n## D x\n",
		"bad row":      "## C NUT command and variable naming scheme\nups load\tLoad\n",
	} {
		if _, err := parseManual(strings.NewReader(text), "m.txt"); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), "m.txt") {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
}

func TestGenerate(t *testing.T) {
	m, err := parseManual(strings.NewReader(sampleManual), "sample")
	if err != nil {
		t.Fatal(err)
	}
	fixes, err := parseFixes(strings.NewReader(`
# comment
var ups.load "Load on UPS (percent of full)"
var ups.gone -
var outlet.1.id "Outlet system identifier"
cmd beeper.on "Obsolete (use beeper.enable)"
`), "f.fixes")
	if err != nil {
		t.Fatal(err)
	}
	src, err := generate(m, fixes, "sample", "f.fixes")
	if err != nil {
		t.Fatal(err)
	}
	// Compare with gofmt's alignment of comments squeezed out.
	out := strings.Join(strings.Fields(string(src)), " ")
	for _, want := range []string{
		`{"device.model", "Device model"},`,
		`{"ups.load", "Load on UPS (percent of full)"}, // manual: "Load on UPS (percent)"`,
		`{"outlet.1.id", "Outlet system identifier"}, // not in the manual`,
		`{"beeper.on", "Obsolete (use beeper.enable)"}, // not in the manual`,
		`{"outlet.n.id", "Outlet system identifier (opaque string)"},`,
		`{"current", "Current (A)", true},`,
		`"input.L1.current",`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("generated code lacks %s\n%s", want, out)
		}
	}
	varTable := out[strings.Index(out, "var varTable"):strings.Index(out, "var cmdTable")]
	for _, absent := range []string{"ups.gone", "outlet.n.id"} {
		if strings.Contains(varTable, absent) {
			t.Errorf("varTable holds %s:\n%s", absent, varTable)
		}
	}
}

func TestFixErrors(t *testing.T) {
	m, err := parseManual(strings.NewReader(sampleManual), "sample")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ fixes, want string }{
		{`val ups.load "x"`, `want "var" or "cmd"`},
		{`var ups.load x`, "double-quoted"},
		{`var ups.load`, "double-quoted"},
		{`var outlet.n.id "x"`, "not a literal"},
		{`var ups..load "x"`, "not a literal"},
		{`var ups.load "Load on UPS (percent)"`, "drop this fix"},
		{`var ups.new -`, "nothing to remove"},
		{"var ups.load \"a\"\nvar UPS.LOAD \"b\"", "already fixed at line 1"},
		{`var ups.new "say \"hi\""`, "unescaped"},
		{`cmd load.off "Turn off the load immediately"`, "drop this fix"},
	} {
		fixes, err := parseFixes(strings.NewReader(tc.fixes), "f.fixes")
		if err == nil {
			_, err = generate(m, fixes, "sample", "f.fixes")
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("fixes %q: error %v, want one containing %q", tc.fixes, err, tc.want)
		}
	}
}
