package tools

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/client"
	"github.com/gonut/gonut/client/clienttest"
	"github.com/gonut/gonut/internal/nuttest"
)

// TestClientTestUPSDMatchesNUT checks the fake upsd that the unit tests of
// the client library, upscmd and upsrw run against (clienttest.UPSD): set
// up with the [rw] UPS as NUT's upsd serves it and the same users, it must
// answer a transcript of sessions (the read path, credentials in every
// order, SET VAR with each refusal, INSTCMD, tracking, LOGIN, PRIMARY,
// FSD) with NUT 2.8.0's exact lines, tracking ids aside.
func TestClientTestUPSDMatchesNUT(t *testing.T) {
	l := startLab(t)
	fake := mirror(t, l.nut.Addr(), fakeUPS)
	for _, u := range []clienttest.User{
		{Name: "admin", Password: "s3cret", Actions: []string{"SET", "FSD"}, InstCmds: []string{"all"}},
		{Name: "cmdonly", Password: "pw", InstCmds: []string{"load.off", cmdOK}},
		{Name: "setonly", Password: "pw", Actions: []string{"SET"}},
		{Name: "nobody", Password: "pw"},
		{Name: "monuser", Password: "pw", Upsmon: "primary"},
	} {
		fake.AddUser(u)
	}
	fake.SetResult(fakeUPS, cmdFailed, 0, "ERR FAILED")
	fake.SetResult(fakeUPS, cmdInvalid, 0, "ERR INVALID-ARGUMENT")
	fake.SetResult(fakeUPS, cmdUnknown, 0, "ERR UNKNOWN")
	fakeAddr := fake.Start(t).Addr

	sessions := [][]string{
		{
			"GET VAR rw ups.status", "GET VAR RW ups.status", "GET VAR rw nope.var", "GET VAR nope ups.status",
			"GET TYPE rw ups.id", "GET TYPE rw input.sensitivity", "GET TYPE rw input.transfer.low",
			"GET TYPE rw ups.delay.start", "GET TYPE rw device.mfr", "GET TYPE rw nope.var",
			"LIST VAR rw", "LIST RW rw", "LIST CMD rw", "LIST ENUM rw input.sensitivity",
			"LIST ENUM rw outlet.1.delay.shutdown", "LIST RANGE rw input.transfer.low", "LIST ENUM rw ups.id",
			"LIST ENUM rw nope.var", "LIST VAR nope", "GET UPSDESC rw", "GET NUMLOGINS rw",
			"GET TRACKING", "GET TRACKING 12345", "NETVER", "PROTVER",
			"SET VAR rw ups.id x", "INSTCMD rw " + cmdOK, "LOGIN rw", "FSD rw", "PRIMARY rw",
		},
		{
			"USERNAME admin", "SET VAR rw ups.id x", "USERNAME admin", "USERNAME", "PASSWORD s3cret", "PASSWORD again",
			`SET VAR rw ups.id "two words"`, "SET VAR rw ups.status OB", "SET VAR rw nope.var 1",
			"SET VAR rw input.sensitivity extreme", "SET VAR rw input.sensitivity low",
			"SET VAR rw input.transfer.low 93", "SET VAR rw input.transfer.low 90", "SET VAR rw input.transfer.low abc",
			"SET VAR rw outlet.1.delay.shutdown 45", "SET VAR rw ups.id 0123456789abcdefX",
			"SET VAR rw ups.beeper.status x", "SET VAR nope ups.id x", "SET VAR rw ups.id", "SET VAR rw", "SET BOGUS",
			"INSTCMD rw load.on", "INSTCMD rw " + cmdOK, "INSTCMD rw " + cmdParam + " 30", "INSTCMD nope x", "INSTCMD rw",
			"LOGIN rw", "PRIMARY rw", "MASTER rw",
			"SET TRACKING BOGUS", "SET TRACKING ON", "GET TRACKING",
			"INSTCMD rw " + cmdFailed, "GET TRACKING {id}",
			"INSTCMD rw " + cmdInvalid, "GET TRACKING {id}",
			"INSTCMD rw " + cmdUnknown, "GET TRACKING {id}",
			"INSTCMD rw " + cmdOK, "GET TRACKING {id}",
			"SET VAR rw ups.id tracked", "GET TRACKING {id}",
			"SET VAR rw input.sensitivity extreme", "GET TRACKING 00000000-0000-4000-8000-000000000000",
			"SET TRACKING OFF", "GET TRACKING {id}", "GET TRACKING",
		},
		{"USERNAME cmdonly", "PASSWORD pw", "INSTCMD rw " + cmdOK, "INSTCMD rw " + cmdFailed, "SET VAR rw ups.id x", "FSD rw"},
		{"PASSWORD pw", "USERNAME setonly", "SET VAR rw ups.id y", "INSTCMD rw " + cmdOK},
		{"USERNAME admin", "PASSWORD wrong", "SET VAR rw ups.id x", "INSTCMD rw " + cmdOK, "FSD rw"},
		{"USERNAME nosuchuser", "PASSWORD s3cret", "SET VAR rw ups.id x", "LOGIN rw"},
		{"USERNAME nobody", "PASSWORD pw", "SET VAR rw ups.id x", "INSTCMD rw " + cmdOK, "LOGIN rw"},
		{"USERNAME monuser", "PASSWORD pw", "LOGIN nope", "LOGIN rw", "LOGIN rw", "PRIMARY rw", "MASTER rw", "PRIMARY nope",
			"SET VAR rw ups.id x", "FSD rw", "GET VAR rw ups.status", "LOGOUT"},
	}
	for i, requests := range sessions {
		want := transcript(t, l.nut.Addr(), requests)
		got := transcript(t, fakeAddr, requests)
		if d := nuttest.Diff(want, got); d != "" {
			t.Errorf("session %d: clienttest.UPSD differs from NUT's upsd (- NUT, + fake):\n%s", i+1, d)
		}
	}
}

