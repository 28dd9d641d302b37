package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/eventstore"
)

// A view is the streams one command decides on, each at the version it
// read. It is made for one command and handed to its decision as an
// argument; nothing of it lives in a context.
//
// A stream enters a view from the states the service keeps (its
// snapshots), reading nothing, or from the store. When a command names a
// stream that is not kept, every stream it names is read in one round
// trip, the kept ones from their versions on. A state taken as kept may be
// behind the store; that is safe because the append that follows is
// conditioned on every stream of the view at the version it holds, so it
// cannot land on a state that has moved, and because a refusal, which
// appends nothing, is decided again on the view refreshed before it is
// given.
//
// A stream kept neither in memory nor in the view comes from its
// persisted snapshot (see SnapshotStore), when it has one, read with the
// other such streams of the command in one round trip. Its events are
// then read from the snapshot's version itself: the snapshot is used only
// if the event at that version is the one it was taken at, so a snapshot
// never stands for a history the log does not hold.
type view struct {
	s       *Service
	streams map[string]*held
	// due are the states loads reached by replaying many events, saved
	// as persisted snapshots once the command has appended.
	due []due
}

// held is one stream of a view: a state (nil for the empty state) and the
// events read after it, up to version.
type held struct {
	version  uint64
	position eventstore.Position // of the event at version; 0 when unknown or none
	eventID  uuid.UUID           // of the event at version, when read from the store
	state    any
	events   []eventstore.Event
	// checked says that the store was read for this stream during the
	// command, so that version was its latest a moment ago.
	checked bool
	// stored says that state is a persisted snapshot's, not yet
	// confirmed by reading the event at version.
	stored bool
}

// state is what an aggregate's state implements: the evolve function, and
// a copy that shares nothing mutable.
type state[A any] interface {
	*A
	Apply(domain.Event)
	Clone() *A
}

// readLimit bounds the events read from a stream in one call.
const readLimit = 10_000

func (s *Service) newView() *view { return &view{s: s, streams: make(map[string]*held)} }

// read brings streams into v. Those kept come as kept, reading nothing,
// unless one of streams is not kept: then all of them are read in one
// round trip, the kept ones from their versions on. With check, every one
// is read, kept or not. Empty names are skipped.
func (v *view) read(ctx context.Context, check bool, streams ...string) error {
	var fetch, kept, missing []string
	for _, stream := range streams {
		if stream == "" {
			continue
		}
		if h := v.streams[stream]; h != nil {
			if check && !h.checked {
				fetch = append(fetch, stream)
			}
			continue
		}
		if snap, ok := v.s.snapshots.get(stream); ok {
			v.streams[stream] = &held{version: snap.version, position: snap.position, state: snap.state}
			kept = append(kept, stream)
			continue
		}
		v.streams[stream] = &held{}
		missing = append(missing, stream)
	}
	v.recall(ctx, missing)
	fetch = append(fetch, missing...)
	if len(missing) > 0 || check {
		fetch = append(fetch, kept...)
	}
	return v.fetch(ctx, fetch)
}

// refresh reads, in one round trip, every stream of v that was not read
// from the store during the command (with all, every stream), from the
// version v holds it at.
func (v *view) refresh(ctx context.Context, all bool) error {
	var streams []string
	for stream, h := range v.streams {
		if all || !h.checked {
			streams = append(streams, stream)
		}
	}
	return v.fetch(ctx, streams)
}

// fresh says whether every stream of v was read from the store during the
// command.
func (v *view) fresh() bool {
	for _, h := range v.streams {
		if !h.checked {
			return false
		}
	}
	return true
}

