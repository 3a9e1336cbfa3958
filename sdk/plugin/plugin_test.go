package plugin

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gonut/gonut/sdk/internal/pb"
)

// minor0Server is a plugin of protocol 1.0: it knows nothing of Shutdown
// and Reload, so gRPC answers them UNIMPLEMENTED.
type minor0Server struct{ pb.UnimplementedDriverServer }

func dialMinor0(t *testing.T) *grpcClient {
	t.Helper()
	ln, err := net.Listen("unix", t.TempDir()+"/plugin.sock")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	pb.RegisterDriverServer(s, minor0Server{})
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("unix://"+ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &grpcClient{c: pb.NewDriverClient(conn)}
}

func TestOlderPluginNotSupported(t *testing.T) {
	c := dialMinor0(t)
	ctx := context.Background()
	for name, call := range map[string]func() (Result, error){
		"shutdown": func() (Result, error) { return c.Shutdown(ctx) },
		"reload":   func() (Result, error) { return c.Reload(ctx, RunRequest{}) },
	} {
		r, err := call()
		if err != nil || !r.NotSupported() || !strings.HasPrefix(r.Message, name+" not supported") {
			t.Errorf("%s on a minor-0 plugin = %+v, %v; want not supported", name, r, err)
		}
	}
	// Other failures stay errors: an instant command to the same plugin
	// is a transport failure, not "not supported".
	if _, err := c.InstCmd(ctx, "x", ""); err == nil {
		t.Error("InstCmd on a server without it did not fail")
	}
}

func TestExplainStartError(t *testing.T) {
	for _, tt := range []struct {
		err    string
		plugin int
		host   []int
		says   []string
	}{
		{"incompatible API version with plugin. Plugin version: 2, Client versions: [1]", 2, []int{1},
			[]string{"/x/drv speaks gonut driver protocol 2 but this host speaks protocol 1", "newer gonut SDK", "rebuild it"}},
		{"Incompatible API version with plugin. Plugin version: 1, Client versions: [2 3]", 1, []int{2, 3},
			[]string{"protocol 1 but this host speaks protocol 2, 3", "older gonut SDK", "speaks protocol 1"}},
	} {
		orig := errors.New(tt.err)
		err := ExplainStartError("/x/drv", orig)
		var inc *IncompatibleError
		if !errors.As(err, &inc) || inc.Plugin != tt.plugin || !slices.Equal(inc.Host, tt.host) || !errors.Is(err, orig) {
			t.Errorf("%q: got %#v", tt.err, err)
			continue
		}
		for _, s := range tt.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%q: %q lacks %q", tt.err, err, s)
			}
		}
	}
	other := errors.New("plugin exited before we could connect")
	if got := ExplainStartError("/x/drv", other); got != other {
		t.Errorf("other errors must pass unchanged, got %v", got)
	}
	if ExplainStartError("/x/drv", nil) != nil {
		t.Error("nil must stay nil")
	}
}

func TestHostMajors(t *testing.T) {
	for _, tt := range []struct {
		env  string
		want []int
		ok   bool
	}{
		{"", nil, false},
		{"1", []int{1}, true},
		{"1,2", []int{1, 2}, true},
		{" 2 , x", []int{2}, true},
		{"x", nil, false},
	} {
		got, ok := HostMajors(tt.env)
		if ok != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("HostMajors(%q) = %v, %v; want %v, %v", tt.env, got, ok, tt.want, tt.ok)
		}
	}
}

func TestHasFeature(t *testing.T) {
	c := Capabilities{Features: []string{FeatureShutdown, "from-the-future"}}
	if !c.HasFeature(FeatureShutdown) || c.HasFeature(FeatureReload) {
		t.Errorf("HasFeature on %v", c.Features)
	}
}
