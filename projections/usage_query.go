package projections

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/domain"
)

// UsageLine is the usage of one item of a subscription over a range of
// days: Quantity is the exact sum of the quantities recorded, as a
// decimal string.
type UsageLine struct {
	ItemID   uuid.UUID `json:"item_id"`
	ChargeID uuid.UUID `json:"charge_id"`
	Unit     string    `json:"unit"`
	Quantity string    `json:"quantity"`
}

// usageSummarySQL reads a subscription's usage per item over [$3, $4)
// (a NULL bound is no bound). It returns no row when the subscription
// is not found in scope, and one row of NULLs when it has no usage.
const usageSummarySQL = `SELECT u.item_id, u.charge_id, u.unit, sum(u.quantity)::text
FROM {subs} s {scope}
LEFT JOIN {usage} u ON u.subscription_id = s.subscription_id AND u.tenant_id = s.tenant_id
    AND ($3::date IS NULL OR u.day >= $3::date) AND ($4::date IS NULL OR u.day < $4::date)
WHERE {where}
GROUP BY u.item_id, u.charge_id, u.unit
ORDER BY u.item_id`

// UsageSummary returns the usage of the tenant's subscription
// subscriptionID per item, summed over the days [from, to), either bound
// nil for none. Only items with usage recorded in the range are listed.
// A subscription that does not exist or is outside the caller's scope is
// domain.NotFound; one whose usage or own events are parked, a
// *StaleError.
func UsageSummary(ctx context.Context, db Querier, tenant uuid.UUID, scope Scope, subscriptionID uuid.UUID,
	from, to *domain.Date) ([]UsageLine, error) {
	var lo, hi domain.Date
	if from != nil {
		lo = *from
	}
	if to != nil {
		hi = *to
	}
	if !lo.IsZero() && !hi.IsZero() && !hi.After(lo) {
		return nil, domain.Invalid("to", "must be after from")
	}
	conds, args := []string{"s.tenant_id = $1", "s.subscription_id = $2"}, []any{tenant, subscriptionID, subsDate(lo), subsDate(hi)}
	join := subsScope(scope, "s", &conds, &args)
	t := subsTables(LiveSchema)
	sql := t.expand(strings.NewReplacer("{scope}", join, "{where}", strings.Join(conds, " AND "),
		"{usage}", table(LiveSchema, "usage_daily")).Replace(usageSummarySQL))
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("query usage: %w", err)
	}
	defer rows.Close()
	found, lines := false, []UsageLine{}
	for rows.Next() {
		found = true
		var item, charge *uuid.UUID
		var unit, quantity *string
		if err := rows.Scan(&item, &charge, &unit, &quantity); err != nil {
			return nil, fmt.Errorf("scan usage: %w", err)
		}
		if item == nil {
			continue
		}
		q, err := decimal.NewFromString(*quantity)
		if err != nil {
			return nil, fmt.Errorf("read usage quantity %q: %w", *quantity, err)
		}
		lines = append(lines, UsageLine{ItemID: *item, ChargeID: *charge, Unit: *unit, Quantity: q.String()})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query usage: %w", err)
	}
	if err := staleSeen(ctx, db, found || scope.All, Usage{}.Name(), streamName("usage", tenant, subscriptionID)); err != nil {
		return nil, err
	}
	if err := staleSeen(ctx, db, found || scope.All, Subscriptions{}.Name(), streamName("subscription", tenant, subscriptionID)); err != nil {
		return nil, err
	}
	if !found {
		return nil, domain.NotFound("subscription")
	}
	return lines, nil
}
