// Package control is nut-driver-host's control API: gRPC on a unix socket
// in STATEPATH (nut-driver-host.ctl), spoken by upsdrvctl and
// upsdrvsvcctl. Access is the socket's file permissions: mode 0660, owned
// by ups.conf's user and group when the host runs as root.
package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
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
	Kind                     string // "gonut" (plugin) or "nut" (NUT driver)
	Since                    time.Time
	Failures                 int    // consecutive failed runs
	ExitStatus               string // how the last driver process ended
	UPSStatus                string // ups.status as last published
	SDOrder                  int
}

// HostStats is the host process's own resource use.
type HostStats struct {
	PID, Goroutines, FDs int
	RSSBytes             int64
}

// ResyncResult is what a resync changed.
type ResyncResult struct {
	Added, Removed, Restarted []string
	Reloaded                  []string // changed in place by their running plugins
	UpsdPID                   int      // the upsd told to reread ups.conf, 0 if none
}

// ShutdownStep is one driver's shutdown outcome.
type ShutdownStep struct {
	UPS, Driver string
	SDOrder     int
	Err         error
}

// Backend is what the host implements.
type Backend interface {
	Start(ctx context.Context, ups ...string) error
	Stop(ups ...string) error
	Restart(ctx context.Context, ups ...string) error
	Status() []Instance
	Stats() HostStats
	Resync(ctx context.Context) (ResyncResult, error)
	Shutdown(ctx context.Context, ups ...string) ([]ShutdownStep, error)
	Dump(ups ...string) (map[string][]string, error)
	Exit()
}

type server struct {
	pb.UnimplementedControlServer
	b Backend
}

func errStrings(err error) []string {
	if err == nil {
		return nil
	}
	var errs []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			errs = append(errs, errStrings(e)...)
		}
	} else {
		errs = []string{err.Error()}
	}
	return errs
}

func result(err error) *pb.Result { return &pb.Result{Errors: errStrings(err)} }

func (s *server) Start(ctx context.Context, t *pb.Target) (*pb.Result, error) {
	return result(s.b.Start(ctx, t.Ups...)), nil
}

func (s *server) Stop(_ context.Context, t *pb.Target) (*pb.Result, error) {
	return result(s.b.Stop(t.Ups...)), nil
}

func (s *server) Restart(ctx context.Context, t *pb.Target) (*pb.Result, error) {
	return result(s.b.Restart(ctx, t.Ups...)), nil
}

func (s *server) Status(context.Context, *pb.Target) (*pb.StatusReply, error) {
	st := s.b.Stats()
	r := &pb.StatusReply{HostPid: int32(os.Getpid()), Goroutines: int32(st.Goroutines), Fds: int32(st.FDs), RssBytes: st.RSSBytes}
	for _, in := range s.b.Status() {
		var since int64
		if !in.Since.IsZero() {
			since = in.Since.UnixMilli()
		}
		r.Instances = append(r.Instances, &pb.InstanceStatus{
			Ups: in.UPS, Driver: in.Driver, Path: in.Path, State: in.State,
			Pid: int32(in.PID), Restarts: int32(in.Restarts), LastError: in.LastError,
			Kind: in.Kind, SinceUnixMs: since, Failures: int32(in.Failures), ExitStatus: in.ExitStatus,
			UpsStatus: in.UPSStatus, Sdorder: int32(in.SDOrder),
		})
	}
	return r, nil
}

func (s *server) Resync(ctx context.Context, _ *pb.Target) (*pb.ResyncReply, error) {
	r, err := s.b.Resync(ctx)
	return &pb.ResyncReply{Added: r.Added, Removed: r.Removed, Restarted: r.Restarted, Reloaded: r.Reloaded,
		UpsdPid: int32(r.UpsdPID), Errors: errStrings(err)}, nil
}

func (s *server) Shutdown(ctx context.Context, t *pb.Target) (*pb.ShutdownReply, error) {
	steps, err := s.b.Shutdown(ctx, t.Ups...)
	r := &pb.ShutdownReply{Errors: errStrings(err)}
	for _, st := range steps {
		e := ""
		if st.Err != nil {
			e = st.Err.Error()
		}
		r.Steps = append(r.Steps, &pb.ShutdownStep{Ups: st.UPS, Driver: st.Driver, Sdorder: int32(st.SDOrder), Error: e})
	}
	return r, nil
}

