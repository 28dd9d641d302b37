package portal

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"ledger/auditexport"
	"ledger/commands"
	"ledger/domain"
	"ledger/projections"
)

// auditRoutes registers the pages of auditors: the audit log and its export, one partner's history, the access review and the tamper-evidence status.
func (p *Portal) auditRoutes(mux *http.ServeMux) {
	t := Prefix + "/tenants/{tenant}"
	mux.HandleFunc("GET "+t+"/audit", p.signedIn(p.auditLog))
	mux.HandleFunc("GET "+t+"/audit/partners/{partner}", p.signedIn(p.auditPartner))
	mux.HandleFunc("GET "+t+"/audit/export.csv", p.signedIn(p.auditExport(auditexport.CSV)))
	mux.HandleFunc("GET "+t+"/audit/export.ndjson", p.signedIn(p.auditExport(auditexport.NDJSON)))
	mux.HandleFunc("GET "+t+"/audit/trust", p.signedIn(p.auditTrust))
	mux.HandleFunc("GET "+t+"/access-review", p.signedIn(p.accessReview))
	mux.HandleFunc("GET "+t+"/access-review.csv", p.signedIn(p.accessReviewCSV))
}

// auditFilterFields are the audit log's filters, named as the API's query
// parameters of GET …/audit/events (and the filter form's fields).
var auditFilterFields = []string{"partner_id", "actor_id", "account_id", "subscription_id", "type", "from", "to"}

// auditIDFields are the filters that are ids.
var auditIDFields = []string{"partner_id", "actor_id", "account_id", "subscription_id"}

// auditData is the audit log page's, and one partner's history's.
type auditData struct {
	Tenant uuid.UUID
	// Partner is the partner of a partner's history; "" on the log.
	Partner string
	// OwnPartner is the caller's partner when it sees its own partner's
	// actions only (a partner_admin): its partner filter is fixed.
	OwnPartner string
	Items      []auditRow
	// Action is the filter form's path; Query the filters, encoded, that
	// the export links and the next page carry.
	Action string
	Query  string
	Next   string
}

// Export is the link of the export in format ("csv", "ndjson") of the
// events the page filters.
func (d auditData) Export(format string) string {
	link := Prefix + "/tenants/" + d.Tenant.String() + "/audit/export." + format
	if d.Query != "" {
		link += "?" + d.Query
	}
	return link
}

// auditRow is one event of the log as the caller may see it, with the
// account and subscription it concerns.
type auditRow struct {
	projections.AuditItem
	Account, Subscription string
}

// auditLog shows a page of the tenant's audit log as GET
// /v1/tenants/{t}/audit/events shows it to the caller: every filter of
// the API's, a partner_admin seeing its own partner's actions only.
func (p *Portal) auditLog(w http.ResponseWriter, r *http.Request, c caller) {
	p.auditPage(w, r, c, uuid.Nil)
}

// auditPartner shows every action of one partner's users on the tenant:
// the audit log filtered by that partner (the API has no route of its
// own for it). A partner user asking of another partner gets the 404
// page.
func (p *Portal) auditPartner(w http.ResponseWriter, r *http.Request, c caller) {
	partner, err := uuid.Parse(r.PathValue("partner"))
	if err != nil || partner == uuid.Nil {
		p.notFound(w, r)
		return
	}
	p.auditPage(w, r, c, partner)
}

// auditPage renders the log, narrowed to partner unless it is Nil. A
// filter the API would refuse re-renders the form with 422, keeping the
// values and marking the fields at fault.
func (p *Portal) auditPage(w http.ResponseWriter, r *http.Request, c caller, partner uuid.UUID) {
	ctx := r.Context()
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	grant, err := p.cmds.AuthorizeRead(ctx, req, domain.PermAuditRead, "audit/events")
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	viewer := auditViewerOf(c.principal)
	if partner != uuid.Nil && viewer.OwnPartnerOnly && partner != viewer.PartnerID {
		p.notFound(w, r)
		return
	}
	q := auditQuery(r.URL.Query(), fixedPartner(viewer, partner))
	data := newAuditData(req.TenantID, viewer, partner, q)
	title := "Audit log"
	if partner != uuid.Nil {
		title = "Partner history"
	}
	v := p.tenantView(c, req.TenantID, grant, title, data)
	v.Form = &form{Values: r.URL.Query(), Fields: map[string]string{}}
	filter, err := auditFilterOf(q)
	if err == nil {
		data.Items, data.Next, err = p.auditItems(r, req, viewer, filter, q)
		v.Data = data
	}
	if derr := filterRefusal(err); derr != nil {
		v.Form.refused(derr)
		p.render(w, r, http.StatusUnprocessableEntity, "audit", v)
		return
	}
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	p.render(w, r, http.StatusOK, "audit", v)
}

// newAuditData is the page of the log of tenant, or of partner's history
// unless partner is Nil, for viewer, filtered by q; without its rows.
func newAuditData(tenant uuid.UUID, viewer projections.AuditViewer, partner uuid.UUID, q url.Values) auditData {
	data := auditData{Tenant: tenant, Action: auditPath(tenant, partner), Query: q.Encode()}
	if partner != uuid.Nil {
		data.Partner = partner.String()
	}
	if viewer.OwnPartnerOnly {
		data.OwnPartner = viewer.PartnerID.String()
	}
	return data
}

// filterRefusal is err when it refuses a field of the filter form (not
// the cursor or limit of a link edited by hand), else nil.
func filterRefusal(err error) *domain.Error {
	var derr *domain.Error
	if !errors.Is(err, domain.ErrInvalid) || !errors.As(err, &derr) || len(derr.Fields) == 0 {
		return nil
	}
	for _, f := range derr.Fields {
		if !slices.Contains(auditFilterFields, f.Field) {
			return nil
		}
	}
	return derr
}

