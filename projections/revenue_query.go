package projections

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"ledger/domain"
)

// RevenueView is the revenue report of api.md: what was invoiced, in
// total per currency and per group (none when not grouped).
type RevenueView struct {
	Totals []RevenueTotal `json:"totals"`
	Groups []RevenueGroup `json:"groups"`
}

// RevenueTotal is the revenue invoiced in one currency, presented in its
// minor unit.
type RevenueTotal struct {
	Currency domain.Currency `json:"currency"`
	Amount   string          `json:"amount"`
}

// RevenueGroup is the revenue of one group in one currency. Key is the
// partner id (or "direct"; for a partner caller, "other" for every other
// partner), the product id or the account id, as in MRRGroup; Name is its
// name ("Direct" for direct, "Other" for other; the id when the name is
// not known).
type RevenueGroup struct {
	Key      string          `json:"key"`
	Name     string          `json:"name"`
	Currency domain.Currency `json:"currency"`
	Amount   string          `json:"amount"`
}

// reportGrouping is how a report keys and names a row by a grouping, and
// the joins its name needs.
type reportGrouping struct {
	key, name, joins string
}

// revGroupings are how each grouping of the report keys and names a line
// l of invoice i, and the joins its name needs. The partner is the one
// the line's subscription is attributed to.
var revGroupings = map[string]reportGrouping{
	MRRGroupNone: {key: "NULL::text", name: "NULL::text"},
	MRRGroupPartner: {
		key: "COALESCE(l.partner_id::text, 'direct')",
		name: `CASE WHEN l.partner_id IS NULL THEN 'Direct'
    ELSE COALESCE(p.name, l.partner_id::text) END`,
		joins: "LEFT JOIN {partners} p ON p.partner_id = l.partner_id",
	},
	MRRGroupProduct: {
		key: "l.product_id::text", name: "COALESCE(pr.name, l.product_id::text)",
		joins: "LEFT JOIN {products} pr ON pr.tenant_id = l.tenant_id AND pr.product_id = l.product_id",
	},
	MRRGroupAccount: {
		key: "l.account_id::text", name: "COALESCE(ac.name, l.account_id::text)",
		joins: "LEFT JOIN {accounts} ac ON ac.account_id = l.account_id AND ac.tenant_id = l.tenant_id",
	},
}

// revPartnersSeenBy is the partner grouping for a partner caller, whose
// id is the parameter $n: its own lines under its id and name, direct
// ones under "direct", and those of every other partner under "other",
// unnamed.
func revPartnersSeenBy(n int) reportGrouping {
	return reportGrouping{
		key: fmt.Sprintf(`CASE WHEN l.partner_id IS NULL THEN 'direct'
    WHEN l.partner_id = $%[1]d THEN l.partner_id::text ELSE '%[2]s' END`, n, MRRGroupOther),
		name: fmt.Sprintf(`CASE WHEN l.partner_id IS NULL THEN 'Direct'
    WHEN l.partner_id = $%[1]d THEN COALESCE(p.name, l.partner_id::text) ELSE 'Other' END`, n),
		joins: fmt.Sprintf("LEFT JOIN {partners} p ON p.partner_id = l.partner_id AND p.partner_id = $%d", n),
	}
}

// revenueSQL sums the amounts of the lines of posted invoices of tenant
// $1 that {where} selects, per currency and per group: a row whose total
// is true is a currency's total.
const revenueSQL = `WITH lines AS (
    SELECT l.currency, {key} AS key, {name} AS name, l.amount
    FROM {lines} l
    JOIN {invoices} i ON i.invoice_id = l.invoice_id
    {joins}
    WHERE {where}
)
SELECT currency, {total}, key, name, sum(amount)::text
FROM lines
GROUP BY GROUPING SETS ({sets})
ORDER BY currency, 2 DESC, sum(amount) DESC, key`

