package projections

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"ledger/domain"
	"ledger/eventstore"
)

// verifyMRRSQL is each subscription of tenant $1 with its version and
// its MRR on $2 exactly as the read model computes it for GET and the
// report: the same fragments, unrounded beyond their 20 places.
var verifyMRRSQL = `SELECT s.subscription_id, s.version,
    (CASE WHEN ` + subsNotEndedSQL + ` THEN ` + fmt.Sprintf(subsMRRFormat, `COALESCE(m.arr, 0)`) + ` ELSE 0 END)::text
FROM {subs} s
CROSS JOIN LATERAL (SELECT sum(` + subsLineARRSQL + `) AS arr FROM {items} i
    WHERE i.subscription_id = s.subscription_id AND ` + subsInEffectSQL + `) m
WHERE s.tenant_id = $1
ORDER BY s.subscription_id`

// sqlMRR is a subscription as the read model has it.
type sqlMRR struct {
	tenant, id uuid.UUID
	version    uint64
	mrr        string
}

// verifyMRR cross-checks two implementations of MRR: for every
// subscription in the live read model, its version and its MRR on date
// on as the read model's SQL computes them, against the subscription's
// stream, up to the projection's checkpoint, folded by domain.Subscription
// and its MRR(on). It returns the subscriptions they disagree on, at most
// maxShownDifferences.
func verifyMRR(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, on domain.Date) ([]Difference, error) {
	at, subs, err := atCheckpoint(ctx, pool, Subscriptions{}.Name(), func(db Querier) ([]sqlMRR, error) {
		return readSQLMRR(ctx, db, on)
	})
	if err != nil {
		return nil, err
	}
	var out []Difference
	for _, s := range subs {
		d, err := domainMRR(ctx, store, s, at, on)
		if err != nil {
			return nil, err
		}
		if d != nil && len(out) < maxShownDifferences {
			out = append(out, *d)
		}
	}
	return out, nil
}

// atCheckpoint reads, in one snapshot, the checkpoint of projection name
// and what read reads of its read model: so the read model is exactly the
// log up to that position, which a domain cross-check folds to.
func atCheckpoint[T any](ctx context.Context, pool *pgxpool.Pool, name string, read func(Querier) (T, error)) (eventstore.Position, T, error) {
	type readModel struct {
		at   eventstore.Position
		rows T
	}
	rm, err := Snapshot(ctx, pool, func(db Querier) (readModel, error) {
		var rm readModel
		var at int64
		err := db.QueryRow(ctx, `SELECT position FROM `+table(LiveSchema, "checkpoints")+` WHERE name = $1`, name).Scan(&at)
		if err != nil {
			return rm, fmt.Errorf("read checkpoint of %s: %w", name, err)
		}
		rm.at = eventstore.Position(at)
		rm.rows, err = read(db)
		return rm, err
	})
	return rm.at, rm.rows, err
}

// readSQLMRR reads every subscription of the read model with its MRR on
// date on, tenant by tenant.
func readSQLMRR(ctx context.Context, db Querier, on domain.Date) ([]sqlMRR, error) {
	t := subsTables(LiveSchema)
	rows, err := db.Query(ctx, `SELECT DISTINCT tenant_id FROM `+t.subs+` ORDER BY tenant_id`)
	if err != nil {
		return nil, fmt.Errorf("read tenants of subscriptions: %w", err)
	}
	tenants, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("read tenants of subscriptions: %w", err)
	}
	var out []sqlMRR
	for _, tenant := range tenants {
		rows, err := db.Query(ctx, t.expand(verifyMRRSQL), tenant, subsDate(on))
		if err != nil {
			return nil, fmt.Errorf("read mrr of subscriptions: %w", err)
		}
		s := sqlMRR{tenant: tenant}
		_, err = pgx.ForEachRow(rows, []any{&s.id, &s.version, &s.mrr}, func() error {
			out = append(out, s)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read mrr of subscriptions: %w", err)
		}
	}
	return out, nil
}

