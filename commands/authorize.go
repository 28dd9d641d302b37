package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/eventstore"
)

// guard is one authorization: the permission asked for, on what, and how
// to name it in the audit log.
type guard struct {
	perm           domain.Permission
	target         domain.Target
	resource       string
	subscriptionID uuid.UUID
}

// authorize decides whether req's principal holds g's permission, on the
// grant's current state read from the event store (never a read model), at
// now. A refusal of a caller known to the tenant is recorded in the
// tenant's audit stream as AccessDenied. It returns the caller's grant,
// nil for tenant users.
func (s *Service) authorize(ctx context.Context, req Request, g guard, now time.Time) (*domain.PartnerAccess, error) {
	grant, err := s.grantOf(ctx, req)
	if err != nil {
		return nil, err
	}
	denied := domain.Authorize(req.Principal, req.TenantID, grant, g.perm, g.target, now)
	if denied == nil {
		return grant, nil
	}
	if knownToTenant(req, grant) {
		if err := s.recordDenied(ctx, req, g, denied, now); err != nil {
			return nil, err
		}
	}
	return nil, denied
}

// grantOf loads the grant of a partner user's partner on req's tenant; nil
// for other principals and for a partner with no grant there.
func (s *Service) grantOf(ctx context.Context, req Request) (*domain.PartnerAccess, error) {
	stream := grantStream(req)
	if stream == "" {
		return nil, nil
	}
	grant, _, err := load[domain.PartnerAccess](ctx, s, stream, 0)
	if err != nil {
		return nil, err
	}
	if !grant.Exists() {
		return nil, nil
	}
	return grant, nil
}

// knownToTenant says whether a refusal of req is the tenant's to audit: a
// user of the tenant, or a partner that holds or held a grant on it.
func knownToTenant(req Request, grant *domain.PartnerAccess) bool {
	switch req.Principal.Type {
	case domain.ActorTenantUser:
		return req.Principal.TenantID == req.TenantID
	case domain.ActorPartnerUser:
		return grant != nil
	}
	return false
}

func (s *Service) recordDenied(ctx context.Context, req Request, g guard, denied error, now time.Time) error {
	if sessionOf(ctx).isAttempting() {
		return errMiss // a refusal is decided, and recorded, on fresh reads
	}
	reason := domain.CodeForbidden
	var derr *domain.Error
	if errors.As(denied, &derr) {
		reason = derr.Code
		if errors.Is(denied, domain.ErrNotFound) {
			reason = "out_of_scope"
		}
	}
	events, err := s.envelope(req, now, []domain.Event{&domain.AccessDenied{
		Permission: string(g.perm), Resource: g.resource, Reason: reason, Actor: req.Principal.Actor(),
		AccountID: g.target.AccountID, SubscriptionID: g.subscriptionID,
	}})
	if err != nil {
		return err
	}
	if _, err := s.store.Append(ctx, AuditStream(req.TenantID), eventstore.Any(), events...); err != nil {
		return fmt.Errorf("record access denied: %w", err)
	}
	s.logger.Info("access denied", "tenant_id", req.TenantID, "actor_type", req.Principal.Type,
		"actor_id", req.Principal.ID, "permission", g.perm, "resource", g.resource, "reason", reason)
	return nil
}
