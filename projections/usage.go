package projections

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"ledger/domain"
	"ledger/eventstore"
)

// Usage is the read model of recorded usage: per subscription item and
// UTC day, the sum of the quantities recorded.
type Usage struct{}

// Name implements Projection.
func (Usage) Name() string { return "usage" }

// Tables implements Projection.
func (Usage) Tables() []string { return []string{"usage_daily"} }

// Create implements Projection.
func (Usage) Create(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`
CREATE TABLE %s (
    tenant_id       uuid    NOT NULL,
    subscription_id uuid    NOT NULL,
    item_id         uuid    NOT NULL,
    charge_id       uuid    NOT NULL,
    unit            text    NOT NULL,
    day             date    NOT NULL,
    quantity        numeric NOT NULL,
    PRIMARY KEY (subscription_id, item_id, day)
)`, table(schema, "usage_daily")))
	return err
}

// usageKey is one row of usage_daily.
type usageKey struct {
	sub, item uuid.UUID
	day       domain.Date
}

// usageSum is what a batch adds to a row.
type usageSum struct {
	tenant, charge uuid.UUID
	unit           string
	quantity       decimal.Decimal
}

// Apply implements Projection. The batch's records are summed per row
// first, so that one statement adds them all.
func (Usage) Apply(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error {
	sums := map[usageKey]*usageSum{}
	for _, e := range batch {
		if e.Type != "UsageRecorded" {
			continue
		}
		if err := usageAdd(sums, e); err != nil {
			return err
		}
	}
	if len(sums) == 0 {
		return nil
	}
	keys := make([]usageKey, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b usageKey) int {
		if c := strings.Compare(a.sub.String(), b.sub.String()); c != 0 {
			return c
		}
		if c := strings.Compare(a.item.String(), b.item.String()); c != 0 {
			return c
		}
		return a.day.Compare(b.day)
	})
	return usageUpsert(ctx, tx, table(schema, "usage_daily"), keys, sums)
}

func usageAdd(sums map[usageKey]*usageSum, e eventstore.Event) error {
	ev, err := decodeUsageRecorded(e.SchemaVersion, e.Data)
	if err != nil {
		return fmt.Errorf("usage: decode event at position %d: %w", e.Position, err)
	}
	key := usageKey{ev.SubscriptionID, ev.ItemID, domain.DateOf(ev.OccurredAt)}
	if s := sums[key]; s != nil {
		s.quantity = s.quantity.Add(ev.Quantity)
		return nil
	}
	tenant, err := usageTenant(e)
	if err != nil {
		return err
	}
	sums[key] = &usageSum{tenant: tenant, charge: ev.ChargeID, unit: ev.Unit, quantity: ev.Quantity}
	return nil
}

// usageTenant returns the tenant of a usage event: from its stream,
// usage-{tenant}-{subscription}, else from its metadata.
func usageTenant(e eventstore.Event) (uuid.UUID, error) {
	if rest, ok := strings.CutPrefix(e.Stream, "usage-"); ok && len(rest) > 36 {
		if id, err := uuid.Parse(rest[:36]); err == nil {
			return id, nil
		}
	}
	id, err := uuid.Parse(e.Metadata.TenantID)
	if err != nil {
		return uuid.Nil, fmt.Errorf("usage: event at %d names no tenant (stream %q)", e.Position, e.Stream)
	}
	return id, nil
}

func usageUpsert(ctx context.Context, tx pgx.Tx, t string, keys []usageKey, sums map[usageKey]*usageSum) error {
	n := len(keys)
	tenants, subs, items, charges := make([][16]byte, n), make([][16]byte, n), make([][16]byte, n), make([][16]byte, n)
	units, quantities, days := make([]string, n), make([]string, n), make([]pgtype.Date, n)
	for i, k := range keys {
		s := sums[k]
		tenants[i], subs[i], items[i], charges[i] = s.tenant, k.sub, k.item, s.charge
		units[i], quantities[i], days[i] = s.unit, s.quantity.String(), subsDate(k.day)
	}
	_, err := tx.Exec(ctx, `INSERT INTO `+t+` AS d (tenant_id, subscription_id, item_id, charge_id, unit, day, quantity)
SELECT tenant, sub, item, charge, unit, day, quantity::numeric
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::date[], $7::text[])
    AS u(tenant, sub, item, charge, unit, day, quantity)
ON CONFLICT (subscription_id, item_id, day) DO UPDATE SET quantity = trim_scale(d.quantity + EXCLUDED.quantity)`,
		tenants, subs, items, charges, units, days, quantities)
	if err != nil {
		return fmt.Errorf("usage: add to usage_daily: %w", err)
	}
	return nil
}
