package portal

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/projections"
)

// partnerRoutes registers the pages of partners and grants, and access requests on both sides.
func (p *Portal) partnerRoutes(mux *http.ServeMux) {
	base := Prefix + "/tenants/{tenant}/partners"
	mux.HandleFunc("GET "+base, p.signedIn(p.partnersPage))
	mux.HandleFunc("POST "+base, p.signedIn(p.grantNew))
	mux.HandleFunc("GET "+base+"/{partner}", p.signedIn(p.partnerGrantPage))
	mux.HandleFunc("POST "+base+"/{partner}/access", p.signedIn(p.putGrant))
	mux.HandleFunc("GET "+base+"/{partner}/revoke", p.signedIn(p.revokePage))
	mux.HandleFunc("POST "+base+"/{partner}/revoke", p.signedIn(p.revokeGrant))
	p.accessRequestRoutes(mux)
}

// partnersData is the partners page's: the tenant's grants, a page at a
// time, and the form granting access to a partner by its id.
type partnersData struct {
	Tenant uuid.UUID
	Grants []projections.AccessView
	Next   string
	Terms  termsForm
}

// grantData is a partner's page: its grant (Exists false when the tenant
// never granted it access) and the form granting or changing it.
type grantData struct {
	Tenant  uuid.UUID
	Partner uuid.UUID
	Exists  bool
	Grant   projections.AccessView
	Terms   termsForm
}

// partnersRequest authorizes a page of the path's tenant's partners:
// partners.manage, as the API authorizes a grant's write; a user without
// it gets the 403 page with the API's code (a partner's user, the 404 or
// 403 its grant earns).
func (p *Portal) partnersRequest(w http.ResponseWriter, r *http.Request, c caller) (commands.Request, bool) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return req, false
	}
	if _, err := p.cmds.AuthorizeRead(r.Context(), req, domain.PermPartnersManage, "partners"); err != nil {
		p.refuse(w, r, c, err)
		return req, false
	}
	return req, true
}

// partnersPage lists the tenant's grants, every status, as GET
// /v1/tenants/{t}/partners, with a form granting a partner access.
func (p *Portal) partnersPage(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := p.partnersRequest(w, r, c)
	if !ok {
		return
	}
	f := newForm()
	f.Values.Set("role", string(domain.RolePartnerViewer))
	p.renderPartners(w, r, c, req, &f, http.StatusOK)
}

// renderPartners renders the partners page with its form f.
func (p *Portal) renderPartners(w http.ResponseWriter, r *http.Request, c caller, req commands.Request, f *form, status int) {
	ctx := r.Context()
	page, err := pageOf(r)
	if err != nil {
		p.failAs(w, r, err, &c.principal)
		return
	}
	list, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.List[projections.AccessView], error) {
		return projections.ListPartnerAccess(ctx, db, req.TenantID, page, p.now())
	})
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	accounts, more, err := p.tenantAccounts(ctx, req.TenantID)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	data := partnersData{Tenant: req.TenantID, Grants: list.Items, Terms: termsChoices(f.Values, accounts, more)}
	if list.NextCursor != nil {
		data.Next = *list.NextCursor
	}
	v := p.tenantView(c, req.TenantID, nil, "Partners", data)
	v.Form = f
	p.render(w, r, status, "partners", v)
}

// grantNew grants the partner the form names access (PUT
// /v1/tenants/{t}/partners/{p}/access), then shows its page.
func (p *Portal) grantNew(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := p.partnersRequest(w, r, c)
	if !ok {
		return
	}
	f := postedForm(r)
	partner, perr := uuid.Parse(f.Value("partner_id"))
	next := Prefix + "/tenants/" + req.TenantID.String() + "/partners/" + partner.String()
	again := func(status int) {
		foldListFields(&f)
		p.renderPartners(w, r, c, req, &f, status)
	}
	p.act(w, r, c, &f, next, again, func(ctx context.Context) (eventstore.Position, error) {
		if perr != nil {
			return 0, domain.Invalid("partner_id", "must be a partner's id")
		}
		pos, err := p.putAccess(ctx, p.commandRequest(w, r, c, req.TenantID), partner, f)
		if errors.Is(err, domain.ErrNotFound) {
			return 0, domain.Invalid("partner_id", "no partner has this id")
		}
		return pos, err
	})
}

// putAccess runs PutPartnerAccess with the terms form f posted.
func (p *Portal) putAccess(ctx context.Context, req commands.Request, partner uuid.UUID, f form) (eventstore.Position, error) {
	terms, bad := termsOf(f.Values)
	expires, badExpiry := expiryOf("expires_at", f.Value("expires_at"))
	if err := formInvalid(append(bad, badExpiry...)); err != nil {
		return 0, err
	}
	out, err := p.cmds.PutPartnerAccess(ctx, req, partner, commands.PutAccess{Role: terms.Role,
		AllAccounts: terms.AllAccounts, AccountIDs: terms.AccountIDs, Actions: terms.Actions, ExpiresAt: expires})
	return out.Position, err
}

