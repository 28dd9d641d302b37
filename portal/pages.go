package portal

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/projections"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"instant":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"fieldID":  fieldID,
	"fieldErr": fieldErr,
	"invalid":  invalidAttrs,
}

// homeData is the home page's: a partner user's grants, or a tenant
// user's tenant.
type homeData struct {
	Grants []projections.AccessView
	More   bool
	Tenant uuid.UUID
}

// home shows what the signed-in user may open: for a partner user the
// tenants its partner serves, with each grant's role, scope and expiry
// (as GET /v1/partners/{p}/tenants); for a tenant user its tenant.
func (p *Portal) home(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	var data homeData
	switch c.principal.Type {
	case domain.ActorPartnerUser:
		if err := domain.AuthorizePartnerMember(c.principal, c.principal.PartnerID); err != nil {
			p.failAs(w, r, err, &c.principal)
			return
		}
		list, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.List[projections.AccessView], error) {
			return projections.ListPartnerTenants(ctx, db, c.principal.PartnerID, projections.Page{Limit: projections.MaxLimit}, p.now())
		})
		if err != nil {
			p.failAs(w, r, err, &c.principal)
			return
		}
		data.Grants, data.More = list.Items, list.NextCursor != nil
	case domain.ActorTenantUser:
		data.Tenant = c.principal.TenantID
	}
	v := view{Title: "Home", CSRF: c.csrf, Principal: c.principal, Data: data}
	if c.principal.Type == domain.ActorTenantUser {
		v = p.tenantView(c, c.principal.TenantID, nil, "Home", data)
	}
	p.render(w, r, http.StatusOK, "home", v)
}

// listData is the subscriptions page's.
type listData struct {
	Tenant   uuid.UUID
	Status   string
	Statuses []domain.Status
	Items    []projections.SubscriptionView
	Limit    int
	Next     string
}

// subscriptions lists a tenant's subscriptions as GET
// /v1/tenants/{t}/subscriptions does for the caller: the same
// authorization and the same scope.
func (p *Portal) subscriptions(w http.ResponseWriter, r *http.Request, c caller) {
	filter := projections.SubscriptionFilter{Status: r.URL.Query().Get("status")}
	l, ok := readList(p, w, r, c, domain.PermSubscriptionsRead, "subscriptions",
		func(ctx context.Context, db projections.Querier, req commands.Request, grant *domain.PartnerAccess, page projections.Page) (projections.List[projections.SubscriptionView], error) {
			return projections.ListSubscriptions(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), filter, page, p.today())
		})
	if !ok {
		return
	}
	data := listData{Tenant: l.req.TenantID, Status: filter.Status, Items: l.items, Limit: l.page.Limit, Next: l.next,
		Statuses: []domain.Status{domain.StatusActive, domain.StatusPendingCancellation, domain.StatusCancelled}}
	p.render(w, r, http.StatusOK, "subscriptions", p.tenantView(c, l.req.TenantID, l.grant, "Subscriptions", data))
}

// detailData is the subscription page's.
type detailData struct {
	Tenant  uuid.UUID
	Sub     projections.SubscriptionView
	History []projections.AuditItem
	// AsOf is the instant the page shows the subscription at, when one
	// was asked for (?as_of=); AsOfInput is what was asked, AsOfError why
	// it was not understood.
	AsOf      *time.Time
	AsOfInput string
	AsOfError string
	// grant is the caller's grant the read was authorized under (nil for
	// a tenant user).
	grant *domain.PartnerAccess
}

// subscription shows one subscription as GET
// /v1/tenants/{t}/subscriptions/{s} does, and its history as
// GET …/history shows it to the caller: the actor of an action the
// caller may not see in full is reduced to its type. With ?as_of= it
// shows the subscription as it stood at that instant, rebuilt from its
// events as the API's ?as_of= does.
func (p *Portal) subscription(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	req, id, ok := p.resourceRequest(w, r, c)
	if !ok {
		return
	}
	data, err := p.readSubscription(ctx, req, id)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	if raw := strings.TrimSpace(r.URL.Query().Get("as_of")); raw != "" {
		data.AsOfInput = raw
		if err := p.subscriptionAsOf(ctx, req, id, raw, &data); err != nil {
			p.refuse(w, r, c, err)
			return
		}
	}
	p.render(w, r, http.StatusOK, "subscription", p.tenantView(c, req.TenantID, data.grant, "Subscription", data))
}

