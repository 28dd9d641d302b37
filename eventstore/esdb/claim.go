package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"ledger/eventstore"
)

// The server keeps event ids unique only within a stream, while the ledger
// keeps them unique across the log. Before an append writes new events, it
// claims each id: it writes a marker event to the id's claim stream, which
// must not exist yet. A claim stream that exists names the stream that owns
// the id. Claims are never removed, so an id claimed by an append that then
// failed stays with the stream it was claimed for: an append of it to that
// stream proceeds, an append to any other stream fails.
const (
	// ClaimStreamPrefix begins the name of every claim stream. Append
	// refuses stream names with this prefix.
	ClaimStreamPrefix = "ledger-event-id-"
	// ClaimEventType is the type of the marker event in a claim stream. It
	// begins with "$", so the ledger's global log never shows it.
	ClaimEventType = "$ledger-event-id"
)

// claimParallelism bounds the claims of one append in flight at once.
const claimParallelism = 16

type claimData struct {
	Stream string `json:"stream"`
}

func claimStream(id uuid.UUID) string { return ClaimStreamPrefix + id.String() }

// checkStreamName refuses stream names the ledger's global log would hide
// and those of the streams the package keeps for itself.
func checkStreamName(stream string) error {
	if strings.HasPrefix(stream, "$") || strings.HasPrefix(stream, ClaimStreamPrefix) || strings.HasPrefix(stream, KeyStreamPrefix) {
		return fmt.Errorf("%w: stream name %q is reserved", eventstore.ErrInvalidEvent, stream)
	}
	return nil
}

// claim claims every id for stream. It fails with ErrDuplicateEventID if
// another stream owns one of them.
func (s *Store) claim(ctx context.Context, stream string, ids []uuid.UUID) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(ids))
	sem := make(chan struct{}, claimParallelism)
	var wg sync.WaitGroup
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if errs[i] = s.claimOne(ctx, stream, id); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	return firstError(errs)
}

// claimOne claims id for stream. The marker's id is derived from both, so
// that the server treats a repeated claim by the same stream as a no-op.
func (s *Store) claimOne(ctx context.Context, stream string, id uuid.UUID) error {
	data, err := json.Marshal(claimData{Stream: stream})
	if err != nil {
		return fmt.Errorf("claim event id %s: %w", id, err)
	}
	marker := esdb.EventData{
		EventID:     uuid.NewSHA1(id, []byte(stream)),
		EventType:   ClaimEventType,
		ContentType: esdb.ContentTypeJson,
		Data:        data,
	}
	opts := esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}
	_, err = s.client.AppendToStream(ctx, claimStream(id), opts, marker)
	if err == nil {
		return nil
	}
	if !hasCode(err, esdb.ErrorCodeWrongExpectedVersion) {
		return fmt.Errorf("claim event id %s: %w", id, ctxErr(ctx, err))
	}
	owner, err := s.claimOwner(ctx, id)
	switch {
	case err != nil:
		return fmt.Errorf("claim event id %s: %w", id, err)
	case owner != stream:
		return fmt.Errorf("event id %s belongs to stream %s: %w", id, owner, eventstore.ErrDuplicateEventID)
	default:
		return nil
	}
}

// claimOwner returns the stream that owns id.
func (s *Store) claimOwner(ctx context.Context, id uuid.UUID) (string, error) {
	var owner *claimData
	err := s.eachInStream(ctx, claimStream(id), 0, 1, func(r *esdb.RecordedEvent) (bool, error) {
		owner = new(claimData)
		return false, json.Unmarshal(r.Data, owner)
	})
	switch {
	case err != nil:
		return "", fmt.Errorf("read owner: %w", err)
	case owner == nil || owner.Stream == "":
		return "", errors.New("read owner: claim stream has no owner")
	default:
		return owner.Stream, nil
	}
}

// firstError returns the most telling of errs: a duplicate id before the
// cancellations it caused, else the first error.
func firstError(errs []error) error {
	var first error
	for _, err := range errs {
		if errors.Is(err, eventstore.ErrDuplicateEventID) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}
