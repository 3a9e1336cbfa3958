// Package control is nut-driver-host's control API: gRPC on a unix socket
// in STATEPATH (nut-driver-host.ctl), spoken by upsdrvctl. Access is the
// socket's file permissions.
package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gonut/gonut/host/control/pb"
)

// SocketName is the control socket's file name in STATEPATH.
const SocketName = "nut-driver-host.ctl"

// PIDName is the host's pid file name in STATEPATH.
const PIDName = "nut-driver-host.pid"

// SocketPath returns the control socket's path.
func SocketPath(statePath string) string { return filepath.Join(statePath, SocketName) }

// Instance is one instance's status.
type Instance struct {
	UPS, Driver, Path, State string
	PID, Restarts            int
	LastError                string
}

// Backend is what the host implements.
type Backend interface {
	Start(ctx context.Context, ups ...string) error
	Stop(ups ...string) error
	Status() []Instance
	Exit()
}

type server struct {
	pb.UnimplementedControlServer
	b Backend
}

func result(err error) *pb.Result {
	if err == nil {
		return &pb.Result{}
	}
	var errs []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			errs = append(errs, e.Error())
		}
	} else {
		errs = []string{err.Error()}
	}
	return &pb.Result{Errors: errs}
}

func (s *server) Start(ctx context.Context, t *pb.Target) (*pb.Result, error) {
	return result(s.b.Start(ctx, t.Ups...)), nil
}

func (s *server) Stop(_ context.Context, t *pb.Target) (*pb.Result, error) {
	return result(s.b.Stop(t.Ups...)), nil
}

func (s *server) Status(context.Context, *pb.Target) (*pb.StatusReply, error) {
	r := &pb.StatusReply{HostPid: int32(os.Getpid())}
	for _, in := range s.b.Status() {
		r.Instances = append(r.Instances, &pb.InstanceStatus{
			Ups: in.UPS, Driver: in.Driver, Path: in.Path, State: in.State,
			Pid: int32(in.PID), Restarts: int32(in.Restarts), LastError: in.LastError,
		})
	}
	return r, nil
}

func (s *server) Exit(context.Context, *pb.Target) (*pb.Result, error) {
	go s.b.Exit()
	return &pb.Result{}, nil
}

// Serve listens on the control socket and serves b until ctx ends. A stale
// socket from a dead host is replaced; a live one is an error.
func Serve(ctx context.Context, statePath string, b Backend) error {
	path := SocketPath(statePath)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("another nut-driver-host is already running (control socket %s answers)", path)
	}
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	_ = os.Chmod(path, 0o660)
	g := grpc.NewServer()
	pb.RegisterControlServer(g, &server{b: b})
	go func() {
		<-ctx.Done()
		// Let in-flight calls (Exit itself) get their reply.
		t := time.AfterFunc(2*time.Second, g.Stop)
		g.GracefulStop()
		t.Stop()
		os.Remove(path)
	}()
	if err := g.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Client talks to a running host.
type Client struct {
	cc *grpc.ClientConn
	c  pb.ControlClient
}

// Dial connects to the host's control socket; it fails fast when no host
// is running.
func Dial(statePath string) (*Client, error) {
	path := SocketPath(statePath)
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil, fmt.Errorf("nut-driver-host is not running (no answer on %s): %w", path, err)
	}
	c.Close()
	cc, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &Client{cc: cc, c: pb.NewControlClient(cc)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.cc.Close() }

func errsOf(r *pb.Result, err error) []error {
	if err != nil {
		return []error{err}
	}
	var out []error
	for _, e := range r.Errors {
		out = append(out, errors.New(e))
	}
	return out
}

// Start starts instances (all when none named); one error per failed instance.
func (c *Client) Start(ctx context.Context, ups ...string) []error {
	return errsOf(c.c.Start(ctx, &pb.Target{Ups: ups}))
}

// Stop stops instances (all when none named).
func (c *Client) Stop(ctx context.Context, ups ...string) []error {
	return errsOf(c.c.Stop(ctx, &pb.Target{Ups: ups}))
}

// Exit ends the host.
func (c *Client) Exit(ctx context.Context) error {
	_, err := c.c.Exit(ctx, &pb.Target{})
	return err
}

// Status lists instances and the host's pid.
func (c *Client) Status(ctx context.Context) ([]Instance, int, error) {
	r, err := c.c.Status(ctx, &pb.Target{})
	if err != nil {
		return nil, 0, err
	}
	var out []Instance
	for _, in := range r.Instances {
		out = append(out, Instance{UPS: in.Ups, Driver: in.Driver, Path: in.Path, State: in.State,
			PID: int(in.Pid), Restarts: int(in.Restarts), LastError: in.LastError})
	}
	return out, int(r.HostPid), nil
}
