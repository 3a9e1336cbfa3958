package sdk

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want cmdline
		err  string
	}{
		{[]string{"-a", "ups"}, cmdline{ups: "ups"}, ""},
		{[]string{"-aups", "-DDF"}, cmdline{ups: "ups", debug: 2, foreground: true}, ""},
		{[]string{"-s", "adhoc", "-x", "port=/dev/x", "-x", "nolock"},
			cmdline{ups: "adhoc", direct: true, extra: []Option{{Key: "port", Value: "/dev/x", HasValue: true}, {Key: "nolock"}}}, ""},
		{[]string{"-a", "u", "-u", "root", "-g", "nut", "-i", "5", "-B", "-q"},
			cmdline{ups: "u", user: "root", group: "nut", interval: "5", background: true}, ""},
		{[]string{"-kDa", "u"}, cmdline{ups: "u", kill: true, debug: 1}, ""},
		{[]string{"-a", "u", "-c", "reload"}, cmdline{ups: "u", command: "reload"}, ""},
		{[]string{"-a", "u", "-d", "2"}, cmdline{ups: "u", dump: 2}, ""},
		{[]string{"-hLV"}, cmdline{help: true, list: true, version: true}, ""},
		{[]string{"-a", "u", "--", "ignored"}, cmdline{ups: "u"}, ""},
		{[]string{"-z"}, cmdline{}, "drv: invalid option -- 'z'\nError: unknown option -?. Try -h for help."},
		{[]string{"-a"}, cmdline{}, "drv: option requires an argument -- 'a'\nError: unknown option -?. Try -h for help."},
		{[]string{"-a", "u", "stray"}, cmdline{}, "Error: unexpected argument 'stray'. Try -h for help."},
		{[]string{"-d", "0"}, cmdline{}, "Error: -d needs a count of update loops of at least 1, not '0'"},
	} {
		got, err := parseCmdline("drv", tt.args)
		switch {
		case tt.err != "":
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q: error %v, want %q", tt.args, err, tt.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tt.args, err)
		case !reflect.DeepEqual(got, tt.want):
			t.Errorf("%q:\n got %+v\nwant %+v", tt.args, got, tt.want)
		}
	}
}

func TestLoadSetup(t *testing.T) {
	dir := t.TempDir()
	conf := "user = nutty\nmaxretry = 3\n[u]\n\tdriver = fake\n\tport = /dev/a\n\tlabel = one\n\tdebug_min = 2\n" +
		"[other]\n\tdriver = blazer_ser\n\tport = /dev/b\n"
	if err := os.WriteFile(filepath.Join(dir, "ups.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := paths{conf: dir, state: "/state", pid: "/pid"}
	opt := func(k, v string) Option { return Option{Key: k, Value: v, HasValue: true} }
	for _, tt := range []struct {
		cl      cmdline
		port    string
		label   string
		debug   int
		user    string
		err     string
		stdout  bool
		nopaths bool
	}{
		{cl: cmdline{ups: "u"}, port: "/dev/a", label: "one", debug: 2, user: "nutty"},
		{cl: cmdline{ups: "u", user: "root", debug: 3, extra: []Option{opt("port", "/dev/c")}}, port: "/dev/c", label: "one", debug: 3, user: "root"},
		{cl: cmdline{ups: "adhoc", direct: true, extra: []Option{opt("port", "/dev/d")}}, port: "/dev/d", user: "nut"},
		{cl: cmdline{ups: "nosuch"}, err: "Error: Section nosuch not found in ups.conf"},
		{cl: cmdline{ups: "other"}, err: "Error: UPS [other] is for driver blazer_ser, but I'm fake!\n"},
		{cl: cmdline{ups: "u", extra: []Option{opt("speed", "1")}}, stdout: true,
			err: "\nFatal error: 'speed' is not a valid variable name for this driver."},
		{cl: cmdline{ups: "u", extra: []Option{{Key: "fast"}}}, stdout: true,
			err: "\nFatal error: 'fast' is not a valid flag for this driver."},
		{cl: cmdline{ups: "u", interval: "0"}, err: "invalid pollinterval"},
		{cl: cmdline{ups: "u"}, nopaths: true, err: "Can't open /nonexistent/ups.conf"},
	} {
		pp := p
		if tt.nopaths {
			pp.conf = "/nonexistent"
		}
		st, err := loadSetup(fakeInfo, tt.cl, pp)
		if tt.err != "" {
			var out *stdoutError
			if err == nil || !strings.Contains(err.Error(), tt.err) || errors.As(err, &out) != tt.stdout {
				t.Errorf("%+v: error %v, want one containing %q (on stdout: %v)", tt.cl, err, tt.err, tt.stdout)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tt.cl, err)
			continue
		}
		o := Options{Section: st.req.Options, Global: st.req.Global}
		label, _ := o.Get("label")
		if o.Port() != tt.port || label != tt.label || st.req.Debug != tt.debug || st.user != tt.user ||
			st.req.StatePath != "/state" || st.req.ConfPath != dir && !tt.nopaths {
			t.Errorf("%+v: port %q label %q debug %d user %q state %q; want %q %q %d %q /state",
				tt.cl, o.Port(), label, st.req.Debug, st.user, st.req.StatePath, tt.port, tt.label, tt.debug, tt.user)
		}
	}
}

func TestPaths(t *testing.T) {
	for _, tt := range []struct {
		conf, state, pid string
		want             paths
	}{
		{"", "", "", paths{"/etc/nut", "/run/nut", "/run/nut"}},
		{"/c", "/s", "", paths{"/c", "/s", "/s"}},
		{"/c", "/s", "/p", paths{"/c", "/s", "/p"}},
		{"", "", "/p", paths{"/etc/nut", "/run/nut", "/p"}},
	} {
		t.Setenv("NUT_CONFPATH", tt.conf)
		t.Setenv("NUT_STATEPATH", tt.state)
		t.Setenv("NUT_ALTPIDPATH", tt.pid)
		if got := getPaths(); got != tt.want {
			t.Errorf("NUT_CONFPATH=%q NUT_STATEPATH=%q NUT_ALTPIDPATH=%q: %+v, want %+v", tt.conf, tt.state, tt.pid, got, tt.want)
		}
	}
}

func TestHelpAndList(t *testing.T) {
	info := Info{Name: "drv", Options: []OptionInfo{{Name: "cable", Help: "Cable type"}, {Name: "nohang", Help: "Do not hang", Flag: true}}}
	var b strings.Builder
	printList(&b, info)
	if want := "VALUE cable \"Cable type\"\nFLAG nohang \"Do not hang\"\n"; b.String() != want {
		t.Errorf("-L:\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	printHelp(&b, info)
	for _, want := range []string{"usage: drv (-a <id>|-s <id>) [OPTIONS]", "  -k             - force shutdown\n",
		"Cable type : -x cable=<value>\n", "Do not hang : -x nohang\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("-h lacks %q:\n%s", want, b.String())
		}
	}
}

func TestIsDriver(t *testing.T) {
	self := filepath.Base(os.Args[0])
	if !isDriver(os.Getpid(), "not-this") {
		t.Errorf("this process (%s) is not recognised by its executable's name", self)
	}
	if !isDriver(os.Getpid(), self) {
		t.Errorf("this process is not recognised by its driver name %s", self)
	}
	if isDriver(1, "not-this") {
		t.Error("pid 1 taken for this driver")
	}
	if isDriver(1<<30, "x") {
		t.Error("a pid that does not exist taken for a driver")
	}
}
