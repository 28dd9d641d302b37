package portal

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/projections"
)

// accessRequestRoutes registers the pages of access requests: the
// tenant's, to decide them, and the partner's, to make them.
func (p *Portal) accessRequestRoutes(mux *http.ServeMux) {
	base := Prefix + "/tenants/{tenant}/access-requests"
	mux.HandleFunc("GET "+base, p.signedIn(p.tenantAccessRequests))
	mux.HandleFunc("GET "+base+"/{id}", p.signedIn(p.tenantAccessRequest))
	mux.HandleFunc("POST "+base+"/{id}/approve", p.signedIn(p.approveRequest))
	mux.HandleFunc("POST "+base+"/{id}/reject", p.signedIn(p.rejectRequest))
	mine := Prefix + "/partners/{partner}/access-requests"
	mux.HandleFunc("GET "+mine, p.signedIn(p.partnerAccessRequests))
	mux.HandleFunc("POST "+mine, p.signedIn(p.requestAccessForm))
}

// requestsData is the tenant's access requests page's.
type requestsData struct {
	Tenant   uuid.UUID
	Status   string
	Statuses []domain.AccessRequestStatus
	Items    []projections.AccessRequestView
	Next     string
}

// requestData is a tenant's access request page's: the request and, while
// it is pending, the approval form's choices.
type requestData struct {
	Tenant  uuid.UUID
	Request projections.AccessRequestView
	Pending bool
	Terms   termsForm
}

// tenantAccessRequests lists the tenant's access requests as GET
// /v1/tenants/{t}/access-requests?status= (partners.manage), the pending
// ones of the page first.
func (p *Portal) tenantAccessRequests(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	if err := p.cmds.AuthorizeAccessRequestsRead(ctx, req); err != nil {
		p.refuse(w, r, c, err)
		return
	}
	page, err := pageOf(r)
	if err != nil {
		p.failAs(w, r, err, &c.principal)
		return
	}
	status := r.URL.Query().Get("status")
	list, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.List[projections.AccessRequestView], error) {
		return projections.ListTenantAccessRequests(ctx, db, req.TenantID, domain.AccessRequestStatus(status), page, p.now())
	})
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	slices.SortStableFunc(list.Items, func(a, b projections.AccessRequestView) int {
		return pendingRank(a) - pendingRank(b)
	})
	data := requestsData{Tenant: req.TenantID, Status: status, Statuses: projections.AccessRequestStatuses, Items: list.Items}
	if list.NextCursor != nil {
		data.Next = *list.NextCursor
	}
	p.render(w, r, http.StatusOK, "access-requests", p.tenantView(c, req.TenantID, nil, "Access requests", data))
}

// pendingRank orders pending requests before the others.
func pendingRank(v projections.AccessRequestView) int {
	if v.Status == domain.RequestPending {
		return 0
	}
	return 1
}

// tenantRequestPath authorizes a page of one of the tenant's access
// requests (partners.manage) and reads the request's id.
func (p *Portal) tenantRequestPath(w http.ResponseWriter, r *http.Request, c caller) (commands.Request, uuid.UUID, bool) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return req, uuid.Nil, false
	}
	if err := p.cmds.AuthorizeAccessRequestsRead(r.Context(), req); err != nil {
		p.refuse(w, r, c, err)
		return req, uuid.Nil, false
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		p.notFound(w, r)
		return req, uuid.Nil, false
	}
	return req, id, true
}

// tenantAccessRequest shows one of the tenant's access requests and, while
// it is pending, the forms approving it (narrowed) or rejecting it.
func (p *Portal) tenantAccessRequest(w http.ResponseWriter, r *http.Request, c caller) {
	req, id, ok := p.tenantRequestPath(w, r, c)
	if !ok {
		return
	}
	f := newForm()
	p.renderRequest(w, r, c, req, id, &f, true, http.StatusOK)
}

// findTenantRequest reads request id of tenant as the tenant's list
// shows it.
func (p *Portal) findTenantRequest(ctx context.Context, tenant, id uuid.UUID) (projections.AccessRequestView, error) {
	return projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.AccessRequestView, error) {
		return projections.GetTenantAccessRequest(ctx, db, tenant, id, p.now())
	})
}