// subscriptionAsOf sets data's subscription to subscription id as it
// stood at instant raw, as commands.Service.Subscription rebuilds it for
// the API's ?as_of=; an instant not understood is data's AsOfError.
func (p *Portal) subscriptionAsOf(ctx context.Context, req commands.Request, id uuid.UUID, raw string, data *detailData) error {
	at, shown, err := asOfInstant(raw)
	if err != nil {
		data.AsOfError = err.Error()
		return nil
	}
	out, err := p.cmds.Subscription(ctx, req, id, at)
	if errors.Is(err, domain.ErrNotFound) && !at.IsZero() {
		data.AsOfError = "the subscription did not exist yet at " + shown.UTC().Format(time.RFC3339)
		return nil
	}
	if err != nil {
		return err
	}
	day := domain.DateOf(at)
	if at.IsZero() {
		day = p.today()
	}
	if data.Sub, err = projections.SubscriptionViewOf(out.State, day); err != nil {
		return err
	}
	data.AsOf = &shown
	return nil
}

// asOfInstant reads an as-of instant as the API's asOf does: RFC 3339,
// or a date and time of the form's control (taken as UTC). It returns
// the instant to read at, the instant to show, and a refusal. As for the
// API, an instant after now means now (zero), and the zero instant the
// one just before it.
func asOfInstant(raw string) (time.Time, time.Time, error) {
	var at time.Time
	var err error
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if at, err = time.Parse(layout, raw); err == nil {
			break
		}
	}
	switch {
	case err != nil:
		return at, at, errors.New("must be a date and time, such as 2026-01-31T12:00 (UTC) or 2026-01-31T12:00:00Z")
	case at.After(time.Now()): // the store's clock, which records events, as for the API
		return time.Time{}, at, nil
	case at.IsZero():
		return at.Add(-time.Microsecond), at, nil
	}
	return at, at, nil
}

// readSubscription reads a subscription and its history for req.
func (p *Portal) readSubscription(ctx context.Context, req commands.Request, id uuid.UUID) (detailData, error) {
	grant, err := p.cmds.AuthorizeSubscriptionRead(ctx, req, id, domain.PermSubscriptionsRead)
	if err != nil {
		return detailData{}, err
	}
	sub, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.SubscriptionView, error) {
		return projections.GetSubscription(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), id, p.today())
	})
	if err != nil {
		return detailData{}, err
	}
	events, err := p.cmds.SubscriptionHistory(ctx, req, id)
	if err != nil {
		return detailData{}, err
	}
	history := make([]projections.AuditItem, len(events))
	for i, e := range events {
		if history[i], err = projections.AuditItemOf(e); err != nil {
			return detailData{}, err
		}
	}
	return detailData{Tenant: req.TenantID, Sub: sub, History: history, grant: grant}, nil
}

// tenantRequest is the commands.Request of a page of the path's tenant:
// the caller's principal, the server's request id. A malformed tenant id
// names nothing: the 404 page.
func (p *Portal) tenantRequest(w http.ResponseWriter, r *http.Request, c caller) (commands.Request, bool) {
	tenant, err := uuid.Parse(r.PathValue("tenant"))
	if err != nil {
		p.notFound(w, r)
		return commands.Request{}, false
	}
	return commands.Request{Principal: c.principal, TenantID: tenant, RequestID: requestID(w)}, true
}

// resourceRequest is tenantRequest for a page of one of the tenant's
// resources, the path's {id}: a malformed id names nothing either.
func (p *Portal) resourceRequest(w http.ResponseWriter, r *http.Request, c caller) (commands.Request, uuid.UUID, bool) {
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

// refuse answers the refusal err of a tenant's page. A revoked or
// expired grant also ends the session: the next click of a partner that
// lost its access finds the sign-in page, as the issue asks.
func (p *Portal) refuse(w http.ResponseWriter, r *http.Request, c caller, err error) {
	var derr *domain.Error
	if errors.As(err, &derr) && (derr.Code == domain.CodePartnerAccessRevoked || derr.Code == domain.CodePartnerAccessExpired) {
		p.endSession(r.Context(), w, r, c.session)
		p.renderError(w, r, http.StatusForbidden, derr.Code, nil)
		return
	}
	p.failAs(w, r, err, &c.principal)
}

// today is the date of reads, in UTC, as the API's.
func (p *Portal) today() domain.Date { return domain.DateOf(p.now().UTC()) }

// pageOf reads a list page's ?limit= (50 by default, at most 500, as the
// API's) and ?cursor=.
func pageOf(r *http.Request) (projections.Page, error) {
	page := projections.Page{Cursor: r.URL.Query().Get("cursor")}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return page, domain.Invalid("limit", "must be a whole number from 1 to %d", projections.MaxLimit)
		}
		page.Limit = n
	}
	return page, page.Check()
}
