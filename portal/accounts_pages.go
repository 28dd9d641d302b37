package portal

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/projections"
)

// accountRoutes registers the pages of customers (accounts) and billing details, the catalog, and users of tenants and partners.
func (p *Portal) accountRoutes(mux *http.ServeMux) {
	const t = Prefix + "/tenants/{tenant}"
	mux.HandleFunc("GET "+t+"/accounts", p.signedIn(p.accounts))
	mux.HandleFunc("GET "+t+"/accounts/new", p.signedIn(p.newAccountPage))
	mux.HandleFunc("POST "+t+"/accounts/new", p.signedIn(p.createAccount))
	mux.HandleFunc("GET "+t+"/accounts/{id}", p.signedIn(p.account))
	mux.HandleFunc("GET "+t+"/accounts/{id}/billing", p.signedIn(p.billingPage))
	mux.HandleFunc("POST "+t+"/accounts/{id}/billing", p.signedIn(p.updateBilling))
	p.catalogRoutes(mux)
	p.userRoutes(mux)
}

// accountsData is the customers page's.
type accountsData struct {
	Tenant uuid.UUID
	Items  []projections.AccountView
	Next   string
}

// accounts lists the tenant's accounts in the caller's scope, as GET
// /v1/tenants/{t}/accounts does: the same authorization, scope and
// paging (the API has no name filter, so neither has the page).
func (p *Portal) accounts(w http.ResponseWriter, r *http.Request, c caller) {
	l, ok := readList(p, w, r, c, domain.PermAccountsRead, "accounts",
		func(ctx context.Context, db projections.Querier, req commands.Request, grant *domain.PartnerAccess, page projections.Page) (projections.List[projections.AccountView], error) {
			return projections.ListAccounts(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), page)
		})
	if !ok {
		return
	}
	data := accountsData{Tenant: l.req.TenantID, Items: l.items, Next: l.next}
	p.render(w, r, http.StatusOK, "accounts", p.tenantView(c, l.req.TenantID, l.grant, "Customers", data))
}

// accountData is the customer page's.
type accountData struct {
	Tenant  uuid.UUID
	Account projections.AccountView
	Subs    []projections.SubscriptionView
	More    bool
	// CreatedByID is the id of the account's creator when the caller sees
	// that action in full (domain.SeesActionInFull): a partner sees a
	// tenant user's action as tenant_user, without the id, as in the
	// subscription's history.
	CreatedByID *uuid.UUID
}

// account shows one account and its billing details as GET
// /v1/tenants/{t}/accounts/{a} does, and its subscriptions as GET
// /v1/tenants/{t}/subscriptions?account_id={a} lists them (the first
// projections.MaxLimit).
func (p *Portal) account(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	req, id, ok := p.resourceRequest(w, r, c)
	if !ok {
		return
	}
	grant, err := p.cmds.AuthorizeAccountRead(ctx, req, id, domain.PermAccountsRead)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	subsGrant, err := p.cmds.AuthorizeAccountRead(ctx, req, id, domain.PermSubscriptionsRead)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	filter := projections.SubscriptionFilter{AccountID: &id}
	data, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (accountData, error) {
		d := accountData{Tenant: req.TenantID}
		var err error
		if d.Account, err = projections.GetAccount(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), id); err != nil {
			return d, err
		}
		subs, err := projections.ListSubscriptions(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, subsGrant), filter,
			projections.Page{Limit: projections.MaxLimit}, p.today())
		d.Subs, d.More = subs.Items, subs.NextCursor != nil
		return d, err
	})
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	if by := data.Account.CreatedBy; by.ID != nil && domain.SeesActionInFull(c.principal, accountCreator(by)) {
		data.CreatedByID = by.ID
	}
	p.render(w, r, http.StatusOK, "account", p.tenantView(c, req.TenantID, grant, data.Account.Name, data))
}

// accountCreator is the domain's actor of an account's creator as the read
// model holds it.
func accountCreator(a projections.AuditActor) domain.Actor {
	actor := domain.Actor{Type: domain.ActorType(a.Type)}
	if a.ID != nil {
		actor.ID = *a.ID
	}
	if a.PartnerID != nil {
		actor.PartnerID = *a.PartnerID
	}
	return actor
}
