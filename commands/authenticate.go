package commands

import (
	"context"

	"github.com/google/uuid"

	"ledger/domain"
)

// Ahead names the subscription a request is to write to, so that
// AuthenticateAhead reads it, its account and the caller's grant in the
// same round trip as the key's owner. The zero Ahead names nothing.
type Ahead struct {
	TenantID       uuid.UUID
	SubscriptionID uuid.UUID
	// Guarded says that the request is a write whose only use of the
	// principal is one command of this package that decides and appends
	// (the writes of accounts, products and subscriptions), so that the
	// key may be resolved optimistically: see Confirm.
	Guarded bool
}

// Authenticate resolves an API key to its principal, from the current
// state of the key's tenant or partner as read from the event store, so
// that a removed user's key is refused on its very next use, on every
// replica. Anything but the key of an active user is
// domain.ErrUnauthenticated, without saying which part was wrong.
func (s *Service) Authenticate(ctx context.Context, key string) (domain.Principal, error) {
	_, p, err := s.AuthenticateAhead(ctx, key, Ahead{})
	return p, err
}

// AuthenticateAhead is Authenticate that also reads what ahead names, in
// the same round trip, and returns ctx carrying it for the command that
// follows. Nothing read is used unless the key holds: the command decides
// on it as on its own reads, and authorizes as ever.
//
// With ahead.Guarded, the key is resolved on the state of its owner that
// the service keeps, when it keeps one, without reading the store: the
// principal is then pending until the command's guarded append confirms
// it, or until the command, missing, authenticates again on fresh reads.
// A request that ends otherwise must call Confirm before it answers.
func (s *Service) AuthenticateAhead(ctx context.Context, key string, ahead Ahead) (context.Context, domain.Principal, error) {
	k, ok := parseAPIKey(key)
	if !ok {
		return ctx, domain.Principal{}, domain.Unauthenticated()
	}
	owner := TenantStream(k.ownerID)
	if k.ownerKind == keyOfPartner {
		owner = PartnerStream(k.ownerID)
	}
	if ahead.Guarded {
		if octx, p, ok := s.authenticateOptimistically(ctx, k, owner, key); ok {
			return octx, p, nil
		}
	}
	if ahead.SubscriptionID != uuid.Nil {
		sub := SubscriptionStream(ahead.TenantID, ahead.SubscriptionID)
		streams := []string{owner, sub, s.accountOfSnapshot(ahead.TenantID, sub)}
		if k.ownerKind == keyOfPartner {
			streams = append(streams, AccessStream(ahead.TenantID, k.ownerID))
		}
		var err error
		if ctx, err = s.withReadAhead(ctx, streams...); err != nil {
			return ctx, domain.Principal{}, err
		}
	}
	p, err := s.principalOf(ctx, k, owner, key)
	return ctx, p, err
}

func (s *Service) principalOf(ctx context.Context, k apiKey, owner, key string) (domain.Principal, error) {
	var (
		user domain.User
		ok   bool
		p    domain.Principal
	)
	switch k.ownerKind {
	case keyOfTenant:
		t, _, err := load[domain.Tenant](ctx, s, owner, 0)
		if err != nil {
			return domain.Principal{}, err
		}
		user, ok = t.Users[k.userID]
		p = domain.Principal{Type: domain.ActorTenantUser, TenantID: k.ownerID}
	case keyOfPartner:
		pt, _, err := load[domain.Partner](ctx, s, owner, 0)
		if err != nil {
			return domain.Principal{}, err
		}
		user, ok = pt.Users[k.userID]
		p = domain.Principal{Type: domain.ActorPartnerUser, PartnerID: k.ownerID}
	}
	if !ok || user.Status != domain.UserActive || !keyMatches(key, user.KeyHash) {
		return domain.Principal{}, domain.Unauthenticated()
	}
	p.ID, p.Role = user.ID, user.Role
	return p, nil
}