// partnerGrantPage shows the tenant's grant to a partner in full, as GET
// /v1/tenants/{t}/partners/{p}/access, and the form to grant or change it.
func (p *Portal) partnerGrantPage(w http.ResponseWriter, r *http.Request, c caller) {
	req, partner, ok := p.partnerPath(w, r, c)
	if !ok {
		return
	}
	f := newForm()
	p.renderGrant(w, r, c, req, partner, &f, true, http.StatusOK)
}

// partnerPath authorizes a partner's page of the path's tenant and reads
// the partner's id; a malformed one is the 404 page.
func (p *Portal) partnerPath(w http.ResponseWriter, r *http.Request, c caller) (commands.Request, uuid.UUID, bool) {
	req, ok := p.partnersRequest(w, r, c)
	if !ok {
		return req, uuid.Nil, false
	}
	partner, err := uuid.Parse(r.PathValue("partner"))
	if err != nil {
		p.notFound(w, r)
		return req, uuid.Nil, false
	}
	return req, partner, true
}

// renderGrant renders a partner's page; prefill sets the form's values
// from the grant as it stands.
func (p *Portal) renderGrant(w http.ResponseWriter, r *http.Request, c caller, req commands.Request, partner uuid.UUID, f *form, prefill bool, status int) {
	ctx := r.Context()
	data := grantData{Tenant: req.TenantID, Partner: partner}
	g, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.AccessView, error) {
		return projections.GetPartnerAccess(ctx, db, req.TenantID, partner, p.now())
	})
	switch {
	case err == nil:
		data.Exists, data.Grant = true, g
		if prefill {
			f.Values = grantValues(g)
		}
	case errors.Is(err, domain.ErrNotFound):
		if prefill {
			f.Values.Set("role", string(domain.RolePartnerViewer))
		}
	default:
		p.refuse(w, r, c, err)
		return
	}
	accounts, more, err := p.tenantAccounts(ctx, req.TenantID)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	data.Terms = termsChoices(f.Values, accounts, more)
	v := p.tenantView(c, req.TenantID, nil, "Partner "+partner.String(), data)
	v.Form = f
	p.render(w, r, status, "partner-grant", v)
}

// putGrant grants or changes the partner's access as PUT
// /v1/tenants/{t}/partners/{p}/access, then shows its page.
func (p *Portal) putGrant(w http.ResponseWriter, r *http.Request, c caller) {
	req, partner, ok := p.partnerPath(w, r, c)
	if !ok {
		return
	}
	f := postedForm(r)
	next := Prefix + "/tenants/" + req.TenantID.String() + "/partners/" + partner.String()
	again := func(status int) {
		foldListFields(&f)
		p.renderGrant(w, r, c, req, partner, &f, false, status)
	}
	p.act(w, r, c, &f, next, again, func(ctx context.Context) (eventstore.Position, error) {
		return p.putAccess(ctx, p.commandRequest(w, r, c, req.TenantID), partner, f)
	})
}

// revokePage asks for a confirmation before revoking a partner's access.
func (p *Portal) revokePage(w http.ResponseWriter, r *http.Request, c caller) {
	req, partner, ok := p.partnerPath(w, r, c)
	if !ok {
		return
	}
	f := newForm()
	p.renderRevoke(w, r, c, req, partner, &f, http.StatusOK)
}

// renderRevoke renders the confirmation page of revoking partner's grant.
func (p *Portal) renderRevoke(w http.ResponseWriter, r *http.Request, c caller, req commands.Request, partner uuid.UUID, f *form, status int) {
	ctx := r.Context()
	g, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.AccessView, error) {
		return projections.GetPartnerAccess(ctx, db, req.TenantID, partner, p.now())
	})
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	v := p.tenantView(c, req.TenantID, nil, "Revoke access", grantData{Tenant: req.TenantID, Partner: partner, Exists: true, Grant: g})
	v.Form = f
	p.render(w, r, status, "partner-revoke", v)
}

// revokeGrant revokes the partner's access as DELETE
// /v1/tenants/{t}/partners/{p}/access, with the reason given, then shows
// the partner's page.
func (p *Portal) revokeGrant(w http.ResponseWriter, r *http.Request, c caller) {
	req, partner, ok := p.partnerPath(w, r, c)
	if !ok {
		return
	}
	f := postedForm(r)
	next := Prefix + "/tenants/" + req.TenantID.String() + "/partners/" + partner.String()
	again := func(status int) { p.renderRevoke(w, r, c, req, partner, &f, status) }
	p.act(w, r, c, &f, next, again, func(ctx context.Context) (eventstore.Position, error) {
		out, err := p.cmds.RevokePartnerAccess(ctx, p.commandRequest(w, r, c, req.TenantID), partner, f.Value("reason"))
		return out.Position, err
	})
}