func (s *server) Dump(_ context.Context, t *pb.Target) (*pb.DumpReply, error) {
	d, err := s.b.Dump(t.Ups...)
	r := &pb.DumpReply{Errors: errStrings(err)}
	names := t.Ups
	if len(names) == 0 {
		for n := range d {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	for _, n := range names {
		if lines, ok := d[n]; ok {
			r.Instances = append(r.Instances, &pb.InstanceDump{Ups: n, Lines: lines})
		}
	}
	return r, nil
}

func (s *server) Exit(context.Context, *pb.Target) (*pb.Result, error) {
	go s.b.Exit()
	return &pb.Result{}, nil
}

// Owner is who may use the control socket besides root: ups.conf's user
// and group. Empty fields leave the socket to the host's own user.
type Owner struct{ User, Group string }

// chown gives the socket to o when the host runs as root; the mode (0660)
// keeps everyone else out.
func (o Owner) chown(path string) error {
	if os.Geteuid() != 0 || (o.User == "" && o.Group == "") {
		return nil
	}
	uid, gid := -1, -1
	if o.User != "" {
		u, err := user.Lookup(o.User)
		if err != nil {
			return fmt.Errorf("control socket owner: user %q: %w", o.User, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		if o.Group == "" {
			gid, _ = strconv.Atoi(u.Gid)
		}
	}
	if o.Group != "" {
		g, err := user.LookupGroup(o.Group)
		if err != nil {
			return fmt.Errorf("control socket owner: group %q: %w", o.Group, err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	return os.Chown(path, uid, gid)
}

// Serve listens on the control socket and serves b until ctx ends. A stale
// socket from a dead host is replaced; a live one is an error.
func Serve(ctx context.Context, statePath string, owner Owner, b Backend) error {
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
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := owner.chown(path); err != nil {
		l.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
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
	return toErrors(r.Errors)
}

func toErrors(s []string) []error {
	var out []error
	for _, e := range s {
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

// Restart stops and starts instances (all running ones when none named).
func (c *Client) Restart(ctx context.Context, ups ...string) []error {
	return errsOf(c.c.Restart(ctx, &pb.Target{Ups: ups}))
}

// Exit ends the host.
func (c *Client) Exit(ctx context.Context) error {
	_, err := c.c.Exit(ctx, &pb.Target{})
	return err
}

// Status lists instances and the host's pid.
func (c *Client) Status(ctx context.Context) ([]Instance, int, error) {
	in, st, err := c.StatusStats(ctx)
	return in, st.PID, err
}

// StatusStats lists instances and the host's pid and resource use.
func (c *Client) StatusStats(ctx context.Context) ([]Instance, HostStats, error) {
	r, err := c.c.Status(ctx, &pb.Target{})
	if err != nil {
		return nil, HostStats{}, err
	}
	var out []Instance
	for _, in := range r.Instances {
		var since time.Time
		if in.SinceUnixMs != 0 {
			since = time.UnixMilli(in.SinceUnixMs)
		}
		out = append(out, Instance{UPS: in.Ups, Driver: in.Driver, Path: in.Path, State: in.State,
			PID: int(in.Pid), Restarts: int(in.Restarts), LastError: in.LastError,
			Kind: in.Kind, Since: since, Failures: int(in.Failures), ExitStatus: in.ExitStatus,
			UPSStatus: in.UpsStatus, SDOrder: int(in.Sdorder)})
	}
	return out, HostStats{PID: int(r.HostPid), Goroutines: int(r.Goroutines), FDs: int(r.Fds), RSSBytes: r.RssBytes}, nil
}

// Resync asks the host to follow ups.conf.
func (c *Client) Resync(ctx context.Context) (ResyncResult, []error) {
	r, err := c.c.Resync(ctx, &pb.Target{})
	if err != nil {
		return ResyncResult{}, []error{err}
	}
	return ResyncResult{Added: r.Added, Removed: r.Removed, Restarted: r.Restarted, Reloaded: r.Reloaded,
		UpsdPID: int(r.UpsdPid)}, toErrors(r.Errors)
}

// Shutdown runs the drivers' shutdown sequences in sdorder.
func (c *Client) Shutdown(ctx context.Context, ups ...string) ([]ShutdownStep, []error) {
	r, err := c.c.Shutdown(ctx, &pb.Target{Ups: ups})
	if err != nil {
		return nil, []error{err}
	}
	var steps []ShutdownStep
	for _, s := range r.Steps {
		st := ShutdownStep{UPS: s.Ups, Driver: s.Driver, SDOrder: int(s.Sdorder)}
		if s.Error != "" {
			st.Err = errors.New(s.Error)
		}
		steps = append(steps, st)
	}
	return steps, toErrors(r.Errors)
}

// Dump returns instances' state as driver socket messages, by UPS.
func (c *Client) Dump(ctx context.Context, ups ...string) ([]string, map[string][]string, []error) {
	r, err := c.c.Dump(ctx, &pb.Target{Ups: ups})
	if err != nil {
		return nil, nil, []error{err}
	}
	var order []string
	out := map[string][]string{}
	for _, d := range r.Instances {
		order = append(order, d.Ups)
		out[d.Ups] = d.Lines
	}
	return order, out, toErrors(r.Errors)
}
