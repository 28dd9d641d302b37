package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
)

// demoTenantName names the demo's tenant: the mark by which a second
// "ledger demo" recognizes the world of the first.
const demoTenantName = "Northwind Demo"

// demoCustomers are the demo tenant's customer accounts: a name and its
// currency. The first ten are Brightpath's, the next eight Cobalt's, two
// Harbor's; Brightpath opens two more of its own.
var demoCustomers = []struct{ name, currency string }{
	{"Alpenrose Hotels GmbH", "EUR"}, {"Bakkerij Van Dijk BV", "EUR"}, {"Acme Fabrication Inc.", "USD"},
	{"Café Lumière SARL", "EUR"}, {"Dalarna Timber AB", "EUR"}, {"Blue Ridge Outfitters LLC", "USD"},
	{"Estudio Ribera SL", "EUR"}, {"Fjord Logistics AS", "EUR"}, {"Cascade Veterinary Group", "USD"},
	{"Gasthaus Linde KG", "EUR"}, {"Helios Solar Srl", "EUR"}, {"Desert Bloom Florists", "USD"},
	{"Iberia Dental Clinics SL", "EUR"}, {"Jutland Dairy ApS", "EUR"}, {"Evergreen Property Management", "USD"},
	{"Kaffeerösterei Berg GmbH", "EUR"}, {"Lisboa Print Lda", "EUR"}, {"Frontier Freight Co.", "USD"},
	{"Moselle Vineyards SAS", "EUR"}, {"Nordlicht Architekten GmbH", "EUR"}, {"Golden Gate Bakery", "USD"},
	{"Oostende Seafood NV", "EUR"}, {"Praha Bike Works s.r.o.", "EUR"}, {"Hudson Legal Partners LLP", "USD"},
	{"Quimper Ceramics SARL", "EUR"}, {"Rhein Valley Pharmacy GmbH", "EUR"}, {"Ironwood Fitness", "USD"},
	{"Tallinn Code OÜ", "EUR"},
}

// demoPartnerCustomers are the accounts Brightpath opens itself.
var demoPartnerCustomers = []struct{ name, currency string }{
	{"Salzburg Music School", "EUR"}, {"Juniper Health Labs", "USD"},
}

// demoUser is a user the demo created: who acts as it, and its key.
type demoUser struct {
	name string
	req  commands.Request
	key  string
}

// demoPartner is a partner of the demo tenant and the users that act for
// it.
type demoPartner struct {
	id              uuid.UUID
	name            string
	admin, operator demoUser
	viewer          demoUser
	scope           map[uuid.UUID]bool
}

// actor is who acts for p on its customers: its operator, or its admin
// when it has none.
func (p *demoPartner) actor() commands.Request {
	if p.operator.key != "" {
		return p.operator.req
	}
	return p.admin.req
}

// demoAccount is a customer account of the demo tenant.
type demoAccount struct {
	id       uuid.UUID
	currency string
}

// demoCharge names a charge of a product of the catalog.
type demoCharge struct{ product, charge uuid.UUID }

// demoCharges are the catalog's charges in one currency, by product.
type demoCharges struct {
	seat, support, storage, onboarding demoCharge
}

// demoCounts is what the demo wrote, for its summary.
type demoCounts struct {
	Accounts      int `json:"accounts"`
	Products      int `json:"products"`
	Partners      int `json:"partners"`
	Subscriptions int `json:"subscriptions"`
	Amendments    int `json:"amendments"`
	UsageRecords  int `json:"usage_records"`
	Cancellations int `json:"cancellations"`
	Invoices      int `json:"invoices"`
}

// demoWorld builds the demo's world through the command layer, every
// write authorized as a request of its actor would be.
type demoWorld struct {
	svc      *commands.Service
	op       commands.Request
	today    domain.Date
	now      time.Time
	tenantID uuid.UUID
	admin    demoUser
	finance  demoUser
	auditor  demoUser
	charges  map[string]demoCharges
	accounts []demoAccount
	partners []*demoPartner // Brightpath, Cobalt, Harbor
	subs     []*domain.Subscription
	counts   demoCounts
	log      func(format string, args ...any)
}

