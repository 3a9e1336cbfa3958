package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gonut/gonut/sdk/nutconf"
	"github.com/gonut/gonut/sdk/plugin"
)

// ResyncResult says what a resync changed, by UPS name.
type ResyncResult struct {
	Added, Removed, Restarted []string
	// Reloaded were changed in place by their running plugins.
	Reloaded []string
	// UpsdSignalled is the pid of the upsd told to reread ups.conf (0: none
	// was running, or nothing changed).
	UpsdSignalled int
}

// Changed reports whether the resync changed any instance.
func (r ResyncResult) Changed() bool {
	return len(r.Added)+len(r.Removed)+len(r.Restarted)+len(r.Reloaded) > 0
}

// reloadable reports whether a change from a to b may be applied to the
// running driver: same driver and port (a new device needs a new run).
func reloadable(a, b *nutconf.UPSSection) bool {
	return a.Driver == b.Driver && a.Port == b.Port
}

// reload hands the running plugin its new section. On success the
// instance keeps running with s as its section.
func (in *Instance) reload(ctx context.Context, s *nutconf.UPSSection, conf *nutconf.UPSConf) error {
	in.mu.Lock()
	kind := in.kind
	in.mu.Unlock()
	p := in.plugin()
	if kind != KindPlugin || p == nil {
		return fmt.Errorf("UPS %s has no running gonut plugin", in.name)
	}
	sec, glob := pluginOptions(s, conf)
	ctx, cancel := context.WithTimeout(ctx, in.h.cfg.CommandTimeout)
	defer cancel()
	res, err := p.Reload(ctx, plugin.RunRequest{UPS: in.name, Driver: in.driver, Options: sec, Global: glob,
		ConfPath: in.h.cfg.ConfPath, StatePath: in.h.cfg.StatePath, Debug: in.h.cfg.Debug})
	switch {
	case err != nil:
		return fmt.Errorf("reload call: %w", err)
	case res.NotSupported():
		return fmt.Errorf("driver %s does not reload its configuration", in.driver)
	case res.Status != plugin.StatHandled:
		return fmt.Errorf("driver %s refused the new configuration: %s (status %d)", in.driver, res.Message, res.Status)
	}
	in.mu.Lock()
	in.sec = s
	in.mu.Unlock()
	in.log.Info("configuration reloaded in place")
	return nil
}

// sameSection reports whether a running instance of a can go on serving
// section b unchanged: same driver and the same options in the same
// order. (Line numbers may differ.)
func sameSection(a, b *nutconf.UPSSection) bool {
	return a.Driver == b.Driver && slices.EqualFunc(a.Options, b.Options, func(x, y nutconf.Option) bool {
		return x.Key == y.Key && x.Value == y.Value && x.HasValue == y.HasValue
	})
}

func sameGlobal(a, b *nutconf.UPSConf) bool {
	return slices.EqualFunc(a.Global, b.Global, func(x, y nutconf.Option) bool {
		return x.Key == y.Key && x.Value == y.Value && x.HasValue == y.HasValue
	})
}

// Resync rereads ups.conf and makes the running instances follow it, as
// nut-driver-enumerator does for service units: a new section is started,
// a removed one stopped, a changed one (driver or any option; any global
// option changes them all) restarted; the others are not touched. A
// section stopped on purpose stays stopped. Then a running upsd is told
// (SIGHUP, as `upsd -c reload`) to reread ups.conf, so that LIST UPS
// follows without restarting it. A ups.conf that does not load changes
// nothing.
func (h *Host) Resync(ctx context.Context) (ResyncResult, error) {
	h.resyncMu.Lock()
	defer h.resyncMu.Unlock()
	var r ResyncResult
	next, err := nutconf.LoadUPSConf(filepath.Join(h.cfg.ConfPath, "ups.conf"))
	if err != nil {
		return r, fmt.Errorf("resync: %w; keeping the running configuration", err)
	}
	h.mu.Lock()
	prev := h.conf
	globalSame := sameGlobal(prev, next)
	var stop, start []string
	reload := map[*Instance]*nutconf.UPSSection{}
	for name, in := range h.instances {
		s := next.Section(name)
		switch {
		case s == nil:
			r.Removed = append(r.Removed, name)
			stop = append(stop, name)
		case !globalSame || !sameSection(in.section(), s):
			if globalSame && reloadable(in.section(), s) {
				reload[in] = s
				continue
			}
			r.Restarted = append(r.Restarted, name)
			stop = append(stop, name)
			start = append(start, name)
		}
	}
	for _, s := range next.Sections {
		if _, running := h.instances[s.Name]; !running && !h.held[s.Name] {
			r.Added = append(r.Added, s.Name)
			start = append(start, s.Name)
		}
	}
	for name := range h.held {
		if next.Section(name) == nil {
			delete(h.held, name)
		}
	}
	h.conf = next
	h.mu.Unlock()
	// A section whose driver and port are the same is first offered to
	// the running plugin (NUT's `-c reload`); a plugin that cannot take
	// it, or is not running, is restarted.
	for in, s := range reload {
		if err := in.reload(ctx, s, next); err != nil {
			in.log.Info("reload in place not possible; restarting", "reason", err)
			r.Restarted = append(r.Restarted, in.name)
			stop = append(stop, in.name)
			start = append(start, in.name)
			continue
		}
		r.Reloaded = append(r.Reloaded, in.name)
	}
	sort.Strings(r.Added)
	sort.Strings(r.Reloaded)
	sort.Strings(r.Removed)
	sort.Strings(r.Restarted)

	var errs []error
	if len(stop) > 0 {
		if err := h.Stop(stop...); err != nil {
			errs = append(errs, err)
		}
	}
	if len(start) > 0 {
		if err := h.Start(ctx, start...); err != nil {
			// Failed instances keep being retried; report them.
			errs = append(errs, err)
		}
	}
	if r.Changed() {
		h.log.Info("resync", "added", r.Added, "removed", r.Removed, "restarted", r.Restarted, "reloaded", r.Reloaded)
		if pid, err := SignalUpsd(h.cfg.StatePath); err != nil {
			h.log.Warn("resync: could not tell upsd to reread ups.conf", "error", err)
		} else {
			r.UpsdSignalled = pid
		}
	}
	return r, errors.Join(errs...)
}