// domainMRR folds s's stream up to position at and returns how it
// differs from s, or nil when the domain agrees with the read model. An
// event the domain cannot read is a difference too.
func domainMRR(ctx context.Context, store eventstore.Store, s sqlMRR, at eventstore.Position, on domain.Date) (*Difference, error) {
	stream := streamName("subscription", s.tenant, s.id)
	sub := &domain.Subscription{}
	for from := uint64(1); ; {
		events, err := store.ReadStream(ctx, stream, from, rebuildBatch)
		if err != nil {
			return nil, fmt.Errorf("verify mrr: %w", err)
		}
		for _, e := range events {
			if e.Position > at {
				break
			}
			decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
			if err != nil {
				return domainDifference(struct {
					ID       uuid.UUID           `json:"subscription_id"`
					Tenant   uuid.UUID           `json:"tenant_id"`
					Position eventstore.Position `json:"position"`
					Error    string              `json:"domain_error"`
				}{s.id, s.tenant, e.Position, err.Error()})
			}
			sub.Apply(decoded)
		}
		if len(events) < rebuildBatch || events[len(events)-1].Position > at {
			break
		}
		from = events[len(events)-1].Version + 1
	}
	sqlValue, err := decimal.NewFromString(s.mrr)
	if err != nil {
		return nil, fmt.Errorf("verify mrr: read %q: %w", s.mrr, err)
	}
	if domainValue := sub.MRR(on); sub.Version == s.version && domainValue.Equal(sqlValue) {
		return nil, nil
	}
	return domainDifference(struct {
		ID        uuid.UUID   `json:"subscription_id"`
		Tenant    uuid.UUID   `json:"tenant_id"`
		On        domain.Date `json:"on"`
		ReadModel mrrSide     `json:"read_model"`
		Domain    mrrSide     `json:"domain"`
	}{s.id, s.tenant, on, mrrSide{s.version, sqlValue.String()}, mrrSide{sub.Version, sub.MRR(on).String()}})
}

// domainDifference is a subscription the domain and the read model
// disagree on, row saying how.
func domainDifference(row any) (*Difference, error) {
	b, err := json.Marshal(row)
	if err != nil {
		return nil, fmt.Errorf("verify mrr: %w", err)
	}
	return &Difference{Projection: Subscriptions{}.Name(), Table: "subscriptions", Side: SideDomain, Row: string(b)}, nil
}

// mrrSide is what one implementation says of a subscription.
type mrrSide struct {
	Version uint64 `json:"version"`
	MRR     string `json:"mrr"`
}

// verifyItemCopiesSQL finds the items whose copy of their subscription's
// columns differs from the subscription's row, each as JSON of both.
const verifyItemCopiesSQL = `SELECT json_build_object('subscription_id', i.subscription_id, 'item_id', i.item_id,
    'item', json_build_object('currency', i.currency, 'account_id', i.account_id,
        'created_by_partner', i.created_by_partner, 'subscription_end_date', i.subscription_end_date),
    'subscription', json_build_object('currency', s.currency, 'account_id', s.account_id,
        'created_by_partner', s.created_by_partner, 'end_date', s.end_date))::text
FROM {items} i JOIN {subs} s ON s.subscription_id = i.subscription_id
WHERE (i.currency, i.account_id, i.created_by_partner, i.subscription_end_date)
    IS DISTINCT FROM (s.currency, s.account_id, s.created_by_partner, s.end_date)
ORDER BY i.subscription_id, i.item_id
LIMIT $1`

// verifyItemCopies checks, in one snapshot, that every item carries its
// subscription's currency, account, creating partner and end date, which
// the MRR report reads from the item alone. It returns the items that do
// not, at most maxShownDifferences.
func verifyItemCopies(ctx context.Context, pool *pgxpool.Pool) ([]Difference, error) {
	rows, err := Snapshot(ctx, pool, func(db Querier) ([]string, error) {
		rows, err := db.Query(ctx, subsTables(LiveSchema).expand(verifyItemCopiesSQL), maxShownDifferences)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[string])
	})
	if err != nil {
		return nil, fmt.Errorf("compare items with their subscriptions: %w", err)
	}
	out := make([]Difference, len(rows))
	for i, row := range rows {
		out[i] = Difference{Projection: Subscriptions{}.Name(), Table: "subscription_items", Side: SideSubscription, Row: row}
	}
	return out, nil
}
