package conf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gonut/gonut/sdk/nutconf"
)

func TestLoadUpsdUsersFixture(t *testing.T) {
	us, err := LoadUpsdUsers("testdata/upsd.users")
	if err != nil {
		t.Fatal(err)
	}
	if len(us.Warnings) != 0 {
		t.Errorf("warnings: %q", us.Warnings)
	}
	want := []*User{
		{Name: "admin", Password: "s3cret pass", HasPassword: true, Actions: []string{"SET", "FSD"}, InstCmds: []string{"all"}, Line: 2},
		{Name: "monuser", Password: "mypass", HasPassword: true, Upsmon: "primary", Line: 7},
		{Name: "mon2", Password: "pw", HasPassword: true, Upsmon: "secondary", Line: 11},
		{Name: "mon3", Password: "pw", HasPassword: true, Upsmon: "primary", Line: 15},
		{Name: "ops", Password: "pw", HasPassword: true, Actions: []string{"set", "FSD"},
			InstCmds: []string{"test.battery.start", "test.battery.stop"}, Line: 19},
	}
	if !reflect.DeepEqual(us.List, want) {
		for i, u := range us.List {
			t.Logf("%d: %+v", i, u)
		}
		t.Fatal("users differ from the fixture")
	}
	if us.Lookup("monuser") != us.List[1] || us.Lookup("MONUSER") != nil || us.Lookup("nobody") != nil {
		t.Error("Lookup is not an exact-name lookup")
	}
}

func TestUserRights(t *testing.T) {
	us, err := LoadUpsdUsers("testdata/upsd.users")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, action string
		want         bool
	}{
		{"admin", "SET", true}, {"admin", "fsd", true}, {"admin", "LOGIN", false}, {"admin", "PRIMARY", false},
		{"monuser", "LOGIN", true}, {"monuser", "PRIMARY", true}, {"monuser", "MASTER", true},
		{"monuser", "FSD", true}, {"monuser", "SET", false},
		{"mon2", "LOGIN", true}, {"mon2", "PRIMARY", false}, {"mon2", "FSD", false},
		{"ops", "SET", true}, {"ops", "FSD", true}, {"ops", "login", false},
	}
	for _, tc := range tests {
		if got := us.Lookup(tc.user).Can(tc.action); got != tc.want {
			t.Errorf("%s.Can(%s) = %v, want %v", tc.user, tc.action, got, tc.want)
		}
	}
	admin, ops := us.Lookup("admin"), us.Lookup("ops")
	if !admin.CanInstCmd("load.off") || !ops.CanInstCmd("TEST.BATTERY.STOP") || ops.CanInstCmd("load.off") ||
		us.Lookup("monuser").CanInstCmd("load.off") {
		t.Error("CanInstCmd")
	}
	if !admin.CheckPassword("s3cret pass") || admin.CheckPassword("s3cret") || admin.CheckPassword("") {
		t.Error("CheckPassword")
	}
	// A listed action grants it the way NUT's action list does.
	u := &User{Actions: []string{"login", "master"}}
	if !u.Can("LOGIN") || !u.Can("PRIMARY") || u.Can("FSD") {
		t.Error("explicit login/master actions")
	}
	if (&User{Name: "x"}).CheckPassword("") {
		t.Error("a user without password matched the empty password")
	}
}

