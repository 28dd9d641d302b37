package eventstore

import (
	"errors"
	"fmt"
)

// AppendRequest is one atomic append: events for one or more streams, each
// at the version its writer expects; conditions on streams it does not
// write; and, optionally, an idempotency key recorded with the events. The
// store appends all of it or none.
type AppendRequest struct {
	// Streams are the streams appended to, each with its expectation and
	// its events. A stream appears at most once.
	Streams []StreamEvents
	// Conditions are streams the append does not write that must still be
	// at the versions the writer decided on. A condition holds in log
	// order: when the append lands, no event of a conditioned stream with
	// a greater version stands before it in the global log.
	Conditions []Condition
	// Key, when set, is recorded in the same transaction as the events,
	// with Key.Result. A request whose key is recorded already appends
	// nothing: it is answered with the first request's record.
	Key *IdempotencyKey
}

// StreamEvents is the part of an append that goes to one stream.
type StreamEvents struct {
	Stream   string
	Expected ExpectedVersion
	Events   []EventData
}

// Condition requires Stream to be at Version (0: no events) when the
// append lands: the version the writer read and decided on.
type Condition struct {
	Stream  string
	Version uint64
}

// To is the request of an append of events to one stream at expected.
func To(stream string, expected ExpectedVersion, events ...EventData) AppendRequest {
	return AppendRequest{Streams: []StreamEvents{{Stream: stream, Expected: expected, Events: events}}}
}

// AppendResult reports where an append landed.
type AppendResult struct {
	// Version is the first stream's version after the append: the version
	// of its last event. On a replay, the version the key recorded.
	Version uint64
	// Versions are the versions of every stream after the append, in the
	// request's order; nil on a replay.
	Versions []uint64
	// Position is the global position of the append's last event; 0 for
	// a keyed append of no events.
	Position Position
	// Duplicate is true when every event was already recorded in the
	// stream the request names: the store appended nothing and reports
	// the earlier append's versions and position.
	Duplicate bool
	// Replayed is true when the request's key was recorded before, with
	// the same fingerprint: nothing was appended, and Version, Position
	// and Result are those the key recorded.
	Replayed bool
	// Result is what the key recorded: the request's own Key.Result, or on
	// a replay the first request's.
	Result []byte
}

// MaxAppendEvents bounds the events of one append.
const MaxAppendEvents = 10_000

// Validate reports whether req is well formed: at least one stream with
// events, or a key; each stream named once, with at least one event, each
// event with an id (unique in the request), a type, a schema version and
// JSON data; conditions that name streams not written, each once; and a
// usable key. A malformed request is ErrInvalidEvent.
func (req AppendRequest) Validate() error {
	if len(req.Streams) == 0 && req.Key == nil {
		return fmt.Errorf("%w: an append needs events or a key", ErrInvalidEvent)
	}
	written := make(map[string]bool, len(req.Streams))
	ids := make(map[[16]byte]bool)
	total := 0
	for _, s := range req.Streams {
		if written[s.Stream] {
			return fmt.Errorf("%w: append to %s: stream given twice", ErrInvalidEvent, s.Stream)
		}
		written[s.Stream] = true
		if err := validateEvents(s.Stream, s.Events, ids); err != nil {
			return err
		}
		if total += len(s.Events); total > MaxAppendEvents {
			return fmt.Errorf("%w: append of %d events or more, at most %d", ErrInvalidEvent, total, MaxAppendEvents)
		}
	}
	conditioned := make(map[string]bool, len(req.Conditions))
	for i, c := range req.Conditions {
		switch {
		case c.Stream == "":
			return fmt.Errorf("%w: condition %d names no stream", ErrInvalidEvent, i)
		case written[c.Stream]:
			return fmt.Errorf("%w: a condition on %s, which the append writes", ErrInvalidEvent, c.Stream)
		case conditioned[c.Stream]:
			return fmt.Errorf("%w: condition on %s given twice", ErrInvalidEvent, c.Stream)
		}
		conditioned[c.Stream] = true
	}
	if req.Key != nil {
		if err := req.Key.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidEvent, err)
		}
	}
	return nil
}

func validateEvents(stream string, events []EventData, ids map[[16]byte]bool) error {
	if stream == "" {
		return fmt.Errorf("%w: empty stream name", ErrInvalidEvent)
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: append to %s: no events", ErrInvalidEvent, stream)
	}
	for i, e := range events {
		switch {
		case e.ID == [16]byte{}:
			return fmt.Errorf("%w: append to %s: event %d has no id", ErrInvalidEvent, stream, i)
		case ids[e.ID]:
			return fmt.Errorf("%w: append to %s: event id %s given twice", ErrInvalidEvent, stream, e.ID)
		case e.Type == "":
			return fmt.Errorf("%w: append to %s: event %d has no type", ErrInvalidEvent, stream, i)
		case e.SchemaVersion < 1:
			return fmt.Errorf("%w: append to %s: event %d has schema version %d", ErrInvalidEvent, stream, i, e.SchemaVersion)
		case !jsonValid(e.Data):
			return fmt.Errorf("%w: append to %s: event %d data is not JSON", ErrInvalidEvent, stream, i)
		}
		ids[e.ID] = true
	}
	return nil
}

// Events returns every event of req, stream after stream.
func (req AppendRequest) Events() []EventData {
	var out []EventData
	for _, s := range req.Streams {
		out = append(out, s.Events...)
	}
	return out
}

// OutcomeKnown reports whether an append that returned err certainly
// wrote nothing: it was refused (ErrConcurrency, ErrInvalidEvent,
// ErrDuplicateEventID, ErrKeyReused, ErrLogRestored, ErrRefused). Any other error,
// such as a timeout or a lost connection, leaves the outcome unknown: the
// events may have been committed. Repeat the same request, with the same
// event ids, to learn it: a repeat of what was recorded is a Duplicate
// (or, with a key, a replay).
func OutcomeKnown(err error) bool {
	for _, known := range []error{ErrConcurrency, ErrInvalidEvent, ErrDuplicateEventID, ErrKeyReused, ErrLogRestored, ErrRefused} {
		if errors.Is(err, known) {
			return true
		}
	}
	return err == nil
}

// Guarantee is a promise of the append contract that a backend may be
// unable to keep, for want of support in its server.
type Guarantee string

// The guarantees a backend may lack. Postgres and memory keep them all.
const (
	// ConditionsInLogOrder: conditions are checked atomically with the
	// append, and no event of a conditioned stream takes a position
	// between the writer's read and the append.
	ConditionsInLogOrder Guarantee = "conditions hold in log order"
	// AtomicStreams: an append to several streams writes all of them or
	// none.
	AtomicStreams Guarantee = "an append to several streams is atomic"
	// AtomicKeys: an idempotency key is recorded in the same transaction
	// as its events, so racing requests with one key append once.
	AtomicKeys Guarantee = "an idempotency key is recorded atomically with its events"
)

// Limited is implemented by a store that cannot keep every guarantee: it
// names those it lacks. The conformance suite skips their tests, and a
// program that runs on such a store must say so when it starts.
type Limited interface {
	Unkept() []Guarantee
}

// Unkept returns the guarantees s cannot keep: none unless s is Limited.
func Unkept(s Store) []Guarantee {
	if l, ok := s.(Limited); ok {
		return l.Unkept()
	}
	return nil
}
