package portal

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/projections"
)

// invoiceRoutes registers the invoices' pages: the list and its CSV, an
// invoice, and its void.
func (p *Portal) invoiceRoutes(mux *http.ServeMux) {
	t := Prefix + "/tenants/{tenant}"
	mux.HandleFunc("GET "+t+"/invoices", p.signedIn(p.invoices))
	mux.HandleFunc("GET "+t+"/invoices.csv", p.signedIn(p.invoicesCSV))
	mux.HandleFunc("GET "+t+"/invoices/{id}", p.signedIn(p.invoice))
	mux.HandleFunc("GET "+t+"/invoices/{id}/void", p.signedIn(p.voidInvoicePage))
	mux.HandleFunc("POST "+t+"/invoices/{id}/void", p.signedIn(p.voidInvoice))
}

// invoicesData is the invoices page's.
type invoicesData struct {
	Tenant  uuid.UUID
	Filter  url.Values
	Items   []projections.InvoiceView
	Next    string
	CSV     string
	NextURL string
}

// invoices lists the tenant's invoices in the caller's scope, filtered
// by account and issue dates, as GET /v1/tenants/{t}/invoices does: the
// same authorization (on the account when one is named), scope and query.
func (p *Portal) invoices(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	filter, page, ok := p.invoiceQuery(w, r, c)
	if !ok {
		return
	}
	req, grant, ok := p.invoicesRead(w, r, c, filter.AccountID)
	if !ok {
		return
	}
	list, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.List[projections.InvoiceView], error) {
		return projections.ListInvoices(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), filter, page)
	})
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	q := url.Values{}
	for _, k := range []string{"account_id", "from", "to"} {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	base := Prefix + "/tenants/" + req.TenantID.String()
	data := invoicesData{Tenant: req.TenantID, Filter: q, Items: list.Items, CSV: base + "/invoices.csv?" + q.Encode()}
	if list.NextCursor != nil {
		next := url.Values{"cursor": {*list.NextCursor}}
		for k, v := range q {
			next[k] = v
		}
		data.NextURL = base + "/invoices?" + next.Encode()
	}
	p.render(w, r, http.StatusOK, "invoices", p.tenantView(c, req.TenantID, grant, "Invoices", data))
}

// invoiceQuery reads the list's ?account_id=, ?from=, ?to= (issue dates,
// both inclusive), ?cursor= and ?limit=, refusing as the API does (the
// 400 page).
func (p *Portal) invoiceQuery(w http.ResponseWriter, r *http.Request, c caller) (projections.InvoiceFilter, projections.Page, bool) {
	var f projections.InvoiceFilter
	q := r.URL.Query()
	page, err := pageOf(r)
	if err == nil && q.Get("account_id") != "" {
		id, perr := uuid.Parse(q.Get("account_id"))
		if perr != nil {
			err = domain.Invalid("account_id", "must be a UUID")
		}
		f.AccountID = &id
	}
	if err == nil {
		f.From, f.To, err = domain.ParseDateRange(q.Get("from"), q.Get("to"), "from", "to")
	}
	if err != nil {
		p.failAs(w, r, err, &c.principal)
		return f, page, false
	}
	return f, page, true
}

// invoicesRead authorizes invoices.read as the API's list does: on the
// account a list names (out of scope is not found), or on the tenant.
func (p *Portal) invoicesRead(w http.ResponseWriter, r *http.Request, c caller, account *uuid.UUID) (commands.Request, *domain.PartnerAccess, bool) {
	if account == nil {
		return p.financeRead(w, r, c, domain.PermInvoicesRead, "invoices")
	}
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return req, nil, false
	}
	grant, err := p.cmds.AuthorizeAccountRead(r.Context(), req, *account, domain.PermInvoicesRead)
	if err != nil {
		p.refuse(w, r, c, err)
		return req, nil, false
	}
	return req, grant, true
}

