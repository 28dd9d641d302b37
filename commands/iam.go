package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
)

// CreateTenant is the operator's command to create a tenant with its first
// tenant_admin.
type CreateTenant struct {
	Name string `json:"name"`
}

// CreatePartner is the operator's command to create a partner with its
// first partner_admin.
type CreatePartner struct {
	Name string `json:"name"`
}

// Bootstrapped is the result of creating a tenant or a partner: its id, its
// first admin's id and that admin's API key, shown this once.
type Bootstrapped struct {
	ID          uuid.UUID
	AdminUserID uuid.UUID
	AdminKey    string
}

// CreateTenant creates a tenant and its first admin. Only the platform
// operator may.
func (s *Service) CreateTenant(ctx context.Context, req Request, cmd CreateTenant) (Bootstrapped, error) {
	if err := operatorOnly(req); err != nil {
		return Bootstrapped{}, err
	}
	out := Bootstrapped{ID: s.newID(), AdminUserID: s.newID()}
	key, hash := newAPIKey(keyOfTenant, out.ID, out.AdminUserID)
	out.AdminKey = key
	_, err := run(ctx, s, req, plan[domain.Tenant]{
		name: "CreateTenant", input: cmd,
		stream: TenantStream(out.ID),
		decide: func(_ context.Context, _ *view, req Request, t *domain.Tenant, _ uint64, now time.Time) ([]domain.Event, error) {
			admin := domain.NewUser{ID: out.AdminUserID, Name: "admin", Role: domain.RoleTenantAdmin, KeyHash: hash}
			return t.Create(domain.CreateTenant{TenantID: out.ID, Name: cmd.Name, Admin: admin}, req.Principal.Actor(), now)
		},
	})
	return out, err
}

// CreatePartner creates a partner and its first admin. Only the platform
// operator may.
func (s *Service) CreatePartner(ctx context.Context, req Request, cmd CreatePartner) (Bootstrapped, error) {
	if err := operatorOnly(req); err != nil {
		return Bootstrapped{}, err
	}
	out := Bootstrapped{ID: s.newID(), AdminUserID: s.newID()}
	key, hash := newAPIKey(keyOfPartner, out.ID, out.AdminUserID)
	out.AdminKey = key
	_, err := run(ctx, s, req, plan[domain.Partner]{
		name: "CreatePartner", input: cmd,
		stream: PartnerStream(out.ID),
		decide: func(_ context.Context, _ *view, req Request, p *domain.Partner, _ uint64, now time.Time) ([]domain.Event, error) {
			admin := domain.NewUser{ID: out.AdminUserID, Name: "admin", Role: domain.RolePartnerAdmin, KeyHash: hash}
			return p.Create(domain.CreatePartner{PartnerID: out.ID, Name: cmd.Name, Admin: admin}, req.Principal.Actor(), now)
		},
	})
	return out, err
}

func operatorOnly(req Request) error {
	if req.Principal.Type != domain.ActorOperator && req.Principal.Type != domain.ActorSystem {
		return domain.Forbidden(domain.CodeForbidden, "only the platform operator may do this")
	}
	return nil
}

// AddUser is the command to add a user with a role.
type AddUser struct {
	Name string      `json:"name"`
	Role domain.Role `json:"role"`
}

// UserAdded is the result of adding a user: the user, and its API key,
// shown this once. A replayed request has no key: only its hash was kept.
type UserAdded struct {
	Outcome[domain.User]
	Key string
}

// AddTenantUser adds a user to req's tenant (users.manage).
func (s *Service) AddTenantUser(ctx context.Context, req Request, cmd AddUser) (UserAdded, error) {
	userID := s.newID()
	key, hash := newAPIKey(keyOfTenant, req.TenantID, userID)
	out, err := run(ctx, s, req, plan[domain.Tenant]{
		name: "AddTenantUser", input: cmd,
		stream: TenantStream(req.TenantID),
		decide: func(ctx context.Context, v *view, req Request, t *domain.Tenant, _ uint64, now time.Time) ([]domain.Event, error) {
			if !t.Exists() {
				return nil, domain.NotFound("tenant")
			}
			if _, err := s.authorize(ctx, v, req, access{perm: domain.PermUsersManage, resource: "users"}, now); err != nil {
				return nil, err
			}
			return t.AddUser(domain.NewUser{ID: userID, Name: cmd.Name, Role: cmd.Role, KeyHash: hash}, req.Principal.Actor(), now)
		},
		subject: userID,
	})
	return userAdded(out, func(t *domain.Tenant) map[uuid.UUID]domain.User { return t.Users }, key), err
}

