package projections

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"ledger/domain"
)

// InvoiceView is an invoice as api.md represents it: money as presented
// strings in the invoice's currency, proration factors to
// domain.ProrationScale places.
type InvoiceView struct {
	ID        uuid.UUID            `json:"id"`
	Number    string               `json:"number"`
	AccountID uuid.UUID            `json:"account_id"`
	Currency  domain.Currency      `json:"currency"`
	Status    domain.InvoiceStatus `json:"status"`
	IssueDate domain.Date          `json:"issue_date"`
	DueDate   domain.Date          `json:"due_date"`
	Billing   BillingView          `json:"billing"`
	Lines     []InvoiceLineView    `json:"lines"`
	Total     string               `json:"total"`
	BillRunID uuid.UUID            `json:"bill_run_id"`
	Version   uint64               `json:"version"`
	// VoidReason is why a void invoice was voided; api.md does not show
	// it.
	VoidReason string `json:"-"`
}

// InvoiceLineView is one line of an invoice as api.md represents it. A
// line not billed yet (a preview's) has no id.
type InvoiceLineView struct {
	ID              uuid.UUID       `json:"id,omitzero"`
	SubscriptionID  uuid.UUID       `json:"subscription_id"`
	ItemID          uuid.UUID       `json:"item_id"`
	ChargeID        uuid.UUID       `json:"charge_id"`
	Type            domain.LineType `json:"type"`
	Description     string          `json:"description"`
	PeriodFrom      domain.Date     `json:"period_from"`
	PeriodTo        domain.Date     `json:"period_to"`
	Quantity        string          `json:"quantity"`
	UnitPrice       string          `json:"unit_price"`
	ProrationFactor string          `json:"proration_factor"`
	Amount          string          `json:"amount"`
}

// InvoiceFilter narrows a list of invoices: to one account, and to issue
// dates from From to To, both inclusive (a zero date leaves its end open).
type InvoiceFilter struct {
	AccountID *uuid.UUID
	From, To  domain.Date
}

// invStream is the stream of the invoices of account of tenant, as the
// commands name it (commands.InvoicesStream).
func invStream(tenant, account uuid.UUID) string {
	return streamName("invoices", tenant, account)
}

// invColumns are the columns invScan reads, in its order.
const invColumns = `i.invoice_id, i.number, i.account_id, i.currency, i.status, i.issue_date, i.due_date, i.billing,
    i.total::text, i.bill_run_id, i.version, COALESCE(i.void_reason, '')`

// invCursor is the sort key of an invoice in a list.
type invCursor struct {
	IssueDate domain.Date `json:"d"`
	Seq       int64       `json:"n"`
	ID        uuid.UUID   `json:"i"`
}

// invSelect is the query of invoices of tenant $1 in scope: the select,
// its conditions and their parameters.
type invSelect struct {
	join  string
	conds []string
	args  []any
}

func newInvSelect(tenant uuid.UUID, scope Scope) *invSelect {
	q := &invSelect{conds: []string{"i.tenant_id = $1"}, args: []any{tenant}}
	if !scope.All {
		cond, args := scope.where("i.account_id", "a.created_by_partner", 2)
		q.join = "LEFT JOIN " + table(LiveSchema, "accounts") + " a ON a.account_id = i.account_id AND a.tenant_id = i.tenant_id"
		q.conds, q.args = append(q.conds, cond), append(q.args, args...)
	}
	return q
}

// where adds a condition on the next parameter, written as format with
// %d for its number.
func (q *invSelect) where(format string, arg any) {
	q.args = append(q.args, arg)
	q.conds = append(q.conds, fmt.Sprintf(format, len(q.args)))
}

// after restricts the list to the invoices after cursor, if any.
func (q *invSelect) after(cursor string) error {
	if cursor == "" {
		return nil
	}
	var after invCursor
	if err := decodeCursor(cursor, &after); err != nil {
		return err
	}
	if after.IssueDate.IsZero() {
		return domain.Invalid("cursor", "is not a cursor this list returned")
	}
	q.args = append(q.args, subsDate(after.IssueDate), after.Seq, after.ID)
	n := len(q.args)
	q.conds = append(q.conds, fmt.Sprintf("(i.issue_date, i.number_seq, i.invoice_id) > ($%d, $%d, $%d)", n-2, n-1, n))
	return nil
}

