package upsd

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// trackingTable holds the results of tracked SET and INSTCMD requests
// (NUT's tracking list): GET TRACKING <id> reads them, the driver's
// TRACKING messages fill them, and they expire after TRACKINGDELAY.
type trackingTable struct {
	mu      sync.Mutex
	entries map[string]*trackingEntry // by upper-case id: NUT matches ids without case
}

type trackingEntry struct {
	pending bool
	status  int // the driver's STAT_INSTCMD_* / STAT_SET_* result
	added   time.Time
}

func newTrackingTable() *trackingTable {
	return &trackingTable{entries: make(map[string]*trackingEntry)}
}

// newTrackingID returns a random UUID v4 in NUT's format (upper-case hex).
// NUT 2.8 draws it from an unseeded rand(), so its ids repeat between runs;
// these come from crypto/rand.
func newTrackingID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// add registers a pending request.
func (t *trackingTable) add(id string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.entries[strings.ToUpper(id)] = &trackingEntry{pending: true, added: now}
}

// set records a driver's TRACKING result; unknown ids are ignored as in NUT.
func (t *trackingTable) set(id, status string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[strings.ToUpper(id)]
	if e == nil {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(status))
	if err != nil {
		n = 0 // C's atoi, as NUT parses it
	}
	e.pending, e.status = false, n
}

// get answers GET TRACKING <id> as NUT's tracking_get does.
func (t *trackingTable) get(id string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[strings.ToUpper(id)]
	if e == nil {
		return "ERR UNKNOWN"
	}
	if e.pending {
		return "PENDING"
	}
	switch e.status {
	case 0: // STAT_*_HANDLED
		return "SUCCESS"
	case 2, 4: // STAT_*_INVALID, STAT_*_CONVERSION_FAILED
		return "ERR INVALID-ARGUMENT"
	case 3: // STAT_*_FAILED
		return "ERR FAILED"
	}
	return "ERR UNKNOWN"
}

// expire drops entries older than maxAge.
func (t *trackingTable) expire(now time.Time, maxAge time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, e := range t.entries {
		if now.Sub(e.added) > maxAge {
			delete(t.entries, id)
		}
	}
}