// fetch reads streams after the versions v holds them at, together; a
// stream held from a persisted snapshot, from the snapshot's version on.
// A snapshot that the event at its version does not confirm is dropped
// and its stream read again from the start.
func (v *view) fetch(ctx context.Context, streams []string) error {
	if len(streams) == 0 {
		return nil
	}
	reads := make([]eventstore.StreamRead, len(streams))
	for i, stream := range streams {
		h := v.streams[stream]
		from := h.version + 1
		if h.stored {
			from = h.version
		}
		reads[i] = eventstore.StreamRead{Stream: stream, From: from, Limit: readLimit}
	}
	results, err := eventstore.ReadStreams(ctx, v.s.store, reads)
	if err != nil {
		return fmt.Errorf("read %d streams: %w", len(reads), err)
	}
	var unconfirmed []string
	for i, stream := range streams {
		events := results[i]
		for page := events; len(page) == readLimit; {
			more, err := v.s.store.ReadStream(ctx, stream, page[len(page)-1].Version+1, readLimit)
			if err != nil {
				return fmt.Errorf("read %s: %w", stream, err)
			}
			events, page = append(events, more...), more
		}
		h := v.streams[stream]
		if h.stored {
			if !h.confirms(events) {
				v.s.logger.Warn("snapshot discarded; replaying the stream", "stream", stream,
					"reason", "the event at its version is not the one it was taken at")
				v.streams[stream] = &held{}
				unconfirmed = append(unconfirmed, stream)
				continue
			}
			events, h.stored = events[1:], false
			v.s.snapshots.put(stream, h.version, h.position, h.state)
		}
		h.checked = true
		if len(events) == 0 {
			continue
		}
		last := events[len(events)-1]
		h.events, h.version, h.position, h.eventID = append(h.events, events...), last.Version, last.Position, last.ID
	}
	return v.fetch(ctx, unconfirmed)
}

// load returns a copy of the state of stream that v holds, and its
// version, reading the stream first if v does not hold it. A stream with
// no events is the empty state at version 0.
func load[A any, P state[A]](ctx context.Context, v *view, stream string) (*A, uint64, error) {
	if v.streams[stream] == nil {
		if err := v.read(ctx, false, stream); err != nil {
			return nil, 0, err
		}
	}
	h := v.streams[stream]
	agg := new(A)
	if h.state != nil {
		agg = P(h.state.(*A)).Clone()
	}
	if err := applyAll[A, P](agg, h.events); err != nil {
		return nil, 0, fmt.Errorf("load %s: %w", stream, err)
	}
	if replayed := len(h.events); replayed > 0 {
		h.state, h.events = agg, nil
		if h.checked {
			v.s.snapshots.put(stream, h.version, h.position, P(agg).Clone())
		}
		if h.checked && replayed >= SnapshotAfter && v.s.persisted != nil {
			v.due = append(v.due, due{stream: stream, version: h.version, position: h.position, eventID: h.eventID, state: agg})
		}
		agg = P(agg).Clone()
	}
	return agg, h.version, nil
}

// advance records that an append took stream to version at position, its
// state now agg, which v's service keeps.
func (v *view) advance(stream string, agg any, version uint64, position eventstore.Position) {
	v.streams[stream] = &held{version: version, position: position, state: agg, checked: true}
	v.s.snapshots.put(stream, version, position, agg)
}

// conditions are the conditions of an append decided on v that writes
// written: every other stream of v at the version v holds it at.
func (v *view) conditions(written map[string]bool) []eventstore.Condition {
	out := make([]eventstore.Condition, 0, len(v.streams))
	for stream, h := range v.streams {
		if !written[stream] {
			out = append(out, eventstore.Condition{Stream: stream, Version: h.version})
		}
	}
	return out
}

// position is the position of the last event of stream in v: where the
// state v holds was recorded.
func (v *view) position(stream string) eventstore.Position {
	if h := v.streams[stream]; h != nil {
		return h.position
	}
	return 0
}

// loadAsOf rebuilds the aggregate of stream as it stood at instant at, from
// the events recorded at or before it: time travel for auditors.
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

// loadAt rebuilds the aggregate of stream at version, from the store.
func loadAt[A any, P state[A]](ctx context.Context, store eventstore.Store, stream string, version uint64) (*A, error) {
	agg := new(A)
	for from := uint64(1); from <= version; {
		events, err := store.ReadStream(ctx, stream, from, int(min(uint64(readLimit), version-from+1)))
		if err != nil {
			return nil, fmt.Errorf("load %s at version %d: %w", stream, version, err)
		}
		if len(events) == 0 {
			break
		}
		if err := applyAll[A, P](agg, events); err != nil {
			return nil, fmt.Errorf("load %s at version %d: %w", stream, version, err)
		}
		from = events[len(events)-1].Version + 1
	}
	return agg, nil
}

func applyAll[A any, P state[A]](agg *A, events []eventstore.Event) error {
	for _, e := range events {
		decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			return fmt.Errorf("decode event at position %d (%s version %d): %w", e.Position, e.Stream, e.Version, err)
		}
		P(agg).Apply(decoded)
	}
	return nil
}
