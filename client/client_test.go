package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonut/gonut/client"
	"github.com/gonut/gonut/client/clienttest"
)

// dial connects to a fake server and closes the client with the test.
func dial(t *testing.T, s *clienttest.Server, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), s.Addr, opts...)
	if err != nil {
		t.Fatalf("Dial(%s): %v", s.Addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func reply(data string) clienttest.Reply { return clienttest.Reply{Data: data} }

var fakeDevices = []clienttest.Device{
	{
		Name: "apc", Desc: `Back-UPS "ES" 750 \ rack #2`,
		Vars: [][2]string{
			{"battery.charge", "100"},
			{"device.model", `Back-UPS "ES" 750`},
			{"ups.id", `79<><>/\`},
			{"ups.status", "OL CHRG"},
			{"input.sensitivity", "medium"},
			{"input.transfer.low", "92"},
		},
		Types: map[string]string{
			"device.model":       "RW STRING:32",
			"input.sensitivity":  "RW ENUM",
			"input.transfer.low": "RW RANGE NUMBER",
		},
		Enums:   map[string][]string{"input.sensitivity": {"low", "medium", "high"}},
		Ranges:  map[string][][2]string{"input.transfer.low": {{"88", "92"}, {"95", "100"}}},
		Cmds:    []string{"load.off", "test.battery.start"},
		Clients: []string{"127.0.0.1", "::1"},
	},
	{Name: "dead", Err: "DRIVER-NOT-CONNECTED"},
	{Name: "stale", Err: "DATA-STALE"},
}

// TestFakeUPSD runs every helper against the NUT-like fake upsd.
func TestFakeUPSD(t *testing.T) {
	s := clienttest.NewServer(t, clienttest.Fake(fakeDevices...))
	c := dial(t, s)
	ctx := context.Background()

	check := func(name string, got, want any, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	v, err := c.Version(ctx)
	check("Version", v, clienttest.Version, err)
	v, err = c.NetVersion(ctx)
	check("NetVersion", v, "1.3", err)
	upses, err := c.ListUPS(ctx)
	check("ListUPS", upses, []client.UPS{
		{Name: "apc", Desc: `Back-UPS "ES" 750 \ rack #2`},
		{Name: "dead", Desc: "Description unavailable"},
		{Name: "stale", Desc: "Description unavailable"},
	}, err)
	vars, err := c.ListVars(ctx, "apc")
	var want []client.Var
	for _, v := range fakeDevices[0].Vars {
		want = append(want, client.Var{Name: v[0], Value: v[1]})
	}
	check("ListVars", vars, want, err)
	rw, err := c.ListRW(ctx, "APC") // UPS names are case-insensitive
	check("ListRW", rw, []client.Var{want[1], want[4], want[5]}, err)
	cmds, err := c.ListCmds(ctx, "apc")
	check("ListCmds", cmds, []string{"load.off", "test.battery.start"}, err)
	enum, err := c.ListEnum(ctx, "apc", "input.sensitivity")
	check("ListEnum", enum, []string{"low", "medium", "high"}, err)
	ranges, err := c.ListRange(ctx, "apc", "input.transfer.low")
	check("ListRange", ranges, []client.Range{{Min: "88", Max: "92"}, {Min: "95", Max: "100"}}, err)
	clients, err := c.ListClients(ctx, "apc")
	check("ListClients", clients, []string{"127.0.0.1", "::1"}, err)
	val, err := c.GetVar(ctx, "apc", "device.model")
	check("GetVar", val, `Back-UPS "ES" 750`, err)
	val, err = c.GetVar(ctx, "apc", "ups.id")
	check("GetVar ups.id", val, `79<><>/\`, err)
	typ, err := c.GetType(ctx, "apc", "device.model")
	check("GetType STRING", typ, client.Type{RW: true, String: true, MaxLength: 32, Flags: []string{"RW", "STRING:32"}}, err)
	typ, err = c.GetType(ctx, "apc", "input.transfer.low")
	check("GetType RANGE", typ, client.Type{RW: true, Range: true, Number: true, Flags: []string{"RW", "RANGE", "NUMBER"}}, err)
	typ, err = c.GetType(ctx, "apc", "input.sensitivity")
	check("GetType ENUM", typ, client.Type{RW: true, Enum: true, Flags: []string{"RW", "ENUM"}}, err)
	desc, err := c.GetDesc(ctx, "apc", "ups.status")
	check("GetDesc", desc, "Description unavailable", err)
	desc, err = c.GetCmdDesc(ctx, "apc", "load.off")
	check("GetCmdDesc", desc, "Description unavailable", err)
	desc, err = c.GetUPSDesc(ctx, "apc")
	check("GetUPSDesc", desc, `Back-UPS "ES" 750 \ rack #2`, err)
	desc, err = c.GetUPSDesc(ctx, "dead")
	check("GetUPSDesc dead", desc, "Unavailable", err)
	n, err := c.GetNumLogins(ctx, "apc")
	check("GetNumLogins", n, 2, err)
	check("Username", nil, nil, c.Username(ctx, "mon"))
	check("Password", nil, nil, c.Password(ctx, `p"a s#s\`))
	check("Login", nil, nil, c.Login(ctx, "apc"))

	// ERR replies map to the sentinels and leave the connection usable.
	errCases := []struct {
		name string
		call func() error
		want error
	}{
		{"unknown ups", func() error { _, err := c.ListVars(ctx, "nope"); return err }, client.ErrUnknownUPS},
		{"unknown var", func() error { _, err := c.GetVar(ctx, "apc", "nope.var"); return err }, client.ErrVarNotSupported},
		{"driver gone", func() error { _, err := c.ListVars(ctx, "dead"); return err }, client.ErrDriverNotConnected},
		{"driver gone GET", func() error { _, err := c.GetVar(ctx, "dead", "ups.status"); return err }, client.ErrDriverNotConnected},
		{"stale", func() error { _, err := c.GetVar(ctx, "stale", "ups.status"); return err }, client.ErrDataStale},
		{"enum of unknown var", func() error { _, err := c.ListEnum(ctx, "apc", "nope"); return err }, client.ErrVarNotSupported},
		{"login unknown ups", func() error { return c.Login(ctx, "nope") }, client.ErrUnknownUPS},
	}
	for _, tc := range errCases {
		err := tc.call()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		var e *client.Error
		if errors.As(err, &e) && (e.Server != s.Addr || e.Request == "") {
			t.Errorf("%s: error %q does not name the server and request", tc.name, err)
		}
	}
	if _, err := c.GetVar(ctx, "apc", "ups.status"); err != nil {
		t.Errorf("connection not usable after ERR replies: %v", err)
	}
	if err := c.Logout(ctx); err != nil {
		t.Errorf("Logout: %v", err)
	}
	if _, err := c.GetVar(ctx, "apc", "ups.status"); !errors.Is(err, client.ErrClosed) {
		t.Errorf("call after Logout: err = %v, want ErrClosed", err)
	}
	reqs := s.Requests()
	if got := reqs[len(reqs)-1]; got != "LOGOUT" {
		t.Errorf("last request = %q, want LOGOUT", got)
	}
}

// TestRequestEncoding checks that arguments reach upsd as the same words,
// whatever they hold, and that arguments that cannot be sent are refused
// before anything is written.
func TestRequestEncoding(t *testing.T) {
	var mu sync.Mutex
	var got [][]string
	s := clienttest.NewServer(t, func(w []string) clienttest.Reply {
		mu.Lock()
		got = append(got, w)
		mu.Unlock()
		return reply("OK\n")
	})
	c := dial(t, s)
	ctx := context.Background()
	for _, arg := range []string{
		"plain", "two words", `quote"inside`, `back\slash`, "hash#tag", "key=value", "", "  lead", "trail ",
		`"quoted"`, `\"`, "tab\x7e~", "ünïcode-is-dropped-by-upsd",
	} {
		mu.Lock()
		got = nil
		mu.Unlock()
		if err := c.Username(ctx, arg); err != nil {
			t.Fatalf("Username(%q): %v", arg, err)
		}
		want := arg
		if strings.HasPrefix(arg, "ünï") {
			want = "ncode-is-dropped-by-upsd" // NUT's parser drops bytes above 0x7F
		}
		mu.Lock()
		if len(got) != 1 || !reflect.DeepEqual(got[0], []string{"USERNAME", want}) {
			t.Errorf("Username(%q) arrived as %q", arg, got)
		}
		mu.Unlock()
	}
	for _, bad := range []string{"a\nFSD ups", "a\rb", "nul\x00", "del\x7f", "tab\there"} {
		before := len(s.Requests())
		err := c.Username(ctx, bad)
		if !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("Username(%q): err = %v, want ErrBadRequest", bad, err)
		}
		if after := len(s.Requests()); after != before {
			t.Errorf("Username(%q) sent something", bad)
		}
	}
	// The password never shows in errors.
	err := c.Password(ctx, "secret\nFSD")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Password error %v shows the password", err)
	}
	// The connection is still fine.
	if err := c.Username(ctx, "x"); err != nil {
		t.Errorf("after refused requests: %v", err)
	}
}

// TestHostileReplies feeds replies that do not fit the request. Each must
// give a clear error (never a hang, never a wrong answer), and the client
// must then refuse further calls rather than read out of step.
func TestHostileReplies(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name  string
		reply clienttest.Reply
		call  func(*client.Client) error
		want  error // errors.Is target
		in    string
		opts  []client.Option
	}{
		{
			name: "BEGIN LIST of another query", want: client.ErrProtocol, in: "expected BEGIN LIST VAR ups",
			reply: reply("BEGIN LIST VAR other\nEND LIST VAR other\n"),
			call:  func(c *client.Client) error { _, err := c.ListVars(context.Background(), "ups"); return err },
		},
		{
			name: "no BEGIN LIST", want: client.ErrProtocol, in: "expected BEGIN LIST VAR ups",
			reply: reply("VAR ups a \"1\"\nEND LIST VAR ups\n"),
			call:  func(c *client.Client) error { _, err := c.ListVars(context.Background(), "ups"); return err },
		},
		{
			name: "END LIST of another query", want: client.ErrProtocol, in: "expected END LIST VAR ups",
			reply: reply("BEGIN LIST VAR ups\nVAR ups a \"1\"\nEND LIST VAR zzz\n"),
			call:  func(c *client.Client) error { _, err := c.ListVars(context.Background(), "ups"); return err },
		},
		{
			name: "BEGIN LIST with extra words", want: client.ErrProtocol, in: "BEGIN LIST",
			reply: reply("BEGIN LIST VAR ups extra\nEND LIST VAR ups\n"),
			call:  func(c *client.Client) error { _, err := c.ListVars(context.Background(), "ups"); return err },
		},
		{
			name: "item of another UPS", want: client.ErrProtocol, in: `"VAR q y`,
			reply: reply("BEGIN LIST VAR ups\nVAR ups x \"1\"\nVAR q y \"2\"\nEND LIST VAR ups\n"),
			call:  func(c *client.Client) error { _, err := c.ListVars(context.Background(), "ups"); return err },
		},
		{
			name: "item with too few words", want: client.ErrProtocol, in: "2 more word(s)",
			reply: reply("BEGIN LIST VAR ups\nVAR ups y\nEND LIST VAR ups\n"),
			call:  func(c *client.Client) error { _, err := c.ListVars(context.Background(), "ups"); return err },
		},
		{
			name: "ERR inside a list", want: client.ErrProtocol, in: "ERR inside a list",
			reply: reply("BEGIN LIST VAR ups\nERR DATA-STALE\n"),
			call:  func(c *client.Client) error { _, err := c.ListVars(context.Background(), "ups"); return err },
		},
		{
			name: "list cut by hang-up", want: client.ErrServerDisconnected,
			reply: clienttest.Reply{Data: "BEGIN LIST VAR ups\nVAR ups x \"1\"\n", HangUp: true},
			call:  func(c *client.Client) error { _, err := c.ListVars(context.Background(), "ups"); return err },
		},
		{
			name: "line cut by hang-up", want: client.ErrServerDisconnected,
			reply: clienttest.Reply{Data: "VAR ups x \"1", HangUp: true},
			call:  func(c *client.Client) error { _, err := c.GetVar(context.Background(), "ups", "x"); return err },
		},
		{
			name: "no reply at all", want: client.ErrServerDisconnected,
			reply: clienttest.Reply{HangUp: true},
			call:  func(c *client.Client) error { _, err := c.Version(context.Background()); return err },
		},
		{
			name: "GET answer for another variable", want: client.ErrProtocol, in: `expected "VAR ups x"`,
			reply: reply("VAR ups y \"1\"\n"),
			call:  func(c *client.Client) error { _, err := c.GetVar(context.Background(), "ups", "x"); return err },
		},
		{
			name: "GET answer without value", want: client.ErrProtocol,
			reply: reply("VAR ups x\n"),
			call:  func(c *client.Client) error { _, err := c.GetVar(context.Background(), "ups", "x"); return err },
		},
		{
			name: "empty line", want: client.ErrProtocol,
			reply: reply("\n"),
			call:  func(c *client.Client) error { _, err := c.GetVar(context.Background(), "ups", "x"); return err },
		},
		{
			name: "NUMLOGINS not a number", want: client.ErrProtocol, in: "not a count",
			reply: reply("NUMLOGINS ups many\n"),
			call:  func(c *client.Client) error { _, err := c.GetNumLogins(context.Background(), "ups"); return err },
		},
		{
			name: "TYPE with a bad string length", want: client.ErrProtocol, in: "bad string length",
			reply: reply("TYPE ups x STRING:lots\n"),
			call:  func(c *client.Client) error { _, err := c.GetType(context.Background(), "ups", "x"); return err },
		},
		{
			name: "USERNAME answered with something else", want: client.ErrProtocol, in: "expected OK",
			reply: reply("BEGIN LIST UPS\n"),
			call:  func(c *client.Client) error { return c.Username(context.Background(), "u") },
		},
		{
			name: "line longer than the limit", want: client.ErrProtocol, in: "longer than 256 bytes",
			reply: reply("VAR ups x \"" + long + "\"\n"),
			call:  func(c *client.Client) error { _, err := c.GetVar(context.Background(), "ups", "x"); return err },
			opts:  []client.Option{client.WithMaxLineLength(256)},
		},
		{
			name: "endless line without newline", want: client.ErrProtocol, in: "longer than 256 bytes",
			reply: clienttest.Reply{Data: strings.Repeat("y", 100000), Hang: true},
			call:  func(c *client.Client) error { _, err := c.GetVar(context.Background(), "ups", "x"); return err },
			opts:  []client.Option{client.WithMaxLineLength(256)},
		},
		{
			name: "list larger than the limit", want: client.ErrProtocol, in: "larger than 1000 bytes",
			reply: reply("BEGIN LIST VAR ups\n" + strings.Repeat("VAR ups x \"1\"\n", 200) + "END LIST VAR ups\n"),
			call:  func(c *client.Client) error { _, err := c.ListVars(context.Background(), "ups"); return err },
			opts:  []client.Option{client.WithMaxListSize(1000)},
		},
		{
			name: "server goes silent", want: os.ErrDeadlineExceeded,
			reply: clienttest.Reply{Data: "BEGIN LIST VAR ups\n", Hang: true},
			call:  func(c *client.Client) error { _, err := c.ListVars(context.Background(), "ups"); return err },
			opts:  []client.Option{client.WithTimeout(100 * time.Millisecond)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := clienttest.NewServer(t, func([]string) clienttest.Reply { return tc.reply })
			c := dial(t, s, tc.opts...)
			err := tc.call(c)
			t.Log(err)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.in) || !strings.Contains(err.Error(), s.Addr) {
				t.Errorf("error %q should name the server and contain %q", err, tc.in)
			}
			_, err2 := c.Version(context.Background())
			t.Log(err2)
			if !errors.Is(err2, client.ErrClosed) || !errors.Is(err2, tc.want) {
				t.Errorf("next call: err = %v, want ErrClosed wrapping %v", err2, tc.want)
			}
		})
	}
}

// TestReplyParsing checks quoting, escapes and the leniencies NUT's client
// has (an unterminated quote ends at the end of the line, CR LF endings).
func TestReplyParsing(t *testing.T) {
	tests := []struct {
		line string
		want string
	}{
		{`VAR ups x "plain"`, "plain"},
		{`VAR ups x "two  spaces"`, "two  spaces"},
		{`VAR ups x "esc \"q\" \\ \#"`, `esc "q" \ #`},
		{`VAR ups x unquoted`, "unquoted"},
		{`VAR ups x ""`, ""},
		{`VAR ups x "open quote`, "open quote"},
		{"VAR ups x \"crlf\"\r", "crlf"},
		{"VAR\tups\tx\t\"tabs\"", "tabs"},
		{`var UPS X "case-insensitive echo"`, "case-insensitive echo"},
		{`VAR ups x "1" extra words`, "1"},
	}
	for _, tc := range tests {
		s := clienttest.NewServer(t, func([]string) clienttest.Reply { return reply(tc.line + "\n") })
		c := dial(t, s)
		got, err := c.GetVar(context.Background(), "ups", "x")
		if err != nil || got != tc.want {
			t.Errorf("reply %q: got %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	codes := map[string]error{
		"ACCESS-DENIED": client.ErrAccessDenied, "UNKNOWN-UPS": client.ErrUnknownUPS,
		"VAR-NOT-SUPPORTED": client.ErrVarNotSupported, "CMD-NOT-SUPPORTED": client.ErrCmdNotSupported,
		"INVALID-ARGUMENT": client.ErrInvalidArgument, "INSTCMD-FAILED": client.ErrInstCmdFailed,
		"SET-FAILED": client.ErrSetFailed, "READONLY": client.ErrReadOnly, "TOO-LONG": client.ErrTooLong,
		"FEATURE-NOT-SUPPORTED": client.ErrFeatureNotSupported, "FEATURE-NOT-CONFIGURED": client.ErrFeatureNotConfigured,
		"ALREADY-SSL-MODE": client.ErrAlreadySSLMode, "DRIVER-NOT-CONNECTED": client.ErrDriverNotConnected,
		"DATA-STALE": client.ErrDataStale, "ALREADY-LOGGED-IN": client.ErrAlreadyLoggedIn,
		"INVALID-PASSWORD": client.ErrInvalidPassword, "ALREADY-SET-PASSWORD": client.ErrAlreadySetPassword,
		"INVALID-USERNAME": client.ErrInvalidUsername, "ALREADY-SET-USERNAME": client.ErrAlreadySetUsername,
		"USERNAME-REQUIRED": client.ErrUsernameRequired, "PASSWORD-REQUIRED": client.ErrPasswordRequired,
		"UNKNOWN-COMMAND": client.ErrUnknownCommand, "INVALID-VALUE": client.ErrInvalidValue,
		"VAR-UNKNOWN": client.ErrVarUnknown, "UNKNOWN-TYPE": client.ErrUnknownType,
		"UNKNOWN-INSTCMD": client.ErrUnknownInstCmd, "MISSING-ARGUMENT": client.ErrMissingArgument,
		"PASSWORD-INCORRECT": client.ErrPasswordIncorrect,
	}
	s := clienttest.NewServer(t, func(w []string) clienttest.Reply { return reply("ERR " + w[len(w)-1] + " extra detail\n") })
	c := dial(t, s)
	for code, sentinel := range codes {
		_, err := c.GetVar(context.Background(), "ups", code)
		if !errors.Is(err, sentinel) {
			t.Errorf("ERR %s: errors.Is(%v, sentinel) is false", code, err)
		}
		for other, s2 := range codes {
			if other != code && errors.Is(err, s2) {
				t.Errorf("ERR %s also matches %s", code, other)
			}
		}
		var e *client.Error
		if !errors.As(err, &e) || e.Code != code || e.Detail != "extra detail" || e.Request != "GET VAR ups "+code {
			t.Errorf("ERR %s: got %#v", code, e)
		}
	}
}

// TestConcurrentCalls shares one client between goroutines: every call must
// get its own answer, never its neighbour's.
func TestConcurrentCalls(t *testing.T) {
	s := clienttest.NewServer(t, func(w []string) clienttest.Reply {
		if len(w) == 4 && w[0] == "GET" {
			return reply(fmt.Sprintf("VAR %s %s %q\n", w[2], w[3], "value of "+w[3]))
		}
		if len(w) == 3 && w[0] == "LIST" {
			return reply(fmt.Sprintf("BEGIN LIST VAR %[1]s\nVAR %[1]s a \"1\"\nVAR %[1]s b \"2\"\nEND LIST VAR %[1]s\n", w[2]))
		}
		return reply("ERR UNKNOWN-COMMAND\n")
	})
	c := dial(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				name := fmt.Sprintf("v%d.%d", g, i)
				got, err := c.GetVar(context.Background(), "ups", name)
				if err != nil || got != "value of "+name {
					errs <- fmt.Errorf("GetVar(%s) = %q, %v", name, got, err)
					return
				}
				ups := fmt.Sprintf("u%d", g)
				vars, err := c.ListVars(context.Background(), ups)
				if err != nil || len(vars) != 2 {
					errs <- fmt.Errorf("ListVars(%s) = %v, %v", ups, vars, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestContextCancel cancels a call blocked on a silent server: it returns
// the context's error and the client is closed.
func TestContextCancel(t *testing.T) {
	s := clienttest.NewServer(t, func([]string) clienttest.Reply { return clienttest.Reply{Hang: true} })
	c := dial(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err := c.GetVar(ctx, "ups", "x")
		res <- err
	}()
	// Cancel once the request has reached the server, so the call is
	// blocked reading.
	for len(s.Requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := c.GetVar(context.Background(), "ups", "x"); !errors.Is(err, client.ErrClosed) {
		t.Errorf("after cancel: err = %v, want ErrClosed", err)
	}

	// A context already done fails at once and sends nothing.
	s2 := clienttest.NewServer(t, clienttest.Fake(fakeDevices...))
	c2 := dial(t, s2)
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := c2.GetVar(done, "apc", "ups.status"); !errors.Is(err, context.Canceled) {
		t.Errorf("done context: err = %v", err)
	}
	if _, err := c2.GetVar(context.Background(), "apc", "ups.status"); err != nil {
		t.Errorf("a call refused for a done context must not break the client: %v", err)
	}
}

// TestCloseInterruptsCall closes the client while another goroutine waits
// for a reply.
func TestCloseInterruptsCall(t *testing.T) {
	s := clienttest.NewServer(t, func([]string) clienttest.Reply { return clienttest.Reply{Hang: true} })
	c := dial(t, s)
	res := make(chan error, 1)
	go func() {
		_, err := c.GetVar(context.Background(), "ups", "x")
		res <- err
	}()
	for len(s.Requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-res; !errors.Is(err, client.ErrClosed) {
		t.Errorf("interrupted call: err = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseSendsLogout: like NUT's upscli_disconnect, Close says LOGOUT.
func TestCloseSendsLogout(t *testing.T) {
	s := clienttest.NewServer(t, clienttest.Fake(fakeDevices...))
	c := dial(t, s)
	if _, err := c.GetVar(context.Background(), "apc", "ups.status"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if r := s.Requests(); len(r) == 2 {
			if r[1] != "LOGOUT" {
				t.Fatalf("requests = %q, want LOGOUT last", r)
			}
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("requests = %q, want a LOGOUT", s.Requests())
}

func TestDialErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := client.Dial(ctx, "host:"); err == nil || !strings.Contains(err.Error(), "no port specified") {
		t.Errorf("Dial(host:) err = %v", err)
	}
	s := clienttest.NewServer(t, clienttest.Fake(fakeDevices...))
	addr := s.Addr
	s.Close()
	_, err := client.Dial(ctx, addr)
	if err == nil || client.Strerror(err) != "Connection failure: Connection refused" {
		t.Errorf("Dial(closed port) err = %v, Strerror %q", err, client.Strerror(err))
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name %s", err, addr)
	}
}

// TestContextDeadline: a context deadline earlier than the client's timeout
// is reported as the context's.
func TestContextDeadline(t *testing.T) {
	s := clienttest.NewServer(t, func([]string) clienttest.Reply { return clienttest.Reply{Hang: true} })
	c := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.GetVar(ctx, "ups", "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}
