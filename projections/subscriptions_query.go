package projections

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/domain"
)

// SubscriptionView is a subscription as api.md represents it, on a given
// date: its status, current term end, the quantities of its items and its
// MRR are those of that date.
type SubscriptionView struct {
	ID         uuid.UUID       `json:"id"`
	AccountID  uuid.UUID       `json:"account_id"`
	Currency   domain.Currency `json:"currency"`
	Status     domain.Status   `json:"status"`
	StartDate  domain.Date     `json:"start_date"`
	Term       TermView        `json:"term"`
	CancelDate domain.Date     `json:"cancel_date"`
	Items      []ItemView      `json:"items"`
	MRR        string          `json:"mrr"`
	Version    uint64          `json:"version"`
	CreatedBy  AuditActor      `json:"created_by"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`

	// ScheduledChanges are the changes that take effect after the
	// view's date and can still be withdrawn, oldest first.
	ScheduledChanges []ScheduledChangeView `json:"scheduled_changes"`
}

// TermView is a subscription's term: Months is null for an evergreen
// subscription, and so is CurrentTermEnd, the first day after the term
// that contains the view's date.
type TermView struct {
	Type           domain.TermType `json:"type"`
	Months         *int            `json:"months"`
	AutoRenew      bool            `json:"auto_renew"`
	CurrentTermEnd domain.Date     `json:"current_term_end"`
}

// ItemView is one item of a subscription, removed or not: it is in effect
// from EffectiveFrom until EffectiveTo (exclusive; null while never
// removed). Quantity is its quantity on the view's date (its first one
// before it takes effect). BillingPeriod is null but for recurring
// charges, Unit but for usage charges.
type ItemView struct {
	ID            uuid.UUID             `json:"id"`
	ProductID     uuid.UUID             `json:"product_id"`
	ChargeID      uuid.UUID             `json:"charge_id"`
	Name          string                `json:"name"`
	Type          domain.ChargeType     `json:"type"`
	Quantity      int                   `json:"quantity"`
	UnitPrice     string                `json:"unit_price"`
	BillingPeriod *domain.BillingPeriod `json:"billing_period"`
	Unit          *string               `json:"unit"`
	EffectiveFrom domain.Date           `json:"effective_from"`
	EffectiveTo   domain.Date           `json:"effective_to"`
}

// SubscriptionFilter narrows a list of subscriptions: to one account,
// and to a status ("active", "pending_cancellation" or "cancelled") on
// the list's date. Zero values do not narrow.
type SubscriptionFilter struct {
	AccountID *uuid.UUID
	Status    string
}

// SQL fragments shared by the subscription queries and the MRR report.
// $1 is always the tenant and $2 the date of the query.
const (
	// subsStatusSQL is domain.Subscription.StatusOn($2).
	subsStatusSQL = `CASE WHEN s.end_date <= $2::date THEN 'cancelled'
    WHEN s.cancel_date IS NOT NULL THEN 'pending_cancellation' ELSE 'active' END`
	// subsNotEndedSQL holds unless the subscription is cancelled on $2.
	subsNotEndedSQL = `(s.end_date IS NULL OR s.end_date > $2::date)`
	// subsTermEndSQL is domain.Subscription.CurrentTermEnd($2), given k
	// from subsTermLateralSQL: the least k >= 1 with start + k × months
	// after $2 is k or k + 1, as k starts at the whole months from start
	// to $2 divided by months (at least 1). Postgres and domain.Date both
	// clamp a month's day to the month's end.
	subsTermEndSQL = `CASE WHEN s.term_type <> 'termed' OR s.term_months < 1 THEN NULL
    WHEN NOT s.auto_renew THEN (s.start_date + make_interval(months => s.term_months))::date
    WHEN (s.start_date + make_interval(months => s.term_months * k.k))::date > $2::date
        THEN (s.start_date + make_interval(months => s.term_months * k.k))::date
    ELSE (s.start_date + make_interval(months => s.term_months * (k.k + 1)))::date END`
	subsTermLateralSQL = `CROSS JOIN LATERAL (SELECT greatest(1, ((extract(year FROM $2::date) - extract(year FROM s.start_date)) * 12
    + extract(month FROM $2::date) - extract(month FROM s.start_date))::int / NULLIF(s.term_months, 0)) AS k) k`
	// subsInEffectSQL selects the recurring items i in effect on $2.
	subsInEffectSQL = `i.type = 'recurring' AND i.period_months > 0
    AND i.effective_from <= $2::date AND (i.effective_to IS NULL OR i.effective_to > $2::date)`
	// subsQtyOnSQL is item i's quantity on $2 (when in effect): its
	// latest quantity from that quantity's date on, else the latest of
	// its history dated $2 or before (a change scheduled after $2, or $2
	// in the past), read only then.
	subsQtyOnSQL = `CASE WHEN i.quantity_from <= $2::date THEN i.quantity
    ELSE (SELECT q.quantity FROM {qty} q
        WHERE q.subscription_id = i.subscription_id AND q.item_id = i.item_id AND q.from_date <= $2::date
        ORDER BY q.from_date DESC LIMIT 1) END`
	// subsLineARRSQL is the annual recurring revenue of item i on $2:
	// exact, as period_months divides 12. The integers are multiplied
	// first (at most 12,000,000), so each item costs one numeric product.
	subsLineARRSQL = `(` + subsQtyOnSQL + `) * (12 / i.period_months) * i.unit_price`
	// subsMRRFormat makes MRR of an exact ARR: ÷ 12, rounded half-up to
	// 20 places as domain.Subscription.MRR (the divisor's scale keeps
	// more than 20 places in the quotient).
	subsMRRFormat = `round((%s) / 12.000000000000000000000000, 20)`
)