// RemoveTenantUser removes a user of req's tenant (users.manage); its key
// stops working at once.
func (s *Service) RemoveTenantUser(ctx context.Context, req Request, userID uuid.UUID) (Outcome[domain.Tenant], error) {
	return run(ctx, s, req, plan[domain.Tenant]{
		name: "RemoveTenantUser", input: userID,
		stream: TenantStream(req.TenantID),
		decide: func(ctx context.Context, v *view, req Request, t *domain.Tenant, _ uint64, now time.Time) ([]domain.Event, error) {
			if !t.Exists() {
				return nil, domain.NotFound("tenant")
			}
			if _, err := s.authorize(ctx, v, req, access{perm: domain.PermUsersManage, resource: "users/" + userID.String()}, now); err != nil {
				return nil, err
			}
			return t.RemoveUser(userID, req.Principal.Actor(), now)
		},
	})
}

// AddPartnerUser adds a user to partner (a partner_admin of it).
func (s *Service) AddPartnerUser(ctx context.Context, req Request, partnerID uuid.UUID, cmd AddUser) (UserAdded, error) {
	userID := s.newID()
	key, hash := newAPIKey(keyOfPartner, partnerID, userID)
	out, err := run(ctx, s, req, plan[domain.Partner]{
		name: "AddPartnerUser", input: struct {
			Partner uuid.UUID
			User    AddUser
		}{partnerID, cmd},
		stream: PartnerStream(partnerID),
		decide: func(_ context.Context, _ *view, req Request, p *domain.Partner, _ uint64, now time.Time) ([]domain.Event, error) {
			if err := domain.AuthorizePartnerUsers(req.Principal, partnerID); err != nil {
				return nil, err
			}
			req.authorized(true)
			if !p.Exists() {
				return nil, domain.NotFound("partner")
			}
			return p.AddUser(domain.NewUser{ID: userID, Name: cmd.Name, Role: cmd.Role, KeyHash: hash}, req.Principal.Actor(), now)
		},
		subject: userID,
	})
	return userAdded(out, func(p *domain.Partner) map[uuid.UUID]domain.User { return p.Users }, key), err
}

// RemovePartnerUser removes a user of partner (a partner_admin of it).
func (s *Service) RemovePartnerUser(ctx context.Context, req Request, partnerID, userID uuid.UUID) (Outcome[domain.Partner], error) {
	return run(ctx, s, req, plan[domain.Partner]{
		name: "RemovePartnerUser", input: [2]uuid.UUID{partnerID, userID},
		stream: PartnerStream(partnerID),
		decide: func(_ context.Context, _ *view, req Request, p *domain.Partner, _ uint64, now time.Time) ([]domain.Event, error) {
			if err := domain.AuthorizePartnerUsers(req.Principal, partnerID); err != nil {
				return nil, err
			}
			req.authorized(true)
			if !p.Exists() {
				return nil, domain.NotFound("partner")
			}
			return p.RemoveUser(userID, req.Principal.Actor(), now)
		},
	})
}

// userAdded picks the added user, the outcome's subject, out of the
// aggregate an AddUser left. A replay has no key: only its hash was kept.
func userAdded[A any](out Outcome[A], users func(*A) map[uuid.UUID]domain.User, key string) UserAdded {
	if out.State == nil {
		return UserAdded{}
	}
	res := UserAdded{Outcome: Outcome[domain.User]{Stream: out.Stream, Version: out.Version, Position: out.Position,
		Subject: out.Subject, Replayed: out.Replayed}}
	if u, ok := users(out.State)[out.Subject]; ok {
		res.State = &u
	}
	if !out.Replayed {
		res.Key = key
	}
	return res
}
