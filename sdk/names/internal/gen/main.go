// Command gen writes sdk/names/zz_generated.go: the NUT variable and
// instant-command tables, read from Appendix C ("NUT command and variable
// naming scheme") of the NUT user manual and corrected by a fixes file so
// that the descriptions are the ones NUT 2.8.0's upsd actually answers.
//
// Usage (see sdk/names/generate.go):
//
//	go run ./internal/gen -manual ../../../shared/nut-user-manual.txt \
//	    -fixes internal/gen/upsd-2.8.0.fixes -out zz_generated.go
//
// The manual is the source of the naming scheme; upsd's answers (which come
// from NUT's cmdvartab data file) are the source of the descriptions. The
// fixes file records every place where the two disagree, so the generated
// file shows each difference next to the entry it changes.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

func main() {
	manualPath := flag.String("manual", "", "NUT user manual as text (Appendix C is read)")
	fixesPath := flag.String("fixes", "", "corrections that make the descriptions match NUT 2.8.0's upsd")
	outPath := flag.String("out", "zz_generated.go", "Go file to write")
	flag.Parse()
	if *manualPath == "" || *fixesPath == "" {
		fmt.Fprintln(os.Stderr, "gen: -manual and -fixes are required")
		flag.Usage()
		os.Exit(2)
	}
	src, err := generateFiles(*manualPath, *fixesPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*outPath, src, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// generateFiles reads both inputs from disk and returns the Go source.
func generateFiles(manualPath, fixesPath string) ([]byte, error) {
	mf, err := os.Open(manualPath)
	if err != nil {
		return nil, err
	}
	defer mf.Close()
	ff, err := os.Open(fixesPath)
	if err != nil {
		return nil, err
	}
	defer ff.Close()
	m, err := parseManual(mf, manualPath)
	if err != nil {
		return nil, err
	}
	fixes, err := parseFixes(ff, fixesPath)
	if err != nil {
		return nil, err
	}
	return generate(m, fixes, filepath.Base(manualPath), filepath.Base(fixesPath))
}

// row is one line of an Appendix C table.
type row struct {
	name, desc string
	line       int
}

// specRow is one three-phase SPEC from "Valid SPECS".
type specRow struct {
	row
	withContext bool // listed under "Valid with/without context"
}

// manual is what Appendix C yields.
type manual struct {
	vars     []row     // C.1 rows; names may hold the placeholders n, x, xxx
	cmds     []row     // C.2 rows
	specs    []specRow // three-phase SPECs (no domain)
	examples []string  // names shown in the appendix's example blocks
}

var (
	// nameRE: dot-separated segments of letters, digits, '_' and '-'.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
	// exampleRE matches "name: value" lines inside example blocks.
	exampleRE = regexp.MustCompile(`^([a-z][A-Za-z0-9_.-]*[A-Za-z0-9]): `)
)

// parseManual extracts the tables of Appendix C from the text rendering of
// the NUT user manual. Tables there are tab-separated lines
// "name<TAB>description[<TAB>example]" under headings; page breaks repeat
// the "Name<TAB>Description" header, which is skipped.
func parseManual(r io.Reader, fileName string) (*manual, error) {
	m := &manual{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	const (
		before = iota
		inVars
		inSpecs
		inCmds
		after
	)
	state := before
	withContext := false
	inFence := false
	seenExample := map[string]bool{}
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case state == before && strings.HasPrefix(line, "## C NUT command and variable naming scheme"):
			state = inVars
			continue
		case state == before:
			continue
		case strings.HasPrefix(line, "## D "):
			state = after
		case strings.Contains(trimmed, "C.2 Instant commands") && strings.HasPrefix(trimmed, "#"):
			state = inCmds
			continue
		case state == inVars && strings.HasPrefix(trimmed, "#") && strings.Contains(trimmed, "Valid SPECS"):
			state = inSpecs
			continue
		case state == inSpecs && strings.HasPrefix(trimmed, "#") && strings.Contains(trimmed, "C.1.6"):
			state = inVars
			continue
		case state == inSpecs && strings.HasPrefix(trimmed, "Valid with/without context"):
			withContext = true
			continue
		case state == inSpecs && strings.HasPrefix(trimmed, "Valid without context"):
			withContext = false
			continue
		}
		if state == after {
			break
		}
		if strings.HasPrefix(trimmed, "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			if mm := exampleRE.FindStringSubmatch(trimmed); mm != nil && !seenExample[mm[1]] {
				seenExample[mm[1]] = true
				m.examples = append(m.examples, mm[1])
			}
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) < 2 || fields[0] == "Name" {
			continue
		}
		name, desc := strings.TrimSpace(fields[0]), strings.TrimSpace(fields[1])
		if !nameRE.MatchString(name) || desc == "" {
			return nil, fmt.Errorf("%s:%d: table row %q: want name<TAB>description", fileName, lineNo, line)
		}
		rw := row{name: name, desc: desc, line: lineNo}
		switch state {
		case inVars:
			m.vars = append(m.vars, rw)
		case inSpecs:
			m.specs = append(m.specs, specRow{row: rw, withContext: withContext})
		case inCmds:
			m.cmds = append(m.cmds, rw)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", fileName, err)
	}
	if state == before {
		return nil, fmt.Errorf("%s: Appendix C (\"## C NUT command and variable naming scheme\") not found", fileName)
	}
	if len(m.vars) == 0 || len(m.cmds) == 0 || len(m.specs) == 0 {
		return nil, fmt.Errorf("%s: Appendix C yielded %d variables, %d commands, %d three-phase specs; the text layout changed",
			fileName, len(m.vars), len(m.cmds), len(m.specs))
	}
	return m, nil
}

// isPattern reports whether a manual name holds a placeholder segment:
// "n" (an index), "x" (an index) or "xxx" (a free name).
func isPattern(name string) bool {
	for _, seg := range strings.Split(name, ".") {
		if seg == "n" || seg == "x" || seg == "xxx" {
			return true
		}
	}
	return false
}

// fix is one line of the fixes file.
type fix struct {
	kind   string // "var" or "cmd"
	name   string
	desc   string
	remove bool // upsd has no description for this manual name
	line   int
}

// parseFixes reads lines of the form
//
//	var NAME "description"   (upsd answers this; Go string syntax)
//	var NAME -               (upsd answers "Description unavailable")
//	cmd NAME "description" / cmd NAME -
//
// Blank lines and lines starting with # are ignored.
func parseFixes(r io.Reader, fileName string) ([]fix, error) {
	var out []fix
	sc := bufio.NewScanner(r)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kind, rest, _ := strings.Cut(line, " ")
		name, value, _ := strings.Cut(strings.TrimSpace(rest), " ")
		value = strings.TrimSpace(value)
		if kind != "var" && kind != "cmd" {
			return nil, fmt.Errorf("%s:%d: %q: want \"var\" or \"cmd\" first", fileName, lineNo, line)
		}
		if !nameRE.MatchString(name) || isPattern(name) {
			return nil, fmt.Errorf("%s:%d: %q is not a literal variable or command name", fileName, lineNo, name)
		}
		f := fix{kind: kind, name: name, line: lineNo}
		if value == "-" {
			f.remove = true
		} else {
			d, err := strconv.Unquote(value)
			if err != nil || !strings.HasPrefix(value, `"`) {
				return nil, fmt.Errorf("%s:%d: description %s: want a double-quoted Go string or -", fileName, lineNo, value)
			}
			f.desc = d
		}
		out = append(out, f)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", fileName, err)
	}
	return out, nil
}

