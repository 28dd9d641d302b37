package http

import (
	"context"
	"encoding/csv"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"ledger/commands"
	"ledger/domain"
	"ledger/projections"
)

// mimeTextCSV is the media type of the CSV of invoices.
const mimeTextCSV = "text/csv"

// billRunTimeout bounds a bill run started over HTTP.
const billRunTimeout = 15 * time.Minute

// runBill runs a bill run: 201 with the run, its invoices and totals.
func (s *server) runBill(c echo.Context) error {
	req, err := tenantCommand(c)
	if err != nil {
		return err
	}
	var body commands.RunBill
	if err := bind(c, &body); err != nil {
		return err
	}
	// A run is not cut short by the request's timeout or a caller gone:
	// its answer waits for it, and a retry with the same Idempotency-Key
	// answers with the run as it completed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), billRunTimeout)
	defer cancel()
	out, err := s.commands.RunBill(ctx, req, body, nil)
	if err != nil {
		return err
	}
	return written(c, http.StatusCreated, out.Version, out.Position, projections.BillRunViewOf(out.State, out.Version))
}

// getBillRun answers a bill run, from the event log (invoices.read; the
// tenant's users only). It reads no read model, but honours
// Ledger-Min-Position as every read does (a position beyond the head is
// 422).
func (s *server) getBillRun(c echo.Context) error {
	req, err := tenantCommand(c)
	if err != nil {
		return err
	}
	id, err := pathID(c, "bill_run_id")
	if err != nil {
		return err
	}
	if err := s.caughtUp(c); err != nil {
		return err
	}
	out, err := s.commands.BillRun(c.Request().Context(), req, id)
	if err != nil {
		return err
	}
	return entity(c, out.Version, projections.BillRunViewOf(out.State, out.Version))
}

// voidInvoice voids an invoice and answers it as GET presents it.
func (s *server) voidInvoice(c echo.Context) error {
	req, id, err := tenantCommandOn(c, "invoice_id")
	if err != nil {
		return err
	}
	var body commands.VoidInvoice
	if err := bind(c, &body); err != nil {
		return err
	}
	out, err := s.commands.VoidInvoice(c.Request().Context(), req, id, body)
	if err != nil {
		return err
	}
	inv, ok := out.State.Invoice(out.Subject)
	if !ok {
		return domain.NotFound("invoice")
	}
	view, err := projections.InvoiceViewOf(inv)
	if err != nil {
		return err
	}
	return written(c, http.StatusOK, view.Version, out.Position, view)
}

// getInvoice answers one invoice from the read model. An invoice of an
// account outside the caller's scope is not found, as an absent one is.
func (s *server) getInvoice(c echo.Context) error {
	req, id, err := tenantCommandOn(c, "invoice_id")
	if err != nil {
		return err
	}
	grant, err := s.authorizeInvoiceRead(c, req, id)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	view, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.InvoiceView, error) {
		return projections.GetInvoice(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), id)
	})
	if err != nil {
		return err
	}
	return entity(c, view.Version, view)
}

// authorizeInvoiceRead waits for Ledger-Min-Position and authorizes
// invoices.read on invoice id's account: out of scope is not found, as an
// absent invoice is, and audited.
func (s *server) authorizeInvoiceRead(c echo.Context, req commands.Request, id uuid.UUID) (*domain.PartnerAccess, error) {
	if err := s.caughtUp(c); err != nil {
		return nil, err
	}
	return s.commands.AuthorizeInvoiceRead(c.Request().Context(), req, id, domain.PermInvoicesRead)
}

