// Command benchdriver is a gonut driver plugin for gonut's benchmarks and
// fault tests. It publishes a small, fixed UPS and changes it only when it
// is told to, so that a test knows exactly when a change was made:
//
//   - ups.counter is set to each line received on the trigger socket and
//     committed at once (not at the next poll), which is what the
//     propagation benchmark times;
//   - ups.pid is the plugin process's pid, so a client can tell data of a
//     killed plugin from data of its successor.
//
// ups.conf options: trigger = PATH, a unix socket the driver listens on
// (relative paths start in NUT_CONFPATH); without it the driver only
// publishes its fixed state.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/gonut/gonut/sdk"
)

type driver struct {
	mu sync.Mutex
	l  net.Listener
}

var _ sdk.Driver = (*driver)(nil)

func (d *driver) Init(_ context.Context, dev *sdk.Device) error {
	dev.SetInfo("device.mfr", "gonut")
	dev.SetInfo("device.model", "benchdriver")
	dev.SetInfo("device.type", "ups")
	dev.SetInfo("ups.status", "OL")
	dev.SetInfo("ups.counter", "0")
	dev.SetInfo("ups.pid", strconv.Itoa(os.Getpid()))
	path, ok := dev.Options().Get("trigger")
	if !ok {
		return nil
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(dev.Options().ConfPath, path)
	}
	// A killed predecessor leaves its socket file behind.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("trigger socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("trigger socket %s: %w", path, err)
	}
	d.mu.Lock()
	d.l = l
	d.mu.Unlock()
	go d.accept(l, dev)
	return nil
}

func (d *driver) accept(l net.Listener, dev *sdk.Device) {
	for {
		c, err := l.Accept()
		if err != nil {
			return // closed by Close
		}
		go func() {
			defer c.Close()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				// Publish at once: the benchmark times exactly this
				// commit's way to a client.
				dev.SetInfo("ups.counter", sc.Text())
				if err := dev.Commit(); err != nil {
					dev.Logger().Error("commit failed", "error", err)
					return
				}
			}
		}()
	}
}

// Poll has nothing to read: the state changes only on a trigger. The SDK
// still commits and sends the heartbeat after it.
func (d *driver) Poll(context.Context, *sdk.Device) error { return nil }

// Close stops taking triggers; the process exits right after it.
func (d *driver) Close(context.Context) error {
	d.mu.Lock()
	l := d.l
	d.mu.Unlock()
	if l != nil {
		l.Close()
	}
	return nil
}

func main() {
	sdk.Serve(sdk.Info{
		Name:        "benchdriver",
		Version:     "1.0",
		Description: "gonut benchmark driver: publishes a counter on demand",
		Options:     []sdk.OptionInfo{{Name: "trigger", Help: "unix socket; each line received becomes ups.counter"}},
	}, &driver{})
}
