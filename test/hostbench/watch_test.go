package hostbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"github.com/gonut/gonut/sdk/sockproto"
	"golang.org/x/sys/unix"
)

// watcher follows one driver state socket from before it exists until it
// is closed, and records when its data turns fresh. It connects once and
// keeps the connection: NUT 2.8.0's drivers abort when they write to a
// client that hung up, so a connect-and-drop probe would plant crashes.
type watcher struct {
	path string

	mu        sync.Mutex
	conn      *sockproto.Conn
	hasStatus bool      // ups.status has been seen
	ok        bool      // the last freshness word was DATAOK
	fresh     bool      // hasStatus && ok
	freshGen  int       // how many times the socket turned fresh
	freshAt   time.Time // when it last turned fresh
	staleAt   time.Time // when it last turned not fresh
	err       error     // why the watcher stopped, if it did early
	changed   chan struct{}
	appeared  chan struct{} // closed once the socket file exists
	appear    sync.Once
	cancel    context.CancelFunc
	done      chan struct{}
	connected time.Time
}

// watch starts a watcher on path. It dials once the socket file has
// appeared (see dirWatch) and then retries every millisecond until the
// socket accepts the connection (it is bound before it listens).
func watch(path string) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{path: path, changed: make(chan struct{}), appeared: make(chan struct{}),
		cancel: cancel, done: make(chan struct{})}
	go w.run(ctx)
	return w
}

func (w *watcher) markAppeared() { w.appear.Do(func() { close(w.appeared) }) }

func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	select {
	case <-w.appeared:
	case <-ctx.Done():
		return
	}
	var c *sockproto.Conn
	for {
		var err error
		c, err = sockproto.Dial(ctx, w.path)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Millisecond):
		}
	}
	w.mu.Lock()
	w.conn, w.connected = c, time.Now()
	w.mu.Unlock()
	go func() { <-ctx.Done(); c.Close() }()
	if err := c.Send("DUMPALL"); err != nil {
		w.stop(fmt.Errorf("%s: DUMPALL: %w", w.path, err))
		return
	}
	for {
		words, err := c.Next()
		if err != nil {
			if ctx.Err() == nil {
				w.stop(fmt.Errorf("%s: read: %w", w.path, err))
			}
			return
		}
		w.handle(words)
	}
}

func (w *watcher) stop(err error) {
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
	w.notify()
}

func (w *watcher) handle(words []string) {
	now := time.Now()
	w.mu.Lock()
	switch {
	case words[0] == "SETINFO" && len(words) >= 3 && words[1] == "ups.status":
		w.hasStatus = true
	case words[0] == "DATAOK":
		w.ok = true
	case words[0] == "DATASTALE":
		w.ok = false
	}
	fresh := w.hasStatus && w.ok
	changed := fresh != w.fresh
	if changed {
		w.fresh = fresh
		if fresh {
			w.freshGen++
			w.freshAt = now
		} else {
			w.staleAt = now
		}
	}
	w.mu.Unlock()
	if changed {
		w.notify()
	}
}

// notify wakes everyone waiting in waitFresh.
func (w *watcher) notify() {
	w.mu.Lock()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// state returns whether the socket is fresh, how often it turned fresh and
// when it last did.
func (w *watcher) state() (fresh bool, gen int, at time.Time, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fresh, w.freshGen, w.freshAt, w.err
}

// waitFresh waits until the socket is fresh for at least the gen-th time
// and returns when it turned so.
func (w *watcher) waitFresh(gen int, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		fresh, g, at, err, ch := w.fresh, w.freshGen, w.freshAt, w.err, w.changed
		w.mu.Unlock()
		switch {
		case err != nil:
			return time.Time{}, err
		case fresh && g >= gen:
			return at, nil
		}
		select {
		case <-ch:
		case <-deadline:
			w.mu.Lock()
			conn, status := w.conn != nil, w.hasStatus
			w.mu.Unlock()
			return time.Time{}, fmt.Errorf("%s not fresh (turn %d) after %s: connected %v, ups.status seen %v, fresh %v",
				w.path, gen, timeout, conn, status, fresh)
		}
	}
}

// close ends the watcher and waits for its goroutine.
func (w *watcher) close() {
	w.cancel()
	<-w.done
}

var errNoWatchers = errors.New("no instances")

// allFresh waits until every watcher is fresh for the first time and
// returns the latest of the moments they turned fresh.
func allFresh(ws []*watcher, timeout time.Duration) (time.Time, error) {
	if len(ws) == 0 {
		return time.Time{}, errNoWatchers
	}
	var last time.Time
	deadline := time.Now().Add(timeout)
	for _, w := range ws {
		at, err := w.waitFresh(1, max(time.Until(deadline), time.Millisecond))
		if err != nil {
			return time.Time{}, err
		}
		if at.After(last) {
			last = at
		}
	}
	return last, nil
}

// dirWatch tells each watcher when its socket file appears in dir, from
// inotify: polling 200 paths every millisecond for minutes would take a
// good part of a CPU from the drivers being measured. It returns a
// function that ends the watch.
func dirWatch(dir string, ws []*watcher) (stop func(), err error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch %s: %w", dir, err)
	}
	// A non-blocking descriptor goes to Go's poller, so Close ends a
	// pending Read.
	f := os.NewFile(uintptr(fd), "inotify:"+dir)
	byName := map[string]*watcher{}
	for _, w := range ws {
		byName[filepath.Base(w.path)] = w
		// Sockets made before the watch was added raise no event.
		if _, err := os.Lstat(w.path); err == nil {
			w.markAppeared()
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				nameStart := off + unix.SizeofInotifyEvent
				name := cString(buf[nameStart : nameStart+int(ev.Len)])
				if w := byName[name]; w != nil {
					w.markAppeared()
				}
				off = nameStart + int(ev.Len)
			}
		}
	}()
	return func() { f.Close(); <-done }, nil
}

// cString is b up to its first NUL.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