// RevenueReport returns the revenue tenant invoiced to the accounts in
// the caller's scope: the lines of its posted invoices (void ones left
// out, credits included) issued from from to to, both inclusive (a zero
// date leaves its end open), in total per currency and grouped by
// groupBy: "none" (or ""), "partner" (the partner the subscription is
// attributed to, or "direct"; for a partner caller, other partners' as
// "other"), "product" or "account". Groups come by currency, then
// largest amount first, and sum to the total of their currency.
//
// It is a *StaleError while invoice events of the tenant are parked.
func RevenueReport(ctx context.Context, db Querier, tenant uuid.UUID, scope Scope, groupBy string, from, to domain.Date) (RevenueView, error) {
	if groupBy == "" {
		groupBy = MRRGroupNone
	}
	g, ok := revGroupings[groupBy]
	if !ok {
		return RevenueView{}, domain.Invalid("group_by", "must be \"none\", \"partner\", \"product\" or \"account\"")
	}
	if err := staleTenant(ctx, db, Invoices{}.Name(), tenant); err != nil {
		return RevenueView{}, err
	}
	q := &invSelect{conds: []string{"l.tenant_id = $1", "i.status = '" + string(domain.InvoicePosted) + "'"}, args: []any{tenant}}
	if !from.IsZero() {
		q.where("l.issue_date >= $%d", subsDate(from))
	}
	if !to.IsZero() {
		q.where("l.issue_date <= $%d", subsDate(to))
	}
	if !scope.All {
		cond, args := scope.where("l.account_id", "a.created_by_partner", len(q.args)+1)
		q.join = "LEFT JOIN {accounts} a ON a.account_id = l.account_id AND a.tenant_id = l.tenant_id"
		q.conds, q.args = append(q.conds, cond), append(q.args, args...)
	}
	if groupBy == MRRGroupPartner && scope.PartnerID != uuid.Nil {
		q.args = append(q.args, scope.PartnerID)
		g = revPartnersSeenBy(len(q.args))
	}
	return revenueRun(ctx, db, q, g, groupBy == MRRGroupNone)
}

// revenueRun runs revenueSQL with the conditions of q, grouped by g.
func revenueRun(ctx context.Context, db Querier, q *invSelect, g reportGrouping, ungrouped bool) (RevenueView, error) {
	sets, total := "(currency), (currency, key, name)", "GROUPING(key, name) <> 0"
	if ungrouped {
		sets, total = "(currency, key, name)", "true"
	}
	st, it := subsTables(LiveSchema), invTables(LiveSchema)
	sql := strings.NewReplacer("{key}", g.key, "{name}", g.name, "{joins}", q.join+"\n    "+g.joins,
		"{where}", strings.Join(q.conds, " AND "), "{sets}", sets, "{total}", total).Replace(revenueSQL)
	rows, err := db.Query(ctx, it.expand(st.expand(sql)), q.args...)
	if err != nil {
		return RevenueView{}, fmt.Errorf("query revenue: %w", err)
	}
	defer rows.Close()
	var book revBook
	for rows.Next() {
		if err := book.scan(rows); err != nil {
			return RevenueView{}, err
		}
	}
	if err := rows.Err(); err != nil {
		return RevenueView{}, fmt.Errorf("query revenue: %w", err)
	}
	return revenuePresent(&book), nil
}

// revenuePresent is the report of the book: per currency, the total
// rounded to the currency's minor unit and allocated to the groups by
// largest remainder (domain.Allocate). The amounts of invoice lines are
// in the minor unit already, so this only presents them: the groups sum
// to the total exactly.
func revenuePresent(b *revBook) RevenueView {
	view := RevenueView{Totals: []RevenueTotal{}, Groups: []RevenueGroup{}}
	for _, cur := range b.currencies {
		groups := b.groups[cur]
		parts := []decimal.Decimal{b.totals[cur]}
		if len(groups) > 0 {
			parts = make([]decimal.Decimal, len(groups))
			for i, g := range groups {
				parts[i] = g.amount
			}
		}
		places := cur.MinorUnits()
		total, shares := domain.Allocate(parts, 1, places)
		view.Totals = append(view.Totals, RevenueTotal{Currency: cur, Amount: total.StringFixed(places)})
		for i, g := range groups {
			view.Groups = append(view.Groups, RevenueGroup{Key: g.key, Name: g.name, Currency: cur, Amount: shares[i].StringFixed(places)})
		}
	}
	return view
}

// revBook is what revenueSQL read: per currency, in the query's order,
// the amount in total and of each group.
type revBook struct {
	currencies []domain.Currency
	totals     map[domain.Currency]decimal.Decimal
	groups     map[domain.Currency][]revLine
}

// revLine is one group's amount.
type revLine struct {
	key, name string
	amount    decimal.Decimal
}

// scan adds one row of revenueSQL to the book.
func (b *revBook) scan(row pgx.Row) error {
	var cur domain.Currency
	var total bool
	var key, name *string
	var text string
	if err := row.Scan(&cur, &total, &key, &name, &text); err != nil {
		return fmt.Errorf("scan revenue: %w", err)
	}
	amount, err := decimal.NewFromString(text)
	if err != nil {
		return fmt.Errorf("read revenue %q: %w", text, err)
	}
	if b.totals == nil {
		b.totals, b.groups = map[domain.Currency]decimal.Decimal{}, map[domain.Currency][]revLine{}
	}
	if total {
		b.currencies = append(b.currencies, cur)
		b.totals[cur] = amount
		return nil
	}
	b.groups[cur] = append(b.groups[cur], revLine{key: *key, name: *name, amount: amount})
	return nil
}
