package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/gonut/gonut/client"
	"github.com/gonut/gonut/sdk/nutconf"
)

// Snapshot is one poll of a UPS: its variables by name.
type Snapshot map[string]string

// Source reads a UPS's variables: LIST VAR through upsd.
type Source interface {
	Vars(ctx context.Context) (Snapshot, error)
}

// maxRawWords is the most words a value is written unquoted with; longer
// ones are quoted so that dummy-ups' 32-word line limit cannot cut them.
const maxRawWords = 16

// Recorder turns successive snapshots of a UPS into a dummy-ups sequence
// file: a full snapshot first, then, at each poll where something changed,
// "TIMER <seconds since the previous change>" followed by the variables
// that changed. dummy-ups replays it by applying each block and pausing
// for each TIMER, so the replay goes through the same states with the same
// timing (to the second).
type Recorder struct {
	Out  io.Writer // the .seq file
	Echo io.Writer // where each block is echoed, as NUT's recorder does; nil: nowhere

	prev       Snapshot
	lastChange time.Time
}

// isDriverVar says whether a variable is the serving driver's own:
// dummy-ups publishes its own driver.* and skips such lines in a file, so
// they are written in the first block as comments (to show what was
// recorded) and never as changes.
func isDriverVar(name string) bool { return strings.HasPrefix(name, "driver.") }

// Header writes the comment that opens the file.
func (r *Recorder) Header(ups string, interval time.Duration, at time.Time) error {
	_, err := fmt.Fprintf(r.Out, "# dummy-ups sequence recorded with nut-recorder from %s every %s, starting %s\n",
		ups, interval, at.UTC().Format(time.RFC3339))
	return err
}

// First writes the full snapshot that starts the sequence.
func (r *Recorder) First(s Snapshot, at time.Time) error {
	var b strings.Builder
	for _, name := range sortedNames(s) {
		line := varLine(name, s[name])
		if isDriverVar(name) {
			line = "# " + line
		}
		b.WriteString(line)
	}
	r.prev, r.lastChange = s, at
	return r.write("Initial data:\n", b.String())
}

// Next writes what changed since the previous snapshot, if anything. A
// variable that is gone is written with an empty quoted value, which makes
// dummy-ups delete it.
func (r *Recorder) Next(s Snapshot, at time.Time) error {
	var b strings.Builder
	for _, name := range sortedNames(s) {
		if isDriverVar(name) {
			continue
		}
		if old, ok := r.prev[name]; !ok || old != s[name] {
			b.WriteString(varLine(name, s[name]))
		}
	}
	for _, name := range sortedNames(r.prev) {
		if _, ok := s[name]; !ok && !isDriverVar(name) {
			fmt.Fprintf(&b, "%s: \"\"\n", name)
		}
	}
	r.prev = s
	if b.Len() == 0 {
		return nil
	}
	timer := fmt.Sprintf("TIMER %d\n", r.seconds(at))
	r.lastChange = at
	return r.write("", timer+b.String())
}

// Finish writes a last TIMER for the time since the last change, so that
// a replay holds the last state as long as it lasted before starting over
// from the top of the file.
func (r *Recorder) Finish(at time.Time) error {
	if r.prev == nil {
		return nil
	}
	return r.write("", fmt.Sprintf("TIMER %d\n", r.seconds(at)))
}

// seconds is the time since the last change in whole seconds (dummy-ups'
// unit), at least 1: a TIMER 0 does not pause at all.
func (r *Recorder) seconds(at time.Time) int {
	s := int(math.Round(at.Sub(r.lastChange).Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

func (r *Recorder) write(echoPrefix, block string) error {
	if _, err := io.WriteString(r.Out, block); err != nil {
		return err
	}
	if f, ok := r.Out.(interface{ Sync() error }); ok {
		// A recording is often ended by Ctrl-C or a power cut: keep
		// what was seen so far on disk.
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if r.Echo != nil {
		io.WriteString(r.Echo, echoPrefix+block)
	}
	return nil
}

func sortedNames(s Snapshot) []string {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// varLine writes "name: value" so that dummy-ups reads back exactly value.
// dummy-ups splits a line into words by NUT's parseconf rules and joins
// the words after the name with single spaces; a value that does not come
// back unchanged that way (double spaces, quotes, backslashes, #, =, an
// empty value) or that has many words is written in quotes, escaped.
func varLine(name, value string) string {
	if words, err := nutconf.Split(value); err == nil && len(words) > 0 && len(words) <= maxRawWords &&
		strings.Join(words, " ") == value && !strings.Contains(value, "=") {
		return name + ": " + value + "\n"
	}
	return name + ": \"" + nutconf.Quote(value) + "\"\n"
}

// upsdSource reads a UPS through upsd with gonut's client library,
// reconnecting after a failure.
type upsdSource struct {
	name client.UPSName
	c    *client.Client
}

func (u *upsdSource) Vars(ctx context.Context) (Snapshot, error) {
	if u.c == nil {
		c, err := client.Dial(ctx, u.name.Addr(), client.WithTimeout(10*time.Second))
		if err != nil {
			return nil, err
		}
		u.c = c
	}
	vars, err := u.c.ListVars(ctx, u.name.Name)
	if err != nil {
		var protoErr *client.Error
		if !errors.As(err, &protoErr) {
			// The connection is gone or out of step: dial again next time.
			u.c.Close()
			u.c = nil
		}
		return nil, err
	}
	s := make(Snapshot, len(vars))
	for _, v := range vars {
		s[v.Name] = v.Value
	}
	return s, nil
}

func (u *upsdSource) Close() {
	if u.c != nil {
		u.c.Close()
	}
}
