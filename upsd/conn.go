package upsd

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/hashicorp/go-hclog"
)

// flushAt is the reply size past which a batch of pipelined requests is
// written out before the next request is handled, bounding memory.
const flushAt = 64 << 10

// conn is one network client.
type conn struct {
	srv  *Server
	nc   net.Conn
	seq  uint64 // connection order; LIST CLIENT shows newest first
	addr string // the client's IP address as NUT prints it
	log  hclog.Logger

	sc  nutconf.Scanner
	out bytes.Buffer // replies of the current batch, written in one go

	username, password       string
	haveUsername, havePasswd bool
	tracking                 bool // SET TRACKING ON
	loginUPS                 atomic.Pointer[device]
	closing                  bool // LOGOUT: close once this batch is answered
	kicked                   atomic.Bool
}

func newConn(s *Server, nc net.Conn, seq uint64) *conn {
	addr := nc.RemoteAddr().String()
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		addr = ta.IP.String()
	}
	return &conn{
		srv:  s,
		nc:   nc,
		seq:  seq,
		addr: addr,
		log:  s.log.With("client", addr),
		sc:   nutconf.Scanner{MaxWordLen: nutconf.DefaultMaxWordLen, MaxWords: nutconf.DefaultMaxWords},
	}
}

// kick makes the client's serve loop end after its current batch.
func (c *conn) kick() {
	c.kicked.Store(true)
	_ = c.nc.SetReadDeadline(time.Now())
}

// serve reads requests and answers them until the client leaves, idles
// out, logs out or is kicked. A panic ends this client only.
func (c *conn) serve() {
	defer c.srv.removeConn(c)
	defer c.nc.Close()
	defer c.logout()
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic while serving client; disconnecting it", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	c.log.Debug("client connected")
	buf := make([]byte, 4096)
	lastHeard := time.Now()
	for {
		idle := c.srv.config().IdleTimeout
		_ = c.nc.SetReadDeadline(lastHeard.Add(idle))
		// Checked after setting the deadline: a kick that comes later
		// moves the deadline to now and so still ends the Read.
		if c.kicked.Load() {
			return
		}
		n, err := c.nc.Read(buf)
		// As NUT does, every request already received is answered, even
		// after a LOGOUT in the same batch.
		for _, b := range buf[:n] {
			words, done, _ := c.sc.Feed(b)
			if !done {
				continue
			}
			lastHeard = time.Now()
			c.dispatch(words)
			if c.out.Len() >= flushAt && !c.flush() {
				return
			}
		}
		if !c.flush() || c.closing || c.kicked.Load() {
			return
		}
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				// NUT sheds clients silent for a minute.
				c.log.Debug("disconnecting idle client", "idle", idle)
			case errors.Is(err, net.ErrClosed):
			default:
				c.log.Debug("client disconnected", "error", err)
			}
			return
		}
	}
}

// flush writes the batch's replies in one write; false means the client
// is gone.
func (c *conn) flush() bool {
	if c.out.Len() == 0 {
		return true
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.config().IdleTimeout))
	_, err := c.nc.Write(c.out.Bytes())
	c.out.Reset()
	if err != nil {
		c.log.Debug("write to client failed", "error", err)
		return false
	}
	return true
}

// logout drops the client's login, if any.
func (c *conn) logout() {
	if d := c.loginUPS.Swap(nil); d != nil {
		d.numLogins.Add(-1)
	}
}

// send appends one reply line.
func (c *conn) send(format string, args ...any) {
	fmt.Fprintf(&c.out, format, args...)
	c.out.WriteByte('\n')
}

// sendErr appends "ERR <code>".
func (c *conn) sendErr(code string) {
	c.out.WriteString("ERR ")
	c.out.WriteString(code)
	c.out.WriteByte('\n')
}

// command is one entry of the verb table.
type command struct {
	handle func(c *conn, args []string)
	// needsUser: USERNAME and PASSWORD must have been given first
	// (NUT's FLAG_USER).
	needsUser bool
}

// commands is the verb table of network protocol 1.3 as NUT 2.8.0 has it
// (server/netcmds.h). Verbs match without regard to case.
var commands map[string]command

func init() {
	commands = map[string]command{
		"VER":      {handle: (*conn).cmdVer},
		"NETVER":   {handle: (*conn).cmdNetVer},
		"PROTVER":  {handle: (*conn).cmdNetVer},
		"HELP":     {handle: (*conn).cmdHelp},
		"STARTTLS": {handle: (*conn).cmdStartTLS},
		"GET":      {handle: (*conn).cmdGet},
		"LIST":     {handle: (*conn).cmdList},
		"USERNAME": {handle: (*conn).cmdUsername},
		"PASSWORD": {handle: (*conn).cmdPassword},
		"LOGIN":    {handle: (*conn).cmdLogin, needsUser: true},
		"LOGOUT":   {handle: (*conn).cmdLogout},
		"PRIMARY":  {handle: (*conn).cmdPrimary, needsUser: true},
		"MASTER":   {handle: (*conn).cmdMaster, needsUser: true},
		"FSD":      {handle: (*conn).cmdFSD, needsUser: true},
		"SET":      {handle: (*conn).cmdSet, needsUser: true},
		"INSTCMD":  {handle: (*conn).cmdInstCmd, needsUser: true},
	}
}

// dispatch answers one request line.
func (c *conn) dispatch(words []string) {
	if len(words) == 0 {
		// An empty or comment-only line: NUT answers it too.
		c.sendErr(errUnknownCommand)
		return
	}
	cmd, ok := commands[strings.ToUpper(words[0])]
	if !ok {
		c.sendErr(errUnknownCommand)
		return
	}
	if cmd.needsUser {
		if !c.haveUsername {
			c.sendErr(errUsernameRequired)
			return
		}
		if !c.havePasswd {
			c.sendErr(errPasswordRequired)
			return
		}
	}
	cmd.handle(c, words[1:])
}