// UpsdPIDFile is where upsd's pid file is: $NUT_ALTPIDPATH, else statePath.
func UpsdPIDFile(statePath string) string {
	if p := os.Getenv("NUT_ALTPIDPATH"); p != "" {
		return filepath.Join(p, "upsd.pid")
	}
	return filepath.Join(statePath, "upsd.pid")
}

// SignalUpsd sends SIGHUP to the upsd named by its pid file, as `upsd -c
// reload` does. No pid file is no error (upsd is not running: it reads
// ups.conf when it starts) and returns pid 0.
func SignalUpsd(statePath string) (int, error) {
	f := UpsdPIDFile(statePath)
	b, err := os.ReadFile(f)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("upsd pid file %s holds %q", f, bytes.TrimSpace(b))
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return 0, nil // a stale pid file: no upsd runs
		}
		return 0, fmt.Errorf("signalling upsd (pid %d from %s): %w", pid, f, err)
	}
	return pid, nil
}

// confVersion identifies ups.conf's content; two equal versions mean the
// same bytes.
type confVersion struct {
	size    int64
	modTime time.Time
	sum     [32]byte
	missing bool
}

func readConfVersion(path string) confVersion {
	b, err := os.ReadFile(path)
	if err != nil {
		return confVersion{missing: true}
	}
	st, err := os.Stat(path)
	v := confVersion{size: int64(len(b)), sum: sha256.Sum256(b)}
	if err == nil {
		v.modTime = st.ModTime()
	}
	return v
}

func (v confVersion) sameContent(w confVersion) bool {
	return v.missing == w.missing && v.size == w.size && v.sum == w.sum
}

// Watch resyncs whenever ups.conf's content changes on disk, until ctx
// ends. It polls every interval (size, mtime and a SHA-256 of the bytes:
// an editor that saves the same bytes changes nothing) and waits until
// the file has stayed the same for one more interval, so that a file
// written in several steps is read once, whole.
func (h *Host) Watch(ctx context.Context, interval time.Duration) {
	path := filepath.Join(h.cfg.ConfPath, "ups.conf")
	applied := readConfVersion(path)
	last := applied
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := readConfVersion(path)
		if cur.sameContent(applied) {
			last = cur
			continue
		}
		if !cur.sameContent(last) || cur.modTime != last.modTime {
			last = cur // still changing: wait for it to settle
			continue
		}
		applied = cur
		if cur.missing {
			h.log.Warn("ups.conf is gone; keeping the running configuration", "path", path)
			continue
		}
		h.log.Info("ups.conf changed on disk; resyncing", "path", path)
		if _, err := h.Resync(ctx); err != nil {
			h.log.Error("resync", "error", err)
		}
	}
}

// Restart stops and starts the named instances (all when none named).
func (h *Host) Restart(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		h.mu.Lock()
		for n := range h.instances {
			names = append(names, n)
		}
		h.mu.Unlock()
	}
	var errs []error
	var running []string
	h.mu.Lock()
	for _, n := range names {
		if _, ok := h.instances[n]; ok {
			running = append(running, n)
		}
	}
	h.mu.Unlock()
	if len(running) > 0 {
		if err := h.Stop(running...); err != nil {
			errs = append(errs, err)
		}
	}
	if err := h.Start(ctx, names...); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Dump returns each named instance's state as driver socket messages (the
