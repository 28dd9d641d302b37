package commands

import (
	"context"

	"ledger/domain"
)

// Authenticate resolves an API key to its principal, from the current
// state of the key's tenant or partner as read from the event store, so
// that a removed user's key is refused on its very next use, on every
// replica. Anything but the key of an active user is
// domain.ErrUnauthenticated, without saying which part was wrong.
func (s *Service) Authenticate(ctx context.Context, key string) (domain.Principal, error) {
	k, ok := parseAPIKey(key)
	if !ok {
		return domain.Principal{}, domain.Unauthenticated()
	}
	var (
		user domain.User
		p    domain.Principal
	)
	switch k.ownerKind {
	case keyOfTenant:
		t, _, err := load[domain.Tenant](ctx, s, TenantStream(k.ownerID), 0)
		if err != nil {
			return domain.Principal{}, err
		}
		user, ok = t.Users[k.userID]
		p = domain.Principal{Type: domain.ActorTenantUser, TenantID: k.ownerID}
	case keyOfPartner:
		pt, _, err := load[domain.Partner](ctx, s, PartnerStream(k.ownerID), 0)
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
