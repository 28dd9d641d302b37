package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"ledger/domain"
	"ledger/eventstore"
)

// command is one write, ready to run.
type command struct {
	// name names the command in fingerprints and errors.
	name string
	// input is the command as the caller sent it, for the idempotency
	// fingerprint; it must not hold ids the service generates.
	input any
	// scope is the owner of the path the command was sent on, a tenant
	// or a partner, as its stream: an idempotency key means nothing
	// outside it.
	scope string
	// writes are the streams the command may append to: writers of one
	// stream in this process take turns (see turns).
	writes []string
	// reads are the streams the decision reads that can be named before
	// it runs, read in one round trip with the key's owner and the grant.
	reads []string
	// decide authorizes req (its Principal authenticated) and decides on
	// v, at now. It may load streams it did not name.
	decide func(ctx context.Context, v *view, req Request, now time.Time) (decision, error)
	// record is what an idempotency key keeps of the decision for a
	// replay to answer with.
	record func(v *view, d decision) ([]byte, error)
}

// decision is what a command decided: events for streams, each at the
// version it was decided on.
type decision struct {
	writes []write
}

type write struct {
	stream  string
	version uint64
	events  []domain.Event
}

func (d decision) empty() bool { return len(d.writes) == 0 }

// executed is what became of a command: what it decided and where that
// landed, or, for a request whose idempotency key was recorded before,
// the key's record (res.Replayed).
type executed struct {
	decision  decision
	res       eventstore.AppendResult
	principal domain.Principal
}

// contentionBackoff bounds the pause before deciding again after another
// process won a race.
const contentionBackoff = 50 * time.Millisecond

// execute runs c on v, a view of its own: the one path of every write.
// It authenticates the caller, reads every stream the decision depends
// on, authorizes and decides, and appends conditioned on all of them.
//
// Writers of one stream in this process take turns. When the append finds
// that another process moved a stream it was decided on, the command reads
// what moved and decides again, for up to s.contention from that first
// lost race (time spent waiting out an outage is not contention); after
// that it is refused as contended. A refusal, or a decision to change nothing, stands
// only on states read from the store during the command: one decided on
// states kept is decided again once they are refreshed. A request with an
// idempotency key reads everything afresh and, once its caller is
// authenticated, answers with the key's record if the key was used before
// and the request, were it new, would be authorized (reauthorize); else it
// is refused as the new request would be.
func (s *Service) execute(ctx context.Context, v *view, req Request, c command) (executed, error) {
	key, err := idempotencyKey(req, c)
	if err != nil {
		return executed{}, err
	}
	release, err := s.turns.take(ctx, c.writes...)
	if err != nil {
		return executed{}, err
	}
	defer release()
	var contendedAt time.Time // s.contention after the first lost race
	var recorded *eventstore.AppendResult
	for attempt := 0; ; attempt++ {
		if err := v.read(ctx, key != nil, append(authStreams(req), c.reads...)...); err != nil {
			return executed{}, err
		}
		now := s.now().UTC()
		p, err := s.authenticate(ctx, v, req)
		if err == nil && key != nil && attempt == 0 {
			res, found, err := s.store.LookupKey(ctx, *key)
			if err != nil {
				return executed{}, keyErr(err)
			}
			if found {
				recorded = &res
			}
		}
		var d decision
		switch {
		case err != nil:
		case recorded != nil:
			req.Principal = p
			if err = s.reauthorize(ctx, v, req, c, now); err == nil {
				return executed{res: *recorded, principal: p}, nil
			}
		default:
			req.Principal = p
			d, err = c.decide(ctx, v, req, now)
		}
		var res eventstore.AppendResult
		switch {
		case err == nil && (!d.empty() || key != nil):
			res, err = s.appendDecided(ctx, v, req, c, d, key, now)
		case !v.fresh():
			if err := v.refresh(ctx, false); err != nil {
				return executed{}, err
			}
			continue // a refusal or a no-op stands only on fresh states
		default:
			err = s.refuse(ctx, v, req, err, now)
		}
		if !errors.Is(err, eventstore.ErrConcurrency) {
			return executed{decision: d, res: res, principal: p}, keyErr(err)
		}
		if contendedAt.IsZero() {
			contendedAt = time.Now().Add(s.contention)
		}
		if err := s.contended(ctx, c.name, attempt, contendedAt); err != nil {
			return executed{}, err
		}
		if err := v.refresh(ctx, true); err != nil {
			return executed{}, err
		}
	}
}

