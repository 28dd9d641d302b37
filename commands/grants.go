package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
)

// PutAccess is the command that grants a partner access to req's tenant,
// or changes the grant: the whole of its terms.
type PutAccess struct {
	Role        domain.Role         `json:"role"`
	AllAccounts bool                `json:"all_accounts"`
	AccountIDs  []uuid.UUID         `json:"account_ids"`
	Actions     []domain.Permission `json:"actions,omitempty"`
	ExpiresAt   *time.Time          `json:"expires_at,omitempty"`
}

// AccessPut is the result of PutAccess; Created is true when it granted
// access anew rather than changed a grant.
type AccessPut struct {
	Outcome[domain.PartnerAccess]
	Created bool
}

// PutPartnerAccess grants partner access to req's tenant or changes its
// grant (partners.manage).
func (s *Service) PutPartnerAccess(ctx context.Context, req Request, partnerID uuid.UUID, cmd PutAccess) (AccessPut, error) {
	var created bool
	out, err := run(ctx, s, req, plan[domain.PartnerAccess]{
		name: "PutPartnerAccess", input: struct {
			Partner uuid.UUID
			Terms   PutAccess
		}{partnerID, cmd},
		stream: AccessStream(req.TenantID, partnerID),
		reads:  []string{TenantStream(req.TenantID), PartnerStream(partnerID)},
		decide: func(ctx context.Context, v *view, req Request, g *domain.PartnerAccess, version uint64, now time.Time) ([]domain.Event, error) {
			if err := s.partnersManage(ctx, v, req, partnerID, now); err != nil {
				return nil, err
			}
			created = version == 0
			return g.Put(domain.GrantTerms{
				TenantID: req.TenantID, PartnerID: partnerID, Role: cmd.Role, AllAccounts: cmd.AllAccounts,
				AccountIDs: cmd.AccountIDs, Actions: cmd.Actions, ExpiresAt: cmd.ExpiresAt,
			}, req.Principal.Actor(), now)
		},
	})
	if out.Replayed {
		created = out.Created
	}
	return AccessPut{Outcome: out, Created: created}, err
}

// RevokePartnerAccess revokes partner's grant on req's tenant
// (partners.manage). The partner's next request is refused, and no
// request of the partner decided on the grant before appears after the
// revocation in the log.
func (s *Service) RevokePartnerAccess(ctx context.Context, req Request, partnerID uuid.UUID, reason string) (Outcome[domain.PartnerAccess], error) {
	return run(ctx, s, req, plan[domain.PartnerAccess]{
		name: "RevokePartnerAccess", input: struct {
			Partner uuid.UUID
			Reason  string
		}{partnerID, reason},
		stream: AccessStream(req.TenantID, partnerID),
		reads:  []string{TenantStream(req.TenantID), PartnerStream(partnerID)},
		decide: func(ctx context.Context, v *view, req Request, g *domain.PartnerAccess, _ uint64, now time.Time) ([]domain.Event, error) {
			if err := s.partnersManage(ctx, v, req, partnerID, now); err != nil {
				return nil, err
			}
			if !g.Exists() {
				return nil, domain.NotFound("partner access")
			}
			return g.Revoke(reason, req.Principal.Actor(), now)
		},
	})
}

// partnersManage authorizes partners.manage on req's tenant for partner;
// the tenant and the partner must exist.
func (s *Service) partnersManage(ctx context.Context, v *view, req Request, partnerID uuid.UUID, now time.Time) error {
	if _, err := s.authorize(ctx, v, req, access{perm: domain.PermPartnersManage, resource: "partners/" + partnerID.String()}, now); err != nil {
		return err
	}
	t, _, err := load[domain.Tenant](ctx, v, TenantStream(req.TenantID))
	if err != nil {
		return err
	}
	if !t.Exists() {
		return domain.NotFound("tenant")
	}
	p, _, err := load[domain.Partner](ctx, v, PartnerStream(partnerID))
	if err != nil {
		return err
	}
	if !p.Exists() {
		return domain.NotFound("partner")
	}
	return nil
}
