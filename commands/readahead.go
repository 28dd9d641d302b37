package commands

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/eventstore"
)

// readAhead holds the streams a command reads, read together in one round
// trip before it decides: for each, the events after its snapshot at the
// time. A command's loads take their events from here instead of reading
// again; the state so loaded is the stream's state a moment before, and
// the append that follows still checks the version it decided on. Each
// entry serves one load: a second load of the stream, or one after a lost
// race, reads the store.
type readAhead struct {
	mu      sync.Mutex
	entries map[string]readAheadEntry
}

type readAheadEntry struct {
	from   uint64
	events []eventstore.Event
}

type readAheadKey struct{}

// withReadAhead reads streams after their snapshots, in one round trip,
// and returns ctx carrying them for load. With fewer than two streams there
// is no round trip to save, and ctx is returned as it is.
func (s *Service) withReadAhead(ctx context.Context, streams ...string) (context.Context, error) {
	if sessionOf(ctx).isAttempting() {
		return ctx, nil // an optimistic attempt reads nothing
	}
	reads := make([]eventstore.StreamRead, 0, len(streams))
	seen := make(map[string]bool, len(streams))
	for _, stream := range streams {
		if stream == "" || seen[stream] {
			continue
		}
		seen[stream] = true
		from := uint64(1)
		if snap, ok := s.snapshots.get(stream); ok {
			from = snap.version + 1
		}
		reads = append(reads, eventstore.StreamRead{Stream: stream, From: from, Limit: readLimit})
	}
	if len(reads) < 2 {
		return ctx, nil
	}
	results, err := eventstore.ReadStreams(ctx, s.store, reads)
	if err != nil {
		return nil, fmt.Errorf("read ahead: %w", err)
	}
	ahead := &readAhead{entries: make(map[string]readAheadEntry, len(reads))}
	for i, r := range reads {
		if len(results[i]) < r.Limit {
			ahead.entries[r.Stream] = readAheadEntry{from: r.From, events: results[i]}
		}
	}
	return context.WithValue(ctx, readAheadKey{}, ahead), nil
}

// readAheadPending says whether ctx holds an unused read of stream.
func readAheadPending(ctx context.Context, stream string) bool {
	ahead, _ := ctx.Value(readAheadKey{}).(*readAhead)
	if ahead == nil {
		return false
	}
	ahead.mu.Lock()
	defer ahead.mu.Unlock()
	_, ok := ahead.entries[stream]
	return ok
}

// takeReadAhead returns, and uses up, the events of stream after version
// that ctx holds, when it holds all of them.
func takeReadAhead(ctx context.Context, stream string, version uint64) ([]eventstore.Event, bool) {
	ahead, _ := ctx.Value(readAheadKey{}).(*readAhead)
	if ahead == nil {
		return nil, false
	}
	ahead.mu.Lock()
	entry, ok := ahead.entries[stream]
	delete(ahead.entries, stream)
	ahead.mu.Unlock()
	if !ok || entry.from > version+1 {
		return nil, false
	}
	events := entry.events
	for len(events) > 0 && events[0].Version <= version {
		events = events[1:]
	}
	return events, true
}

// accountOfSnapshot is the account of the subscription in stream, when a
// snapshot of it is kept: a subscription's account never changes.
func (s *Service) accountOfSnapshot(tenant uuid.UUID, stream string) string {
	snap, ok := s.snapshots.get(stream)
	if !ok {
		return ""
	}
	sub, ok := snap.state.(*domain.Subscription)
	if !ok || !sub.Exists() {
		return ""
	}
	return AccountStream(tenant, sub.AccountID)
}

// grantStream is the stream of the grant a partner user's request is
// authorized by, or "" for other principals.
func grantStream(req Request) string {
	if req.Principal.Type != domain.ActorPartnerUser {
		return ""
	}
	return AccessStream(req.TenantID, req.Principal.PartnerID)
}
