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

// mrrGrouping is how one grouping keys and names a line, and the joins
// its name needs.
type mrrGrouping struct {
	key, name, joins string
}

var mrrGroupings = map[string]mrrGrouping{
	MRRGroupNone: {key: "NULL::text", name: "NULL::text"},
	MRRGroupPartner: {
		key: "COALESCE(s.created_by_partner::text, 'direct')",
		name: `CASE WHEN s.created_by_partner IS NULL THEN 'Direct'
    ELSE COALESCE(p.name, s.created_by_partner::text) END`,
		joins: "LEFT JOIN {partners} p ON p.partner_id = s.created_by_partner",
	},
	MRRGroupProduct: {
		key: "i.product_id::text", name: "COALESCE(pr.name, i.product_id::text)",
		joins: "LEFT JOIN {products} pr ON pr.tenant_id = s.tenant_id AND pr.product_id = i.product_id",
	},
	MRRGroupAccount: {key: "s.account_id::text", name: "COALESCE(a.name, s.account_id::text)"},
}

// mrrPartnersSeenBy is the partner grouping for a partner caller, whose
// id is the parameter $n: its own subscriptions under its id and name,
// direct ones under "direct", and those of every other partner under
// "other", unnamed, so that no other partner is named or sized alone.
func mrrPartnersSeenBy(n int) mrrGrouping {
	return mrrGrouping{
		key: fmt.Sprintf(`CASE WHEN s.created_by_partner IS NULL THEN 'direct'
    WHEN s.created_by_partner = $%[1]d THEN s.created_by_partner::text ELSE '%[2]s' END`, n, MRRGroupOther),
		name: fmt.Sprintf(`CASE WHEN s.created_by_partner IS NULL THEN 'Direct'
    WHEN s.created_by_partner = $%[1]d THEN COALESCE(p.name, s.created_by_partner::text) ELSE 'Other' END`, n),
		joins: fmt.Sprintf("LEFT JOIN {partners} p ON p.partner_id = s.created_by_partner AND p.partner_id = $%d", n),
	}
}

// mrrSQL sums the exact ARR of the recurring items in effect on $2 of the
// subscriptions not cancelled on $2, per currency and per group: a row
// whose total is true is a currency's total.
var mrrSQL = `WITH lines AS (
    SELECT s.currency, {key} AS key, {name} AS name, ` + subsLineARRSQL + ` AS arr
    FROM {subs} s
    JOIN {items} i ON i.subscription_id = s.subscription_id
    ` + subsQtyOnSQL + `
    {joins}
    WHERE {where} AND ` + subsNotEndedSQL + ` AND ` + subsInEffectSQL + `
)
SELECT currency, {total}, key, name, sum(arr)::text
FROM lines
GROUP BY GROUPING SETS ({sets})
ORDER BY currency, 2 DESC, sum(arr) DESC, key`

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
	joins := subsScope(scope, &q.conds, &q.args)
	if joins == "" && groupBy == MRRGroupAccount {
		joins = "LEFT JOIN {accounts} a ON a.account_id = s.account_id AND a.tenant_id = s.tenant_id"
	}
	if groupBy == MRRGroupPartner && scope.PartnerID != uuid.Nil {
		q.args = append(q.args, scope.PartnerID)
		g = mrrPartnersSeenBy(len(q.args))
	}
	sets, total := "(currency), (currency, key, name)", "GROUPING(key, name) <> 0"
	if groupBy == MRRGroupNone {
		sets, total = "(currency, key, name)", "true"
	}
	sql := subsTables(LiveSchema).expand(strings.NewReplacer("{key}", g.key, "{name}", g.name,
		"{joins}", joins+"\n    "+g.joins, "{where}", strings.Join(q.conds, " AND "), "{sets}", sets, "{total}", total).Replace(mrrSQL))
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
