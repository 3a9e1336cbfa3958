// Package upsc_test compares gonut's upsc with NUT 2.8.0's, byte for byte,
// against NUT's own upsd fed by NUT's C dummy-ups with device dumps from the
// NUT DDL: every form, every error upsc reports, stdout, stderr and exit
// status. It also checks the client library's answers against the raw
// protocol lines of the same upsd.
package upsc_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonut/gonut/client"
	"github.com/gonut/gonut/sdk/nutconf"
)

// nssBanner is what Debian's NSS-built NUT clients print on stderr on
// every connection. gonut does not use NSS and does not print it (see
// tools/upsc/README.md); it is removed from NUT's output before comparing.
const nssBanner = "Init SSL without certificate database\n"

// hostileDev is a device dump with values that test quoting and escaping
// end to end: quotes, backslashes, '#', '=', runs of blanks, a long value.
const hostileDev = `device.mfr: "Quote \"Inc\""
device.model: back\\slash and \# hash
device.serial: a=b c==d
ups.id: "  leading and trailing  "
ups.firmware: "semi;colon 'single' {braces} [brackets] <angle> 100%"
ups.test.result: "` + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz" + `"
ups.status: OL
battery.charge: 100
output.voltage: 230 # a comment
`

func TestDifferentialUpsc(t *testing.T) {
	requireNUT(t)
	gonut := buildUpsc(t)

	hostile := filepath.Join(t.TempDir(), "hostile.dev")
	writeFile(t, hostile, hostileDev)
	small := ddl(t, "APC__Back-UPS_CS_500__usbhid-ups__2.8.0__01.dev")
	sections := []section{
		{name: "apc", port: ddl(t, "APC__Back-UPS_ES_750__usbhid-ups__2.6.4__01.dev"), desc: `"APC Back-UPS \"ES\" 750"`},
		{name: "hp", port: ddl(t, "HP__R3000_XR__bcmxcp__2.4.3__01.dev")}, // non-ASCII bytes
		{name: "pw", port: ddl(t, "Powerware__PW5110__bcmxcp_usb__2.6.3__01.dev"), desc: `"back\\slash \# not a comment"`},
		{name: "mx", port: ddl(t, "APC__Matrix-UPS_3000__apcsmart__1.4.0__01.dev")},  // a value ending in a backslash
		{name: "pdu", port: ddl(t, "Eaton__EPDU_MI_38U-A__snmp-ups__2.7.4__01.dev")}, // a long list
		{name: "hostile", port: hostile, desc: `"desc with \"quotes\", \\ and \# and = signs"`},
		{name: "gone", port: small},  // its driver is killed: DRIVER-NOT-CONNECTED
		{name: "stale", port: small}, // its driver is frozen: DATA-STALE
	}
	const maxage = 3
	l := startLab(t, sections, maxage)
	H := l.host()
	env := append(os.Environ(), "LC_ALL=C")

	// A logged-in client, so that upsc -c has something to list.
	ctx := context.Background()
	mon, err := client.Dial(ctx, H)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	for _, step := range []error{mon.Username(ctx, "mon"), mon.Password(ctx, "monpass"), mon.Login(ctx, "apc")} {
		if step != nil {
			t.Fatalf("log in to upsd as upsmon: %v", step)
		}
	}

	closedPort := strconv.Itoa(freePort(t)) // nothing listens there

	compare := func(t *testing.T, args ...string) {
		t.Helper()
		want, err := runUpsc(t, realUpsc, env, args...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := runUpsc(t, gonut, env, args...)
		if err != nil {
			t.Fatal(err)
		}
		want.stderr = strings.ReplaceAll(want.stderr, nssBanner, "")
		if got != want {
			t.Errorf("upsc %q differs\n=== NUT 2.8.0:\n%v\n=== gonut:\n%v", args, want, got)
		}
	}
	forms := [][]string{
		{"-l", H}, {"-L", H}, {"-lL", H}, {"-c", "-l", H}, {"-l", H, "extra"},
		{"-c", "apc@" + H}, {"-c", "APC@" + H}, {"-c", "hp@" + H}, {"-c", "apc@" + H, "extra"},
		{"APC@" + H, "ups.status"}, {"apc@" + H, "device.model"}, {"apc@" + H, "ups.status", "extra"},
		{"apc@" + H, "nope.var"}, {"apc@" + H, "novar"}, {"apc@" + H, ""}, {"apc@" + H, "a b.c"},
		{"apc@" + H, `"ups.status"`}, {"mx@" + H, "ups.id"}, {"hp@" + H, "device.serial"},
		{"hostile@" + H, "ups.test.result"}, {"hostile@" + H, "device.mfr"},
		{"nope@" + H}, {"nope@" + H, "ups.status"}, {"-c", "nope@" + H}, {"nope@" + H, "novar"},
		{"a b@" + H}, {`a"b@` + H},
	}
	for _, s := range sections {
		forms = append(forms, []string{s.name + "@" + H})
	}
	if l.v6 {
		v6 := "[::1]:" + strconv.Itoa(l.port)
		forms = append(forms, []string{"-L", v6}, []string{"apc@" + v6, "ups.status"}, []string{"-c", "apc@" + v6})
	}
	// Argument handling and errors before any connection.
	forms = append(forms, [][]string{
		{}, {"-h"}, {"-lh"}, {"-x"}, {"-y"}, {"-l", "-x", H}, {"--foo"}, {"-c"}, {"--"},
		{""}, {"ups@"}, {"ups@host:"}, {"ups@host:0"}, {"ups@host:99999"}, {"ups@host:abc"},
		{"ups@[::1"}, {"ups@[::1]:"}, {"ups@::1"}, {"-l", ""}, {"-l", "host:"}, {"-l", "[::1"}, {"-c", ""},
		{"ups@127.0.0.1:" + closedPort}, {"-l", "127.0.0.1:" + closedPort}, {"-c", "ups@127.0.0.1:" + closedPort},
		{"ups@127.0.0.1:" + closedPort, "novar"},
	}...)
	for _, args := range forms {
		t.Run(strings.Join(args, " "), func(t *testing.T) { compare(t, args...) })
	}

	t.Run("-V", func(t *testing.T) {
		want, _ := runUpsc(t, realUpsc, env, "-V")
		got, _ := runUpsc(t, gonut, env, "-V")
		// NUT 2.8.0 calls itself "upscmd" here: a typo gonut fixes.
		want.stderr = strings.Replace(want.stderr, "upscmd", "upsc", 1)
		if got != want {
			t.Errorf("upsc -V differs\n=== NUT 2.8.0 (typo fixed):\n%v\n=== gonut:\n%v", want, got)
		}
	})

	t.Run("unknown host", func(t *testing.T) {
		args := []string{"ups@nonexistent.invalid:" + strconv.Itoa(l.port)}
		want, err := runUpsc(t, realUpsc, env, args...)
		if err != nil {
			// NUT retries EAI_AGAIN forever: no answer means no DNS here.
			t.Skipf("NUT's upsc cannot resolve names here: %v", err)
		}
		got, err := runUpsc(t, gonut, env, args...)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("upsc %q differs\n=== NUT 2.8.0:\n%v\n=== gonut:\n%v", args, want, got)
		}
	})

	t.Run("library", func(t *testing.T) { checkLibrary(t, H, sections) })

	// A killed driver: upsd answers DRIVER-NOT-CONNECTED.
	l.killDriver(t, "gone")
	waitFor(t, env, "gone@"+H, "Error: Driver not connected\n")
	for _, args := range [][]string{{"gone@" + H}, {"gone@" + H, "ups.status"}, {"-c", "gone@" + H}, {"-L", H}} {
		t.Run("driver gone "+strings.Join(args, " "), func(t *testing.T) { compare(t, args...) })
	}

	// A frozen driver: DATA-STALE after MAXAGE.
	l.freezeDriver(t, "stale")
	waitFor(t, env, "stale@"+H, "Error: Data stale\n")
	for _, args := range [][]string{{"stale@" + H}, {"stale@" + H, "ups.status"}, {"-c", "stale@" + H}, {"-l", H}} {
		t.Run("data stale "+strings.Join(args, " "), func(t *testing.T) { compare(t, args...) })
	}
}

