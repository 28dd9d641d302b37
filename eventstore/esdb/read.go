package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"ledger/eventstore"
)

// untilStopped is the count of a read that runs until its visitor stops it.
// Stopping closes the read, which cancels it on the server.
const untilStopped = math.MaxInt64

// visitor receives the events of a read in order and reports whether it
// wants more.
type visitor func(r *esdb.RecordedEvent) (more bool, err error)

// ReadStream implements eventstore.Store. It reads forwards from revision
// from-1; a missing stream reads as empty.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	var events []eventstore.Event
	err := s.eachInStream(ctx, stream, revisionOf(from), uint64(limit), func(r *esdb.RecordedEvent) (bool, error) {
		e, err := decodeEvent(r)
		if err != nil {
			return false, err
		}
		events = append(events, e)
		return len(events) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s from version %d: %w", stream, from, err)
	}
	return events, nil
}

// ReadStreamAsOf implements eventstore.Store. It reads forwards and stops at
// the first event the server created after at.
func (s *Store) ReadStreamAsOf(ctx context.Context, stream string, at time.Time) ([]eventstore.Event, error) {
	var events []eventstore.Event
	err := s.eachInStream(ctx, stream, 0, untilStopped, func(r *esdb.RecordedEvent) (bool, error) {
		if r.CreatedDate.After(at) {
			return false, nil
		}
		e, err := decodeEvent(r)
		if err != nil {
			return false, err
		}
		events = append(events, e)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s as of %s: %w", stream, at.Format(time.RFC3339Nano), err)
	}
	return events, nil
}

// ReadAll implements eventstore.Store. It reads $all forwards from after
// and skips system events, system streams and the event at after itself.
// The client has no server-side filter for reads, so the skipping is done
// here.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	var events []eventstore.Event
	opts := esdb.ReadAllOptions{From: fromPosition(after)}
	err := s.eachInAll(ctx, opts, func(r *esdb.RecordedEvent) (bool, error) {
		if isSystem(r) || toPosition(r.Position) <= after {
			return true, nil
		}
		e, err := decodeEvent(r)
		if err != nil {
			return false, err
		}
		events = append(events, e)
		return len(events) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read $all after %d: %w", after, err)
	}
	return events, nil
}

// Head implements eventstore.Store. It reads $all backwards to the last
// event that is not a system event.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	var head eventstore.Position
	opts := esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}
	err := s.eachInAll(ctx, opts, func(r *esdb.RecordedEvent) (bool, error) {
		if isSystem(r) {
			return true, nil
		}
		head = toPosition(r.Position)
		return false, nil
	})
	if err != nil {
		return 0, fmt.Errorf("read $all head: %w", err)
	}
	return head, nil
}

// revisionOf returns the server revision of the event at version v, the
// first revision for version 0.
func revisionOf(v uint64) uint64 {
	if v == 0 {
		return 0
	}
	return v - 1
}

// eachInStream visits up to count events of stream from revision from on.
// A missing stream has no events.
func (s *Store) eachInStream(ctx context.Context, stream string, from, count uint64, visit visitor) error {
	return s.eachWith(ctx, stream, esdb.ReadStreamOptions{From: esdb.Revision(from)}, count, visit)
}

// eachWith visits up to count events of stream, read as opts say. A
// missing stream has no events.
func (s *Store) eachWith(ctx context.Context, stream string, opts esdb.ReadStreamOptions, count uint64, visit visitor) error {
	rs, err := s.client.ReadStream(ctx, stream, opts, count)
	if err != nil {
		return ctxErr(ctx, err)
	}
	err = each(rs, visit)
	if hasCode(err, esdb.ErrorCodeResourceNotFound) {
		return nil
	}
	return ctxErr(ctx, err)
}

// eachInAll visits $all as opts say, until visit stops.
func (s *Store) eachInAll(ctx context.Context, opts esdb.ReadAllOptions, visit visitor) error {
	rs, err := s.client.ReadAll(ctx, opts, untilStopped)
	if err != nil {
		return ctxErr(ctx, err)
	}
	return ctxErr(ctx, each(rs, visit))
}

func each(rs *esdb.ReadStream, visit visitor) error {
	defer rs.Close()
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		r := ev.OriginalEvent()
		if r == nil {
			continue
		}
		more, err := visit(r)
		if err != nil || !more {
			return err
		}
	}
}

// ctxErr prefers ctx's error to err when ctx has ended, since the client
// reports a cancelled call as one of its own errors.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
