package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/eventstore"
)

// plan is a command on one aggregate: the writes of the API but usage.
type plan[A any] struct {
	// name names the command in fingerprints and errors.
	name string
	// input is the command as the caller sent it, for the idempotency
	// fingerprint; it must not hold ids the service generates.
	input any
	// stream is the aggregate's stream.
	stream string
	// reads are the other streams decide reads that can be named before
	// it runs, read together with the aggregate's.
	reads []string
	// decide authorizes req and decides on the aggregate's state in v, at
	// now; it may load other streams of v.
	decide func(ctx context.Context, v *view, req Request, agg *A, version uint64, now time.Time) ([]domain.Event, error)
	// subject, when the command creates something inside the aggregate
	// (a user of a tenant), is its id: recorded with an idempotency key so
	// that a replay can find it.
	subject uuid.UUID
}

// keyedResult is what an idempotency key records of a plan's outcome. The
// store records the version and position of the events; a keyed command
// that changed nothing records those of the state it answered from here.
type keyedResult struct {
	Stream   string    `json:"stream"`
	Subject  uuid.UUID `json:"subject,omitzero"`
	Created  bool      `json:"created,omitempty"`
	Version  uint64    `json:"version,omitempty"`
	Position uint64    `json:"position,omitempty"`
}

// run executes p on the one command path and returns the aggregate as the
// command left it, or, for a replayed idempotency key, as the first
// request left it.
func run[A any, P state[A]](ctx context.Context, s *Service, req Request, p plan[A]) (Outcome[A], error) {
	c := command{
		name: p.name, input: p.input, scope: keyScope[A](req, p.stream),
		writes: []string{p.stream},
		reads:  append([]string{p.stream}, p.reads...),
		decide: func(ctx context.Context, v *view, req Request, now time.Time) (decision, error) {
			agg, version, err := load[A, P](ctx, v, p.stream)
			if err != nil {
				return decision{}, err
			}
			events, err := p.decide(ctx, v, req, agg, version, now)
			if err := ifMatch(req, version, err); err != nil {
				return decision{}, err
			}
			if err != nil || len(events) == 0 {
				return decision{}, err
			}
			return decision{writes: []write{{stream: p.stream, version: version, events: events}}}, nil
		},
		record: func(v *view, d decision) ([]byte, error) {
			rec := keyedResult{Stream: p.stream, Subject: p.subject, Created: created(d)}
			if d.empty() {
				rec.Version, rec.Position = v.streams[p.stream].version, uint64(v.position(p.stream))
			}
			return json.Marshal(rec)
		},
	}
	v := s.newView()
	ex, err := s.execute(ctx, v, req, c)
	if err != nil {
		return Outcome[A]{}, err
	}
	if ex.res.Replayed {
		return replay[A, P](ctx, s, ex.res)
	}
	agg, version, err := load[A, P](ctx, v, p.stream)
	if err != nil {
		return Outcome[A]{}, err
	}
	out := Outcome[A]{State: agg, Stream: p.stream, Version: version, Position: v.position(p.stream), Principal: ex.principal}
	if ex.decision.empty() {
		return out, nil
	}
	for _, e := range ex.decision.writes[0].events {
		P(agg).Apply(e)
	}
	out.Version, out.Position, out.Subject, out.Created = ex.res.Version, ex.res.Position, p.subject, created(ex.decision)
	v.advance(p.stream, P(agg).Clone(), out.Version, out.Position)
	return out, nil
}

// replay returns the outcome an idempotency key recorded: the aggregate as
// it stood right after the first request.
func replay[A any, P state[A]](ctx context.Context, s *Service, res eventstore.AppendResult) (Outcome[A], error) {
	var rec keyedResult
	if err := json.Unmarshal(res.Result, &rec); err != nil {
		return Outcome[A]{}, fmt.Errorf("decode recorded result: %w", err)
	}
	version, position := res.Version, res.Position
	if version == 0 {
		version, position = rec.Version, eventstore.Position(rec.Position)
	}
	agg, err := loadAt[A, P](ctx, s.store, rec.Stream, version)
	if err != nil {
		return Outcome[A]{}, err
	}
	return Outcome[A]{State: agg, Stream: rec.Stream, Version: version, Position: position, Subject: rec.Subject,
		Created: rec.Created, Replayed: true}, nil
}

// keyScope is the owner of the path of a command on the aggregate A of
// stream: a tenant or a partner changing itself (its users) is the owner;
// any other aggregate belongs to req's tenant.
func keyScope[A any](req Request, stream string) string {
	switch any((*A)(nil)).(type) {
	case *domain.Tenant, *domain.Partner:
		return stream
	}
	return TenantStream(req.TenantID)
}

// created says whether d begins its aggregate's stream.
func created(d decision) bool { return !d.empty() && d.writes[0].version == 0 }

// ifMatch refuses a request whose If-Match names another version than
// the aggregate's, once the caller is known to be authorized: decided
// gave no refusal of access. So a caller out of scope learns nothing of
// the version, while If-Match still wins over the rules.
func ifMatch(req Request, version uint64, decided error) error {
	if req.IfMatch == nil || *req.IfMatch == version || req.replaying() || refusesAccess(decided) {
		return nil
	}
	return precondition(version, *req.IfMatch)
}

// refusesAccess says whether err refuses the caller access, rather than
// what it asked for.
func refusesAccess(err error) bool {
	var d *denied
	return errors.As(err, &d) || errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrForbidden) ||
		errors.Is(err, domain.ErrUnauthenticated)
}

func precondition(version, expected uint64) error {
	return &domain.Error{Kind: domain.ErrPrecondition, Code: domain.CodePreconditionFailed,
		Message: fmt.Sprintf("the resource is at version %d, not %d", version, expected)}
}