// TestUsersManualExamples reads the upsd.users examples of the NUT user
// manual and of the shipped sample.
func TestUsersManualExamples(t *testing.T) {
	tests := []struct {
		name, in string
		want     *User
	}{
		// 6.2.3 "NUT user creation": [monuser] password = mypass, upsmon primary
		{"monuser", "[monuser]\n    password = mypass\n    upsmon primary\n    # or upsmon secondary\n",
			&User{Name: "monuser", Password: "mypass", HasPassword: true, Upsmon: "primary", Line: 1}},
		// 10.3 "NUT level user privileges": actions = set, instcmds = all
		{"administrator", "[administrator]\n    password = mypass\n    actions = set\n    instcmds = all\n",
			&User{Name: "administrator", Password: "mypass", HasPassword: true, Actions: []string{"set"}, InstCmds: []string{"all"}, Line: 1}},
		// Sample upsd.users: [testuser] with two instcmds lines.
		{"testuser", "[testuser]\n\tpassword  = pass\n\tinstcmds  = test.battery.start\n\tinstcmds  = test.battery.stop\n",
			&User{Name: "testuser", Password: "pass", HasPassword: true, InstCmds: []string{"test.battery.start", "test.battery.stop"}, Line: 1}},
		// 6.1.1: a # in a value is written \#, in quotes or not.
		{"hash in password", "[u]\n\tpassword = \"p\\#1 x\"\n\tinstcmds = a\\#b\n",
			&User{Name: "u", Password: "p#1 x", HasPassword: true, InstCmds: []string{"a#b"}, Line: 1}},
	}
	for _, tc := range tests {
		us, err := LoadUpsdUsers(writeFile(t, "upsd.users", tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if len(us.List) != 1 || !reflect.DeepEqual(us.List[0], tc.want) {
			t.Errorf("%s: got %+v", tc.name, us.List)
		}
	}
}

func TestUsersWarnings(t *testing.T) {
	in := "[a]\npassword = one\npassword = two\nallowfrom = localhost\nactions = SET BOGUS\n" +
		"password = x y\nupsmon primary extra\n[nopw]\nactions = SET\nuser = old\n"
	p := writeFile(t, "upsd.users", in)
	us, err := LoadUpsdUsers(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		p + ":3: [a] duplicate password ignored",
		p + ":4: [a] allowfrom in upsd.users is no longer used",
		p + `:5: [a] unknown action "BOGUS" (known: SET, FSD)`,
		p + ":6: [a] password: extra words ignored; quote a password that contains spaces",
		p + ":6: [a] duplicate password ignored",
		p + ":7: [a] upsmon: extra words ignored",
		p + `:10: old-format "user" line ignored; define users as [name] sections`,
		p + ":8: user [nopw] has no password and cannot log in",
	}
	if !reflect.DeepEqual(us.Warnings, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(us.Warnings, "\n"), strings.Join(want, "\n"))
	}
	// NUT keeps the first password.
	if a := us.Lookup("a"); a.Password != "one" || a.Upsmon != "primary" {
		t.Errorf("a = %+v", a)
	}
}

func TestUsersErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"password = x\n", `:1: password outside any [user] section`},
		{"[a]\n[a]\n", `:2: user [a] defined twice (first at line 1)`},
		{"[]\n", `:1: empty user name []`},
		{"[a] b\n", `:1: unexpected "b" after user header [a]`},
		{"[a]\nupsmon boss\n", `:2: [a] upsmon: unknown type "boss" (use primary or secondary)`},
		{"[a]\nupsmon = boss\n", `:2: [a] upsmon: unknown type "boss" (use primary or secondary)`},
		{"[a]\npasword = x\n", `:2: [a] unknown setting "pasword" (known: password, actions, instcmds, upsmon)`},
		{"[a]\npassword\n", `:2: cannot understand "password": expected key = value`},
		{"[a]\npassword x\n", `:2: cannot understand "password x": expected key = value`},
		{"[a]\npassword =\n", `:2: password: missing value after '='`},
		{"[a]\n= x\n", `:2: line starts with '=': missing key name`},
		{"[a]\n\"=x\"\n", `:2: missing key name before '='`},
		{"[a]\npassword = \"x\n", `:2: unterminated quoted string (missing closing ")`},
		// NUT 2.8.0 skips the line with a parse error and reads b" as a
		// line of its own: the user is left without the password meant.
		{"[a]\npassword = \"a#b\"\n", `:2: unbalanced word: unescaped # in quotes (write \# for a literal #)`},
		{"[a]\npassword = x\nactions = \"SET#\" FSD\n", `:3: unbalanced word: unescaped # in quotes (write \# for a literal #)`},
	}
	for _, tc := range tests {
		p := writeFile(t, "upsd.users", tc.in)
		_, err := LoadUpsdUsers(p)
		var ce *nutconf.Error
		if !errors.As(err, &ce) {
			t.Errorf("%q: error %v (%T), want *nutconf.Error", tc.in, err, err)
			continue
		}
		if err.Error() != p+tc.want {
			t.Errorf("%q: error %q\nwant %q", tc.in, err, p+tc.want)
		}
	}
}

func TestLoadUpsdUsersMissing(t *testing.T) {
	_, err := LoadUpsdUsers(filepath.Join(t.TempDir(), "upsd.users"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error = %v, want fs.ErrNotExist", err)
	}
}

// TestUsersSample reads the upsd.users installed with NUT, and again with the
// example sections it carries in comments enabled.
func TestUsersSample(t *testing.T) {
	const sample = "/etc/nut/upsd.users"
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Skip("no readable sample:", err)
	}
	if _, err := LoadUpsdUsers(sample); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		body := strings.TrimSpace(strings.TrimPrefix(line, "#"))
		switch {
		case strings.HasPrefix(body, "[") && strings.HasSuffix(body, "]"):
			in = true
		case in && strings.Contains(body, "="):
		default:
			in = false
			continue
		}
		b.WriteString(body + "\n")
	}
	us, err := LoadUpsdUsers(writeFile(t, "upsd.users", b.String()))
	if err != nil {
		t.Fatalf("%v in\n%s", err, b.String())
	}
	// The sample's [admin] has actions = SET and instcmds = ALL.
	if a := us.Lookup("admin"); a == nil || !a.Can("SET") || !a.CanInstCmd("anything") {
		t.Errorf("sample [admin] = %+v from\n%s", a, b.String())
	}
}