// invoicesCSV downloads every invoice the list's filter selects in the
// caller's scope, as GET /v1/tenants/{t}/invoices with Accept: text/csv
// answers it: the API's columns, one row a line.
func (p *Portal) invoicesCSV(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	filter, _, ok := p.invoiceQuery(w, r, c)
	if !ok {
		return
	}
	req, grant, ok := p.invoicesRead(w, r, c, filter.AccountID)
	if !ok {
		return
	}
	scope := projections.ScopeOf(req.Principal, grant)
	next := func(cursor string) (projections.List[projections.InvoiceView], error) {
		return projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.List[projections.InvoiceView], error) {
			return projections.ListInvoices(ctx, db, req.TenantID, scope, filter, projections.Page{Limit: projections.MaxLimit, Cursor: cursor})
		})
	}
	list, err := next("")
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="invoices.csv"`)
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	err = cw.Write(projections.InvoiceCSVHeader)
	for err == nil {
		for _, inv := range list.Items {
			if err = cw.WriteAll(inv.CSVRows()); err != nil {
				break
			}
		}
		if err != nil || list.NextCursor == nil {
			break
		}
		list, err = next(*list.NextCursor)
	}
	if err != nil {
		p.logger.WarnContext(ctx, "portal csv cut short", "request_id", requestID(w), "file", "invoices.csv", "error", err)
	}
}

// invoiceData is the invoice page's, and its void's.
type invoiceData struct {
	Tenant  uuid.UUID
	Invoice projections.InvoiceView
}

// invoice shows one invoice as GET /v1/tenants/{t}/invoices/{i} does:
// its lines with their periods and proration, credits, total and status.
// One of an account outside the caller's scope is the 404 page.
func (p *Portal) invoice(w http.ResponseWriter, r *http.Request, c caller) {
	data, grant, ok := p.readInvoice(w, r, c, domain.PermInvoicesRead)
	if !ok {
		return
	}
	p.render(w, r, http.StatusOK, "invoice", p.tenantView(c, data.Tenant, grant, "Invoice "+data.Invoice.Number, data))
}

// readInvoice authorizes perm on the path's invoice (out of scope is not
// found) and reads it, answering a refusal itself.
func (p *Portal) readInvoice(w http.ResponseWriter, r *http.Request, c caller, perm domain.Permission) (invoiceData, *domain.PartnerAccess, bool) {
	ctx := r.Context()
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return invoiceData{}, nil, false
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		p.notFound(w, r)
		return invoiceData{}, nil, false
	}
	grant, err := p.cmds.AuthorizeInvoiceRead(ctx, req, id, perm)
	if err != nil {
		p.refuse(w, r, c, err)
		return invoiceData{}, nil, false
	}
	inv, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.InvoiceView, error) {
		return projections.GetInvoice(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), id)
	})
	if err != nil {
		p.refuse(w, r, c, err)
		return invoiceData{}, nil, false
	}
	return invoiceData{Tenant: req.TenantID, Invoice: inv}, grant, true
}

// voidInvoicePage asks to confirm voiding an invoice, with its reason:
// for whoever may void it (billing.run on its account, as POST
// …/invoices/{i}/void); anyone else gets the 403 page.
func (p *Portal) voidInvoicePage(w http.ResponseWriter, r *http.Request, c caller) {
	f := newForm()
	p.renderVoid(w, r, c, &f, http.StatusOK)
}

// voidInvoice voids an invoice through commands.VoidInvoice, as POST
// /v1/tenants/{t}/invoices/{i}/void does, then shows it; a refusal
// (invoice_not_voidable, a reason at fault) is the confirmation again
// with the API's words.
func (p *Portal) voidInvoice(w http.ResponseWriter, r *http.Request, c caller) {
	req, id, ok := p.resourceRequest(w, r, c)
	if !ok {
		return
	}
	f := postedForm(r)
	next := Prefix + "/tenants/" + req.TenantID.String() + "/invoices/" + id.String()
	p.act(w, r, c, &f, next, func(status int) { p.renderVoid(w, r, c, &f, status) },
		func(ctx context.Context) (eventstore.Position, error) {
			out, err := p.cmds.VoidInvoice(ctx, p.commandRequest(w, r, c, req.TenantID), id, commands.VoidInvoice{Reason: f.Value("reason")})
			return out.Position, err
		})
}

// renderVoid renders the confirmation of a void with form f, after
// authorizing billing.run on the invoice's account.
func (p *Portal) renderVoid(w http.ResponseWriter, r *http.Request, c caller, f *form, status int) {
	data, grant, ok := p.readInvoice(w, r, c, domain.PermBillingRun)
	if !ok {
		return
	}
	v := p.tenantView(c, data.Tenant, grant, "Void invoice "+data.Invoice.Number, data)
	v.Form = f
	p.render(w, r, status, "invoice-void", v)
}
