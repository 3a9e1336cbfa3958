// Package plugin is the go-plugin/gRPC wiring between nut-driver-host and a
// driver plugin. Driver authors never use it directly: sdk.Serve does. The
// host uses the client side (Dispense an Instance from a go-plugin client).
//
// The generated protobuf stays in sdk/internal/pb; this package turns it into
// plain Go types so that neither side depends on generated code.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gonut/gonut/sdk/internal/pb"
)

// ProtocolMajor is the plugin protocol major version, negotiated in the
// go-plugin handshake. A change that an older peer cannot understand bumps
// it; everything else is a minor feature announced through Capabilities.
const ProtocolMajor = 1

// ProtocolMinor is the highest minor feature level this SDK speaks.
//
//	0  Capabilities, Run, InstCmd, SetVar
//	1  Shutdown and Reload calls; the plugin lists FeatureShutdown and
//	   FeatureReload in its Capabilities when its driver supports them
const ProtocolMinor = 1

// Feature names a plugin lists in Capabilities.Features. A peer ignores
// names it does not know: they come from a newer SDK.
const (
	// FeatureShutdown: the driver implements sdk.Shutdowner, so Shutdown
	// can succeed. Without it, Shutdown answers "not supported".
	FeatureShutdown = "shutdown"
	// FeatureReload: the driver implements sdk.Reloader, so Reload applies
	// a new configuration without a restart. Without it, Reload answers
	// "not supported" and the host restarts the instance instead.
	FeatureReload = "reload"
)

// HasFeature reports whether c lists the feature name.
func (c Capabilities) HasFeature(name string) bool {
	for _, f := range c.Features {
		if f == name {
			return true
		}
	}
	return false
}

// PluginName is the name the driver is dispensed under.
const PluginName = "driver"

// Handshake is shared by host and plugins. The cookie only tells a plugin
// binary that it was started by a host; it is not a security feature.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolMajor,
	MagicCookieKey:   "GONUT_DRIVER_PLUGIN",
	MagicCookieValue: "5b0c4f1e-nut-driver-host",
}

// Option is one key of a ups.conf section, in file order.
type Option struct {
	Key, Value string
	HasValue   bool // false for a bare flag such as "nolock"
}

// RunRequest is what the host tells a plugin about its instance.
type RunRequest struct {
	UPS       string
	Driver    string
	Options   []Option // the section, in file order
	Global    []Option // the global part of ups.conf
	ConfPath  string
	StatePath string
	Debug     int
}

// Update is one atomic change of a driver's state, as messages of NUT's
// driver socket protocol. An update with no messages and Snapshot false is a
// heartbeat.
type Update struct {
	Snapshot     bool
	Msgs         [][]string
	PollInterval int64 // milliseconds; 0 = unknown
}

// Capabilities is what one side tells the other about itself.
type Capabilities struct {
	Minor    uint32
	Features []string
	Version  string
}

// Result is the outcome of an instant command or a SET, as NUT's STAT_* codes.
type Result struct {
	Status  int
	Message string
}

// NotSupported reports whether the plugin does not support the request:
// StatUnknown, which Shutdown and Reload also answer for a driver without
// the optional interface and for a plugin older than the call.
func (r Result) NotSupported() bool { return r.Status == StatUnknown }

// NUT's STAT_INSTCMD_* and STAT_SET_* codes (drivers/upshandler.h).
const (
	StatHandled    = 0 // STAT_INSTCMD_HANDLED / STAT_SET_HANDLED
	StatUnknown    = 1 // STAT_INSTCMD_UNKNOWN / STAT_SET_UNKNOWN
	StatInvalid    = 2 // STAT_INSTCMD_INVALID / STAT_SET_INVALID
	StatFailed     = 3 // STAT_INSTCMD_FAILED / STAT_SET_FAILED
	StatConversion = 4 // STAT_INSTCMD_CONVERSION_FAILED / STAT_SET_CONVERSION_FAILED
)

// Server is what the plugin side implements (sdk.Serve does).
type Server interface {
	Capabilities(ctx context.Context, host Capabilities) (Capabilities, error)
	// Run streams updates through send until ctx ends or the driver fails.
	Run(ctx context.Context, req RunRequest, send func(Update) error) error
	InstCmd(ctx context.Context, cmd, param string) (Result, error)
	SetVar(ctx context.Context, name, value string) (Result, error)
	// Shutdown runs the driver's shutdown sequence on the running instance
	// (minor 1).
	Shutdown(ctx context.Context) (Result, error)
	// Reload hands the running instance a re-read configuration; only
	// req's Options, Global and ConfPath are used (minor 1).
	Reload(ctx context.Context, req RunRequest) (Result, error)
}

