package portal

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/projections"
)

// accountFormData is the data of the new customer and billing pages.
type accountFormData struct {
	Tenant  uuid.UUID
	Account projections.AccountView
	// Prefix is the field paths' prefix of the billing details: "billing."
	// on the new customer form, "" on the billing form, as the API's
	// bodies name them.
	Prefix     string
	Deliveries []domain.InvoiceDelivery
}

// invoiceDeliveries are the invoice deliveries a form offers.
var invoiceDeliveries = []domain.InvoiceDelivery{domain.DeliverByEmail, domain.DeliverByPortal}

// newAccountPage shows the new customer form to a caller who may create
// accounts (accounts.create, authorized as POST /v1/tenants/{t}/accounts
// would be).
func (p *Portal) newAccountPage(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	grant, err := p.cmds.AuthorizeRead(r.Context(), req, domain.PermAccountsCreate, "accounts")
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	f := newForm()
	f.Values.Set("billing.payment_terms_days", strconv.Itoa(domain.DefaultPaymentTermsDays))
	p.renderAccountForm(w, r, c, http.StatusOK, "New customer", req.TenantID, grant, &f, accountFormData{Prefix: "billing."})
}

// createAccount opens an account with commands.CreateAccount, as POST
// /v1/tenants/{t}/accounts, and lands on its page.
func (p *Portal) createAccount(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	f := postedForm(r)
	again := func(status int) {
		p.renderAccountForm(w, r, c, status, "New customer", req.TenantID, nil, &f, accountFormData{Prefix: "billing."})
	}
	var id uuid.UUID
	next := func() string { return accountPath(req.TenantID, id) }
	p.actThen(w, r, c, &f, next, again, func(ctx context.Context) (eventstore.Position, error) {
		billing, err := billingOf(f.Values, "billing.")
		if err != nil {
			return 0, err
		}
		cmd := commands.CreateAccount{Name: f.Value("name"), Currency: f.Value("currency"), Billing: billing}
		out, err := p.cmds.CreateAccount(ctx, p.commandRequest(w, r, c, req.TenantID), cmd)
		if err == nil && out.State != nil {
			id = out.State.ID
		}
		return out.Position, err
	})
}

// billingPage shows an account's billing form, prefilled with its
// current details, to a caller who may update them (billing.update on
// the account, authorized as PUT …/accounts/{a}/billing would be).
func (p *Portal) billingPage(w http.ResponseWriter, r *http.Request, c caller) {
	req, id, ok := p.accountRequest(w, r, c)
	if !ok {
		return
	}
	data, grant, err := p.readBillingForm(r.Context(), req, id)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	f := newForm()
	b := data.Account.Billing
	f.Values = url.Values{"contact_name": {b.ContactName}, "email": {b.Email}, "address": {optionalText(b.Address)},
		"tax_id": {optionalText(b.TaxID)}, "payment_terms_days": {strconv.Itoa(b.PaymentTermsDays)},
		"invoice_delivery": {string(b.InvoiceDelivery)}}
	p.renderAccountForm(w, r, c, http.StatusOK, "Billing details", req.TenantID, grant, &f, data)
}

// updateBilling replaces an account's billing details with
// commands.UpdateBilling, as PUT /v1/tenants/{t}/accounts/{a}/billing,
// and lands on the account's page.
func (p *Portal) updateBilling(w http.ResponseWriter, r *http.Request, c caller) {
	req, id, ok := p.accountRequest(w, r, c)
	if !ok {
		return
	}
	f := postedForm(r)
	again := func(status int) {
		data, grant, err := p.readBillingForm(r.Context(), req, id)
		if err != nil {
			p.refuse(w, r, c, err)
			return
		}
		p.renderAccountForm(w, r, c, status, "Billing details", req.TenantID, grant, &f, data)
	}
	p.act(w, r, c, &f, accountPath(req.TenantID, id), again, func(ctx context.Context) (eventstore.Position, error) {
		billing, err := billingOf(f.Values, "")
		if err != nil {
			return 0, err
		}
		out, err := p.cmds.UpdateBilling(ctx, p.commandRequest(w, r, c, req.TenantID), id, billing)
		return out.Position, err
	})
}

