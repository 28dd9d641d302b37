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
	keys    map[keyID]keyRecord
	changed chan struct{} // closed and replaced on every append
	now     func() time.Time
}

var _ eventstore.Store = (*Store)(nil)

type keyID struct{ caller, key string }

type keyRecord struct {
	fingerprint string
	result      []byte
	version     uint64
	position    eventstore.Position
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock that stamps RecordedAt; the default is time.Now.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{
		streams: make(map[string][]int),
		byID:    make(map[uuid.UUID]int),
		keys:    make(map[keyID]keyRecord),
		changed: make(chan struct{}),
		now:     time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Append implements eventstore.Store. Everything it checks and writes
// happens under one lock, so conditions hold in log order trivially.
func (s *Store) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	if err := req.Validate(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Key != nil {
		if res, found, err := s.lookup(*req.Key); found || err != nil {
			return res, err
		}
	}
	if res, dup, err := s.duplicate(req); dup || err != nil {
		return res, err
	}
	if err := s.check(req); err != nil {
		return eventstore.AppendResult{}, err
	}
	res := s.write(req)
	if req.Key != nil {
		s.keys[keyID{req.Key.Caller, req.Key.Key}] = keyRecord{fingerprint: req.Key.Fingerprint,
			result: slices.Clone(req.Key.Result), version: res.Version, position: res.Position}
		res.Result = slices.Clone(req.Key.Result)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return res, nil
}

// check returns ErrConcurrency, naming the stream, when an expectation or
// a condition of req does not hold.
func (s *Store) check(req eventstore.AppendRequest) error {
	for _, st := range req.Streams {
		if current := s.version(st.Stream); !st.Expected.Allows(current) {
			return fmt.Errorf("append to %s: expected %s, stream at version %d: %w", st.Stream, st.Expected, current, eventstore.ErrConcurrency)
		}
	}
	for _, c := range req.Conditions {
		if current := s.version(c.Stream); current != c.Version {
			return fmt.Errorf("append: condition expects %s at version %d, it is at %d: %w", c.Stream, c.Version, current, eventstore.ErrConcurrency)
		}
	}
	return nil
}

func (s *Store) version(stream string) uint64 { return uint64(len(s.streams[stream])) }

// write appends req's events to the log.
func (s *Store) write(req eventstore.AppendRequest) eventstore.AppendResult {
	recorded := s.now().UTC().Truncate(time.Microsecond)
	res := eventstore.AppendResult{Versions: make([]uint64, len(req.Streams))}
	for i, st := range req.Streams {
		current := s.version(st.Stream)
		for j, e := range st.Events {
			idx := len(s.log)
			s.log = append(s.log, eventstore.Event{
				ID: e.ID, Stream: st.Stream, Version: current + uint64(j) + 1,
				Position: eventstore.Position(idx + 1), Type: e.Type, SchemaVersion: e.SchemaVersion,
				Data: slices.Clone(e.Data), Metadata: e.Metadata, RecordedAt: recorded,
			})
			s.streams[st.Stream] = append(s.streams[st.Stream], idx)
			s.byID[e.ID] = idx
			res.Position = eventstore.Position(idx + 1)
		}
		res.Versions[i] = s.version(st.Stream)
	}
	if len(res.Versions) > 0 {
		res.Version = res.Versions[0]
	}
	return res
}

// duplicate reports whether req's events were all appended before, each
// to the stream req names, and refuses a partial repeat or an id recorded
// in another stream.
func (s *Store) duplicate(req eventstore.AppendRequest) (eventstore.AppendResult, bool, error) {
	res := eventstore.AppendResult{Versions: make([]uint64, len(req.Streams)), Duplicate: true}
	found, total := 0, 0
	for i, st := range req.Streams {
		for _, e := range st.Events {
			total++
			idx, ok := s.byID[e.ID]
			if !ok {
				continue
			}
			if got := s.log[idx].Stream; got != st.Stream {
				return eventstore.AppendResult{}, false, fmt.Errorf("append to %s: event %s is in stream %s: %w", st.Stream, e.ID, got, eventstore.ErrDuplicateEventID)
			}
			found++
			res.Versions[i] = max(res.Versions[i], s.log[idx].Version)
			res.Position = max(res.Position, s.log[idx].Position)
		}
	}
	switch {
	case found == 0:
		return eventstore.AppendResult{}, false, nil
	case found < total:
		return eventstore.AppendResult{}, false, fmt.Errorf("append: %d of %d events already recorded: %w", found, total, eventstore.ErrDuplicateEventID)
	}
	res.Version = res.Versions[0]
	return res, true, nil
}

// LookupKey implements eventstore.Store.
func (s *Store) LookupKey(ctx context.Context, key eventstore.IdempotencyKey) (eventstore.AppendResult, bool, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lookup(key)
}

func (s *Store) lookup(key eventstore.IdempotencyKey) (eventstore.AppendResult, bool, error) {
	rec, ok := s.keys[keyID{key.Caller, key.Key}]
	switch {
	case !ok:
		return eventstore.AppendResult{}, false, nil
	case rec.fingerprint != key.Fingerprint:
		return eventstore.AppendResult{}, true, fmt.Errorf("key %s: %w", key.Key, eventstore.ErrKeyReused)
	}
	return eventstore.AppendResult{Version: rec.version, Position: rec.position, Replayed: true, Result: slices.Clone(rec.result)}, true, nil
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
