package projections

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"ledger/domain"
)

// MRRView is the MRR report of api.md: recurring revenue on date AsOf,
// in total per currency and per group (none when not grouped).
type MRRView struct {
	AsOf   domain.Date `json:"as_of"`
	Totals []MRRTotal  `json:"totals"`
	Groups []MRRGroup  `json:"groups"`
}

// MRRTotal is the recurring revenue in one currency: MRR monthly, ARR
// twelve times that, each rounded half-up to the currency's minor unit.
type MRRTotal struct {
	Currency domain.Currency `json:"currency"`
	MRR      string          `json:"mrr"`
	ARR      string          `json:"arr"`
}

// MRRGroup is the recurring revenue of one group in one currency. Key is
// the partner id (or "direct"; for a partner caller, "other" for every
// other partner), the product id or the account id; Name is its name
// ("Direct" for direct, "Other" for other; the id when the name is not
// known).
type MRRGroup struct {
	Key      string          `json:"key"`
	Name     string          `json:"name"`
	Currency domain.Currency `json:"currency"`
	MRR      string          `json:"mrr"`
	ARR      string          `json:"arr"`
}

// The groupings of the MRR report.
const (
	MRRGroupNone    = "none"
	MRRGroupPartner = "partner"
	MRRGroupProduct = "product"
	MRRGroupAccount = "account"
)

// MRRGroupOther is the key under which a partner caller's report groups
// the subscriptions of every other partner.
const MRRGroupOther = "other"

// mrrGrouping is how one grouping keys a line (over the subscription s
// and the item i): key, and id, the partner, product or account it names,
// if any; and how it names a group (over its key and id, g.key and g.id,
// and the join n that its name needs). Names are looked up once per group
// by id, not once per line.
type mrrGrouping struct {
	key, id, name, joins string
}

var mrrGroupings = map[string]mrrGrouping{
	MRRGroupNone: {key: "NULL::text", id: "NULL::uuid"},
	MRRGroupPartner: {
		key: "COALESCE(s.created_by_partner::text, 'direct')", id: "s.created_by_partner",
		name:  "CASE WHEN g.id IS NULL THEN 'Direct' ELSE COALESCE(n.name, g.key) END",
		joins: "LEFT JOIN {partners} n ON n.partner_id = g.id",
	},
	MRRGroupProduct: {
		key: "i.product_id::text", id: "i.product_id", name: "COALESCE(n.name, g.key)",
		joins: "LEFT JOIN {products} n ON n.tenant_id = $1 AND n.product_id = g.id",
	},
	MRRGroupAccount: {
		key: "s.account_id::text", id: "s.account_id", name: "COALESCE(n.name, g.key)",
		joins: "LEFT JOIN {accounts} n ON n.account_id = g.id AND n.tenant_id = $1",
	},
}

// mrrPartnersSeenBy is the partner grouping for a partner caller, whose
// id is the parameter $n: its own subscriptions under its id and name,
// direct ones under "direct", and those of every other partner under
// "other", unnamed, so that no other partner is named or sized alone.
func mrrPartnersSeenBy(n int) mrrGrouping {
	return mrrGrouping{
		key: fmt.Sprintf(`CASE WHEN s.created_by_partner IS NULL THEN 'direct'
    WHEN s.created_by_partner = $%[1]d THEN s.created_by_partner::text ELSE '%[2]s' END`, n, MRRGroupOther),
		id: fmt.Sprintf(`CASE WHEN s.created_by_partner = $%d THEN s.created_by_partner END`, n),
		name: fmt.Sprintf(`CASE g.key WHEN 'direct' THEN 'Direct' WHEN '%s' THEN 'Other' ELSE COALESCE(n.name, g.key) END`,
			MRRGroupOther),
		joins: "LEFT JOIN {partners} n ON n.partner_id = g.id",
	}
}

// mrrSQL sums the exact ARR of the recurring items in effect on $2 of the
// subscriptions not cancelled on $2, per currency and per group: a row
// whose total is true is a currency's total; {named} adds the groups. It
// reads only the tenant's rows (its subscriptions, its items by
// tenant_id); an item's quantity comes from its row but when a change is
// dated after $2 (subsQtyOnSQL).
var mrrSQL = `WITH lines AS (
    SELECT s.currency, {key} AS key, {id} AS id, ` + subsLineARRSQL + ` AS arr
    FROM {subs} s
    JOIN {items} i ON i.subscription_id = s.subscription_id
    ` + subsQtyOnSQL + `
    {scope}
    WHERE {where} AND i.tenant_id = $1 AND ` + subsNotEndedSQL + ` AND ` + subsInEffectSQL + `
), groups AS (
    SELECT currency, key, id, sum(arr) AS arr FROM lines GROUP BY currency, key, id
)
SELECT r.currency, r.total, r.key, r.name, r.arr::text FROM (
    SELECT currency, true AS total, NULL::text AS key, NULL::text AS name, sum(arr) AS arr
    FROM groups GROUP BY currency
    {named}
) r
ORDER BY r.currency, r.total DESC, r.arr DESC, r.key`

// mrrNamedSQL is the groups of a grouping, each with its name.
const mrrNamedSQL = `UNION ALL
    SELECT g.currency, false, g.key, {name}, g.arr FROM groups g {joins}`

// MRRReport returns the tenant's recurring revenue on date today (the
// current UTC date when zero) over the subscriptions in the caller's
// scope, in total per currency and grouped by groupBy: "none" (or ""),
// "partner" (the partner whose user created the subscription, or
// "direct"; for a partner caller, other partners' as "other"), "product"
// or "account". Groups come by currency, then
// largest MRR first, and tie out: per currency they sum to the total.
//
// It is a *StaleError while events of the tenant are parked in the
// subscriptions read model.
func MRRReport(ctx context.Context, db Querier, tenant uuid.UUID, scope Scope, groupBy string, today domain.Date) (MRRView, error) {
	if groupBy == "" {
		groupBy = MRRGroupNone
	}
	g, ok := mrrGroupings[groupBy]
	if !ok {
		return MRRView{}, domain.Invalid("group_by", "must be \"none\", \"partner\", \"product\" or \"account\"")
	}
	if err := staleTenant(ctx, db, Subscriptions{}.Name(), tenant); err != nil {
		return MRRView{}, err
	}
	q := newSubsQuery(tenant, scope, today)
	scoped := subsScope(scope, &q.conds, &q.args)
	if groupBy == MRRGroupPartner && scope.PartnerID != uuid.Nil {
		q.args = append(q.args, scope.PartnerID)
		g = mrrPartnersSeenBy(len(q.args))
	}
	named := ""
	if groupBy != MRRGroupNone {
		named = strings.NewReplacer("{name}", g.name, "{joins}", g.joins).Replace(mrrNamedSQL)
	}
	sql := subsTables(LiveSchema).expand(strings.NewReplacer("{key}", g.key, "{id}", g.id, "{scope}", scoped,
		"{where}", strings.Join(q.conds, " AND "), "{named}", named).Replace(mrrSQL))
	rows, err := db.Query(ctx, sql, q.args...)
	if err != nil {
		return MRRView{}, fmt.Errorf("query mrr: %w", err)
	}
	defer rows.Close()
	var book mrrBook
	for rows.Next() {
		if err := book.scan(rows); err != nil {
			return MRRView{}, err
		}
	}
	if err := rows.Err(); err != nil {
		return MRRView{}, fmt.Errorf("query mrr: %w", err)
	}
	return book.present(q.today), nil
}
