package esdb

import (
	"context"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"ledger/eventstore"
)

// checkVersions reads, just before req is written, the current version of
// each condition's stream, and of each stream req writes when it writes
// several, and fails with ErrConcurrency if one does not hold. The server
// has no condition on a stream an append does not write, nor an append to
// several streams, so this read is not atomic with the write: a write to
// one of those streams between the two goes unnoticed. A single stream's
// expectation is left to the server, which checks it atomically.
func (s *Store) checkVersions(ctx context.Context, req eventstore.AppendRequest) error {
	for _, c := range req.Conditions {
		current, err := s.currentVersion(ctx, c.Stream)
		if err != nil {
			return fmt.Errorf("append: read version of condition stream %s: %w", c.Stream, err)
		}
		if err := checkCondition(c, current); err != nil {
			return err
		}
	}
	if len(req.Streams) < 2 {
		return nil
	}
	for _, st := range req.Streams {
		if st.Expected.IsAny() {
			continue
		}
		current, err := s.currentVersion(ctx, st.Stream)
		if err != nil {
			return fmt.Errorf("append to %s: read version: %w", st.Stream, err)
		}
		if err := checkExpected(st, current); err != nil {
			return err
		}
	}
	return nil
}

// checkCondition returns ErrConcurrency, naming the stream, unless c's
// stream is at version current.
func checkCondition(c eventstore.Condition, current uint64) error {
	if current != c.Version {
		return fmt.Errorf("append: condition expects %s at version %d, it is at %d: %w",
			c.Stream, c.Version, current, eventstore.ErrConcurrency)
	}
	return nil
}

// checkExpected returns ErrConcurrency, naming the stream, unless st's
// expectation allows version current.
func checkExpected(st eventstore.StreamEvents, current uint64) error {
	if !st.Expected.Allows(current) {
		return fmt.Errorf("append to %s: expected %s, stream at version %d: %w",
			st.Stream, st.Expected, current, eventstore.ErrConcurrency)
	}
	return nil
}

// currentVersion returns stream's version: its last event's revision plus
// one, or 0 for a stream with no events.
func (s *Store) currentVersion(ctx context.Context, stream string) (uint64, error) {
	var version uint64
	opts := esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}
	err := s.eachWith(ctx, stream, opts, 1, func(r *esdb.RecordedEvent) (bool, error) {
		version = r.EventNumber + 1
		return false, nil
	})
	return version, err
}