// mirror builds a clienttest.UPSD serving ups as the upsd at addr serves
// it: its variables, types, ENUM and RANGE values, commands and desc.
func mirror(t *testing.T, addr, ups string) *clienttest.UPSD {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := clienttest.Device{Name: ups, Types: map[string]string{}, Enums: map[string][]string{}, Ranges: map[string][][2]string{}}
	if d.Desc, err = c.GetUPSDesc(ctx, ups); err != nil {
		t.Fatal(err)
	}
	vars, err := c.ListVars(ctx, ups)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		d.Vars = append(d.Vars, [2]string{v.Name, v.Value})
		typ, err := c.GetType(ctx, ups, v.Name)
		if err != nil {
			t.Fatal(err)
		}
		d.Types[v.Name] = strings.Join(typ.Flags, " ")
		if typ.Enum {
			if d.Enums[v.Name], err = c.ListEnum(ctx, ups, v.Name); err != nil {
				t.Fatal(err)
			}
		}
		if typ.Range {
			rs, err := c.ListRange(ctx, ups, v.Name)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				d.Ranges[v.Name] = append(d.Ranges[v.Name], [2]string{r.Min, r.Max})
			}
		}
	}
	if d.Cmds, err = c.ListCmds(ctx, ups); err != nil {
		t.Fatal(err)
	}
	return clienttest.NewUPSD(d)
}

// transcript sends requests on one connection and returns every reply
// line. A tracking id in "OK TRACKING <id>" is replaced by {id}, and
// "{id}" in a request stands for the last one; GET TRACKING {id} is asked
// again while the answer is PENDING (drivers answer in their own time).
func transcript(t *testing.T, addr string, requests []string) string {
	t.Helper()
	c := nuttest.Dial(t, addr)
	var b strings.Builder
	id := "none"
	for _, req := range requests {
		line := strings.ReplaceAll(req, "{id}", id)
		b.WriteString("> " + req + "\n")
		var reply []string
		var err error
		for try := 0; ; try++ {
			if strings.HasPrefix(req, "LIST ") {
				reply, err = c.List(line)
			} else {
				var l string
				l, err = c.Cmd(line)
				reply = []string{l}
			}
			if err != nil {
				t.Fatalf("%s: %s: %v", addr, line, err)
			}
			if !strings.Contains(req, "{id}") || reply[0] != "PENDING" || try == 200 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, r := range reply {
			if rest, ok := strings.CutPrefix(r, "OK TRACKING "); ok {
				id, r = rest, "OK TRACKING {id}"
			}
			b.WriteString(r + "\n")
		}
		if req == "LOGOUT" {
			break
		}
	}
	return b.String()
}
