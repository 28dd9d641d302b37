package eventstore

import "context"

// StreamRead is one read of ReadStreams: up to Limit events of Stream with
// version >= From.
type StreamRead struct {
	Stream string
	From   uint64
	Limit  int
}

// MultiReader is implemented by stores that can read several streams in
// one round trip.
type MultiReader interface {
	// ReadStreams returns, for each read, what ReadStream would.
	ReadStreams(ctx context.Context, reads []StreamRead) ([][]Event, error)
}

// ReadStreams reads several streams: in one round trip when store is a
// MultiReader, else one after another.
func ReadStreams(ctx context.Context, store Store, reads []StreamRead) ([][]Event, error) {
	if m, ok := store.(MultiReader); ok {
		return m.ReadStreams(ctx, reads)
	}
	out := make([][]Event, len(reads))
	for i, r := range reads {
		events, err := store.ReadStream(ctx, r.Stream, r.From, r.Limit)
		if err != nil {
			return nil, err
		}
		out[i] = events
	}
	return out, nil
}
