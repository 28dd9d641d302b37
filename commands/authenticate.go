package commands

import (
	"context"

	"github.com/google/uuid"

	"ledger/domain"
)

// authStreams are the streams that authenticate and authorize req: the
// key's owner (its tenant or partner), and for a partner's user the grant
// of its partner on req's tenant.
func authStreams(req Request) []string {
	var streams []string
	if k, ok := parseAPIKey(req.Key); ok {
		streams = append(streams, k.ownerStream())
	}
	if grant := grantStream(req); grant != "" {
		streams = append(streams, grant)
	}
	return streams
}

// grantStream is the stream of the grant that authorizes a partner user's
// request on req's tenant, or "" for other callers.
func grantStream(req Request) string {
	if req.TenantID == uuid.Nil {
		return ""
	}
	if k, ok := parseAPIKey(req.Key); ok {
		if k.ownerKind == keyOfPartner {
			return AccessStream(req.TenantID, k.ownerID)
		}
		return ""
	}
	if p := req.Principal; p.Type == domain.ActorPartnerUser {
		return AccessStream(req.TenantID, p.PartnerID)
	}
	return ""
}

// authenticate returns who issues req: with an API key, the user it names,
// resolved on the state of the key's owner in v; else req.Principal, as
// given by a caller in this process. Anything but the key of an active
// user is domain.ErrUnauthenticated, without saying which part was wrong.
func (s *Service) authenticate(ctx context.Context, v *view, req Request) (domain.Principal, error) {
	if req.Key == "" {
		return req.Principal, nil
	}
	return s.principalOf(ctx, v, req.Key)
}

// principalOf resolves key on the state of its owner in v.
func (s *Service) principalOf(ctx context.Context, v *view, key string) (domain.Principal, error) {
	k, ok := parseAPIKey(key)
	if !ok {
		return domain.Principal{}, domain.Unauthenticated()
	}
	var (
		user  domain.User
		found bool
		p     domain.Principal
	)
	switch k.ownerKind {
	case keyOfTenant:
		t, _, err := load[domain.Tenant](ctx, v, k.ownerStream())
		if err != nil {
			return domain.Principal{}, err
		}
		user, found = t.Users[k.userID]
		p = domain.Principal{Type: domain.ActorTenantUser, TenantID: k.ownerID}
	case keyOfPartner:
		pt, _, err := load[domain.Partner](ctx, v, k.ownerStream())
		if err != nil {
			return domain.Principal{}, err
		}
		user, found = pt.Users[k.userID]
		p = domain.Principal{Type: domain.ActorPartnerUser, PartnerID: k.ownerID}
	}
	if !found || user.Status != domain.UserActive || !keyMatches(key, user.KeyHash) {
		return domain.Principal{}, domain.Unauthenticated()
	}
	p.ID, p.Role = user.ID, user.Role
	return p, nil
}

// Authenticate resolves an API key to its principal on the current state
// of the key's owner, read from the event store, so that a removed user's
// key is refused on its very next use, on every replica. Reads
// authenticate so; a command authenticates its key itself, on the states
// it decides and appends on.
func (s *Service) Authenticate(ctx context.Context, key string) (domain.Principal, error) {
	return s.resolveKey(ctx, key, true)
}

// Recognize resolves an API key on the state kept of its owner, reading
// the store only when none is kept: a quick refusal, before a command
// runs, of a key that names no active user. It is never enough on its
// own: a removal that another replica appended since is not seen. The
// command that follows authenticates the key again, on the states its
// append is conditioned on.
func (s *Service) Recognize(ctx context.Context, key string) (domain.Principal, error) {
	return s.resolveKey(ctx, key, false)
}

// resolveKey resolves key on a view of its owner's stream, read from the
// store with check, else taken as kept when it is.
func (s *Service) resolveKey(ctx context.Context, key string, check bool) (domain.Principal, error) {
	v := s.newView()
	if err := v.read(ctx, check, authStreams(Request{Key: key})...); err != nil {
		return domain.Principal{}, err
	}
	return s.principalOf(ctx, v, key)
}