// build writes the world: the tenant, its users and catalog, the partners
// and their grants, the accounts, then a month of subscriptions,
// amendments, usage, a cancellation, a narrowed grant and a revocation.
func (w *demoWorld) build(ctx context.Context) error {
	steps := []struct {
		what string
		run  func(context.Context) error
	}{
		{"tenant and its users", w.tenant},
		{"catalog", w.catalog},
		{"partners", w.createPartners},
		{"accounts and grants", w.accountsAndGrants},
		{"subscriptions", w.subscriptions},
		{"amendments", w.amendments},
		{"usage", w.usage},
		{"cancellation, narrowed grant and revocation", w.endings},
	}
	for _, s := range steps {
		w.log("demo: %s", s.what)
		if err := s.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

func (w *demoWorld) tenant(ctx context.Context) error {
	tb, err := w.svc.CreateTenant(ctx, w.op, commands.CreateTenant{Name: demoTenantName})
	if err != nil {
		return err
	}
	w.tenantID = tb.ID
	w.admin = demoUser{name: "admin", key: tb.AdminKey, req: commands.Request{TenantID: tb.ID, Principal: domain.Principal{
		Type: domain.ActorTenantUser, ID: tb.AdminUserID, TenantID: tb.ID, Role: domain.RoleTenantAdmin}}}
	if w.finance, err = w.tenantUser(ctx, "Fiona Marsh", domain.RoleFinance); err != nil {
		return err
	}
	w.auditor, err = w.tenantUser(ctx, "Arjun Patel", domain.RoleAuditor)
	return err
}

func (w *demoWorld) tenantUser(ctx context.Context, name string, role domain.Role) (demoUser, error) {
	out, err := w.svc.AddTenantUser(ctx, w.admin.req, commands.AddUser{Name: name, Role: role})
	if err != nil {
		return demoUser{}, err
	}
	return demoUser{name: name, key: out.Key, req: commands.Request{TenantID: w.tenantID, Principal: domain.Principal{
		Type: domain.ActorTenantUser, ID: out.State.ID, TenantID: w.tenantID, Role: role}}}, nil
}

// catalog creates four products, each with a charge per currency.
func (w *demoWorld) catalog(ctx context.Context) error {
	products := []struct {
		name, sku, typ, period, unit string
		eur, usd                     string
	}{
		{"Workspace Seat", "NW-SEAT", "recurring", "month", "", "12.00", "14.00"},
		{"Premium Support", "NW-SUPPORT", "recurring", "month", "", "199.00", "229.00"},
		{"Cloud Storage", "NW-STORAGE", "usage", "", "GB", "0.08", "0.09"},
		{"Onboarding Package", "NW-ONBOARD", "one_time", "", "", "450.00", "500.00"},
	}
	w.charges = map[string]demoCharges{}
	for i, p := range products {
		var charges []commands.Charge
		for _, cur := range [...][2]string{{"EUR", p.eur}, {"USD", p.usd}} {
			charges = append(charges, commands.Charge{Name: p.name + " (" + cur[0] + ")", Type: p.typ, Price: cur[1],
				Currency: cur[0], BillingPeriod: p.period, Unit: p.unit})
		}
		out, err := w.svc.CreateProduct(ctx, w.admin.req, commands.CreateProduct{Name: p.name, SKU: p.sku, Charges: charges})
		if err != nil {
			return err
		}
		for j, cur := range []string{"EUR", "USD"} {
			c := w.charges[cur]
			*[]*demoCharge{&c.seat, &c.support, &c.storage, &c.onboarding}[i] = demoCharge{out.State.ID, out.State.Charges[j].ID}
			w.charges[cur] = c
		}
		w.counts.Products++
	}
	return nil
}

// createPartners creates Brightpath (a managed service provider with an
// operator and a viewer), Cobalt (a reseller with an operator) and
// Harbor (a consultancy whose access is revoked at the end).
func (w *demoWorld) createPartners(ctx context.Context) error {
	for _, name := range []string{"Brightpath IT Services", "Cobalt Cloud Resellers", "Harbor Digital Consulting"} {
		pb, err := w.svc.CreatePartner(ctx, w.op, commands.CreatePartner{Name: name})
		if err != nil {
			return err
		}
		p := &demoPartner{id: pb.ID, name: name, scope: map[uuid.UUID]bool{}}
		p.admin = demoUser{name: "admin", key: pb.AdminKey, req: w.partnerReq(pb.ID, pb.AdminUserID, domain.RolePartnerAdmin)}
		w.partners = append(w.partners, p)
		w.counts.Partners++
	}
	bright, cobalt := w.partners[0], w.partners[1]
	var err error
	if bright.operator, err = w.partnerUser(ctx, bright, "Olivia Chen", domain.RolePartnerOperator); err != nil {
		return err
	}
	if bright.viewer, err = w.partnerUser(ctx, bright, "Victor Alves", domain.RolePartnerViewer); err != nil {
		return err
	}
	cobalt.operator, err = w.partnerUser(ctx, cobalt, "Ben Ward", domain.RolePartnerOperator)
	return err
}

func (w *demoWorld) partnerReq(partner, user uuid.UUID, role domain.Role) commands.Request {
	return commands.Request{TenantID: w.tenantID, Principal: domain.Principal{
		Type: domain.ActorPartnerUser, ID: user, PartnerID: partner, Role: role}}
}

func (w *demoWorld) partnerUser(ctx context.Context, p *demoPartner, name string, role domain.Role) (demoUser, error) {
	out, err := w.svc.AddPartnerUser(ctx, p.admin.req, p.id, commands.AddUser{Name: name, Role: role})
	if err != nil {
		return demoUser{}, err
	}
	return demoUser{name: name, key: out.Key, req: w.partnerReq(p.id, out.State.ID, role)}, nil
}

// accountsAndGrants opens the tenant's accounts, grants the partners
// their scopes, and lets Brightpath open two accounts of its own.
func (w *demoWorld) accountsAndGrants(ctx context.Context) error {
	for _, c := range demoCustomers {
		if err := w.account(ctx, w.admin.req, c.name, c.currency); err != nil {
			return err
		}
	}
	grants := []struct {
		role     domain.Role
		from, to int
	}{{domain.RolePartnerAdmin, 0, 10}, {domain.RolePartnerOperator, 10, 18}, {domain.RolePartnerOperator, 18, 20}}
	for i, g := range grants {
		if err := w.grant(ctx, w.partners[i], g.role, w.accounts[g.from:g.to], nil); err != nil {
			return err
		}
	}
	bright := w.partners[0]
	for _, c := range demoPartnerCustomers {
		if err := w.account(ctx, bright.admin.req, c.name, c.currency); err != nil {
			return err
		}
		bright.scope[w.accounts[len(w.accounts)-1].id] = true
	}
	return nil
}

func (w *demoWorld) account(ctx context.Context, req commands.Request, name, currency string) error {
	slug := strings.ToLower(strings.Fields(strings.NewReplacer("é", "e", "è", "e", "ö", "o", "Ü", "u").Replace(name))[0])
	out, err := w.svc.CreateAccount(ctx, req, commands.CreateAccount{Name: name, Currency: currency, Billing: commands.Billing{
		ContactName: "Accounts Payable", Email: "billing@" + strings.Trim(slug, ".") + ".example", InvoiceDelivery: "email"}})
	if err != nil {
		return fmt.Errorf("account %s: %w", name, err)
	}
	w.accounts = append(w.accounts, demoAccount{id: out.State.ID, currency: currency})
	w.counts.Accounts++
	return nil
}

func (w *demoWorld) grant(ctx context.Context, p *demoPartner, role domain.Role, accounts []demoAccount, actions []domain.Permission) error {
	ids := make([]uuid.UUID, len(accounts))
	p.scope = map[uuid.UUID]bool{}
	for i, a := range accounts {
		ids[i], p.scope[a.id] = a.id, true
	}
	_, err := w.svc.PutPartnerAccess(ctx, w.admin.req, p.id, commands.PutAccess{Role: role, AccountIDs: ids, Actions: actions})
	return err
}

// actorFor returns who acts for the partner whose scope holds account,
// or the tenant admin.
func (w *demoWorld) actorFor(account uuid.UUID) commands.Request {
	for _, p := range w.partners {
		if p.scope[account] {
			return p.actor()
		}
	}
	return w.admin.req
}
