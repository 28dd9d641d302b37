package eventstore

import "fmt"

// ExpectedVersion is the condition an append places on a stream's current
// version. Build one with Any, NoStream, StreamExists or Exact.
type ExpectedVersion struct {
	kind    expectKind
	version uint64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectStreamExists
	expectExact
)

// Any accepts a stream in any state, existing or not.
func Any() ExpectedVersion { return ExpectedVersion{kind: expectAny} }

// NoStream accepts only a stream with no events.
func NoStream() ExpectedVersion { return ExpectedVersion{kind: expectNoStream} }

// StreamExists accepts only a stream with at least one event.
func StreamExists() ExpectedVersion { return ExpectedVersion{kind: expectStreamExists} }

// Exact accepts only a stream whose current version is v. Exact(0) is the
// same as NoStream.
func Exact(v uint64) ExpectedVersion {
	if v == 0 {
		return NoStream()
	}
	return ExpectedVersion{kind: expectExact, version: v}
}

// Allows reports whether a stream at version current satisfies e.
// Version 0 means the stream has no events.
func (e ExpectedVersion) Allows(current uint64) bool {
	switch e.kind {
	case expectNoStream:
		return current == 0
	case expectStreamExists:
		return current > 0
	case expectExact:
		return current == e.version
	default:
		return true
	}
}

// IsAny reports whether e places no condition on the stream.
func (e ExpectedVersion) IsAny() bool { return e.kind == expectAny }

// IsStreamExists reports whether e accepts any existing stream.
func (e ExpectedVersion) IsStreamExists() bool { return e.kind == expectStreamExists }

// Version returns the exact version e requires and whether it requires one.
// NoStream requires version 0.
func (e ExpectedVersion) Version() (uint64, bool) {
	switch e.kind {
	case expectNoStream:
		return 0, true
	case expectExact:
		return e.version, true
	default:
		return 0, false
	}
}

// String describes e for errors and logs.
func (e ExpectedVersion) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectStreamExists:
		return "stream exists"
	case expectExact:
		return fmt.Sprintf("version %d", e.version)
	default:
		return "any"
	}
}
