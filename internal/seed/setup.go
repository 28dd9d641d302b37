package seed

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
)

// catalog is a tenant's two products: a platform (a monthly seat, yearly
// support, a one-time setup fee) and metered storage.
type catalog struct {
	seat, meter *domain.Product
	// versions are the products' stream versions, on which set-based
	// subscriptions are conditioned.
	versions map[uuid.UUID]uint64
}

// setup writes, through the command layer, every tenant with its admin
// and catalog, every partner with its admin and an operator, and every
// grant.
func (s *seeder) setup(ctx context.Context) error {
	if err := forEach(ctx, s.shape.Workers, s.world.tenants, s.createTenant); err != nil {
		return err
	}
	if err := forEach(ctx, s.shape.Workers, s.world.partners, s.createPartner); err != nil {
		return err
	}
	return forEach(ctx, s.shape.Workers, s.world.tenants, s.grantPartners)
}

// operator is the platform operator, who creates tenants and partners.
var operator = commands.Request{Principal: domain.Principal{Type: domain.ActorOperator, ID: uuid.New()}}

func (s *seeder) createTenant(ctx context.Context, t *tenant) error {
	tb, err := s.svc.CreateTenant(ctx, operator, commands.CreateTenant{Name: fmt.Sprintf("Tenant %d", t.index+1)})
	if err != nil {
		return fmt.Errorf("seed tenant: %w", err)
	}
	t.id, t.adminKey = tb.ID, tb.AdminKey
	t.admin = commands.Request{TenantID: tb.ID, Principal: domain.Principal{
		Type: domain.ActorTenantUser, ID: tb.AdminUserID, TenantID: tb.ID, Role: domain.RoleTenantAdmin}}
	if t.version, err = s.streamVersion(ctx, commands.TenantStream(t.id)); err != nil {
		return err
	}
	s.count(t, int(t.version), false)
	return s.createCatalog(ctx, t)
}

// streamVersion reads how many events stream holds.
func (s *seeder) streamVersion(ctx context.Context, stream string) (uint64, error) {
	events, err := s.store.ReadStream(ctx, stream, 0, 1000)
	if err != nil {
		return 0, fmt.Errorf("seed: read %s: %w", stream, err)
	}
	return uint64(len(events)), nil
}

func (s *seeder) createCatalog(ctx context.Context, t *tenant) error {
	seat, err := s.svc.CreateProduct(ctx, t.admin, commands.CreateProduct{Name: "Platform", SKU: "PLAT", Charges: []commands.Charge{
		{Name: "Seat", Type: "recurring", Price: "49.00", Currency: "EUR", BillingPeriod: "month"},
		{Name: "Support", Type: "recurring", Price: "1200.00", Currency: "EUR", BillingPeriod: "year"},
		{Name: "Setup", Type: "one_time", Price: "250.00", Currency: "EUR"},
	}})
	if err != nil {
		return fmt.Errorf("seed product: %w", err)
	}
	meter, err := s.svc.CreateProduct(ctx, t.admin, commands.CreateProduct{Name: "Storage", SKU: "STOR", Charges: []commands.Charge{
		{Name: "Per GB", Type: "usage", Price: "0.10", Currency: "EUR", Unit: "GB"},
	}})
	if err != nil {
		return fmt.Errorf("seed product: %w", err)
	}
	s.count(t, 4, false) // each product with the reservation of its SKU
	t.catalog = catalog{seat: seat.State, meter: meter.State,
		versions: map[uuid.UUID]uint64{seat.State.ID: seat.Version, meter.State.ID: meter.Version}}
	return nil
}

// createPartner creates p with its admin, who adds an operator.
func (s *seeder) createPartner(ctx context.Context, p *partner) error {
	pb, err := s.svc.CreatePartner(ctx, operator, commands.CreatePartner{Name: fmt.Sprintf("Partner %d", p.index+1)})
	if err != nil {
		return fmt.Errorf("seed partner: %w", err)
	}
	p.id, p.adminKey = pb.ID, pb.AdminKey
	p.admin = domain.Principal{Type: domain.ActorPartnerUser, ID: pb.AdminUserID, PartnerID: pb.ID, Role: domain.RolePartnerAdmin}
	user, err := s.svc.AddPartnerUser(ctx, commands.Request{Principal: p.admin}, pb.ID,
		commands.AddUser{Name: "Operator", Role: domain.RolePartnerOperator})
	if err != nil {
		return fmt.Errorf("seed partner user: %w", err)
	}
	p.operatorKey = user.Key
	p.operator = domain.Principal{Type: domain.ActorPartnerUser, ID: user.State.ID, PartnerID: pb.ID, Role: domain.RolePartnerOperator}
	s.count(nil, int(user.Version), false)
	return nil
}

// grantPartners grants t's partners their access: an operator's to every
// account, or an admin's to the accounts the partner opens itself.
func (s *seeder) grantPartners(ctx context.Context, t *tenant) error {
	for _, g := range t.grants {
		terms := commands.PutAccess{Role: domain.RolePartnerOperator, AllAccounts: true}
		if !g.all {
			terms = commands.PutAccess{Role: domain.RolePartnerAdmin, AccountIDs: []uuid.UUID{}}
		}
		out, err := s.svc.PutPartnerAccess(ctx, t.admin, g.partner.id, terms)
		if err != nil {
			return fmt.Errorf("seed grant: %w", err)
		}
		g.state, g.version = out.State, out.Version
		s.count(t, int(out.Version), false)
	}
	return nil
}