// listInvoices answers a page of invoices, or with Accept: text/csv every
// matching invoice line as CSV.
func (s *server) listInvoices(c echo.Context) error {
	csvWanted := acceptsCSV(c)
	p, err := page(c)
	if err != nil {
		return err
	}
	filter, err := invoiceFilter(c)
	if err != nil {
		return err
	}
	req, grant, err := s.invoicesRead(c, filter.AccountID)
	if err != nil {
		return err
	}
	scope := projections.ScopeOf(req.Principal, grant)
	if csvWanted {
		return s.invoicesCSV(c, req.TenantID, scope, filter)
	}
	ctx := c.Request().Context()
	list, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.List[projections.InvoiceView], error) {
		return projections.ListInvoices(ctx, db, req.TenantID, scope, filter, p)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

// invoicesRead authorizes invoices.read on the account a list names, or
// on the tenant as a whole, and waits for Ledger-Min-Position.
func (s *server) invoicesRead(c echo.Context, account *uuid.UUID) (commands.Request, *domain.PartnerAccess, error) {
	if account == nil {
		return s.tenantRead(c, domain.PermInvoicesRead, "invoices")
	}
	req, err := tenantCommand(c)
	if err != nil {
		return req, nil, err
	}
	grant, err := s.commands.AuthorizeAccountRead(c.Request().Context(), req, *account, domain.PermInvoicesRead)
	if err != nil {
		return req, nil, err
	}
	return req, grant, s.caughtUp(c)
}

// invoiceFilter reads ?account_id=, ?from= and ?to= (issue dates, both
// inclusive).
func invoiceFilter(c echo.Context) (projections.InvoiceFilter, error) {
	var f projections.InvoiceFilter
	var err error
	if f.AccountID, err = queryID(c, "account_id"); err != nil {
		return f, err
	}
	f.From, f.To, err = dateRange(c)
	return f, err
}

// dateRange reads the optional dates ?from= and ?to=, both inclusive; an
// absent one is the zero Date, which leaves its end open.
func dateRange(c echo.Context) (from, to domain.Date, err error) {
	return domain.ParseDateRange(c.QueryParam("from"), c.QueryParam("to"), "from", "to")
}

// csvPage is how many invoices each query of a CSV stream reads.
const csvPage = projections.MaxLimit

// invoicesCSV streams every invoice that filter selects in scope as CSV,
// one row per line, page by page, each page read in a snapshot of its
// own. The first page is read before anything is sent, so that a
// refusal is still a problem; a failure later cuts the stream short,
// and is logged.
func (s *server) invoicesCSV(c echo.Context, tenant uuid.UUID, scope projections.Scope, filter projections.InvoiceFilter) error {
	ctx := c.Request().Context()
	next := func(cursor string) (projections.List[projections.InvoiceView], error) {
		return projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.List[projections.InvoiceView], error) {
			return projections.ListInvoices(ctx, db, tenant, scope, filter, projections.Page{Limit: csvPage, Cursor: cursor})
		})
	}
	list, err := next("")
	if err != nil {
		return err
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, mimeTextCSV+"; charset=utf-8")
	res.WriteHeader(http.StatusOK)
	w := csv.NewWriter(res)
	if err := w.Write(projections.InvoiceCSVHeader); err != nil {
		return s.streamCut(c, err)
	}
	for {
		for _, inv := range list.Items {
			if err := w.WriteAll(inv.CSVRows()); err != nil {
				return s.streamCut(c, err)
			}
		}
		_ = http.NewResponseController(res).Flush() // a writer that cannot flush sends the rows at the end
		if list.NextCursor == nil {
			return nil
		}
		if list, err = next(*list.NextCursor); err != nil {
			return s.streamCut(c, err)
		}
	}
}

// streamCut logs why a stream already under way was cut short: its
// status is sent, so no problem can follow.
func (s *server) streamCut(c echo.Context, err error) error {
	s.logger.WarnContext(c.Request().Context(), "stream cut short", "request_id", requestID(c), "route", c.Path(), "error", err)
	return nil
}

// acceptsCSV reports whether the request's Accept prefers text/csv to
// JSON: text/csv named with a quality above zero, and above that of
// application/json (or, on a tie, named first).
func acceptsCSV(c echo.Context) bool {
	csvQ, jsonQ, csvFirst := 0.0, 0.0, false
	for _, r := range strings.Split(c.Request().Header.Get(echo.HeaderAccept), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(r))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(v, 64); err != nil {
				continue
			}
		}
		switch {
		case mt == mimeTextCSV && q > csvQ:
			csvQ, csvFirst = q, jsonQ == 0
		case mt == echo.MIMEApplicationJSON && q > jsonQ:
			jsonQ = q
		}
	}
	return csvQ > 0 && (csvQ > jsonQ || (csvQ == jsonQ && csvFirst))
}

// tenantCommandOn is the request of the path's tenant and the id of the
// resource the path names in param.
func tenantCommandOn(c echo.Context, param string) (commands.Request, uuid.UUID, error) {
	req, err := tenantCommand(c)
	if err != nil {
		return req, uuid.Nil, err
	}
	id, err := pathID(c, param)
	return req, id, err
}
