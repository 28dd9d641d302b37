package seed

import (
	"sync"
	"time"
)

// simClock is the simulated clock the seed's commands run on. It moves
// through a window of time in proportion to the events written in it, of
// those planned, and never goes back: every reading is later than the one
// before.
type simClock struct {
	start time.Time

	mu      sync.Mutex
	last    time.Time
	from    time.Time
	to      time.Time
	planned int64
	written int64
}

func newSimClock(start time.Time) *simClock {
	return &simClock{start: start, last: start, from: start, to: start}
}

// historyEnd is when the seeded history ends: an hour ago.
func historyEnd() time.Time { return time.Now().UTC().Add(-time.Hour).Truncate(time.Second) }

// window starts the next window, from the current time to to, over which
// the planned events are spread.
func (c *simClock) window(to time.Time, planned int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.from, c.to = c.last, to
	if to.Before(c.last) {
		c.to = c.last
	}
	c.planned, c.written = max(planned, 1), 0
}

// advance notes n events written in the window.
func (c *simClock) advance(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written += n
}

// Now reads the clock: the window's start plus its share of the events
// written, past the last reading, before the window's end.
func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	share := min(float64(c.written)/float64(c.planned), 1)
	t := c.from.Add(time.Duration(share * float64(c.to.Sub(c.from))))
	if !t.After(c.last) {
		t = c.last.Add(time.Microsecond)
	}
	c.last = t
	return t
}
