package commands

import (
	"context"
	"fmt"
	"time"

	"ledger/domain"
	"ledger/eventstore"
)

// state is what an aggregate's state implements: the evolve function.
type state[A any] interface {
	*A
	Apply(domain.Event)
}

// readLimit bounds the events read from a stream in one call.
const readLimit = 10_000

// load rebuilds the aggregate of stream from its events, up to version
// upTo when it is not zero. It returns the zero state at version 0 for a
// stream with no events. Loads of the latest state start from the
// stream's snapshot, when the aggregate keeps them, and read only the
// events after it. During an optimistic attempt, a load reads nothing
// (see loadKept); a load with a principal still pending confirms it
// first.
func load[A any, P state[A]](ctx context.Context, s *Service, stream string, upTo uint64) (*A, uint64, error) {
	switch o := sessionOf(ctx); {
	case o.isAttempting() && upTo == 0:
		agg, version := loadKept[A](s, o, stream)
		return agg, version, nil
	case o.isAttempting():
		return nil, 0, errMiss
	case o.pending():
		if err := s.Confirm(ctx); err != nil {
			return nil, 0, err
		}
	}
	agg, version := new(A), uint64(0)
	if upTo == 0 {
		agg, version = kept[A](s, stream)
	}
	for first := true; ; first = false {
		limit := readLimit
		if upTo > 0 {
			limit = int(min(uint64(readLimit), upTo-version))
		}
		if limit == 0 {
			return agg, version, nil
		}
		events, complete, err := s.nextEvents(ctx, stream, version, limit, first && upTo == 0)
		if err != nil {
			return nil, 0, fmt.Errorf("load %s: %w", stream, err)
		}
		if err := applyAll[A, P](agg, events); err != nil {
			return nil, 0, fmt.Errorf("load %s: %w", stream, err)
		}
		if len(events) > 0 {
			version = events[len(events)-1].Version
		}
		if complete {
			keepSnapshot(s, stream, agg, version)
			return agg, version, nil
		}
	}
}

// nextEvents returns up to limit events of stream after version: those
// ctx read ahead, when ahead is set and it holds them all, else read from
// the store. complete says that none follow them.
func (s *Service) nextEvents(ctx context.Context, stream string, version uint64, limit int, ahead bool) (events []eventstore.Event, complete bool, err error) {
	if ahead {
		if events, ok := takeReadAhead(ctx, stream, version); ok {
			return events, true, nil
		}
	}
	events, err = s.store.ReadStream(ctx, stream, version+1, limit)
	return events, len(events) < limit, err
}

// kept returns a copy of the state kept of stream and its version, or the
// empty state at version 0 when none is kept.
func kept[A any](s *Service, stream string) (*A, uint64) {
	if snap, ok := s.snapshots.get(stream); ok {
		return any(snap.state).(cloner[A]).Clone(), snap.version
	}
	return new(A), 0
}

// keepSnapshot keeps a copy of agg as stream's snapshot, when the
// aggregate can be copied.
func keepSnapshot[A any](s *Service, stream string, agg *A, version uint64) {
	if c, ok := any(agg).(cloner[A]); ok && version > 0 {
		s.snapshots.put(stream, version, c.Clone())
	}
}

// LoadAsOf rebuilds the aggregate of stream as it stood at instant at,
// from the events recorded at or before it: time travel for auditors.
func loadAsOf[A any, P state[A]](ctx context.Context, store eventstore.Store, stream string, at time.Time) (*A, uint64, error) {
	events, err := store.ReadStreamAsOf(ctx, stream, at)
	if err != nil {
		return nil, 0, fmt.Errorf("load %s as of %s: %w", stream, at.Format(time.RFC3339), err)
	}
	agg := new(A)
	if err := applyAll[A, P](agg, events); err != nil {
		return nil, 0, fmt.Errorf("load %s as of %s: %w", stream, at.Format(time.RFC3339), err)
	}
	var version uint64
	if len(events) > 0 {
		version = events[len(events)-1].Version
	}
	return agg, version, nil
}

func applyAll[A any, P state[A]](agg *A, events []eventstore.Event) error {
	for _, e := range events {
		decoded, err := domain.UnmarshalEvent(e.Type, e.Data)
		if err != nil {
			return fmt.Errorf("event %d: %w", e.Version, err)
		}
		P(agg).Apply(decoded)
	}
	return nil
}