func (q *invSelect) sql(tail string) string {
	return `SELECT ` + invColumns + ` FROM ` + table(LiveSchema, "invoices") + ` i ` + q.join +
		` WHERE ` + strings.Join(q.conds, " AND ") + tail
}

// ListInvoices returns one page of tenant's invoices of accounts in the
// caller's scope that f selects, ordered by issue date, then number. It
// is a *StaleError while invoice events of the tenant are parked.
func ListInvoices(ctx context.Context, db Querier, tenant uuid.UUID, scope Scope, f InvoiceFilter, p Page) (List[InvoiceView], error) {
	if err := p.Check(); err != nil {
		return List[InvoiceView]{}, err
	}
	if err := staleTenant(ctx, db, Invoices{}.Name(), tenant); err != nil {
		return List[InvoiceView]{}, err
	}
	q := newInvSelect(tenant, scope)
	if f.AccountID != nil {
		q.where("i.account_id = $%d", *f.AccountID)
	}
	if !f.From.IsZero() {
		q.where("i.issue_date >= $%d", subsDate(f.From))
	}
	if !f.To.IsZero() {
		q.where("i.issue_date <= $%d", subsDate(f.To))
	}
	if err := q.after(p.Cursor); err != nil {
		return List[InvoiceView]{}, err
	}
	q.args = append(q.args, p.Limit+1)
	views, err := invQuery(ctx, db, q.sql(fmt.Sprintf(` ORDER BY i.issue_date, i.number_seq, i.invoice_id LIMIT $%d`, len(q.args))), q.args)
	if err != nil {
		return List[InvoiceView]{}, fmt.Errorf("list invoices: %w", err)
	}
	return finish(views, p.Limit, func(v InvoiceView) any {
		return invCursor{IssueDate: v.IssueDate, Seq: invNumberSeq(v.Number), ID: v.ID}
	})
}

// GetInvoice returns tenant's invoice id, or domain.NotFound when it does
// not exist or its account is outside the caller's scope; a *StaleError
// when invoice events of its account are parked (of the tenant, when a
// caller who sees every account asks for an invoice the read model
// lacks).
func GetInvoice(ctx context.Context, db Querier, tenant uuid.UUID, scope Scope, id uuid.UUID) (InvoiceView, error) {
	q := newInvSelect(tenant, scope)
	q.where("i.invoice_id = $%d", id)
	views, err := invQuery(ctx, db, q.sql(""), q.args)
	if err != nil {
		return InvoiceView{}, fmt.Errorf("get invoice: %w", err)
	}
	switch {
	case len(views) == 1:
		if err := staleStream(ctx, db, Invoices{}.Name(), invStream(tenant, views[0].AccountID)); err != nil {
			return InvoiceView{}, err
		}
		return views[0], nil
	case scope.All:
		if err := staleTenant(ctx, db, Invoices{}.Name(), tenant); err != nil {
			return InvoiceView{}, err
		}
	}
	return InvoiceView{}, domain.NotFound("invoice")
}

// invQuery reads the invoices that sql selects, in its order, with their
// lines.
func invQuery(ctx context.Context, db Querier, sql string, args []any) ([]InvoiceView, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	views, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (InvoiceView, error) { return invScan(r) })
	if err != nil {
		return nil, err
	}
	return views, invLoadLines(ctx, db, views)
}

// invScan reads a row of invColumns.
func invScan(row pgx.Row) (InvoiceView, error) {
	var (
		v            InvoiceView
		issue, due   time.Time
		billing      domain.Billing
		total        string
		version      int64
		status, curr string
	)
	if err := row.Scan(&v.ID, &v.Number, &v.AccountID, &curr, &status, &issue, &due, &billing, &total,
		&v.BillRunID, &version, &v.VoidReason); err != nil {
		return InvoiceView{}, err
	}
	v.Currency, v.Status, v.IssueDate, v.DueDate = domain.Currency(curr), domain.InvoiceStatus(status), domain.DateOf(issue), domain.DateOf(due)
	v.Billing = BillingView{ContactName: billing.ContactName, Email: billing.Email, Address: subsText(billing.Address),
		TaxID: subsText(billing.TaxID), PaymentTermsDays: billing.PaymentTermsDays, InvoiceDelivery: billing.InvoiceDelivery}
	v.Version, v.Lines = uint64(version), []InvoiceLineView{}
	amount, err := decimal.NewFromString(total)
	if err != nil {
		return InvoiceView{}, fmt.Errorf("read total %q: %w", total, err)
	}
	v.Total = v.Currency.Present(amount)
	return v, nil
}

