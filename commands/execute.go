package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/eventstore"
)

// plan is one command, ready to run: what to fingerprint, which stream it
// writes, and how to decide on the stream's current state.
type plan[A any] struct {
	// name names the command in fingerprints and errors.
	name string
	// input is the caller's command as sent, for the idempotency
	// fingerprint; it must not hold ids the service generates.
	input any
	// stream is the aggregate's stream; called once per request, after the
	// idempotency key is checked, so that it may generate a new id.
	stream func() string
	// decide authorizes req and decides on the current state, at now. It
	// takes req from run, not from the command's own arguments: the
	// principal is as authenticated when it decides.
	decide func(ctx context.Context, req Request, agg *A, version uint64, now time.Time) ([]domain.Event, error)
	// ahead, when set, names the other streams decide will load, to be
	// read in one round trip with the aggregate's own.
	ahead func() []string
	// subject, when the command creates something inside the aggregate
	// (a user of a tenant), is its id: recorded with an idempotency key so
	// that a replay can find it.
	subject uuid.UUID
}

// keyedResult is what an idempotency key records.
type keyedResult struct {
	Stream   string    `json:"stream"`
	Version  uint64    `json:"version"`
	Position uint64    `json:"position"`
	Subject  uuid.UUID `json:"subject,omitzero"`
}

// run executes p: check the idempotency key, then load, decide and append,
// again on fresh state when a concurrent writer won (unless the caller
// gave If-Match, which makes that a failed precondition). With a pending
// optimistic principal, the first attempt decides on the states kept and
// appends guarded; when it misses, the principal is confirmed on fresh
// reads, and the command runs as ever. A keyed command confirms first: a
// replay, too, is for the key's current user only.
func run[A any, P state[A]](ctx context.Context, s *Service, req Request, p plan[A]) (Outcome[A], error) {
	key, err := idempotencyKey(req, p.name, p.input)
	if err != nil {
		return Outcome[A]{}, err
	}
	o := sessionOf(ctx)
	if o.pending() && key != nil {
		if ctx, err = s.settle(ctx, o, &req); err != nil {
			return Outcome[A]{}, err
		}
	}
	if key != nil {
		found, ok, err := s.store.LookupKey(ctx, *key)
		if err != nil || ok {
			return replay[A, P](ctx, s, found, err)
		}
	}
	stream := p.stream()
	if o.pending() {
		if out, ok := runOptimistic[A, P](ctx, s, req, p, stream, o); ok {
			return out, nil
		}
		if ctx, err = s.settle(ctx, o, &req, p.streams(stream)...); err != nil {
			return Outcome[A]{}, err
		}
	}
	for attempt := 0; ; attempt++ {
		out, err := runOnce[A, P](ctx, s, req, p, stream, key)
		if !errors.Is(err, eventstore.ErrConcurrency) {
			return out, err
		}
		if req.IfMatch != nil {
			return Outcome[A]{}, precondition(stream, err)
		}
		if attempt == s.maxRetries {
			return Outcome[A]{}, fmt.Errorf("%s on %s: lost %d races: %w", p.name, stream, attempt+1, err)
		}
	}
}

// streams are the streams p reads: stream and those it names ahead.
func (p plan[A]) streams(stream string) []string {
	if p.ahead == nil {
		return []string{stream}
	}
	return append(p.ahead(), stream)
}

func runOnce[A any, P state[A]](ctx context.Context, s *Service, req Request, p plan[A], stream string, key *eventstore.IdempotencyKey) (Outcome[A], error) {
	if p.ahead != nil && !readAheadPending(ctx, stream) {
		var err error
		if ctx, err = s.withReadAhead(ctx, p.streams(stream)...); err != nil {
			return Outcome[A]{}, err
		}
	}
	agg, version, err := load[A, P](ctx, s, stream, 0)
	if err != nil {
		return Outcome[A]{}, err
	}
	if req.IfMatch != nil && *req.IfMatch != version {
		return Outcome[A]{}, precondition(stream, fmt.Errorf("at version %d, not %d", version, *req.IfMatch))
	}
	now := s.now().UTC()
	decided, err := p.decide(ctx, req, agg, version, now)
	if err != nil {
		return Outcome[A]{}, err
	}
	if len(decided) == 0 {
		return Outcome[A]{State: agg, Stream: stream, Version: version}, nil
	}
	events, err := s.envelope(req, now, decided)
	if err != nil {
		return Outcome[A]{}, fmt.Errorf("%s on %s: %w", p.name, stream, err)
	}
	res, err := s.append(ctx, stream, eventstore.Exact(version), key, p.subject, events)
	if err != nil || res.Replayed {
		return replay[A, P](ctx, s, res, err)
	}
	for _, e := range decided {
		P(agg).Apply(e)
	}
	keepSnapshot(s, stream, agg, res.Append.Version)
	return Outcome[A]{State: agg, Stream: stream, Version: res.Append.Version, Position: res.Append.Position, Subject: p.subject}, nil
}

