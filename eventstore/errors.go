package eventstore

import "errors"

// ErrConcurrency reports that a stream's version did not satisfy an append's
// expected version. Nothing was written.
var ErrConcurrency = errors.New("eventstore: wrong expected version")

// ErrInvalidEvent reports a malformed append request. Nothing was written.
var ErrInvalidEvent = errors.New("eventstore: invalid event")

// ErrDuplicateEventID reports an event id already recorded in another stream,
// or an append that repeats only some of a stream's events. Nothing was
// written.
var ErrDuplicateEventID = errors.New("eventstore: event id already recorded")

// ErrLogRestored reports a log whose positions run ahead of those its
// backend now assigns: the database was restored, or moved to another
// server, and its positions were not rebased. An event appended now would
// take a position below ones already read, and every reader would skip
// it, so the store refuses to append. Nothing was written. See
// docs/eventstore.md ("Positions across restores") for the repair.
var ErrLogRestored = errors.New("eventstore: the log's positions are ahead of the store's; it was restored or moved and must be rebased")

// ErrRefused reports an append the backend refused for a reason of its
// own, such as a position past what it can store, a timeout it enforced,
// or a cancellation it confirmed. Nothing was written.
var ErrRefused = errors.New("eventstore: the backend refused the append")