// readBillingForm authorizes billing.update on account id and reads it
// in the caller's scope.
func (p *Portal) readBillingForm(ctx context.Context, req commands.Request, id uuid.UUID) (accountFormData, *domain.PartnerAccess, error) {
	grant, err := p.cmds.AuthorizeAccountRead(ctx, req, id, domain.PermBillingUpdate)
	if err != nil {
		return accountFormData{}, nil, err
	}
	acc, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.AccountView, error) {
		return projections.GetAccount(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), id)
	})
	return accountFormData{Tenant: req.TenantID, Account: acc}, grant, err
}

// renderAccountForm renders the new customer or billing form of tenant
// with f. A nil
// grant after a refused POST is read again, for the tenant's sections.
func (p *Portal) renderAccountForm(w http.ResponseWriter, r *http.Request, c caller, status int, title string,
	tenant uuid.UUID, grant *domain.PartnerAccess, f *form, data accountFormData) {
	if grant == nil && c.principal.Type == domain.ActorPartnerUser {
		req := commands.Request{Principal: c.principal, TenantID: tenant, RequestID: requestID(w)}
		grant, _ = p.cmds.AuthorizeRead(r.Context(), req, domain.PermAccountsRead, "accounts") // only the sections shown depend on it
	}
	data.Tenant, data.Deliveries = tenant, invoiceDeliveries
	v := p.tenantView(c, tenant, grant, title, data)
	v.Form = f
	p.render(w, r, status, "account-form", v)
}

// accountRequest is the request of a page of one account of the path's
// tenant, and the account's id; a malformed id is the 404 page.
func (p *Portal) accountRequest(w http.ResponseWriter, r *http.Request, c caller) (commands.Request, uuid.UUID, bool) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return req, uuid.Nil, false
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		p.notFound(w, r)
		return req, uuid.Nil, false
	}
	return req, id, true
}

// billingOf reads the billing details of a posted form, their fields
// named prefix followed by the API's JSON names. Payment terms that are
// not a whole number are refused as the API refuses a body whose
// payment_terms_days is not one.
func billingOf(v url.Values, prefix string) (commands.Billing, error) {
	b := commands.Billing{ContactName: v.Get(prefix + "contact_name"), Email: v.Get(prefix + "email"),
		Address: v.Get(prefix + "address"), TaxID: v.Get(prefix + "tax_id"), InvoiceDelivery: v.Get(prefix + "invoice_delivery")}
	if s := strings.TrimSpace(v.Get(prefix + "payment_terms_days")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return b, domain.Invalid(prefix+"payment_terms_days", "must be a whole number of days from 0 to %d", domain.MaxPaymentTermsDays)
		}
		b.PaymentTermsDays = &n
	}
	return b, nil
}

// actThen is p.act for a command whose page to land on is known only once
// it has run (the id of what it created): next is called after run
// succeeded.
func (p *Portal) actThen(w http.ResponseWriter, r *http.Request, c caller, f *form, next func() string,
	again func(status int), run func(ctx context.Context) (eventstore.Position, error)) {
	pos, err := run(r.Context())
	if err != nil {
		p.act(w, r, c, f, "", again, func(context.Context) (eventstore.Position, error) { return 0, err })
		return
	}
	p.waitVisible(r.Context(), w, pos)
	http.Redirect(w, r, next(), http.StatusSeeOther)
}

// accountPath is the path of an account's page.
func accountPath(tenant, id uuid.UUID) string {
	return Prefix + "/tenants/" + tenant.String() + "/accounts/" + id.String()
}

// optionalText is *s, or "" for nil.
func optionalText(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
