package esdb

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"ledger/eventstore"
)

// ErrPartlyWritten reports an append to several streams that failed part
// way: the streams before the one named in the error are written, that one
// and those after it may not be. The outcome is known only in part, so
// eventstore.OutcomeKnown does not recognise it; a repeat of the same
// request is refused with eventstore.ErrDuplicateEventID.
var ErrPartlyWritten = errors.New("esdb: an append to several streams failed part way; the streams before the failing one are written")

// Append implements eventstore.Store, keeping what the server lets it keep
// (see Unkept).
//
// The server deduplicates a repeated append by event id only in some cases:
// when the repeat names the same expected revision as the original, or, for
// Any, while the ids are still in a server-side cache; a repeat that names
// the stream's current revision is written a second time. And it keeps ids
// unique only within a stream. So Append checks for itself:
//
//  1. With a key, it looks the key up (see LookupKey); a recorded key
//     answers with its record, or ErrKeyReused.
//  2. It reads every stream of the request. If every event id is in the
//     stream that names it, it writes nothing and reports the earlier
//     append: Duplicate, with each stream's version and the position of the
//     last of those events. If only some are, it fails with
//     ErrDuplicateEventID. Only if none are does it go on.
//  3. It claims each id for its stream (see ClaimStreamPrefix) and fails
//     with ErrDuplicateEventID if another stream owns one.
//  4. It reads the current version of every condition's stream, and of
//     every stream when there are several, and fails with ErrConcurrency if
//     one does not hold. This read is not atomic with the write.
//  5. It writes each stream in turn, with its expected version. If the
//     server rejects the first stream's version, a concurrent append of the
//     same ids may have won, so it classifies the ids again as in step 2;
//     only when none are there is the error ErrConcurrency. A failure at a
//     later stream leaves the streams before it written: ErrPartlyWritten.
//  6. It reads each stream's written events back, for the position of the
//     last one as reads report it; write results do not state it in the
//     same terms on every server version.
//  7. With a key, it records the key (see KeyStreamPrefix) after the
//     events.
//
// So an append costs a read of each whole stream, one small write per new
// event id, the writes and short reads: it suits short per-aggregate
// streams. Two concurrent appends of the same new ids to one stream both
// pass step 2; the server stores the events once and both calls report the
// same Version and Position, but neither reports Duplicate. An error after
// a write, such as a failed read-back or a failed key record, leaves the
// events written: repeating the request then reports Duplicate, and
// records the key.
func (s *Store) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	if err := req.Validate(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := checkNames(req); err != nil {
		return eventstore.AppendResult{}, err
	}
	proposed, err := encodeRequest(req)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if req.Key != nil {
		if res, found, err := s.LookupKey(ctx, *req.Key); found || err != nil {
			return res, err
		}
	}
	res, done, err := s.earlier(ctx, req.Streams)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if !done {
		if res, err = s.fresh(ctx, req, proposed); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	if req.Key == nil {
		return res, nil
	}
	return s.recordKey(ctx, *req.Key, res)
}

// fresh appends a request none of whose events is recorded yet.
func (s *Store) fresh(ctx context.Context, req eventstore.AppendRequest, proposed [][]esdb.EventData) (eventstore.AppendResult, error) {
	for _, st := range req.Streams {
		if err := s.claim(ctx, st.Stream, eventIDs(st.Events)); err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", st.Stream, err)
		}
	}
	if err := s.checkVersions(ctx, req); err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.write(ctx, req.Streams, proposed)
}

// checkNames refuses a request that names a reserved stream.
func checkNames(req eventstore.AppendRequest) error {
	for _, st := range req.Streams {
		if err := checkStreamName(st.Stream); err != nil {
			return err
		}
	}
	for _, c := range req.Conditions {
		if err := checkStreamName(c.Stream); err != nil {
			return err
		}
	}
	return nil
}

// encodeRequest encodes the events of each stream of req.
func encodeRequest(req eventstore.AppendRequest) ([][]esdb.EventData, error) {
	out := make([][]esdb.EventData, len(req.Streams))
	for i, st := range req.Streams {
		events, err := encodeEvents(st.Events)
		if err != nil {
			return nil, fmt.Errorf("append to %s: %w", st.Stream, err)
		}
		out[i] = events
	}
	return out, nil
}

// earlier looks for the ids of each stream's events in that stream. done
// is true when the append must not be written: every id is there (res
// reports the earlier append) or only some are (err is
// ErrDuplicateEventID).
func (s *Store) earlier(ctx context.Context, streams []eventstore.StreamEvents) (res eventstore.AppendResult, done bool, err error) {
	t := newTally(len(streams))
	for i, st := range streams {
		m, err := s.findIDs(ctx, st.Stream, eventIDs(st.Events))
		if err != nil {
			return eventstore.AppendResult{}, true, fmt.Errorf("append to %s: look for event ids: %w", st.Stream, err)
		}
		if err := t.add(i, st, m); err != nil {
			return eventstore.AppendResult{}, true, err
		}
	}
	res, done = t.verdict()
	return res, done, nil
}

// match is what a stream holds of an append's ids: how many, and the
// version and position of the last of them.
type match struct {
	found    int
	version  uint64
	position eventstore.Position
}