// contended pauses before a command decides again after a lost race, or
// refuses it as contended once contendedAt has passed.
func (s *Service) contended(ctx context.Context, name string, attempt int, contendedAt time.Time) error {
	if time.Now().After(contendedAt) {
		s.logger.Warn("command contended", "command", name, "attempts", attempt+1)
		return domain.Contended(s.contention)
	}
	pause := min(time.Millisecond<<min(attempt, 10), contentionBackoff)
	select {
	case <-time.After(pause/2 + rand.N(pause/2+1)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// appendDecided appends d, conditioned on every other stream of v.
func (s *Service) appendDecided(ctx context.Context, v *view, req Request, c command, d decision, key *eventstore.IdempotencyKey, now time.Time) (eventstore.AppendResult, error) {
	areq := eventstore.AppendRequest{Key: key}
	written := make(map[string]bool, len(d.writes))
	meta := s.metadata(req, now)
	for _, w := range d.writes {
		events, err := s.envelope(meta, w.events)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("%s on %s: %w", c.name, w.stream, err)
		}
		areq.Streams = append(areq.Streams, eventstore.StreamEvents{Stream: w.stream, Expected: eventstore.Exact(w.version), Events: events})
		written[w.stream] = true
	}
	areq.Conditions = v.conditions(written)
	if key != nil {
		result, err := c.record(v, d)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("%s: record for the idempotency key: %w", c.name, err)
		}
		k := *key
		k.Result = result
		areq.Key = &k
	}
	res, err := s.appendUntilKnown(ctx, areq)
	if err == nil {
		v.saveDue(ctx)
	}
	return res, err
}

// refuse gives a refusal that stands, or nothing (err nil) for a decision
// to change nothing. A refusal of access is recorded in the tenant's audit
// log first, conditioned on v, so that the log shows it after the states
// it was decided on; a conflict there is returned as ErrConcurrency, to
// decide again.
func (s *Service) refuse(ctx context.Context, v *view, req Request, refusal error, now time.Time) error {
	var d *denied
	if !errors.As(refusal, &d) {
		return refusal
	}
	if err := s.recordDenied(ctx, v, req, d, now); err != nil {
		return err
	}
	s.logger.Info("access denied", "tenant_id", req.TenantID, "actor_type", req.Principal.Type,
		"actor_id", req.Principal.ID, "permission", d.event.Permission, "resource", d.event.Resource, "reason", d.event.Reason)
	return d.err
}

// outcomeWait bounds how long an append whose outcome is unknown is
// repeated to learn it.
const outcomeWait = 10 * time.Second

// appendUntilKnown appends areq and, while the outcome is unknown (a
// timeout, a lost connection: the events may have been committed),
// repeats the same append, same event ids, which the store recognises if
// it landed: so a command whose acknowledgement was lost is never decided
// again and applied twice. The repeats outlive ctx, for up to
// outcomeWait: the caller may have given up, but the ledger must know
// what it wrote.
func (s *Service) appendUntilKnown(ctx context.Context, areq eventstore.AppendRequest) (eventstore.AppendResult, error) {
	res, err := s.store.Append(ctx, areq)
	if eventstore.OutcomeKnown(err) {
		return res, err
	}
	first := err
	wait, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeWait)
	defer cancel()
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, time.Second) {
		select {
		case <-wait.Done():
			// The last error too: a database that went away while this
			// waited answers as the outage it is (dberr.Unavailable).
			return eventstore.AppendResult{}, fmt.Errorf("append: outcome unknown after %s: %w", outcomeWait, errors.Join(first, err))
		case <-time.After(pause):
		}
		res, err = s.store.Append(wait, areq)
		if eventstore.OutcomeKnown(err) {
			s.logger.Warn("append repeated after its outcome was lost", "error", first, "recorded_before", res.Duplicate || res.Replayed)
			return res, err
		}
	}
}

// idempotencyKey returns the key of req for c, or nil when the caller sent
// none. A key belongs to the calling principal within c's scope: the same
// key from the same caller on another tenant or partner is another key.
func idempotencyKey(req Request, c command) (*eventstore.IdempotencyKey, error) {
	if req.IdempotencyKey == "" {
		return nil, nil
	}
	if len(req.IdempotencyKey) > eventstore.MaxKeyLen {
		return nil, domain.Invalid("Idempotency-Key", "must have at most 255 characters")
	}
	if c.scope == "" {
		return nil, fmt.Errorf("%s: an idempotency key with no scope", c.name)
	}
	fp, err := fingerprint(c.name, c.input)
	if err != nil {
		return nil, err
	}
	return &eventstore.IdempotencyKey{Caller: c.scope + "/" + req.caller(), Key: req.IdempotencyKey, Fingerprint: fp}, nil
}

// keyErr turns a reused idempotency key into the domain's refusal and
// leaves other errors as they are.
func keyErr(err error) error {
	if errors.Is(err, eventstore.ErrKeyReused) {
		return domain.RuleError(domain.CodeIdempotencyKeyReused, "this Idempotency-Key was used for a different request")
	}
	return err
}

// envelope wraps decided events with ids and the request's metadata.
func (s *Service) envelope(meta eventstore.Metadata, decided []domain.Event) ([]eventstore.EventData, error) {
	out := make([]eventstore.EventData, len(decided))
	for i, e := range decided {
		name, version, data, err := domain.MarshalEvent(e)
		if err != nil {
			return nil, err
		}
		out[i] = eventstore.EventData{ID: s.newID(), Type: name, SchemaVersion: version, Data: data, Metadata: meta}
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
