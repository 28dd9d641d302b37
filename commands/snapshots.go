package commands

import (
	"sync"
)

// DefaultSnapshots is how many aggregates' latest states a Service keeps.
const DefaultSnapshots = 10_000

// cloner is what an aggregate's state implements to be kept as a
// snapshot: a copy that shares nothing mutable.
type cloner[A any] interface {
	Clone() *A
}

// snapshots keeps the latest state of recently loaded aggregates, so that
// a load reads and decodes only the events appended since. A stream only
// grows, so the state at version v is that state forever: a snapshot is
// never wrong, only behind, and a load always reads every event after it
// from the store. Nothing is cached about who may do what beyond the
// events themselves: a revocation appended by another replica is read by
// the very next load.
type snapshots struct {
	mu    sync.Mutex
	limit int
	byKey map[string]snapshot
}

type snapshot struct {
	version uint64
	state   any
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
// kept already. When full, it forgets an arbitrary other stream.
func (c *snapshots) put(stream string, version uint64, state any) {
	if c == nil || c.limit <= 0 {
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
	c.byKey[stream] = snapshot{version: version, state: state}
}
