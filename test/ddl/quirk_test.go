package ddl

import (
	"context"
	"errors"
	"os/user"
	"testing"
	"time"

	"github.com/gonut/gonut/internal/nuttest"
	"github.com/gonut/gonut/sdk/sockproto"
)

// bigDump is a dump whose DUMPALL is far larger than what a NUT driver
// can queue on its socket (one write per line).
const bigDump = "Eaton__EPDU_MI_38U-A__snmp-ups__2.7.4__01.dev"

// stallThenDump connects to a driver socket, asks for a dump and does not
// read it for a while, as a busy upsd would; then it reads what comes
// (the driver may have dropped the connection) and returns the value of
// driver.parameter.synchronous from a fresh connection's dump.
func stallThenDump(t *testing.T, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The socket file exists from bind(); until the driver listens, a
	// connection is refused: retry (a probe that connects and hangs up
	// would trip NUT's abort, so the first connection is the real one).
	var slow *sockproto.Conn
	var err error
	for {
		if slow, err = sockproto.Dial(ctx, path); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := slow.Send("DUMPALL"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	// Read until the dump ends or the driver drops us; closing first would
	// make NUT's driver fail a write to a closed socket, on which NUT
	// 2.8.0 aborts ("bit out of range 0 - FD_SETSIZE on fd_set").
	for {
		w, err := slow.Next()
		if err != nil || w[0] == "DUMPDONE" {
			break
		}
	}
	defer slow.Close()

	c, err := sockproto.Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send("DUMPALL"); err != nil {
		t.Fatal(err)
	}
	st := sockproto.NewState()
	for {
		w, err := c.Next()
		if err != nil {
			t.Fatalf("dump from %s: %v", path, err)
		}
		if w[0] == "DUMPDONE" {
			break
		}
		if err := st.Apply(w); err != nil && !errors.Is(err, sockproto.ErrNoSuchVar) {
			t.Fatalf("%q: %v", w, err)
		}
	}
	v, _ := st.Value("driver.parameter.synchronous")
	return v
}

// TestNUTSynchronousAutoQuirk documents the NUT 2.8.0 behaviour TestDDL
// forgives: with synchronous = auto, a driver whose socket write would
// block disconnects upsd and switches itself to synchronous mode for good,
// publishing driver.parameter.synchronous "yes". gonut's drivers never
// write to upsd themselves (the host does), so they keep "auto".
func TestNUTSynchronousAutoQuirk(t *testing.T) {
	if testing.Short() {
		t.Skip("runs NUT's and gonut's dummy-ups")
	}
	nuttest.RequireNUT(t)
	sec := nuttest.Section{Name: "epdu", Driver: "dummy-ups", Port: bigDump}

	t.Run("NUT", func(t *testing.T) {
		d := nuttest.NewDir(t)
		d.CopyFile(t, nuttest.DDL(t, bigDump), bigDump)
		d.WriteUPSConf(t, nil, sec)
		// Not StartNUTDriver: its readiness probe connects and hangs up,
		// and NUT's driver aborts when it later writes to that closed
		// connection (see stallThenDump).
		me, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		p := d.Start(t, nuttest.NUTDummyUPS, "-a", sec.Name, "-u", me.Username, "-F")
		waitSocket(t, d.Socket(sec), p)
		if got := stallThenDump(t, d.Socket(sec)); got != "yes" {
			t.Errorf("NUT's driver.parameter.synchronous = %q after a stalled reader, want the quirk's \"yes\"", got)
		}
	})
	t.Run("gonut", func(t *testing.T) {
		nuttest.Build(t, nuttest.PkgHost, nuttest.PkgDummyUPS)
		d := nuttest.NewDir(t)
		d.CopyFile(t, nuttest.DDL(t, bigDump), bigDump)
		d.WriteUPSConf(t, nil, sec)
		nuttest.StartHost(t, d)
		if got := stallThenDump(t, d.Socket(sec)); got != "auto" {
			t.Errorf("gonut's driver.parameter.synchronous = %q after a stalled reader, want \"auto\"", got)
		}
	})
}