// Instance is the host's view of one running plugin.
type Instance interface {
	Capabilities(ctx context.Context, host Capabilities) (Capabilities, error)
	// Run starts the driver; recv returns updates until the stream ends.
	Run(ctx context.Context, req RunRequest) (recv func() (Update, error), err error)
	InstCmd(ctx context.Context, cmd, param string) (Result, error)
	SetVar(ctx context.Context, name, value string) (Result, error)
	// Shutdown tells the UPS of the running instance to cut its load
	// (NUT's `driver -k`), waiting for the driver's shutdown sequence.
	// A Result with NotSupported() true means the driver has no shutdown
	// support or the plugin predates the call; err is a transport failure.
	Shutdown(ctx context.Context) (Result, error)
	// Reload hands the running instance its re-read ups.conf section
	// (req's Options, Global and ConfPath). NotSupported() means the host
	// must restart the instance for the new configuration to apply.
	Reload(ctx context.Context, req RunRequest) (Result, error)
}

// GRPCPlugin implements goplugin.GRPCPlugin for both sides.
type GRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	Impl Server // set on the plugin side only
}

var _ goplugin.GRPCPlugin = (*GRPCPlugin)(nil)

// PluginSets returns the versioned plugin sets for go-plugin, keyed by
// protocol major. impl is nil on the host side.
func PluginSets(impl Server) map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{
		ProtocolMajor: {PluginName: &GRPCPlugin{Impl: impl}},
	}
}

// GRPCServer registers the driver service (plugin side).
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("plugin: no driver implementation to serve")
	}
	pb.RegisterDriverServer(s, &grpcServer{impl: p.Impl})
	return nil
}

// GRPCClient returns an Instance (host side).
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &grpcClient{c: pb.NewDriverClient(c)}, nil
}

type grpcServer struct {
	pb.UnimplementedDriverServer
	impl Server
}

func (s *grpcServer) Capabilities(ctx context.Context, req *pb.CapabilitiesRequest) (*pb.CapabilitiesResponse, error) {
	c, err := s.impl.Capabilities(ctx, Capabilities{Minor: req.HostMinor, Features: req.Features, Version: req.HostVersion})
	if err != nil {
		return nil, err
	}
	return &pb.CapabilitiesResponse{PluginMinor: c.Minor, Features: c.Features, SdkVersion: c.Version}, nil
}

func (s *grpcServer) Run(req *pb.RunRequest, stream pb.Driver_RunServer) error {
	r := RunRequest{
		UPS: req.Ups, Driver: req.Driver, ConfPath: req.ConfPath,
		StatePath: req.StatePath, Debug: int(req.Debug),
		Options: optionsFromPB(req.Options), Global: optionsFromPB(req.Global),
	}
	return s.impl.Run(stream.Context(), r, func(u Update) error {
		m := &pb.Update{Snapshot: u.Snapshot, PollIntervalMs: u.PollInterval, Msgs: make([]*pb.Msg, len(u.Msgs))}
		for i, w := range u.Msgs {
			m.Msgs[i] = &pb.Msg{Words: w}
		}
		return stream.Send(m)
	})
}

func (s *grpcServer) InstCmd(ctx context.Context, req *pb.InstCmdRequest) (*pb.CmdResult, error) {
	r, err := s.impl.InstCmd(ctx, req.Cmd, req.Param)
	if err != nil {
		return nil, err
	}
	return &pb.CmdResult{Status: int32(r.Status), Message: r.Message}, nil
}

func (s *grpcServer) SetVar(ctx context.Context, req *pb.SetVarRequest) (*pb.CmdResult, error) {
	r, err := s.impl.SetVar(ctx, req.Name, req.Value)
	if err != nil {
		return nil, err
	}
	return &pb.CmdResult{Status: int32(r.Status), Message: r.Message}, nil
}

func (s *grpcServer) Shutdown(ctx context.Context, _ *pb.ShutdownRequest) (*pb.CmdResult, error) {
	r, err := s.impl.Shutdown(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.CmdResult{Status: int32(r.Status), Message: r.Message}, nil
}

func (s *grpcServer) Reload(ctx context.Context, req *pb.ReloadRequest) (*pb.CmdResult, error) {
	r, err := s.impl.Reload(ctx, RunRequest{Options: optionsFromPB(req.Options), Global: optionsFromPB(req.Global), ConfPath: req.ConfPath})
	if err != nil {
		return nil, err
	}
	return &pb.CmdResult{Status: int32(r.Status), Message: r.Message}, nil
}

type grpcClient struct{ c pb.DriverClient }

func (c *grpcClient) Capabilities(ctx context.Context, host Capabilities) (Capabilities, error) {
	r, err := c.c.Capabilities(ctx, &pb.CapabilitiesRequest{HostMinor: host.Minor, Features: host.Features, HostVersion: host.Version})
	if err != nil {
		return Capabilities{}, err
	}
	return Capabilities{Minor: r.PluginMinor, Features: r.Features, Version: r.SdkVersion}, nil
}

func (c *grpcClient) Run(ctx context.Context, req RunRequest) (func() (Update, error), error) {
	stream, err := c.c.Run(ctx, &pb.RunRequest{
		Ups: req.UPS, Driver: req.Driver, ConfPath: req.ConfPath, StatePath: req.StatePath,
		Debug: int32(req.Debug), Options: optionsToPB(req.Options), Global: optionsToPB(req.Global),
	})
	if err != nil {
		return nil, err
	}
	return func() (Update, error) {
		m, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return Update{}, io.EOF
			}
			return Update{}, err
		}
		u := Update{Snapshot: m.Snapshot, PollInterval: m.PollIntervalMs, Msgs: make([][]string, len(m.Msgs))}
		for i, w := range m.Msgs {
			u.Msgs[i] = w.Words
		}
		return u, nil
	}, nil
}