// lines a DUMPALL would send), all instances when none is named.
func (h *Host) Dump(names ...string) (map[string][]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]string{}
	if len(names) == 0 {
		for n := range h.instances {
			names = append(names, n)
		}
	}
	for _, n := range names {
		in, ok := h.instances[n]
		if !ok {
			return nil, fmt.Errorf("UPS %q is not running", n)
		}
		if in.sock == nil {
			out[n] = []string{fmt.Sprintf("# %s is a NUT driver serving its own socket %s; read it through upsd (upsc %s)",
				in.driver, SocketPath(h.cfg.StatePath, in.driver, n), n)}
			continue
		}
		out[n] = in.sock.Snapshot().Dump()
	}
	return out, nil
}

// shutdowner is the host-side plugin call behind `upsdrvctl shutdown`
// (sdk/plugin Instance.Shutdown, asserted so that this compiles against
// an sdk without it).
type shutdowner interface {
	Shutdown(ctx context.Context) (plugin.Result, error)
}

// ShutdownOrder returns the sections of names (all when empty) in the
// order `upsdrvctl shutdown` handles them: sdorder 0, 1, 2, ...; ties in
// ups.conf order; sdorder -1 never.
func ShutdownOrder(conf *nutconf.UPSConf, names []string) ([]*nutconf.UPSSection, error) {
	var secs []*nutconf.UPSSection
	if len(names) == 0 {
		secs = slices.Clone(conf.Sections)
	} else {
		for _, n := range names {
			s := conf.Section(n)
			if s == nil {
				return nil, fmt.Errorf("UPS %s not found in ups.conf", n)
			}
			secs = append(secs, s)
		}
	}
	secs = slices.DeleteFunc(secs, func(s *nutconf.UPSSection) bool { return s.SDOrder < 0 })
	sort.SliceStable(secs, func(i, j int) bool { return secs[i].SDOrder < secs[j].SDOrder })
	return secs, nil
}

// ShutdownStep is the outcome of one driver's shutdown.
type ShutdownStep struct {
	UPS, Driver string
	SDOrder     int
	Err         error
}

// Shutdown asks each named driver (all when none named), one after the
// other in sdorder, to run its shutdown sequence (NUT's `driver -k`), and
// waits for each. A gonut plugin must be running; a NUT driver is run as
// `<exe> -a <ups> -k`. A failure does not stop the sequence.
func (h *Host) Shutdown(ctx context.Context, names ...string) ([]ShutdownStep, error) {
	secs, err := ShutdownOrder(h.Conf(), names)
	if err != nil {
		return nil, err
	}
	var steps []ShutdownStep
	for _, s := range secs {
		st := ShutdownStep{UPS: s.Name, Driver: s.Driver, SDOrder: s.SDOrder}
		st.Err = h.shutdownOne(ctx, s)
		if st.Err != nil {
			h.log.Error("shutdown failed", "ups", s.Name, "driver", s.Driver, "error", st.Err)
		} else {
			h.log.Info("shutdown done", "ups", s.Name, "driver", s.Driver, "sdorder", s.SDOrder)
		}
		steps = append(steps, st)
	}
	return steps, nil
}

func (h *Host) shutdownOne(ctx context.Context, s *nutconf.UPSSection) error {
	h.mu.Lock()
	in := h.instances[s.Name]
	h.mu.Unlock()
	wait := h.cfg.ShutdownWait
	if in == nil {
		return fmt.Errorf("UPS %s: no driver instance; start it first (upsdrvctl start %s)", s.Name, s.Name)
	}
	if wait == 0 {
		wait = in.maxStartDelay()
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	in.mu.Lock()
	kind := in.kind
	in.mu.Unlock()
	if kind == KindNUT {
		return in.shutdownNUT(ctx)
	}
	p := in.plugin()
	if p == nil {
		st := in.Status()
		return fmt.Errorf("UPS %s: driver %s is %s, not running (last error: %s)", s.Name, s.Driver, st.State, st.LastError)
	}
	sd, ok := any(p).(shutdowner)
	if !ok {
		return fmt.Errorf("UPS %s: this host's plugin protocol has no shutdown call; driver %s cannot power the UPS off", s.Name, s.Driver)
	}
	r, err := sd.Shutdown(ctx)
	if err != nil {
		return fmt.Errorf("UPS %s: driver %s shutdown: %w", s.Name, s.Driver, err)
	}
	if r.Status != plugin.StatHandled {
		msg := r.Message
		if msg == "" {
			msg = "status " + strconv.Itoa(r.Status)
		}
		return fmt.Errorf("UPS %s: driver %s did not shut the UPS down: %s", s.Name, s.Driver, msg)
	}
	return nil
}
