package portal

import (
	"context"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/projections"
)

// partnerRequestsData is a partner's access requests page's: its
// requests, a page at a time, and the form asking a tenant for access.
type partnerRequestsData struct {
	Partner uuid.UUID
	Items   []projections.AccessRequestView
	Next    string
	Terms   termsForm
}

// partnerAccessRequests lists the path's partner's access requests as GET
// /v1/partners/{p}/access-requests (any user of the partner; another
// partner's are the 404 page), with the form of a new request for its
// partner_admin.
func (p *Portal) partnerAccessRequests(w http.ResponseWriter, r *http.Request, c caller) {
	partner, ok := p.partnerMember(w, r, c)
	if !ok {
		return
	}
	f := newForm()
	f.Values.Set("role", string(domain.RolePartnerViewer))
	f.Values.Set("duration_days", "90")
	p.renderPartnerRequests(w, r, c, partner, &f, http.StatusOK)
}

// partnerMember authorizes a page of the path's partner for one of its
// users, as the API's partner lists are.
func (p *Portal) partnerMember(w http.ResponseWriter, r *http.Request, c caller) (uuid.UUID, bool) {
	partner, err := uuid.Parse(r.PathValue("partner"))
	if err != nil {
		p.notFound(w, r)
		return uuid.Nil, false
	}
	if err := domain.AuthorizePartnerMember(c.principal, partner); err != nil {
		p.failAs(w, r, err, &c.principal)
		return uuid.Nil, false
	}
	return partner, true
}

// renderPartnerRequests renders a partner's access requests page with
// its form f.
func (p *Portal) renderPartnerRequests(w http.ResponseWriter, r *http.Request, c caller, partner uuid.UUID, f *form, status int) {
	ctx := r.Context()
	page, err := pageOf(r)
	if err != nil {
		p.failAs(w, r, err, &c.principal)
		return
	}
	list, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.List[projections.AccessRequestView], error) {
		return projections.ListPartnerAccessRequests(ctx, db, partner, page, p.now())
	})
	if err != nil {
		p.failAs(w, r, err, &c.principal)
		return
	}
	data := partnerRequestsData{Partner: partner, Items: list.Items, Terms: termsChoices(f.Values, nil, false)}
	if list.NextCursor != nil {
		data.Next = *list.NextCursor
	}
	v := view{Title: "Access requests", CSRF: c.csrf, Principal: c.principal, Data: data, Form: f}
	p.render(w, r, status, "access-requests-partner", v)
}

// requestAccessForm asks a tenant for access as POST
// /v1/partners/{p}/access-requests (partner_admin of p). The answer is
// the same whether the tenant exists or not.
func (p *Portal) requestAccessForm(w http.ResponseWriter, r *http.Request, c caller) {
	partner, ok := p.partnerMember(w, r, c)
	if !ok {
		return
	}
	f := postedForm(r)
	next := Prefix + "/partners/" + partner.String() + "/access-requests"
	again := func(status int) {
		foldListFields(&f)
		p.renderPartnerRequests(w, r, c, partner, &f, status)
	}
	p.act(w, r, c, &f, next, again, func(ctx context.Context) (eventstore.Position, error) {
		cmd, err := requestOf(f)
		if err != nil {
			return 0, err
		}
		out, err := p.cmds.RequestAccess(ctx, p.commandRequest(w, r, c, uuid.Nil), partner, cmd)
		return out.Position, err
	})
}

// requestOf reads the request form f as the command's body.
func requestOf(f form) (commands.RequestAccess, error) {
	terms, bad := termsOf(f.Values)
	var tenant uuid.UUID
	if s := strings.TrimSpace(f.Value("tenant_id")); s != "" {
		var err error
		if tenant, err = uuid.Parse(s); err != nil {
			bad = append(bad, domain.FieldError{Field: "tenant_id", Message: "must be a tenant's id"})
		}
	}
	days, badDays := daysOf("duration_days", f.Value("duration_days"))
	bad = append(bad, badDays...)
	if err := formInvalid(bad); err != nil {
		return commands.RequestAccess{}, err
	}
	return commands.RequestAccess{TenantID: tenant, Role: terms.Role, AllAccounts: terms.AllAccounts,
		AccountIDs: terms.AccountIDs, Actions: terms.Actions, DurationDays: days, Message: f.Value("message")}, nil
}