// invLoadLines reads the lines of views, in their order, into them.
func invLoadLines(ctx context.Context, db Querier, views []InvoiceView) error {
	if len(views) == 0 {
		return nil
	}
	ids, at := make([]uuid.UUID, len(views)), make(map[uuid.UUID]int, len(views))
	for i, v := range views {
		ids[i], at[v.ID] = v.ID, i
	}
	rows, err := db.Query(ctx, `SELECT invoice_id, line_id, subscription_id, item_id, charge_id, type, description,
    period_from, period_to, quantity::text, unit_price::text, proration_factor::text, amount::text
FROM `+table(LiveSchema, "invoice_lines")+` WHERE invoice_id = ANY($1) ORDER BY invoice_id, line_no`, ids)
	if err != nil {
		return fmt.Errorf("read invoice lines: %w", err)
	}
	var (
		inv, lineID, sub, item, charge uuid.UUID
		typ, desc                      string
		from, to                       time.Time
		qty, price, factor, amount     string
	)
	_, err = pgx.ForEachRow(rows, []any{&inv, &lineID, &sub, &item, &charge, &typ, &desc, &from, &to, &qty, &price, &factor, &amount}, func() error {
		v := &views[at[inv]]
		l := InvoiceLineView{ID: lineID, SubscriptionID: sub, ItemID: item, ChargeID: charge, Type: domain.LineType(typ),
			Description: desc, PeriodFrom: domain.DateOf(from), PeriodTo: domain.DateOf(to)}
		if err := invPresentLine(&l, v.Currency, qty, price, factor, amount); err != nil {
			return err
		}
		v.Lines = append(v.Lines, l)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read invoice lines: %w", err)
	}
	return nil
}

// invPresentLine sets l's figures from their text in the read model: the
// quantity as it is, the unit price to at least the currency's minor
// unit (more when it has more: 0.002), the proration factor to
// domain.ProrationScale places and the amount presented in currency c.
func invPresentLine(l *InvoiceLineView, c domain.Currency, qty, price, factor, amount string) error {
	var ds [4]decimal.Decimal
	for i, s := range []string{qty, price, factor, amount} {
		d, err := decimal.NewFromString(s)
		if err != nil {
			return fmt.Errorf("read %q: %w", s, err)
		}
		ds[i] = d
	}
	l.Quantity = ds[0].String()
	l.UnitPrice = ds[1].StringFixed(max(c.MinorUnits(), -ds[1].Exponent()))
	l.ProrationFactor = ds[2].StringFixed(domain.ProrationScale)
	l.Amount = c.Present(ds[3])
	return nil
}

// InvoiceCSVHeader names the columns of the CSV of invoices, for finance:
// one row per invoice line (CSVRows).
var InvoiceCSVHeader = []string{"invoice_number", "invoice_id", "account_id", "status", "issue_date", "due_date", "currency",
	"line_id", "subscription_id", "item_id", "charge_id", "type", "description", "period_from", "period_to",
	"quantity", "unit_price", "proration_factor", "amount", "invoice_total"}

// CSVRows returns the invoice's rows of the CSV of invoices, one per
// line, under InvoiceCSVHeader. A description that a spreadsheet would
// read as a formula is written with a leading apostrophe.
func (v InvoiceView) CSVRows() [][]string {
	head := []string{v.Number, v.ID.String(), v.AccountID.String(), string(v.Status), v.IssueDate.String(), v.DueDate.String(), string(v.Currency)}
	rows := make([][]string, 0, len(v.Lines))
	for _, l := range v.Lines {
		row := append(append(make([]string, 0, len(InvoiceCSVHeader)), head...),
			l.ID.String(), l.SubscriptionID.String(), l.ItemID.String(), l.ChargeID.String(), string(l.Type), csvText(l.Description),
			l.PeriodFrom.String(), l.PeriodTo.String(), l.Quantity, l.UnitPrice, l.ProrationFactor, l.Amount, v.Total)
		rows = append(rows, row)
	}
	return rows
}

// csvText is free text as a CSV cell that a spreadsheet opens as text:
// one that begins with =, +, -, @, a tab or a carriage return gets a
// leading apostrophe, so that it is never run as a formula.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
