package esdb

import (
	"context"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"ledger/eventstore"
)

// Append implements eventstore.Store.
//
// The server deduplicates a repeated append by event id only in some cases:
// when the repeat names the same expected revision as the original, or, for
// Any, while the ids are still in a server-side cache; a repeat that names
// the stream's current revision is written a second time. And it keeps ids
// unique only within a stream. So Append checks for itself:
//
//  1. It reads the stream. If every event id is there, it writes nothing and
//     reports the earlier append: Duplicate, with the version and position
//     of the last of those events. If only some are, it fails with
//     ErrDuplicateEventID. Only if none are does it go on.
//  2. It claims each id for the stream (see ClaimStreamPrefix) and fails
//     with ErrDuplicateEventID if another stream owns one.
//  3. It writes. If the server rejects the expected version, a concurrent
//     append of the same ids may have won, so it classifies the stream's
//     ids again as in step 1; only when none are there is the error
//     ErrConcurrency.
//  4. It reads the written events back, for the last one's position as
//     reads report it; write results do not state it in the same terms on
//     every server version.
//
// So an append costs a read of the whole stream, one small write per new
// event id, the write and a short read: it suits short per-aggregate
// streams. Two concurrent appends of the same new ids to one stream both
// pass step 1; the server stores the events once and both calls report the
// same Version and Position, but neither reports Duplicate. An error after
// the write, such as a failed read-back, leaves the events written:
// repeating the append then reports Duplicate.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.Validate(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := checkStreamName(stream); err != nil {
		return eventstore.AppendResult{}, err
	}
	proposed, err := encodeEvents(events)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	ids := eventIDs(events)
	if res, done, err := s.earlier(ctx, stream, ids); done || err != nil {
		return res, err
	}
	if err := s.claim(ctx, stream, ids); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	opts := esdb.AppendToStreamOptions{ExpectedRevision: expectedRevision(expected)}
	wr, err := s.client.AppendToStream(ctx, stream, opts, proposed...)
	if hasCode(err, esdb.ErrorCodeWrongExpectedVersion) {
		return s.rejected(ctx, stream, expected, ids, err)
	}
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, ctxErr(ctx, err))
	}
	return s.written(ctx, stream, ids, wr.NextExpectedVersion)
}

// earlier looks for ids in stream. done is true when the append must not
// be written: every id is there (res reports the earlier append) or only
// some are (err is ErrDuplicateEventID).
func (s *Store) earlier(ctx context.Context, stream string, ids []uuid.UUID) (res eventstore.AppendResult, done bool, err error) {
	want := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	found := 0
	err = s.eachInStream(ctx, stream, 0, untilStopped, func(r *esdb.RecordedEvent) (bool, error) {
		if want[r.EventID] {
			delete(want, r.EventID)
			found++
			res = eventstore.AppendResult{Version: r.EventNumber + 1, Position: toPosition(r.Position), Duplicate: true}
		}
		return found < len(ids), nil
	})
	switch {
	case err != nil:
		return eventstore.AppendResult{}, true, fmt.Errorf("append to %s: look for event ids: %w", stream, err)
	case found == len(ids):
		return res, true, nil
	case found > 0:
		return eventstore.AppendResult{}, true, fmt.Errorf("append to %s: %d of %d event ids already in the stream: %w",
			stream, found, len(ids), eventstore.ErrDuplicateEventID)
	default:
		return eventstore.AppendResult{}, false, nil
	}
}

// rejected reports a write the server rejected with wrongVersion: a
// duplicate if a concurrent append of the same ids won, else ErrConcurrency.
func (s *Store) rejected(ctx context.Context, stream string, expected eventstore.ExpectedVersion, ids []uuid.UUID, wrongVersion error) (eventstore.AppendResult, error) {
	if res, done, err := s.earlier(ctx, stream, ids); done || err != nil {
		return res, err
	}
	return eventstore.AppendResult{}, fmt.Errorf("append to %s: expected %s: %w: %w",
		stream, expected, eventstore.ErrConcurrency, wrongVersion)
}

// written reports a successful write whose last event has revision last,
// after checking that the events up to last are the ones appended.
func (s *Store) written(ctx context.Context, stream string, ids []uuid.UUID, last uint64) (eventstore.AppendResult, error) {
	n := uint64(len(ids))
	if last+1 < n {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: server reported revision %d for %d events", stream, last, n)
	}
	var got []*esdb.RecordedEvent
	err := s.eachInStream(ctx, stream, last+1-n, n, func(r *esdb.RecordedEvent) (bool, error) {
		got = append(got, r)
		return true, nil
	})
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: read back: %w", stream, err)
	}
	if !sameIDs(got, ids) {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: revisions %d to %d do not hold the appended events",
			stream, last+1-n, last)
	}
	return eventstore.AppendResult{Version: last + 1, Position: toPosition(got[n-1].Position)}, nil
}

func sameIDs(got []*esdb.RecordedEvent, ids []uuid.UUID) bool {
	if len(got) != len(ids) {
		return false
	}
	for i, r := range got {
		if r.EventID != ids[i] {
			return false
		}
	}
	return true
}
