// Package memory is an in-process eventstore.Store for unit tests. It keeps
// every event in memory and honours the same contract as the Postgres
// backend, as the conformance suite in package storetest checks.
package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"ledger/eventstore"
)

// Store is an in-memory event log. The zero value is not usable; call New.
type Store struct {
	mu      sync.RWMutex
	log     []eventstore.Event
	streams map[string][]int // stream -> indexes into log
	byID    map[uuid.UUID]int
	changed chan struct{} // closed and replaced on every append
	now     func() time.Time

	keyMu sync.Mutex // serializes keyed appends
	keys  map[keyID]keyRecord
}

var (
	_ eventstore.Store           = (*Store)(nil)
	_ eventstore.GuardedAppender = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock that stamps RecordedAt; the default is time.Now.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{
		streams: make(map[string][]int),
		byID:    make(map[uuid.UUID]int),
		changed: make(chan struct{}),
		now:     time.Now,
		keys:    make(map[keyID]keyRecord),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	return s.appendThen(ctx, stream, expected, nil, events, nil)
}

// AppendGuarded implements eventstore.GuardedAppender: the guards are
// checked under the same lock as the append.
func (s *Store) AppendGuarded(ctx context.Context, stream string, expected eventstore.ExpectedVersion, guards []eventstore.Guard, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	return s.appendThen(ctx, stream, expected, guards, events, nil)
}

// appendThen appends when expected and guards hold and, before anyone can
// see the events, calls then (when not nil) with the result; if then
// fails, the append is undone.
func (s *Store) appendThen(ctx context.Context, stream string, expected eventstore.ExpectedVersion, guards []eventstore.Guard, events []eventstore.EventData, then func(eventstore.AppendResult) error) (eventstore.AppendResult, error) {
	if err := eventstore.Validate(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := eventstore.ValidateGuards(stream, guards); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if res, dup, err := s.duplicate(stream, events); dup || err != nil {
		return res, err
	}
	current := uint64(len(s.streams[stream]))
	if !expected.Allows(current) {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: expected %s, stream at version %d: %w", stream, expected, current, eventstore.ErrConcurrency)
	}
	for _, g := range guards {
		if at := uint64(len(s.streams[g.Stream])); at != g.Version {
			return eventstore.AppendResult{}, eventstore.GuardFailed(stream, g, at)
		}
	}
	recorded := s.now().UTC().Truncate(time.Microsecond)
	for i, e := range events {
		idx := len(s.log)
		s.log = append(s.log, eventstore.Event{
			ID: e.ID, Stream: stream, Version: current + uint64(i) + 1,
			Position: eventstore.Position(idx + 1), Type: e.Type, SchemaVersion: e.SchemaVersion,
			Data: slices.Clone(e.Data), Metadata: e.Metadata, RecordedAt: recorded,
		})
		s.streams[stream] = append(s.streams[stream], idx)
		s.byID[e.ID] = idx
	}
	last := s.log[len(s.log)-1]
	res := eventstore.AppendResult{Version: last.Version, Position: last.Position}
	if then != nil {
		if err := then(res); err != nil {
			s.undo(stream, events)
			return eventstore.AppendResult{}, err
		}
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return res, nil
}

// undo removes the events just appended to stream, the last of the log.
func (s *Store) undo(stream string, events []eventstore.EventData) {
	n := len(events)
	s.log = s.log[:len(s.log)-n]
	s.streams[stream] = s.streams[stream][:len(s.streams[stream])-n]
	if len(s.streams[stream]) == 0 {
		delete(s.streams, stream)
	}
	for _, e := range events {
		delete(s.byID, e.ID)
	}
}

// duplicate reports whether events were all appended to stream before, and
// refuses a partial repeat or an id recorded in another stream.
func (s *Store) duplicate(stream string, events []eventstore.EventData) (eventstore.AppendResult, bool, error) {
	var found []int
	for _, e := range events {
		idx, ok := s.byID[e.ID]
		if !ok {
			continue
		}
		if s.log[idx].Stream != stream {
			return eventstore.AppendResult{}, false, fmt.Errorf("append to %s: event %s is in stream %s: %w", stream, e.ID, s.log[idx].Stream, eventstore.ErrDuplicateEventID)
		}
		found = append(found, idx)
	}
	switch len(found) {
	case 0:
		return eventstore.AppendResult{}, false, nil
	case len(events):
		last := s.log[slices.Max(found)]
		return eventstore.AppendResult{Version: last.Version, Position: last.Position, Duplicate: true}, true, nil
	default:
		return eventstore.AppendResult{}, false, fmt.Errorf("append to %s: %d of %d events already recorded: %w", stream, len(found), len(events), eventstore.ErrDuplicateEventID)
	}
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []eventstore.Event
	for _, idx := range s.streams[stream] {
		if len(out) == limit {
			break
		}
		if e := s.log[idx]; e.Version >= from {
			out = append(out, e)
		}
	}
	return out, nil
}

// ReadStreamAsOf implements eventstore.Store.
func (s *Store) ReadStreamAsOf(ctx context.Context, stream string, at time.Time) ([]eventstore.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []eventstore.Event
	for _, idx := range s.streams[stream] {
		e := s.log[idx]
		if e.RecordedAt.After(at) {
			break
		}
		out = append(out, e)
	}
	return out, nil
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.readAll(after, limit), nil
}

func (s *Store) readAll(after eventstore.Position, limit int) []eventstore.Event {
	start := min(int(after), len(s.log)) // position p is log[p-1]
	end := min(start+limit, len(s.log))
	return slices.Clone(s.log[start:end])
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return eventstore.Position(len(s.log)), nil
}

// Subscribe implements eventstore.Store.
func (s *Store) Subscribe(ctx context.Context, after eventstore.Position, handle eventstore.Handler) error {
	const batchSize = 512
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.RLock()
		batch := s.readAll(after, batchSize)
		changed := s.changed
		s.mu.RUnlock()
		if len(batch) > 0 {
			if err := handle(ctx, batch); err != nil {
				return err
			}
			after = batch[len(batch)-1].Position
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}
