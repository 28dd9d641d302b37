package portal

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strings"

	"ledger/commands"
	"ledger/domain"
	"ledger/projections"
)

// mrrMovementsCSVHeader names the columns of the movements CSV: the
// fields of a month of GET …/reports/mrr-movements, in its order.
var mrrMovementsCSVHeader = []string{"month", "key", "name", "currency", "starting_mrr", "new", "expansion",
	"contraction", "churn", "reactivation", "ending_mrr"}

// revenueCSVHeader names the columns of the revenue CSV: row is "group"
// for a group of GET …/reports/revenue and "total" for a currency's
// total (whose key and name are empty).
var revenueCSVHeader = []string{"row", "key", "name", "currency", "amount"}

// mrrMovementsCSV downloads the movements report as GET
// …/reports/mrr-movements?from=&to=&group_by= answers it (the same
// refusals, authorization and scope), one row a month, currency and
// group.
func (p *Portal) mrrMovementsCSV(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	q := r.URL.Query()
	groupBy := q.Get("group_by")
	if groupBy != "" && !slices.Contains(reportGroupings[:2], groupBy) {
		p.failAs(w, r, domain.Invalid("group_by", "must be none or partner"), &c.principal)
		return
	}
	for _, name := range []string{"from", "to"} {
		if q.Get(name) == "" {
			p.failAs(w, r, domain.Invalid(name, "is required: a month as YYYY-MM"), &c.principal)
			return
		}
	}
	req, grant, ok := p.financeRead(w, r, c, domain.PermRevenueRead, "reports/mrr-movements")
	if !ok {
		return
	}
	view, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.MRRMovementsView, error) {
		return projections.MRRMovements(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), groupBy, q.Get("from"), q.Get("to"))
	})
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	rows := make([][]string, 0, len(view.Months))
	for _, m := range view.Months {
		rows = append(rows, []string{m.Month, m.Key, csvCell(m.Name), string(m.Currency), m.StartingMRR, m.New,
			m.Expansion, m.Contraction, m.Churn, m.Reactivation, m.EndingMRR})
	}
	p.writeCSV(w, r, "mrr-movements.csv", mrrMovementsCSVHeader, rows)
}

// revenueCSV downloads the revenue report as GET
// …/reports/revenue?from=&to=&group_by= answers it: its groups, then
// its totals.
func (p *Portal) revenueCSV(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	q := r.URL.Query()
	groupBy := q.Get("group_by")
	if groupBy != "" && !slices.Contains(reportGroupings, groupBy) {
		p.failAs(w, r, domain.Invalid("group_by", "must be none, partner, product or account"), &c.principal)
		return
	}
	from, to, err := domain.ParseDateRange(q.Get("from"), q.Get("to"), "from", "to")
	if err != nil {
		p.failAs(w, r, err, &c.principal)
		return
	}
	req, grant, ok := p.financeRead(w, r, c, domain.PermRevenueRead, "reports/revenue")
	if !ok {
		return
	}
	view, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.RevenueView, error) {
		return projections.RevenueReport(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), groupBy, from, to)
	})
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	rows := make([][]string, 0, len(view.Groups)+len(view.Totals))
	for _, g := range view.Groups {
		rows = append(rows, []string{"group", g.Key, csvCell(g.Name), string(g.Currency), g.Amount})
	}
	for _, t := range view.Totals {
		rows = append(rows, []string{"total", "", "", string(t.Currency), t.Amount})
	}
	p.writeCSV(w, r, "revenue.csv", revenueCSVHeader, rows)
}

// financeRead authorizes perm on the path's tenant as the API's list
// and report routes do (resource names the route in the audit log of a
// refusal), answering the refusal itself.
func (p *Portal) financeRead(w http.ResponseWriter, r *http.Request, c caller, perm domain.Permission, resource string) (commands.Request, *domain.PartnerAccess, bool) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return req, nil, false
	}
	grant, err := p.cmds.AuthorizeRead(r.Context(), req, perm, resource)
	if err != nil {
		p.refuse(w, r, c, err)
		return req, nil, false
	}
	return req, grant, true
}

// writeCSV answers a CSV download named name: the header, then rows.
func (p *Portal) writeCSV(w http.ResponseWriter, r *http.Request, name string, header []string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err == nil {
		err = cw.WriteAll(rows)
	}
	if err := cw.Error(); err != nil {
		p.logger.WarnContext(r.Context(), "portal csv cut short", "request_id", requestID(w), "file", name, "error", err)
	}
}

// csvCell is free text as a CSV cell a spreadsheet opens as text, as the
// API's CSV writes it: one that begins with =, +, -, @, a tab or a
// carriage return gets a leading apostrophe.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