// waitFor polls NUT's upsc until it prints want on stderr (a driver's death
// reaches upsd within a few seconds; staleness after MAXAGE).
func waitFor(t *testing.T, env []string, ups, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := runUpsc(t, realUpsc, env, ups, "ups.status")
		if err == nil && strings.ReplaceAll(r.stderr, nssBanner, "") == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("upsc %s never said %q; last: %v %v", ups, want, r, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rawSession sends requests to upsd over a plain connection and returns
// each reply's lines split into words: the reference the library's answers
// are checked against.
type rawSession struct {
	conn net.Conn
	br   *bufio.Reader
}

func (r *rawSession) lines(t *testing.T, req string) [][]string {
	t.Helper()
	if _, err := fmt.Fprintf(r.conn, "%s\n", req); err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", req, err)
		}
		words, _ := nutconf.Split(line)
		out = append(out, words)
		if !strings.HasPrefix(req, "LIST") || (len(words) >= 2 && words[0] == "END") || words[0] == "ERR" {
			return out
		}
	}
}

// replyWords sends a GET and returns its reply's words from index from on.
// A shorter reply (an ERR, say, when the data went stale under load) fails
// the test with the reply instead of panicking on the index.
func replyWords(t *testing.T, r *rawSession, req string, from int) []string {
	t.Helper()
	first := r.lines(t, req)[0]
	if len(first) <= from {
		t.Fatalf("%s: unexpected reply %q", req, first)
	}
	return first[from:]
}

