package commands

import (
	"sync"

	"ledger/eventstore"
)

// DefaultSnapshots is how many aggregates' latest states a Service keeps.
const DefaultSnapshots = 10_000

// snapshots keeps the latest state of recently used aggregates, so that a
// command reads nothing, or only the events appended since, to decide. A
// stream only grows, so the state at version v is that state forever: a
// snapshot is never wrong, only behind, and whatever is decided on one is
// appended conditioned on its version (see view). Nothing is kept about
// who may do what beyond the events themselves: a revocation appended by
// another replica fails the next append decided on the grant before it.
type snapshots struct {
	mu    sync.Mutex
	limit int
	byKey map[string]snapshot
}

type snapshot struct {
	version  uint64
	position eventstore.Position // of the event at version
	state    any
}

func newSnapshots(limit int) *snapshots {
	return &snapshots{limit: limit, byKey: make(map[string]snapshot)}
}

func (c *snapshots) get(stream string) (snapshot, bool) {
	if c == nil {
		return snapshot{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.byKey[stream]
	return s, ok
}

// put keeps state as stream's snapshot at version, unless a later one is
// kept already. When full, it forgets an arbitrary other stream. The
// state kept must not be changed after.
func (c *snapshots) put(stream string, version uint64, position eventstore.Position, state any) {
	if c == nil || c.limit <= 0 || version == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byKey[stream]; ok && old.version >= version {
		return
	}
	if _, ok := c.byKey[stream]; !ok && len(c.byKey) >= c.limit {
		for k := range c.byKey {
			delete(c.byKey, k)
			break
		}
	}
	c.byKey[stream] = snapshot{version: version, position: position, state: state}
}
