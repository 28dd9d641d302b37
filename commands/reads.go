package commands

import (
	"context"

	"github.com/google/uuid"

	"ledger/domain"
)

// Reads are served by the read models, but who may read what is decided
// here, like every write: on the current state of the caller's grant and
// of the account read from the event store, so that a revoked partner's
// next read is refused, and a refused read is audited like a refused
// write. Each method returns the caller's grant on req's tenant (nil for
// tenant users), from which the read's scope follows.

// AuthorizeRead authorizes perm on req's tenant as a whole: its lists,
// catalog, reports and audit log. resource names what was asked for in
// the audit log, should it be refused.
func (s *Service) AuthorizeRead(ctx context.Context, req Request, perm domain.Permission, resource string) (*domain.PartnerAccess, error) {
	return s.authorize(ctx, req, guard{perm: perm, resource: resource}, s.now().UTC())
}

// AuthorizeAccountRead authorizes perm on one account of req's tenant. An
// account that does not exist, or is out of the caller's scope, is
// domain.ErrNotFound.
func (s *Service) AuthorizeAccountRead(ctx context.Context, req Request, accountID uuid.UUID, perm domain.Permission) (*domain.PartnerAccess, error) {
	a, err := s.loadAccount(ctx, req, accountID)
	if err != nil {
		return nil, err
	}
	return s.authorizeAccount(ctx, req, a, perm, uuid.Nil, s.now().UTC())
}

// AuthorizeSubscriptionRead authorizes perm on the account that
// subscription id belongs to.
func (s *Service) AuthorizeSubscriptionRead(ctx context.Context, req Request, id uuid.UUID, perm domain.Permission) (*domain.PartnerAccess, error) {
	_, _, grant, err := s.authorizeSubscriptionRead(ctx, req, id, perm)
	return grant, err
}

// AuthorizeAccessRead authorizes reading the grant of partner partnerID on
// req's tenant, or with uuid.Nil the list of every partner's grant. Users
// of the tenant may read them all; a partner's users may read their own
// partner's grant, whatever its status, and nothing of other partners.
func (s *Service) AuthorizeAccessRead(ctx context.Context, req Request, partnerID uuid.UUID) error {
	p := req.Principal
	switch {
	case p.Type == domain.ActorOperator || p.Type == domain.ActorSystem:
		return nil
	case p.Type == domain.ActorTenantUser:
		if p.TenantID != req.TenantID {
			return domain.NotFound("tenant")
		}
		return nil
	case p.Type != domain.ActorPartnerUser:
		return domain.NotFound("tenant")
	}
	grant, err := s.grantOf(ctx, req)
	if err != nil {
		return err
	}
	if grant == nil {
		return domain.NotFound("tenant")
	}
	if partnerID == p.PartnerID {
		return nil
	}
	denied := domain.Forbidden(domain.CodeForbidden, "a partner may read only its own access")
	if partnerID != uuid.Nil {
		denied = domain.NotFound("partner access")
	}
	g := guard{perm: domain.PermPartnersManage, resource: "partners"}
	if err := s.recordDenied(ctx, req, g, denied, s.now().UTC()); err != nil {
		return err
	}
	return denied
}
