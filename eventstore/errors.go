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
