package commands

import (
	"context"
	"errors"
	"sync"

	"ledger/domain"
	"ledger/eventstore"
)

// A write can be decided optimistically: on the states the service keeps
// (its snapshots) instead of states read from the store, its events
// appended guarded by the version of every stream it decided on, the API
// key's owner among them. When every state kept was current, the write
// reads nothing and costs the append alone. When one was not (another
// replica wrote, a user was removed, a grant revoked) or was not kept, or
// the command refused or had nothing to append, no guarded append is made
// or it fails, and the command runs again, from the key on, on states
// read from the store. So every answer rests on current state: a success
// on the guarded append that checked it, anything else on fresh reads.

// errMiss ends an optimistic attempt that cannot stand: the command runs
// again on fresh reads.
var errMiss = errors.New("optimistic attempt missed")

// session is an optimistic authentication and what it decided on. It
// travels in the request's context; one request's steps use it one after
// another.
type session struct {
	mu    sync.Mutex
	key   string
	k     apiKey
	owner string
	// principal is who the key's owner, as kept, says the key is.
	principal domain.Principal
	// attempting is set while loads take the states kept, recording the
	// versions they decided on.
	attempting bool
	versions   map[string]uint64
	spoiled    bool // a stream was taken at two versions
	// confirmed is set once the principal is known to be current: by a
	// guarded append, or by authenticating again on fresh reads.
	confirmed bool
}

type sessionKey struct{}

func sessionOf(ctx context.Context) *session {
	o, _ := ctx.Value(sessionKey{}).(*session)
	return o
}

// withoutSession hides ctx's session from the loads made with the
// result, which then read the store.
func withoutSession(ctx context.Context) context.Context {
	return context.WithValue(ctx, sessionKey{}, (*session)(nil))
}

func (o *session) setAttempting(on bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.attempting = on
}

func (o *session) isAttempting() bool {
	if o == nil {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.attempting
}

// pending says whether the principal is yet to be confirmed.
func (o *session) pending() bool {
	if o == nil {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.confirmed
}

func (o *session) confirm(p domain.Principal) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.principal, o.confirmed = p, true
}

// record notes that the attempt decided on stream at version.
func (o *session) record(stream string, version uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if v, ok := o.versions[stream]; ok && v != version {
		o.spoiled = true
	}
	o.versions[stream] = version
}

// guards are the conditions of an append to stream: every other stream
// decided on, at the version it was decided on.
func (o *session) guards(stream string) ([]eventstore.Guard, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.spoiled {
		return nil, false
	}
	out := make([]eventstore.Guard, 0, len(o.versions))
	for s, v := range o.versions {
		if s != stream {
			out = append(out, eventstore.Guard{Stream: s, Version: v})
		}
	}
	return out, true
}

// authenticateOptimistically resolves key from the kept state of its
// owner, when the store can guard appends, and returns ctx carrying the
// session. It reports false when the key does not hold on that state,
// which may be behind, or is not kept at all.
func (s *Service) authenticateOptimistically(ctx context.Context, k apiKey, owner, key string) (context.Context, domain.Principal, bool) {
	if _, ok := s.store.(eventstore.GuardedAppender); !ok {
		return ctx, domain.Principal{}, false
	}
	o := &session{key: key, k: k, owner: owner, attempting: true, versions: make(map[string]uint64)}
	octx := context.WithValue(ctx, sessionKey{}, o)
	p, err := s.principalOf(octx, k, owner, key)
	o.setAttempting(false)
	if err != nil {
		return ctx, domain.Principal{}, false
	}
	o.principal = p
	return octx, p, true
}

// loadKept is load during an optimistic attempt: the state kept of
// stream, or the empty state at version 0 when none is, without reading
// the store; the version is recorded for the append's guards.
func loadKept[A any](s *Service, o *session, stream string) (*A, uint64) {
	agg, version := kept[A](s, stream)
	o.record(stream, version)
	return agg, version
}

// appendGuarded is the append of an optimistic attempt: guarded by every
// stream the attempt decided on. It confirms the session when it lands.
func (s *Service) appendGuarded(ctx context.Context, o *session, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.KeyedResult, error) {
	guards, ok := o.guards(stream)
	if !ok {
		return eventstore.KeyedResult{}, errMiss
	}
	res, err := s.store.(eventstore.GuardedAppender).AppendGuarded(ctx, stream, expected, guards, events...)
	if err != nil {
		return eventstore.KeyedResult{}, err
	}
	o.confirm(o.principal)
	return eventstore.KeyedResult{Append: res}, nil
}

// runOptimistic makes p's optimistic attempt. It reports false, having
// written nothing, when the attempt cannot stand.
func runOptimistic[A any, P state[A]](ctx context.Context, s *Service, req Request, p plan[A], stream string, o *session) (Outcome[A], bool) {
	o.setAttempting(true)
	out, err := runOnce[A, P](ctx, s, req, p, stream, nil)
	o.setAttempting(false)
	if err != nil || o.pending() {
		return Outcome[A]{}, false
	}
	return out, true
}

// settle confirms a pending session on fresh reads: the key's owner is
// read again, with streams, in one round trip, and the principal it
// gives replaces req's. It returns ctx carrying those reads for the
// command's loads, and domain.ErrUnauthenticated when the key no longer
// holds.
func (s *Service) settle(ctx context.Context, o *session, req *Request, streams ...string) (context.Context, error) {
	ctx, err := s.withReadAhead(withoutSession(ctx), append(streams, o.owner)...)
	if err != nil {
		return ctx, err
	}
	p, err := s.principalOf(ctx, o.k, o.owner, o.key)
	if err != nil {
		return ctx, err
	}
	o.confirm(p)
	req.Principal = p
	return ctx, nil
}

// Confirm confirms the principal of an optimistic authentication that
// nothing has confirmed yet, on a fresh read of the key's owner: a
// removed user's key is domain.ErrUnauthenticated, and a principal that
// changed since is refused the same way, to be authenticated afresh. With
// any other ctx it returns nil. The HTTP layer calls it before it answers
// a request that ended without a confirmed principal.
func (s *Service) Confirm(ctx context.Context) error {
	o := sessionOf(ctx)
	if !o.pending() {
		return nil
	}
	o.mu.Lock()
	was := o.principal
	o.mu.Unlock()
	p, err := s.principalOf(withoutSession(ctx), o.k, o.owner, o.key)
	if err != nil {
		return err
	}
	if p != was {
		return domain.Unauthenticated()
	}
	o.confirm(p)
	return nil
}

// Confirmed says whether ctx's principal is known to be current: always,
// but for an optimistic authentication nothing has confirmed yet.
func Confirmed(ctx context.Context) bool { return !sessionOf(ctx).pending() }
