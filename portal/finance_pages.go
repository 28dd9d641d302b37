package portal

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/projections"
)

// financeRoutes registers the pages of finance: MRR, movements, revenue, bill runs and invoices.
func (p *Portal) financeRoutes(mux *http.ServeMux) {
	t := Prefix + "/tenants/{tenant}"
	mux.HandleFunc("GET "+t+"/reports", p.signedIn(p.reports))
	mux.HandleFunc("GET "+t+"/reports/mrr-movements.csv", p.signedIn(p.mrrMovementsCSV))
	mux.HandleFunc("GET "+t+"/reports/revenue.csv", p.signedIn(p.revenueCSV))
	p.invoiceRoutes(mux)
	p.billRunRoutes(mux)
}

// reportGroupings are the groupings of the MRR and revenue reports; the
// movements report takes the first two only.
var reportGroupings = []string{projections.MRRGroupNone, projections.MRRGroupPartner,
	projections.MRRGroupProduct, projections.MRRGroupAccount}

// reportFilter is what the reports page's GET form asks, each field
// named as the page's query: the months of the movements (from, to,
// group_by), the grouping of MRR now (mrr_group_by), and the issue dates
// and grouping of the revenue (revenue_from, revenue_to,
// revenue_group_by).
type reportFilter struct {
	From, To, GroupBy              string
	MRRGroupBy                     string
	RevenueFrom, RevenueTo         domain.Date
	RevenueGroupBy                 string
	revenueFromText, revenueToText string
}

// reportsData is the reports page's.
type reportsData struct {
	Tenant       uuid.UUID
	Groupings    []string
	MRR          projections.MRRView
	Movements    projections.MRRMovementsView
	Charts       []mrrChart
	Revenue      projections.RevenueView
	MovementsCSV string
	RevenueCSV   string
	Failed       bool
}

// reportsRead is what the reports page reads in one snapshot.
type reportsRead struct {
	mrr       projections.MRRView
	movements projections.MRRMovementsView
	revenue   projections.RevenueView
}

// reports shows the tenant's revenue as the caller may see it (as the
// API's reports, revenue.read, partners their scope only): MRR now (as
// GET …/reports/mrr), MRR month by month as a chart and a table, the
// movements (GET …/reports/mrr-movements) and the invoiced revenue (GET
// …/reports/revenue). A filter at fault is the page again, 400, with the
// field marked.
func (p *Portal) reports(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	grant, err := p.cmds.AuthorizeRead(ctx, req, domain.PermRevenueRead, "reports")
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	f := form{Values: p.reportValues(r.URL.Query()), Fields: map[string]string{}}
	data := reportsData{Tenant: req.TenantID, Groupings: reportGroupings}
	v := p.tenantView(c, req.TenantID, grant, "Revenue", &data)
	v.Form = &f
	filter, err := reportFilterOf(f.Values)
	var read reportsRead
	if err == nil {
		read, err = p.readReports(ctx, req, grant, filter)
	}
	var derr *domain.Error
	if errors.Is(err, domain.ErrInvalid) && errors.As(err, &derr) {
		f.refused(derr)
		data.Failed = true
		p.render(w, r, http.StatusBadRequest, "reports", v)
		return
	}
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	data.MRR, data.Movements, data.Revenue = read.mrr, read.movements, read.revenue
	data.Charts = mrrCharts(read.movements)
	base := Prefix + "/tenants/" + req.TenantID.String() + "/reports/"
	data.MovementsCSV = base + "mrr-movements.csv?" + url.Values{"from": {filter.From}, "to": {filter.To}, "group_by": {filter.GroupBy}}.Encode()
	data.RevenueCSV = base + "revenue.csv?" + url.Values{"from": {filter.revenueFromText}, "to": {filter.revenueToText},
		"group_by": {filter.RevenueGroupBy}}.Encode()
	p.render(w, r, http.StatusOK, "reports", v)
}

