package eventstore

import (
	"context"
	"fmt"
)

// Guard is a condition an append places on a stream it does not write:
// that the stream is still at Version, the version the writer decided on
// (0: that it has no events). A writer that decided on the states of
// several streams appends to one of them guarded by the others, so that
// what it appends was decided on the states they are in when it lands.
type Guard struct {
	Stream  string
	Version uint64
}

// GuardedAppender is implemented by stores that check guards in the same
// atomic step as an append.
type GuardedAppender interface {
	// AppendGuarded appends as Append does, provided that every guard
	// also holds; otherwise it returns ErrConcurrency and writes
	// nothing. A repeat of events already in the stream is reported as
	// Append reports it, whatever the guards.
	AppendGuarded(ctx context.Context, stream string, expected ExpectedVersion, guards []Guard, events ...EventData) (AppendResult, error)
}

// ValidateGuards reports whether guards are well formed for an append to
// stream: each names a stream, not stream itself, and no stream twice.
func ValidateGuards(stream string, guards []Guard) error {
	seen := make(map[string]bool, len(guards))
	for i, g := range guards {
		switch {
		case g.Stream == "":
			return fmt.Errorf("%w: append to %s: guard %d names no stream", ErrInvalidEvent, stream, i)
		case g.Stream == stream:
			return fmt.Errorf("%w: append to %s: a guard on the stream appended to", ErrInvalidEvent, stream)
		case seen[g.Stream]:
			return fmt.Errorf("%w: append to %s: guard on %s given twice", ErrInvalidEvent, stream, g.Stream)
		}
		seen[g.Stream] = true
	}
	return nil
}

// GuardFailed describes a guard that does not hold, for ErrConcurrency's
// message.
func GuardFailed(stream string, g Guard, current uint64) error {
	return fmt.Errorf("append to %s: guard expects %s at version %d, it is at %d: %w", stream, g.Stream, g.Version, current, ErrConcurrency)
}
