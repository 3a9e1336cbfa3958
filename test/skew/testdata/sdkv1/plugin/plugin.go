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

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/gonut/gonut/sdk/internal/pb"
)

// ProtocolMajor is the plugin protocol major version, negotiated in the
// go-plugin handshake. A change that an older peer cannot understand bumps
// it; everything else is a minor feature announced through Capabilities.
const ProtocolMajor = 1

// ProtocolMinor is the highest minor feature level this SDK speaks.
const ProtocolMinor = 0

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
}

// Instance is the host's view of one running plugin.
type Instance interface {
	Capabilities(ctx context.Context, host Capabilities) (Capabilities, error)
	// Run starts the driver; recv returns updates until the stream ends.
	Run(ctx context.Context, req RunRequest) (recv func() (Update, error), err error)
	InstCmd(ctx context.Context, cmd, param string) (Result, error)
	SetVar(ctx context.Context, name, value string) (Result, error)
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