// auditItems reads the page of the log that r asks for, as the API's
// query does, and the link to the next page.
func (p *Portal) auditItems(r *http.Request, req commands.Request, viewer projections.AuditViewer,
	filter projections.AuditFilter, q url.Values) ([]auditRow, string, error) {
	ctx := r.Context()
	page, err := pageOf(r)
	if err != nil {
		return nil, "", err
	}
	list, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.List[projections.AuditItem], error) {
		return projections.AuditEvents(ctx, db, req.TenantID, viewer, filter, page)
	})
	if err != nil {
		return nil, "", err
	}
	rows := make([]auditRow, len(list.Items))
	for i, it := range list.Items {
		rows[i] = auditRowOf(it)
	}
	next := ""
	if list.NextCursor != nil {
		nq := url.Values{}
		for k, vs := range q {
			nq[k] = vs
		}
		if s := r.URL.Query().Get("limit"); s != "" {
			nq.Set("limit", s)
		}
		nq.Set("cursor", *list.NextCursor)
		next = r.URL.Path + "?" + nq.Encode()
	}
	return rows, next, nil
}

// auditViewerOf is who reads the log, as the API's audit routes see the
// caller: a partner user sees its own partner's actions only.
func auditViewerOf(p domain.Principal) projections.AuditViewer {
	return projections.AuditViewer{OwnPartnerOnly: domain.AuditScopeOwnPartnerOnly(p), PartnerID: p.PartnerID}
}

// fixedPartner is the partner the filter is fixed to: the partner of a
// partner's history, else the caller's own for a partner user (whatever
// the URL says), else none.
func fixedPartner(viewer projections.AuditViewer, partner uuid.UUID) uuid.UUID {
	if partner == uuid.Nil && viewer.OwnPartnerOnly {
		return viewer.PartnerID
	}
	return partner
}

// auditPath is the path of the log, or of partner's history.
func auditPath(tenant, partner uuid.UUID) string {
	path := Prefix + "/tenants/" + tenant.String() + "/audit"
	if partner != uuid.Nil {
		path += "/partners/" + partner.String()
	}
	return path
}

// auditQuery is the filters of query that are set, with partner_id fixed
// to partner unless it is Nil.
func auditQuery(query url.Values, partner uuid.UUID) url.Values {
	q := url.Values{}
	for _, name := range auditFilterFields {
		if v := strings.TrimSpace(query.Get(name)); v != "" {
			q.Set(name, v)
		}
	}
	if partner != uuid.Nil {
		q.Set("partner_id", partner.String())
	}
	return q
}

// auditFilterOf reads the filters of q as the API reads its query; every
// field at fault is named in the one refusal.
func auditFilterOf(q url.Values) (projections.AuditFilter, error) {
	f := projections.AuditFilter{Type: q.Get("type")}
	refusal := &domain.Error{Kind: domain.ErrInvalid, Code: domain.CodeInvalid}
	ids := map[string]**uuid.UUID{"partner_id": &f.PartnerID, "actor_id": &f.ActorID,
		"account_id": &f.AccountID, "subscription_id": &f.SubscriptionID}
	for _, name := range auditIDFields {
		s := q.Get(name)
		if s == "" {
			continue
		}
		id, err := uuid.Parse(s)
		if err != nil {
			refusal.Fields = append(refusal.Fields, domain.FieldError{Field: name, Message: "must be a UUID"})
			continue
		}
		*ids[name] = &id
	}
	for name, dst := range map[string]**time.Time{"from": &f.From, "to": &f.To} {
		t, ok := auditInstant(q.Get(name))
		if !ok {
			refusal.Fields = append(refusal.Fields, domain.FieldError{Field: name,
				Message: "must be an RFC 3339 instant, such as 2026-01-31T12:00:00Z, or a date such as 2026-01-31 (its midnight UTC)"})
			continue
		}
		*dst = t
	}
	if len(refusal.Fields) > 0 {
		refusal.Message = "the filter is not valid"
		return f, refusal
	}
	return f, nil
}

// auditInstant reads an optional instant: RFC 3339 as the API's, or a
// date, meaning its midnight UTC (what a browser's date picker gives).
func auditInstant(s string) (*time.Time, bool) {
	if s == "" {
		return nil, true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return &t, true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return &t, true
	}
	return nil, false
}

// auditRowOf is it with the account and subscription it concerns: the
// account_id and subscription_id of its data where present, else what its
// stream's name ({category}-{tenant}-{id}) tells, as the audit read
// model's filters find them.
func auditRowOf(it projections.AuditItem) auditRow {
	row := auditRow{AuditItem: it}
	var ids struct {
		AccountID      string `json:"account_id"`
		SubscriptionID string `json:"subscription_id"`
	}
	_ = json.Unmarshal(it.Data, &ids) // data of another shape names no subject
	row.Account, row.Subscription = ids.AccountID, ids.SubscriptionID
	category, rest, _ := strings.Cut(it.Stream, "-")
	const idLen = 36
	if len(rest) == 2*idLen+1 {
		id := rest[idLen+1:]
		switch {
		case category == "account" && row.Account == "":
			row.Account = id
		case (category == "subscription" || category == "usage") && row.Subscription == "":
			row.Subscription = id
		}
	}
	return row
}

// DataText is the event's data as recorded, for the page.
func (r auditRow) DataText() string { return string(r.Data) }