// subsSelectSQL reads subscription rows with their status, term end and
// MRR on $2; {scope} is the join that scoping needs, {where} the
// conditions and {tail} the order and limit.
var subsSelectSQL = `SELECT s.subscription_id, s.account_id, s.currency, s.start_date, s.term_type, s.term_months,
    s.auto_renew, s.cancel_date, s.version, s.created_by, s.created_at, s.updated_at,
    ` + subsStatusSQL + `, ` + subsTermEndSQL + `,
    (CASE WHEN ` + subsNotEndedSQL + ` THEN ` + fmt.Sprintf(subsMRRFormat, `COALESCE(m.arr, 0)`) + ` ELSE 0 END)::text
FROM {subs} s {scope}
` + subsTermLateralSQL + `
CROSS JOIN LATERAL (SELECT sum(` + subsLineARRSQL + `) AS arr FROM {items} i
    WHERE i.subscription_id = s.subscription_id AND ` + subsInEffectSQL + `) m
WHERE {where}
{tail}`

// subsItemsSQL reads the items of subscriptions $3 with their quantity
// on $2 (subsQtyOnSQL; before an item takes effect, its first one), in
// the order the domain keeps them.
var subsItemsSQL = `SELECT i.subscription_id, i.item_id, i.product_id, i.charge_id, i.name, i.type,
    COALESCE(` + subsQtyOnSQL + `,
        (SELECT q.quantity FROM {qty} q WHERE q.subscription_id = i.subscription_id AND q.item_id = i.item_id
            ORDER BY q.from_date LIMIT 1), i.quantity),
    i.unit_price::text, i.billing_period, i.unit, i.effective_from, i.effective_to
FROM {items} i
WHERE i.tenant_id = $1 AND i.subscription_id = ANY($3)
ORDER BY i.subscription_id, i.added_position, i.added_index`

// subsQuery is one read of subscriptions: conditions beyond tenant and
// scope, and the order and limit.
type subsQuery struct {
	tenant uuid.UUID
	scope  Scope
	today  domain.Date
	conds  []string
	args   []any
	tail   string
}

func newSubsQuery(tenant uuid.UUID, scope Scope, today domain.Date) *subsQuery {
	if today.IsZero() {
		today = domain.DateOf(time.Now())
	}
	return &subsQuery{tenant: tenant, scope: scope, today: today, conds: []string{"s.tenant_id = $1"},
		args: []any{tenant, subsDate(today)}}
}

// where adds a condition; %d in cond stands for the parameter v.
func (q *subsQuery) where(cond string, v any) {
	q.args = append(q.args, v)
	q.conds = append(q.conds, fmt.Sprintf(cond, len(q.args)))
}

