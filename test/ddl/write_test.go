package ddl

import (
	"strings"
	"testing"

	"github.com/gonut/gonut/internal/nuttest"
)

// TestWritesMatchNUT sends the same SETs and instant commands to a dump
// served by NUT and by gonut, with NUT's upsrw and upscmd waiting for each
// result, and compares every answer and the state they leave.
func TestWritesMatchNUT(t *testing.T) {
	if testing.Short() {
		t.Skip("runs NUT and gonut stacks")
	}
	nuttest.RequireNUT(t)
	lib := nuttest.DDLDir(t)
	dv := device{file: "APC__Back-UPS_CS_500__usbhid-ups__2.8.0__01.dev", ups: "cs500", desc: "APC Back-UPS CS 500"}
	nuttest.DDL(t, dv.file)
	users := "[admin]\n\tpassword = secret\n\tactions = SET FSD\n\tinstcmds = all\n"
	nut, gonut := startBatch(t, lib, []device{dv}, users)
	admin := []string{"-u", "admin", "-p", "secret"}
	target := dv.ups + "@%s"
	steps := []struct {
		what string
		prog string
		args []string
	}{
		{"instcmd load.off", nuttest.NUTUpscmd, append(admin, "-w", target, "load.off")},
		{"instcmd load.off with a value", nuttest.NUTUpscmd, append(admin, "-w", target, "load.off", "5")},
		{"instcmd not announced", nuttest.NUTUpscmd, append(admin, "-w", target, "load.on")},
		{"set a number", nuttest.NUTUpsrw, append(admin, "-w", "-s", "battery.charge=42", target)},
		{"set a string", nuttest.NUTUpsrw, append(admin, "-w", "-s", "ups.mfr=Someone Else", target)},
		{"set the status", nuttest.NUTUpsrw, append(admin, "-w", "-s", "ups.status=OB LB", target)},
		{"set empty deletes", nuttest.NUTUpsrw, append(admin, "-w", "-s", "battery.mfr.date=", target)},
		{"set too long", nuttest.NUTUpsrw, append(admin, "-w", "-s", "ups.firmware=0123456789abcdefXYZ", target)},
		{"set read-only", nuttest.NUTUpsrw, append(admin, "-w", "-s", "driver.name=x", target)},
		{"set unknown", nuttest.NUTUpsrw, append(admin, "-w", "-s", "no.such.var=1", target)},
		{"state after", nuttest.NUTUpsc, []string{target}},
		{"writable variables after", nuttest.NUTUpsrw, []string{target}},
	}
	for _, st := range steps {
		r := compareOne(nut, gonut, check{dev: dv, what: st.what, prog: st.prog, args: st.args})
		t.Logf("%s: NUT answers %q", st.what, strings.TrimSpace(r.nut))
		if r.diff != "" {
			t.Errorf("%s (%s %s) differs:\n%s", st.what, st.prog, strings.Join(st.args, " "), r.diff)
		}
	}
}
