package commands

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/eventstore"
)

// Reads are served by the read models, but who may read what is decided
// here, like every write: on the current state of the caller's grant and
// of the account, read from the event store, so that a revoked partner's
// next read is refused, and a refused read is audited like a refused
// write. Each method returns the caller's grant on req's tenant (nil for
// tenant users), from which the read's scope follows. req.Principal is
// the caller, authenticated already (Authenticate).

// query authorizes a read: it reads the caller's grant and the streams
// named, all from the store in one round trip, and runs decide on them. A
// refusal that the tenant audits is recorded, conditioned on what was
// read; when one of those moved meanwhile, it reads and decides again.
func (s *Service) query(ctx context.Context, req Request, decide func(ctx context.Context, v *view, now time.Time) error, streams ...string) error {
	v := s.newView()
	contendedAt := time.Now().Add(s.contention)
	for attempt := 0; ; attempt++ {
		if err := v.read(ctx, true, append(streams, grantStream(req))...); err != nil {
			return err
		}
		now := s.now().UTC()
		err := s.refuse(ctx, v, req, decide(ctx, v, now), now)
		if !errors.Is(err, eventstore.ErrConcurrency) {
			return err
		}
		if err := s.contended(ctx, "read", attempt, contendedAt); err != nil {
			return err
		}
		if err := v.refresh(ctx, true); err != nil {
			return err
		}
	}
}

// AuthorizeRead authorizes perm on req's tenant as a whole: its lists,
// catalog, reports and audit log. resource names what was asked for in
// the audit log, should it be refused.
func (s *Service) AuthorizeRead(ctx context.Context, req Request, perm domain.Permission, resource string) (*domain.PartnerAccess, error) {
	var grant *domain.PartnerAccess
	err := s.query(ctx, req, func(ctx context.Context, v *view, now time.Time) (err error) {
		grant, err = s.authorize(ctx, v, req, access{perm: perm, resource: resource}, now)
		return err
	})
	return grant, err
}

// AuthorizeAccountRead authorizes perm on one account of req's tenant. An
// account that does not exist, or is out of the caller's scope, is
// domain.ErrNotFound.
func (s *Service) AuthorizeAccountRead(ctx context.Context, req Request, accountID uuid.UUID, perm domain.Permission) (*domain.PartnerAccess, error) {
	var grant *domain.PartnerAccess
	stream := AccountStream(req.TenantID, accountID)
	err := s.query(ctx, req, func(ctx context.Context, v *view, now time.Time) error {
		a, err := loadAccount(ctx, v, req, accountID)
		if err != nil {
			return err
		}
		grant, err = s.authorizeAccount(ctx, v, req, a, perm, uuid.Nil, now)
		return err
	}, stream)
	return grant, err
}

// AuthorizeSubscriptionRead authorizes perm on the account that
// subscription id belongs to.
func (s *Service) AuthorizeSubscriptionRead(ctx context.Context, req Request, id uuid.UUID, perm domain.Permission) (*domain.PartnerAccess, error) {
	_, _, grant, err := s.authorizeSubscriptionRead(ctx, req, id, perm)
	return grant, err
}

// authorizeSubscriptionRead authorizes perm on the account that
// subscription id belongs to now, and returns the subscription as it
// stands and the caller's grant.
func (s *Service) authorizeSubscriptionRead(ctx context.Context, req Request, id uuid.UUID, perm domain.Permission) (*domain.Subscription, uint64, *domain.PartnerAccess, error) {
	var (
		sub     *domain.Subscription
		version uint64
		grant   *domain.PartnerAccess
	)
	stream := SubscriptionStream(req.TenantID, id)
	err := s.query(ctx, req, func(ctx context.Context, v *view, now time.Time) (err error) {
		if sub, version, err = load[domain.Subscription](ctx, v, stream); err != nil {
			return err
		}
		if !sub.Exists() {
			return domain.NotFound("subscription")
		}
		account, err := loadAccount(ctx, v, req, sub.AccountID)
		if err != nil {
			return err
		}
		grant, err = s.authorizeAccount(ctx, v, req, account, perm, id, now)
		return err
	}, stream, s.accountOfKept(req.TenantID, stream))
	if err != nil {
		return nil, 0, nil, err
	}
	return sub, version, grant, nil
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
	return s.query(ctx, req, func(ctx context.Context, v *view, _ time.Time) error {
		grant, err := grantOf(ctx, v, req)
		switch {
		case err != nil:
			return err
		case grant == nil:
			return domain.NotFound("tenant")
		case partnerID == p.PartnerID:
			return nil
		}
		refusal := error(domain.Forbidden(domain.CodeForbidden, "a partner may read only its own access"))
		if partnerID != uuid.Nil {
			refusal = domain.NotFound("partner access")
		}
		return deny(req, grant, access{perm: domain.PermPartnersManage, resource: "partners"}, refusal)
	})
}
