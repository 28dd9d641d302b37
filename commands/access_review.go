package commands

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"ledger/domain"
)

// PartnerUsers returns the users of each partner named, removed ones
// included, ordered by the time they were added, as the partners'
// streams hold them now, all read in one round trip. It authorizes
// nothing: its caller has authorized the read that shows them (the
// access review, audit.read on a tenant that granted those partners
// access). A partner that does not exist has no users.
func (s *Service) PartnerUsers(ctx context.Context, partners []uuid.UUID) (map[uuid.UUID][]domain.User, error) {
	streams := make([]string, len(partners))
	for i, id := range partners {
		streams[i] = PartnerStream(id)
	}
	v := s.newView()
	if err := v.read(ctx, true, streams...); err != nil {
		return nil, fmt.Errorf("partner users: %w", err)
	}
	out := make(map[uuid.UUID][]domain.User, len(partners))
	for i, id := range partners {
		p, _, err := load[domain.Partner](ctx, v, streams[i])
		if err != nil {
			return nil, fmt.Errorf("partner users: %w", err)
		}
		users := usersInOrder(p.Users)
		out[id] = users
	}
	return out, nil
}

// TenantUsers returns the users of tenant, removed ones included,
// ordered by the time they were added, as the tenant's stream holds them
// now. It authorizes nothing: its caller has authorized the read that
// shows them (users.manage on the tenant). A tenant that does not exist
// has no users.
func (s *Service) TenantUsers(ctx context.Context, tenant uuid.UUID) ([]domain.User, error) {
	stream := TenantStream(tenant)
	v := s.newView()
	if err := v.read(ctx, true, stream); err != nil {
		return nil, fmt.Errorf("tenant users: %w", err)
	}
	t, _, err := load[domain.Tenant](ctx, v, stream)
	if err != nil {
		return nil, fmt.Errorf("tenant users: %w", err)
	}
	return usersInOrder(t.Users), nil
}

// usersInOrder are the users of a tenant or partner in the order they
// were added (by id among those added at the same instant). The users
// carry their key hashes: callers show names, roles and statuses only.
func usersInOrder(byID map[uuid.UUID]domain.User) []domain.User {
	users := make([]domain.User, 0, len(byID))
	for _, u := range byID {
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b domain.User) int {
		if c := a.AddedAt.Compare(b.AddedAt); c != 0 {
			return c
		}
		return slices.Compare(a.ID[:], b.ID[:])
	})
	return users
}