// checkLibrary compares the client library's answers for every helper with
// the raw replies of NUT's upsd.
func checkLibrary(t *testing.T, host string, sections []section) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw := &rawSession{conn: conn, br: bufio.NewReader(conn)}

	same := func(what string, got, want any, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v\nraw protocol says %#v", what, got, want)
		}
	}
	items := func(req string, from int) [][]string {
		ls := raw.lines(t, req)
		var out [][]string
		for _, w := range ls[1 : len(ls)-1] {
			out = append(out, w[from:])
		}
		return out
	}

	v, err := c.Version(ctx)
	same("Version", v, "Network UPS Tools upsd 2.8.0 - http://www.networkupstools.org/", err)
	v, err = c.NetVersion(ctx)
	same("NetVersion", v, "1.3", err)
	upses, err := c.ListUPS(ctx)
	var wantUPS []client.UPS
	for _, w := range items("LIST UPS", 1) {
		wantUPS = append(wantUPS, client.UPS{Name: w[0], Desc: w[1]})
	}
	same("ListUPS", upses, wantUPS, err)
	if len(upses) != len(sections) {
		t.Errorf("ListUPS gave %d UPSes, ups.conf has %d", len(upses), len(sections))
	}
	for _, s := range []string{"apc", "hostile", "pdu"} {
		vars, err := c.ListVars(ctx, s)
		var want []client.Var
		for _, w := range items("LIST VAR "+s, 2) {
			want = append(want, client.Var{Name: w[0], Value: w[1]})
		}
		same("ListVars "+s, vars, want, err)
		rw, err := c.ListRW(ctx, s)
		want = nil
		for _, w := range items("LIST RW "+s, 2) {
			want = append(want, client.Var{Name: w[0], Value: w[1]})
		}
		same("ListRW "+s, rw, want, err)
		cmds, err := c.ListCmds(ctx, s)
		var wantCmds []string
		for _, w := range items("LIST CMD "+s, 2) {
			wantCmds = append(wantCmds, w[0])
		}
		same("ListCmds "+s, cmds, wantCmds, err)
		for _, cmd := range cmds {
			d, err := c.GetCmdDesc(ctx, s, cmd)
			same("GetCmdDesc "+cmd, d, replyWords(t, raw, "GET CMDDESC "+s+" "+cmd, 3)[0], err)
		}
		for _, v := range vars[:min(len(vars), 8)] {
			typ, err := c.GetType(ctx, s, v.Name)
			same("GetType "+v.Name, typ.Flags, replyWords(t, raw, "GET TYPE "+s+" "+v.Name, 3), err)
			d, err := c.GetDesc(ctx, s, v.Name)
			same("GetDesc "+v.Name, d, replyWords(t, raw, "GET DESC "+s+" "+v.Name, 3)[0], err)
			val, err := c.GetVar(ctx, s, v.Name)
			same("GetVar "+v.Name, val, v.Value, err)
			enum, err := c.ListEnum(ctx, s, v.Name)
			if err != nil || len(enum) != 0 {
				t.Errorf("ListEnum %s: %q, %v; dummy-ups has no enums", v.Name, enum, err)
			}
			ranges, err := c.ListRange(ctx, s, v.Name)
			if err != nil || len(ranges) != 0 {
				t.Errorf("ListRange %s: %q, %v; dummy-ups has no ranges", v.Name, ranges, err)
			}
		}
		d, err := c.GetUPSDesc(ctx, s)
		same("GetUPSDesc "+s, d, raw.lines(t, "GET UPSDESC "+s)[0][2], err)
	}
	n, err := c.GetNumLogins(ctx, "apc")
	same("GetNumLogins apc", n, 1, err)
	cl, err := c.ListClients(ctx, "apc")
	same("ListClients apc", cl, []string{"127.0.0.1"}, err)

	for _, tc := range []struct {
		call func() error
		want error
	}{
		{func() error { _, err := c.GetVar(ctx, "nope", "ups.status"); return err }, client.ErrUnknownUPS},
		{func() error { _, err := c.GetVar(ctx, "apc", "nope.var"); return err }, client.ErrVarNotSupported},
		{func() error { _, err := c.ListEnum(ctx, "apc", "nope.var"); return err }, client.ErrVarNotSupported},
		{func() error { return c.Login(ctx, "apc") }, client.ErrUsernameRequired},
	} {
		if err := tc.call(); !errors.Is(err, tc.want) {
			t.Errorf("err = %v, want %v", err, tc.want)
		}
	}
	if err := c.Logout(ctx); err != nil {
		t.Errorf("Logout: %v", err)
	}
}