func (s *Service) append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, key *eventstore.IdempotencyKey, subject uuid.UUID, events []eventstore.EventData) (eventstore.KeyedResult, error) {
	if o := sessionOf(ctx); o.isAttempting() {
		if key != nil {
			return eventstore.KeyedResult{}, errMiss
		}
		return s.appendGuarded(ctx, o, stream, expected, events)
	}
	if key == nil {
		res, err := s.store.Append(ctx, stream, expected, events...)
		return eventstore.KeyedResult{Append: res}, err
	}
	render := func(r eventstore.AppendResult) ([]byte, error) {
		return json.Marshal(keyedResult{Stream: stream, Version: r.Version, Position: uint64(r.Position), Subject: subject})
	}
	return s.store.AppendKeyed(ctx, stream, expected, *key, render, events...)
}

// replay returns the outcome an idempotency key recorded: the aggregate as
// it stood right after the first request.
func replay[A any, P state[A]](ctx context.Context, s *Service, found eventstore.KeyedResult, err error) (Outcome[A], error) {
	if err != nil {
		return Outcome[A]{}, keyErr(err)
	}
	var rec keyedResult
	if err := json.Unmarshal(found.Result, &rec); err != nil {
		return Outcome[A]{}, fmt.Errorf("decode recorded result: %w", err)
	}
	agg, version, err := load[A, P](ctx, s, rec.Stream, rec.Version)
	if err != nil {
		return Outcome[A]{}, err
	}
	return Outcome[A]{State: agg, Stream: rec.Stream, Version: version, Position: eventstore.Position(rec.Position),
		Subject: rec.Subject, Replayed: true}, nil
}

// idempotencyKey returns the key of req for command name with input, or
// nil when the caller sent none. Keys belong to the calling principal.
func idempotencyKey(req Request, name string, input any) (*eventstore.IdempotencyKey, error) {
	if req.IdempotencyKey == "" {
		return nil, nil
	}
	if len(req.IdempotencyKey) > 255 {
		return nil, domain.Invalid("Idempotency-Key", "must have at most 255 characters")
	}
	fp, err := fingerprint(name, input)
	if err != nil {
		return nil, err
	}
	caller := string(req.Principal.Type) + ":" + req.Principal.ID.String()
	return &eventstore.IdempotencyKey{Caller: caller, Key: req.IdempotencyKey, Fingerprint: fp}, nil
}

// keyErr turns a reused idempotency key into the domain's refusal and
// leaves other errors as they are.
func keyErr(err error) error {
	if errors.Is(err, eventstore.ErrKeyReused) {
		return domain.RuleError(domain.CodeIdempotencyKeyReused, "this Idempotency-Key was used for a different request")
	}
	return err
}

func precondition(stream string, cause error) error {
	return &domain.Error{Kind: domain.ErrPrecondition, Code: domain.CodePreconditionFailed,
		Message: fmt.Sprintf("%s changed: %v", stream, cause)}
}

// envelope wraps decided events with ids and the request's metadata.
func (s *Service) envelope(req Request, now time.Time, decided []domain.Event) ([]eventstore.EventData, error) {
	meta := s.metadata(req, now)
	out := make([]eventstore.EventData, len(decided))
	for i, e := range decided {
		name, data, err := domain.MarshalEvent(e)
		if err != nil {
			return nil, err
		}
		out[i] = eventstore.EventData{ID: s.newID(), Type: name, SchemaVersion: 1, Data: data, Metadata: meta}
	}
	return out, nil
}

// fingerprint identifies a command as the caller sent it.
func fingerprint(name string, input any) (string, error) {
	data, err := json.Marshal(input)
	if err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", name, err)
	}
	sum := sha256.Sum256(append([]byte(name+"\x00"), data...))
	return hex.EncodeToString(sum[:]), nil
}