// renderRequest renders a tenant's access request page; prefill (or a
// refused rejection) sets the approval form to what the request asked.
func (p *Portal) renderRequest(w http.ResponseWriter, r *http.Request, c caller, req commands.Request, id uuid.UUID, f *form, prefill bool, status int) {
	ctx := r.Context()
	ar, err := p.findTenantRequest(ctx, req.TenantID, id)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	data := requestData{Tenant: req.TenantID, Request: ar, Pending: ar.Status == domain.RequestPending}
	if prefill || !f.Values.Has("duration_days") {
		for k, vs := range requestValues(ar) {
			if !f.Values.Has(k) {
				f.Values[k] = vs
			}
		}
	}
	accounts, more, err := p.tenantAccounts(ctx, req.TenantID)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	if !ar.AllAccounts {
		accounts, more = askedAccounts(ar.AccountIDs, accounts), false
	}
	data.Terms = termsChoices(f.Values, accounts, more)
	data.Terms.ActionsHint = "none ticked keeps the actions asked for"
	v := p.tenantView(c, req.TenantID, nil, "Access request", data)
	v.Form = f
	p.render(w, r, status, "access-request", v)
}

// requestValues are the approval form's values: what the request asked.
func requestValues(ar projections.AccessRequestView) url.Values {
	v := grantValues(projections.AccessView{Role: ar.Role, AllAccounts: ar.AllAccounts, AccountIDs: ar.AccountIDs, Actions: ar.Actions})
	v.Set("duration_days", strconv.Itoa(ar.DurationDays))
	return v
}

// askedAccounts are the accounts a request asked for, named from the
// tenant's accounts where they are among them.
func askedAccounts(ids []uuid.UUID, accounts []projections.AccountView) []projections.AccountView {
	out := make([]projections.AccountView, 0, len(ids))
	for _, id := range ids {
		a := projections.AccountView{ID: id, Name: "unknown account"}
		if i := slices.IndexFunc(accounts, func(v projections.AccountView) bool { return v.ID == id }); i >= 0 {
			a = accounts[i]
		}
		out = append(out, a)
	}
	return out
}

// approveRequest approves the request as POST
// /v1/tenants/{t}/access-requests/{r}/approve, narrowed as the form says.
func (p *Portal) approveRequest(w http.ResponseWriter, r *http.Request, c caller) {
	p.decideRequest(w, r, c, func(ctx context.Context, req commands.Request, id uuid.UUID, f form) (eventstore.Position, error) {
		terms, bad := termsOf(f.Values)
		days, badDays := daysOf("duration_days", f.Value("duration_days"))
		if err := formInvalid(append(bad, badDays...)); err != nil {
			return 0, err
		}
		cmd := commands.ApproveAccessRequest{Role: &terms.Role, AllAccounts: &terms.AllAccounts,
			Actions: terms.Actions, DurationDays: &days}
		if !terms.AllAccounts {
			cmd.AccountIDs = append([]uuid.UUID{}, terms.AccountIDs...)
		}
		out, err := p.cmds.ApproveAccessRequest(ctx, req, id, cmd)
		return out.Position, err
	})
}

// rejectRequest rejects the request as POST
// /v1/tenants/{t}/access-requests/{r}/reject, with the reason given.
func (p *Portal) rejectRequest(w http.ResponseWriter, r *http.Request, c caller) {
	p.decideRequest(w, r, c, func(ctx context.Context, req commands.Request, id uuid.UUID, f form) (eventstore.Position, error) {
		out, err := p.cmds.RejectAccessRequest(ctx, req, id, commands.RejectAccessRequest{Reason: f.Value("reason")})
		return out.Position, err
	})
}

// decideRequest runs a decision on the path's request, then shows it; a
// refusal shows the request again with the form's input and the refusal.
func (p *Portal) decideRequest(w http.ResponseWriter, r *http.Request, c caller,
	decide func(ctx context.Context, req commands.Request, id uuid.UUID, f form) (eventstore.Position, error)) {
	req, id, ok := p.tenantRequestPath(w, r, c)
	if !ok {
		return
	}
	f := postedForm(r)
	next := Prefix + "/tenants/" + req.TenantID.String() + "/access-requests/" + id.String()
	again := func(status int) {
		foldListFields(&f)
		p.renderRequest(w, r, c, req, id, &f, false, status)
	}
	p.act(w, r, c, &f, next, again, func(ctx context.Context) (eventstore.Position, error) {
		return decide(ctx, p.commandRequest(w, r, c, req.TenantID), id, f)
	})
}
