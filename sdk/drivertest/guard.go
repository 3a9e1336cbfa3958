package drivertest

import (
	"context"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gonut/gonut/sdk/plugin"
)

// guardedServer sits between go-plugin and the SDK's server. The SDK calls
// the driver in the goroutine of each RPC, so recovering here turns a
// driver's panic into a failed call and a readable test failure instead of
// a crashed test binary. It also records when Run returns (the host only
// sees the stream end) and which calls are in progress, to say what hangs.
type guardedServer struct {
	srv plugin.Server

	runOnce sync.Once
	runDone chan struct{}

	mu     sync.Mutex
	runErr error
	ran    bool
	panics []string
	busy   map[int]call
	nextID int
}

type call struct {
	what  string
	since time.Time
}

func guard(srv plugin.Server) *guardedServer {
	return &guardedServer{srv: srv, runDone: make(chan struct{}), busy: map[int]call{}}
}

var _ plugin.Server = (*guardedServer)(nil)

func (g *guardedServer) enter(what string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.nextID++
	g.busy[g.nextID] = call{what, time.Now()}
	return g.nextID
}

func (g *guardedServer) leave(id int) {
	g.mu.Lock()
	delete(g.busy, id)
	g.mu.Unlock()
}

// recover turns a panic into an error and records it.
func (g *guardedServer) recover(what string, err *error) {
	p := recover()
	if p == nil {
		return
	}
	msg := fmt.Sprintf("%s panicked: %v\n%s", what, p, debug.Stack())
	g.mu.Lock()
	g.panics = append(g.panics, msg)
	g.mu.Unlock()
	*err = fmt.Errorf("%s panicked: %v", what, p)
}

func (g *guardedServer) Capabilities(ctx context.Context, host plugin.Capabilities) (c plugin.Capabilities, err error) {
	defer g.recover("Capabilities", &err)
	return g.srv.Capabilities(ctx, host)
}

func (g *guardedServer) Run(ctx context.Context, req plugin.RunRequest, send func(plugin.Update) error) (err error) {
	first := false
	g.runOnce.Do(func() { first = true })
	if first {
		g.mu.Lock()
		g.ran = true
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			g.runErr = err
			g.mu.Unlock()
			close(g.runDone)
		}()
	}
	id := g.enter("Run (Init, then Poll every pollinterval)")
	defer g.leave(id)
	defer g.recover("Init or Poll", &err)
	return g.srv.Run(ctx, req, send)
}

func (g *guardedServer) InstCmd(ctx context.Context, cmd, param string) (r plugin.Result, err error) {
	id := g.enter(fmt.Sprintf("InstCmd(%q, %q)", cmd, param))
	defer g.leave(id)
	defer g.recover(fmt.Sprintf("InstCmd(%q)", cmd), &err)
	return g.srv.InstCmd(ctx, cmd, param)
}

func (g *guardedServer) SetVar(ctx context.Context, name, value string) (r plugin.Result, err error) {
	id := g.enter(fmt.Sprintf("SetVar(%q, %q)", name, value))
	defer g.leave(id)
	defer g.recover(fmt.Sprintf("SetVar(%q)", name), &err)
	return g.srv.SetVar(ctx, name, value)
}

func (g *guardedServer) Shutdown(ctx context.Context) (r plugin.Result, err error) {
	id := g.enter("Shutdown")
	defer g.leave(id)
	defer g.recover("Shutdown", &err)
	return g.srv.Shutdown(ctx)
}

func (g *guardedServer) Reload(ctx context.Context, req plugin.RunRequest) (r plugin.Result, err error) {
	id := g.enter("Reload")
	defer g.leave(id)
	defer g.recover("Reload", &err)
	return g.srv.Reload(ctx, req)
}

func (g *guardedServer) started() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ran
}

// runError prefers the error Run returned on the plugin side to the gRPC
// status the stream ended with, which wraps it in transport words.
func (g *guardedServer) runError(streamErr error) error {
	select {
	case <-g.runDone:
	case <-time.After(time.Second):
		return streamErr
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.runErr != nil {
		return g.runErr
	}
	return streamErr
}

// panicked returns the recorded panics, with their stacks.
func (g *guardedServer) panicked() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.Join(g.panics, "\n")
}

// busyNote lists the driver calls still in progress, oldest first.
func (g *guardedServer) busyNote() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.busy) == 0 {
		return ""
	}
	var calls []call
	for _, c := range g.busy {
		calls = append(calls, c)
	}
	sort.Slice(calls, func(i, j int) bool { return calls[i].since.Before(calls[j].since) })
	var b strings.Builder
	b.WriteString("; still running:")
	for _, c := range calls {
		fmt.Fprintf(&b, " %s for %v;", c.what, time.Since(c.since).Round(time.Millisecond))
	}
	return strings.TrimSuffix(b.String(), ";")
}