// subsScope returns the join that scope needs over the rows named row
// (with account_id and tenant_id columns), and adds its condition and
// parameters to conds and args.
func subsScope(scope Scope, row string, conds *[]string, args *[]any) string {
	if scope.All {
		return ""
	}
	cond, scopeArgs := scope.where(row+".account_id", "a.created_by_partner", len(*args)+1)
	*conds, *args = append(*conds, cond), append(*args, scopeArgs...)
	return fmt.Sprintf("LEFT JOIN {accounts} a ON a.account_id = %[1]s.account_id AND a.tenant_id = %[1]s.tenant_id", row)
}

// run reads the subscriptions with their items.
func (q *subsQuery) run(ctx context.Context, db Querier) ([]SubscriptionView, error) {
	join := subsScope(q.scope, "s", &q.conds, &q.args)
	sql := subsTables(LiveSchema).expand(strings.NewReplacer("{scope}", join,
		"{where}", strings.Join(q.conds, " AND "), "{tail}", q.tail).Replace(subsSelectSQL))
	rows, err := db.Query(ctx, sql, q.args...)
	if err != nil {
		return nil, fmt.Errorf("query subscriptions: %w", err)
	}
	defer rows.Close()
	var views []SubscriptionView
	for rows.Next() {
		v, err := subsScanView(rows)
		if err != nil {
			return nil, err
		}
		views = append(views, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query subscriptions: %w", err)
	}
	if err := subsLoadItems(ctx, db, q.tenant, q.today, views); err != nil {
		return nil, err
	}
	return views, subsLoadScheduled(ctx, db, q.tenant, q.today, views)
}

// subsScanner is a row to scan.
type subsScanner interface{ Scan(dest ...any) error }

func subsScanView(row subsScanner) (SubscriptionView, error) {
	var v SubscriptionView
	var start time.Time
	var cancel, termEnd *time.Time
	var months int
	var status, mrr string
	var by domain.Actor
	err := row.Scan(&v.ID, &v.AccountID, &v.Currency, &start, &v.Term.Type, &months, &v.Term.AutoRenew, &cancel,
		&v.Version, &by, &v.CreatedAt, &v.UpdatedAt, &status, &termEnd, &mrr)
	if err != nil {
		return v, fmt.Errorf("scan subscription: %w", err)
	}
	v.Status, v.StartDate, v.CancelDate = domain.Status(status), domain.DateOf(start), subsDateOf(cancel)
	v.CreatedBy = viewActor(by)
	v.Term.CurrentTermEnd = subsDateOf(termEnd)
	if v.Term.Type == domain.TermTermed {
		v.Term.Months = &months
	}
	v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
	v.MRR, err = subsPresent(v.Currency, mrr)
	v.Items, v.ScheduledChanges = []ItemView{}, []ScheduledChangeView{}
	return v, err
}

// subsIndex returns the ids of views, and each view by its id.
func subsIndex(views []SubscriptionView) ([]uuid.UUID, map[uuid.UUID]*SubscriptionView) {
	ids := make([]uuid.UUID, len(views))
	at := make(map[uuid.UUID]*SubscriptionView, len(views))
	for i := range views {
		ids[i], at[views[i].ID] = views[i].ID, &views[i]
	}
	return ids, at
}

// subsLoadItems reads the items of views, in one query.
func subsLoadItems(ctx context.Context, db Querier, tenant uuid.UUID, today domain.Date, views []SubscriptionView) error {
	if len(views) == 0 {
		return nil
	}
	ids, at := subsIndex(views)
	rows, err := db.Query(ctx, subsTables(LiveSchema).expand(subsItemsSQL), tenant, subsDate(today), ids)
	if err != nil {
		return fmt.Errorf("query subscription items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sub uuid.UUID
		var it ItemView
		var from time.Time
		var to *time.Time
		var price string
		err := rows.Scan(&sub, &it.ID, &it.ProductID, &it.ChargeID, &it.Name, &it.Type, &it.Quantity,
			&price, &it.BillingPeriod, &it.Unit, &from, &to)
		if err != nil {
			return fmt.Errorf("scan subscription item: %w", err)
		}
		v := at[sub]
		it.EffectiveFrom, it.EffectiveTo = domain.DateOf(from), subsDateOf(to)
		if it.UnitPrice, err = subsPresentPrice(v.Currency, price); err != nil {
			return err
		}
		v.Items = append(v.Items, it)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query subscription items: %w", err)
	}
	return nil
}

// ListSubscriptions returns a page of the tenant's subscriptions in the
// caller's scope, as they stand on date today (the current UTC date when
// zero), narrowed by filter, in order of id. It is a *StaleError while
// events of a subscription of the tenant are parked.
func ListSubscriptions(ctx context.Context, db Querier, tenant uuid.UUID, scope Scope, filter SubscriptionFilter,
	page Page, today domain.Date) (List[SubscriptionView], error) {
	if err := page.Check(); err != nil {
		return List[SubscriptionView]{}, err
	}
	if err := staleTenant(ctx, db, Subscriptions{}.Name(), tenant); err != nil {
		return List[SubscriptionView]{}, err
	}
	q := newSubsQuery(tenant, scope, today)
	if page.Cursor != "" {
		var after uuid.UUID
		if err := decodeCursor(page.Cursor, &after); err != nil {
			return List[SubscriptionView]{}, err
		}
		q.where("s.subscription_id > $%d", after)
	}
	if filter.AccountID != nil {
		q.where("s.account_id = $%d", *filter.AccountID)
	}
	if err := q.status(filter.Status); err != nil {
		return List[SubscriptionView]{}, err
	}
	q.tail = fmt.Sprintf("ORDER BY s.subscription_id LIMIT %d", page.Limit+1)
	views, err := q.run(ctx, db)
	if err != nil {
		return List[SubscriptionView]{}, err
	}
	return finish(views, page.Limit, func(v SubscriptionView) any { return v.ID })
}

// status narrows the query to subscriptions with status on its date.
func (q *subsQuery) status(status string) error {
	switch domain.Status(status) {
	case "":
	case domain.StatusActive:
		q.conds = append(q.conds, "s.cancel_date IS NULL AND "+subsNotEndedSQL)
	case domain.StatusPendingCancellation:
		q.conds = append(q.conds, "s.cancel_date > $2::date")
	case domain.StatusCancelled:
		q.conds = append(q.conds, "s.end_date <= $2::date")
	default:
		return domain.Invalid("status", "must be \"active\", \"pending_cancellation\" or \"cancelled\"")
	}
	return nil
}

// GetSubscription returns the tenant's subscription id as it stands on
// date today (the current UTC date when zero), or domain.NotFound when it
// does not exist or is outside the caller's scope; a *StaleError when
// events of it are parked.
func GetSubscription(ctx context.Context, db Querier, tenant uuid.UUID, scope Scope, id uuid.UUID, today domain.Date) (SubscriptionView, error) {
	q := newSubsQuery(tenant, scope, today)
	q.where("s.subscription_id = $%d", id)
	views, err := q.run(ctx, db)
	if err != nil {
		return SubscriptionView{}, err
	}
	if err := staleSeen(ctx, db, len(views) > 0 || scope.All, Subscriptions{}.Name(), streamName("subscription", tenant, id)); err != nil {
		return SubscriptionView{}, err
	}
	if len(views) == 0 {
		return SubscriptionView{}, domain.NotFound("subscription")
	}
	return views[0], nil
}

// subsDateOf is the date of a nullable date column.
func subsDateOf(t *time.Time) domain.Date {
	if t == nil {
		return domain.Date{}
	}
	return domain.DateOf(*t)
}

// subsPresent presents an amount, read as numeric text, in currency c:
// rounded half-up to its minor unit.
func subsPresent(c domain.Currency, amount string) (string, error) {
	d, err := decimal.NewFromString(amount)
	if err != nil {
		return "", fmt.Errorf("read amount %q: %w", amount, err)
	}
	return c.Present(d), nil
}

// subsPresentPrice presents a unit price: with the currency's minor
// units, or more places when the price has them, since a price (0.0001
// per call) is not an amount and rounding it would change what is billed.
func subsPresentPrice(c domain.Currency, price string) (string, error) {
	d, err := decimal.NewFromString(price)
	if err != nil {
		return "", fmt.Errorf("read price %q: %w", price, err)
	}
	return d.StringFixed(max(c.MinorUnits(), -d.Exponent())), nil
}