func (c *grpcClient) InstCmd(ctx context.Context, cmd, param string) (Result, error) {
	r, err := c.c.InstCmd(ctx, &pb.InstCmdRequest{Cmd: cmd, Param: param})
	if err != nil {
		return Result{}, fmt.Errorf("instcmd %s: %w", cmd, err)
	}
	return Result{Status: int(r.Status), Message: r.Message}, nil
}

func (c *grpcClient) SetVar(ctx context.Context, name, value string) (Result, error) {
	r, err := c.c.SetVar(ctx, &pb.SetVarRequest{Name: name, Value: value})
	if err != nil {
		return Result{}, fmt.Errorf("set %s: %w", name, err)
	}
	return Result{Status: int(r.Status), Message: r.Message}, nil
}

func (c *grpcClient) Shutdown(ctx context.Context) (Result, error) {
	r, err := c.c.Shutdown(ctx, &pb.ShutdownRequest{})
	if status.Code(err) == codes.Unimplemented {
		return Result{Status: StatUnknown, Message: "shutdown not supported: the plugin was built with an SDK older than protocol 1.1"}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("shutdown: %w", err)
	}
	return Result{Status: int(r.Status), Message: r.Message}, nil
}

func (c *grpcClient) Reload(ctx context.Context, req RunRequest) (Result, error) {
	r, err := c.c.Reload(ctx, &pb.ReloadRequest{Options: optionsToPB(req.Options), Global: optionsToPB(req.Global), ConfPath: req.ConfPath})
	if status.Code(err) == codes.Unimplemented {
		return Result{Status: StatUnknown, Message: "reload not supported: the plugin was built with an SDK older than protocol 1.1"}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("reload: %w", err)
	}
	return Result{Status: int(r.Status), Message: r.Message}, nil
}

// IncompatibleError is a handshake between a host and a plugin that share
// no protocol major version.
type IncompatibleError struct {
	Path   string // the plugin executable
	Plugin int    // the major the plugin speaks
	Host   []int  // the majors the host speaks
	Err    error  // go-plugin's own error
}

func (e *IncompatibleError) Error() string {
	host := make([]string, len(e.Host))
	for i, v := range e.Host {
		host[i] = strconv.Itoa(v)
	}
	newer := "newer"
	if len(e.Host) > 0 && e.Plugin < e.Host[0] {
		newer = "older"
	}
	return fmt.Sprintf("%s speaks gonut driver protocol %d but this host speaks protocol %s: "+
		"the driver was built with a %s gonut SDK than this host; rebuild it against the SDK "+
		"of this gonut release (github.com/gonut/gonut/sdk, protocol %s), or run a nut-driver-host "+
		"that speaks protocol %d", e.Path, e.Plugin, strings.Join(host, ", "), newer, strings.Join(host, ", "), e.Plugin)
}

func (e *IncompatibleError) Unwrap() error { return e.Err }

// go-plugin's wording (client.go, checkProtoVersion).
var incompatibleRE = regexp.MustCompile(`(?i)incompatible API version with plugin\. Plugin version: (\d+), Client versions: \[([\d ]*)\]`)

// ExplainStartError turns go-plugin's error for a plugin of another
// protocol major into an *IncompatibleError that names both versions and
// says what to do; other errors come back unchanged. The host wraps the
// error of goplugin.Client.Client() with it.
func ExplainStartError(path string, err error) error {
	if err == nil {
		return nil
	}
	m := incompatibleRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	e := &IncompatibleError{Path: path, Err: err}
	e.Plugin, _ = strconv.Atoi(m[1])
	for _, f := range strings.Fields(m[2]) {
		if v, convErr := strconv.Atoi(f); convErr == nil {
			e.Host = append(e.Host, v)
		}
	}
	return e
}

// HostMajors parses PLUGIN_PROTOCOL_VERSIONS, the list of protocol majors
// go-plugin's host side offers a plugin it starts. ok is false when the
// variable is unset or holds no number.
func HostMajors(env string) (majors []int, ok bool) {
	for _, f := range strings.Split(env, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			majors = append(majors, v)
		}
	}
	return majors, len(majors) > 0
}

func optionsFromPB(in []*pb.Option) []Option {
	out := make([]Option, len(in))
	for i, o := range in {
		out[i] = Option{Key: o.Key, Value: o.Value, HasValue: o.HasValue}
	}
	return out
}

func optionsToPB(in []Option) []*pb.Option {
	out := make([]*pb.Option, len(in))
	for i, o := range in {
		out[i] = &pb.Option{Key: o.Key, Value: o.Value, HasValue: o.HasValue}
	}
	return out
}