// tableEntry is one generated description with where it came from.
type tableEntry struct {
	name, desc string
	note       string // comment in the generated file
}

// buildTable starts from the manual's literal rows and applies the fixes of
// one kind. Each fix must change something, so the fixes file cannot drift
// into restating the manual.
func buildTable(kind string, rows []row, fixes []fix, manualName, fixesName string) ([]tableEntry, error) {
	byKey := map[string]*tableEntry{}
	manualDesc := map[string]string{}
	for _, r := range rows {
		if isPattern(r.name) {
			continue
		}
		key := lower(r.name)
		if prev, ok := byKey[key]; ok {
			if prev.desc != r.desc {
				return nil, fmt.Errorf("%s:%d: %s %s listed twice with different descriptions", manualName, r.line, kind, r.name)
			}
			continue
		}
		byKey[key] = &tableEntry{name: r.name, desc: r.desc}
		manualDesc[key] = r.desc
	}
	fixed := map[string]int{}
	for _, f := range fixes {
		if f.kind != kind {
			continue
		}
		key := lower(f.name)
		if prevLine, dup := fixed[key]; dup {
			return nil, fmt.Errorf("%s:%d: %s %s already fixed at line %d", fixesName, f.line, kind, f.name, prevLine)
		}
		fixed[key] = f.line
		md, inManual := manualDesc[key]
		switch {
		case f.remove && !inManual:
			return nil, fmt.Errorf("%s:%d: %s %s is not a literal name in the manual; nothing to remove", fixesName, f.line, kind, f.name)
		case f.remove:
			delete(byKey, key)
		case inManual && md == f.desc:
			return nil, fmt.Errorf("%s:%d: %s %s: the manual already says %q; drop this fix", fixesName, f.line, kind, f.name, md)
		case inManual:
			byKey[key] = &tableEntry{name: f.name, desc: f.desc, note: "manual: " + strconv.Quote(md)}
		default:
			byKey[key] = &tableEntry{name: f.name, desc: f.desc, note: "not in the manual"}
		}
	}
	out := make([]tableEntry, 0, len(byKey))
	for _, e := range byKey {
		// upsd sends descriptions unescaped inside double quotes.
		if strings.ContainsAny(e.desc, "\"\\") || strings.IndexFunc(e.desc, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
			return nil, fmt.Errorf("%s %s: description %q holds a quote, backslash or non-printable byte, which upsd would send unescaped", kind, e.name, e.desc)
		}
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// lower folds ASCII letters only, as strcasecmp does in upsd's C locale.
func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func generate(m *manual, fixes []fix, manualName, fixesName string) ([]byte, error) {
	vars, err := buildTable("var", m.vars, fixes, manualName, fixesName)
	if err != nil {
		return nil, err
	}
	cmds, err := buildTable("cmd", m.cmds, fixes, manualName, fixesName)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by internal/gen from %s (Appendix C) and internal/gen/%s. DO NOT EDIT.\n\n", manualName, fixesName)
	b.WriteString("package names\n\n")

	b.WriteString("// varTable is what NUT 2.8.0's upsd answers to GET DESC, sorted by name.\n")
	b.WriteString("// A comment marks each entry that differs from the manual.\n")
	writeTable(&b, "varTable", vars)
	b.WriteString("// cmdTable is what NUT 2.8.0's upsd answers to GET CMDDESC, sorted by name.\n")
	b.WriteString("// A comment marks each entry that differs from the manual.\n")
	writeTable(&b, "cmdTable", cmds)

	b.WriteString("// manualVars are the variable rows of the manual's Appendix C in its order.\n")
	b.WriteString("// In names, the segments n and x stand for an index and xxx for any name.\n")
	writeRows(&b, "manualVars", m.vars)
	b.WriteString("// manualCmds are the instant-command rows of the manual's Appendix C.\n")
	writeRows(&b, "manualCmds", m.cmds)

	b.WriteString("// manualPhaseSpecs are the three-phase SPECs of Appendix C (C.1.5):\n")
	b.WriteString("// withContext ones are valid as DOMAIN.SPEC and DOMAIN.CONTEXT.SPEC,\n")
	b.WriteString("// the others only as DOMAIN.SPEC.\n")
	b.WriteString("var manualPhaseSpecs = []phaseSpec{\n")
	for _, s := range m.specs {
		fmt.Fprintf(&b, "\t{%q, %q, %t},\n", s.name, s.desc, s.withContext)
	}
	b.WriteString("}\n\n")

	b.WriteString("// manualExamples are the names shown in Appendix C's example blocks.\n")
	b.WriteString("var manualExamples = []string{\n")
	for _, e := range m.examples {
		fmt.Fprintf(&b, "\t%q,\n", e)
	}
	b.WriteString("}\n")

	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, errors.Join(errors.New("formatting generated code"), err)
	}
	return src, nil
}

func writeTable(b *bytes.Buffer, name string, entries []tableEntry) {
	fmt.Fprintf(b, "var %s = []entry{\n", name)
	for _, e := range entries {
		fmt.Fprintf(b, "\t{%q, %q},", e.name, e.desc)
		if e.note != "" {
			fmt.Fprintf(b, " // %s", e.note)
		}
		b.WriteString("\n")
	}
	b.WriteString("}\n\n")
}

func writeRows(b *bytes.Buffer, name string, rows []row) {
	fmt.Fprintf(b, "var %s = []entry{\n", name)
	seen := map[string]bool{}
	for _, r := range rows {
		// The manual lists outlet.n.shutdown.return twice; keep the first.
		if seen[r.name] {
			continue
		}
		seen[r.name] = true
		fmt.Fprintf(b, "\t{%q, %q},\n", r.name, r.desc)
	}
	b.WriteString("}\n\n")
}