// findIDs reads stream until it has found every id, or to its end.
func (s *Store) findIDs(ctx context.Context, stream string, ids []uuid.UUID) (match, error) {
	want := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	var m match
	err := s.eachInStream(ctx, stream, 0, untilStopped, func(r *esdb.RecordedEvent) (bool, error) {
		if want[r.EventID] {
			delete(want, r.EventID)
			m = match{found: m.found + 1, version: r.EventNumber + 1, position: toPosition(r.Position)}
		}
		return m.found < len(ids), nil
	})
	return m, err
}

// tally adds up what the streams of a request already hold of its events.
type tally struct {
	res          eventstore.AppendResult
	found, total int
}

func newTally(streams int) *tally {
	return &tally{res: eventstore.AppendResult{Versions: make([]uint64, streams), Duplicate: true}}
}

// add counts m, what stream i holds of st's events. It fails with
// ErrDuplicateEventID as soon as the request is seen to be repeated only
// in part.
func (t *tally) add(i int, st eventstore.StreamEvents, m match) error {
	t.found += m.found
	t.total += len(st.Events)
	t.res.Versions[i] = m.version
	t.res.Position = max(t.res.Position, m.position)
	if t.found > 0 && t.found < t.total {
		return fmt.Errorf("append to %s: %d of %d event ids of the append already in their streams: %w",
			st.Stream, t.found, t.total, eventstore.ErrDuplicateEventID)
	}
	return nil
}

// verdict returns the earlier append and true when every event counted is
// recorded, or false when none is.
func (t *tally) verdict() (eventstore.AppendResult, bool) {
	if t.total == 0 || t.found < t.total {
		return eventstore.AppendResult{}, false
	}
	t.res.Version = t.res.Versions[0]
	return t.res, true
}

// write appends each stream's events in turn, with its expectation; for
// no streams it writes nothing and reports version and position 0.
func (s *Store) write(ctx context.Context, streams []eventstore.StreamEvents, proposed [][]esdb.EventData) (eventstore.AppendResult, error) {
	res := eventstore.AppendResult{Versions: make([]uint64, len(streams))}
	for i, st := range streams {
		opts := esdb.AppendToStreamOptions{ExpectedRevision: expectedRevision(st.Expected)}
		wr, err := s.client.AppendToStream(ctx, st.Stream, opts, proposed[i]...)
		if err != nil {
			return s.failed(ctx, streams, i, err)
		}
		m, err := s.written(ctx, st.Stream, eventIDs(st.Events), wr.NextExpectedVersion)
		if err != nil {
			err = fmt.Errorf("append to %s: %w", st.Stream, err)
			if i+1 < len(streams) {
				return eventstore.AppendResult{}, partlyWritten(streams, i+1, err)
			}
			return eventstore.AppendResult{}, err
		}
		res.Versions[i] = m.version
		res.Position = max(res.Position, m.position)
	}
	if len(streams) > 0 {
		res.Version = res.Versions[0]
	}
	return res, nil
}

// failed reports the failure err of the write of streams[i]. If the server
// rejected the expected version, a concurrent append of the same ids may
// have won: then the append is a duplicate. Else a failure at the first
// stream wrote nothing (ErrConcurrency) or left the outcome unknown, and a
// failure at a later one left the streams before it written.
func (s *Store) failed(ctx context.Context, streams []eventstore.StreamEvents, i int, err error) (eventstore.AppendResult, error) {
	st := streams[i]
	wrongVersion := hasCode(err, esdb.ErrorCodeWrongExpectedVersion)
	if wrongVersion {
		res, done, derr := s.earlier(ctx, streams)
		switch {
		case i == 0 && (done || derr != nil):
			return res, derr
		case done && derr == nil:
			return res, nil
		case i == 0:
			return eventstore.AppendResult{}, fmt.Errorf("append to %s: expected %s: %w: %w",
				st.Stream, st.Expected, eventstore.ErrConcurrency, err)
		}
		err = fmt.Errorf("expected %s: %w", st.Expected, err)
	}
	err = ctxErr(ctx, err)
	if i == 0 {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", st.Stream, err)
	}
	return eventstore.AppendResult{}, partlyWritten(streams, i, err)
}

// partlyWritten is the error of an append to streams that failed with err
// at streams[i], after writing the streams before it.
func partlyWritten(streams []eventstore.StreamEvents, i int, err error) error {
	names := make([]string, i)
	for j := range names {
		names[j] = streams[j].Stream
	}
	return fmt.Errorf("append to %s, stream %d of %d, after writing %s: %w: %w",
		streams[i].Stream, i+1, len(streams), strings.Join(names, ", "), ErrPartlyWritten, err)
}

// written checks, after a successful write whose last event has revision
// last, that the events up to last are the ones appended, and returns the
// stream's version and the last event's position.
func (s *Store) written(ctx context.Context, stream string, ids []uuid.UUID, last uint64) (match, error) {
	n := uint64(len(ids))
	if last+1 < n {
		return match{}, fmt.Errorf("server reported revision %d for %d events", last, n)
	}
	var got []*esdb.RecordedEvent
	err := s.eachInStream(ctx, stream, last+1-n, n, func(r *esdb.RecordedEvent) (bool, error) {
		got = append(got, r)
		return true, nil
	})
	if err != nil {
		return match{}, fmt.Errorf("read back: %w", err)
	}
	if !sameIDs(got, ids) {
		return match{}, fmt.Errorf("revisions %d to %d do not hold the appended events", last+1-n, last)
	}
	return match{found: len(got), version: last + 1, position: toPosition(got[n-1].Position)}, nil
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