// readReports reads the three reports of the page in one snapshot, over
// the subscriptions and invoices in the caller's scope.
func (p *Portal) readReports(ctx context.Context, req commands.Request, grant *domain.PartnerAccess, f reportFilter) (reportsRead, error) {
	scope := projections.ScopeOf(req.Principal, grant)
	return projections.Snapshot(ctx, p.pool, func(db projections.Querier) (reportsRead, error) {
		var out reportsRead
		var err error
		if out.mrr, err = projections.MRRReport(ctx, db, req.TenantID, scope, f.MRRGroupBy, p.today()); err != nil {
			return out, err
		}
		if out.movements, err = projections.MRRMovements(ctx, db, req.TenantID, scope, f.GroupBy, f.From, f.To); err != nil {
			return out, err
		}
		out.revenue, err = projections.RevenueReport(ctx, db, req.TenantID, scope, f.RevenueGroupBy, f.RevenueFrom, f.RevenueTo)
		return out, err
	})
}

// reportValues are the page's query with its defaults: the movements of
// the twelve months to this one, nothing grouped.
func (p *Portal) reportValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	now := p.now().UTC()
	defaults := map[string]string{
		"from": now.AddDate(0, -11, 1-now.Day()).Format("2006-01"), "to": now.Format("2006-01"),
		"group_by": projections.MRRGroupNone, "mrr_group_by": projections.MRRGroupNone,
		"revenue_group_by": projections.MRRGroupNone,
	}
	for k, v := range defaults {
		if out.Get(k) == "" {
			out.Set(k, v)
		}
	}
	return out
}

// reportFilterOf reads the filter of the reports page, refusing as the
// API's reports refuse (the months themselves are checked by the
// movements report).
func reportFilterOf(q url.Values) (reportFilter, error) {
	f := reportFilter{From: q.Get("from"), To: q.Get("to"), GroupBy: q.Get("group_by"),
		MRRGroupBy: q.Get("mrr_group_by"), RevenueGroupBy: q.Get("revenue_group_by"),
		revenueFromText: q.Get("revenue_from"), revenueToText: q.Get("revenue_to")}
	if !slices.Contains(reportGroupings[:2], f.GroupBy) {
		return f, domain.Invalid("group_by", "must be none or partner")
	}
	for name, g := range map[string]string{"mrr_group_by": f.MRRGroupBy, "revenue_group_by": f.RevenueGroupBy} {
		if !slices.Contains(reportGroupings, g) {
			return f, domain.Invalid(name, "must be none, partner, product or account")
		}
	}
	var err error
	f.RevenueFrom, f.RevenueTo, err = domain.ParseDateRange(f.revenueFromText, f.revenueToText, "revenue_from", "revenue_to")
	return f, err
}

// mrrChart is the MRR of one currency at each month end of the
// movements report: a chart and the same numbers as a table.
type mrrChart struct {
	Currency domain.Currency
	SVG      template.HTML
	Points   []chartPoint
}

// mrrCharts are the charts of the ungrouped series of m, one per
// currency, in the report's order: the ending MRR of each month.
func mrrCharts(m projections.MRRMovementsView) []mrrChart {
	var charts []mrrChart
	index := map[domain.Currency]int{}
	for _, row := range m.Months {
		if row.Key != "" {
			return nil // grouped: the chart is of the totals only
		}
		i, ok := index[row.Currency]
		if !ok {
			i = len(charts)
			index[row.Currency] = i
			charts = append(charts, mrrChart{Currency: row.Currency})
		}
		charts[i].Points = append(charts[i].Points, chartPoint{Label: row.Month, Value: row.EndingMRR})
	}
	for i := range charts {
		cur := string(charts[i].Currency)
		first, last := charts[i].Points[0], charts[i].Points[len(charts[i].Points)-1]
		desc := "MRR in " + cur + " at the end of each month from " + first.Label + " to " + last.Label +
			": " + first.Value + " at the end of " + first.Label + ", " + last.Value + " at the end of " + last.Label +
			". The table below gives every month's figure."
		charts[i].SVG = lineChart("mrr-chart-"+cur, "MRR over time, "+cur, desc, "Month", "MRR ("+cur+")", charts[i].Points)
	}
	return charts
}
