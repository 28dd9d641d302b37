package projections

import (
	"context"
	"encoding/json"
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

// MRRHistory is the read model of the MRR movements report, the
// projection named mrr_movements: each
// subscription's MRR as a step function of the date, one row per step
// (subscription_mrr_steps: its MRR from effective on, until the next
// step; after the last one, a step of 0 on its end date when it ends).
// It keeps each subscription's domain state (subscription_mrr_states)
// and applies events to it with domain.Subscription.Apply, then
// recomputes the subscription's steps from the domain's MRR at each date
// where it may change: the domain computes, the projection stores.
type MRRHistory struct{}

// Name implements Projection.
func (MRRHistory) Name() string { return "mrr_movements" }

// Tables implements Projection.
func (MRRHistory) Tables() []string {
	return []string{"subscription_mrr_states", "subscription_mrr_steps"}
}

// Create implements Projection.
func (MRRHistory) Create(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, mrrMoveTables(schema).expand(`
CREATE TABLE {states} (
    subscription_id uuid  PRIMARY KEY,
    tenant_id       uuid  NOT NULL,
    state           jsonb NOT NULL
);
CREATE TABLE {steps} (
    tenant_id       uuid    NOT NULL,
    subscription_id uuid    NOT NULL,
    account_id      uuid    NOT NULL,
    partner_id      uuid,
    currency        text    NOT NULL,
    effective       date    NOT NULL,
    mrr             numeric NOT NULL,
    PRIMARY KEY (subscription_id, effective)
);
CREATE INDEX ON {steps} (tenant_id, effective)`))
	return err
}

// mrrMoveTableNames are the schema-qualified tables of the projection.
type mrrMoveTableNames struct{ states, steps string }

func mrrMoveTables(schema string) mrrMoveTableNames {
	return mrrMoveTableNames{states: table(schema, "subscription_mrr_states"), steps: table(schema, "subscription_mrr_steps")}
}

// expand replaces {states} and {steps} in sql with the tables' names.
func (t mrrMoveTableNames) expand(sql string) string {
	return strings.NewReplacer("{states}", t.states, "{steps}", t.steps).Replace(sql)
}

// mrrMoveEvent is an event of a subscription that the projection applies.
type mrrMoveEvent struct {
	position eventstore.Position
	sub      uuid.UUID
	event    domain.Event
}

// Apply implements Projection. It loads the states of the batch's
// subscriptions in one query, applies their events in memory, and writes
// the states and the recomputed steps of those it changed in one round
// trip.
func (MRRHistory) Apply(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error {
	events, ids, err := mrrMoveDecode(batch)
	if err != nil || len(ids) == 0 {
		return err
	}
	t := mrrMoveTables(schema)
	states, err := mrrMoveLoad(ctx, tx, t, ids)
	if err != nil {
		return err
	}
	for _, e := range events {
		if err := mrrMoveFold(states, e); err != nil {
			return err
		}
	}
	return mrrMoveWrite(ctx, tx, t, ids, states)
}

// mrrMoveDecode decodes the batch's subscription events, and returns the
// ids of their subscriptions in order of first appearance.
func mrrMoveDecode(batch []eventstore.Event) ([]mrrMoveEvent, []uuid.UUID, error) {
	var out []mrrMoveEvent
	var ids []uuid.UUID
	seen := map[uuid.UUID]bool{}
	for _, e := range batch {
		switch e.Type {
		case "SubscriptionCreated", "SubscriptionAmended", "ScheduledChangeWithdrawn", "SubscriptionCancelled",
			"SubscriptionRenewed", "SubscriptionTermEnded":
		default:
			continue
		}
		decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			return nil, nil, fmt.Errorf("mrr movements: decode event at position %d: %w", e.Position, err)
		}
		id := mrrMoveSubscriptionOf(decoded)
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
		out = append(out, mrrMoveEvent{position: e.Position, sub: id, event: decoded})
	}
	return out, ids, nil
}

// mrrMoveSubscriptionOf returns the subscription that e is of.
func mrrMoveSubscriptionOf(e domain.Event) uuid.UUID {
	switch e := e.(type) {
	case *domain.SubscriptionCreated:
		return e.SubscriptionID
	case *domain.SubscriptionAmended:
		return e.SubscriptionID
	case *domain.ScheduledChangeWithdrawn:
		return e.SubscriptionID
	case *domain.SubscriptionCancelled:
		return e.SubscriptionID
	case *domain.SubscriptionRenewed:
		return e.SubscriptionID
	case *domain.SubscriptionTermEnded:
		return e.SubscriptionID
	}
	return uuid.Nil
}

// mrrMoveLoad reads the states of subscriptions ids that the read model
// holds.
func mrrMoveLoad(ctx context.Context, tx pgx.Tx, t mrrMoveTableNames, ids []uuid.UUID) (map[uuid.UUID]*domain.Subscription, error) {
	raw := make([][16]byte, len(ids))
	for i, id := range ids {
		raw[i] = id
	}
	rows, err := tx.Query(ctx, t.expand(`SELECT subscription_id, state::text FROM {states} WHERE subscription_id = ANY($1)`), raw)
	if err != nil {
		return nil, fmt.Errorf("mrr movements: load states: %w", err)
	}
	states := make(map[uuid.UUID]*domain.Subscription, len(ids))
	var id uuid.UUID
	var state string
	_, err = pgx.ForEachRow(rows, []any{&id, &state}, func() error {
		s := &domain.Subscription{}
		if err := json.Unmarshal([]byte(state), s); err != nil {
			return fmt.Errorf("read state of subscription %s: %w", id, err)
		}
		states[id] = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mrr movements: load states: %w", err)
	}
	return states, nil
}

// mrrMoveFold applies e to its subscription's state. An event of a
// subscription the read model does not hold fails the batch rather than
// vanish. The state goes through its JSON after each event, so that the
// state after an event is the same whether the events before it came in
// this batch or in earlier ones.
func mrrMoveFold(states map[uuid.UUID]*domain.Subscription, e mrrMoveEvent) error {
	s := states[e.sub]
	if s == nil {
		if _, created := e.event.(*domain.SubscriptionCreated); !created {
			return fmt.Errorf("mrr movements: event at position %d of unknown subscription %s", e.position, e.sub)
		}
		s = &domain.Subscription{}
	}
	s.Apply(e.event)
	raw, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("mrr movements: encode state of subscription %s: %w", e.sub, err)
	}
	again := &domain.Subscription{}
	if err := json.Unmarshal(raw, again); err != nil {
		return fmt.Errorf("mrr movements: decode state of subscription %s: %w", e.sub, err)
	}
	states[e.sub] = again
	return nil
}

// mrrMoveWrite stores the states of subscriptions ids and replaces their
// steps with those the domain computes.
func mrrMoveWrite(ctx context.Context, tx pgx.Tx, t mrrMoveTableNames, ids []uuid.UUID, states map[uuid.UUID]*domain.Subscription) error {
	var st mrrStateRows
	var sp mrrStepRows
	for _, id := range ids {
		s := states[id]
		if err := st.add(s); err != nil {
			return err
		}
		sp.add(s, MRRSteps(s))
	}
	pb := &pgx.Batch{}
	pb.Queue(t.expand(`INSERT INTO {states} (subscription_id, tenant_id, state)
SELECT id, tenant, state::jsonb FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS u(id, tenant, state)
ON CONFLICT (subscription_id) DO UPDATE SET state = EXCLUDED.state`), st.ids, st.tenants, st.states)
	pb.Queue(t.expand(`DELETE FROM {steps} WHERE subscription_id = ANY($1)`), st.ids)
	if len(sp.subs) > 0 {
		pb.Queue(t.expand(`INSERT INTO {steps} (tenant_id, subscription_id, account_id, partner_id, currency, effective, mrr)
SELECT tenant, sub, account, partner, currency, effective, mrr::numeric
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::date[], $7::text[])
    AS u(tenant, sub, account, partner, currency, effective, mrr)`),
			sp.tenants, sp.subs, sp.accounts, sp.partners, sp.currencies, sp.dates, sp.mrrs)
	}
	if err := tx.SendBatch(ctx, pb).Close(); err != nil {
		return fmt.Errorf("mrr movements: write: %w", err)
	}
	return nil
}

// mrrStateRows are the columns of the states being written.
type mrrStateRows struct {
	ids, tenants [][16]byte
	states       []string
}

func (r *mrrStateRows) add(s *domain.Subscription) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("mrr movements: encode state of subscription %s: %w", s.ID, err)
	}
	r.ids, r.tenants, r.states = append(r.ids, s.ID), append(r.tenants, s.TenantID), append(r.states, string(raw))
	return nil
}

// mrrStepRows are the columns of the steps being written.
type mrrStepRows struct {
	tenants, subs, accounts [][16]byte
	partners                []pgtype.UUID
	currencies, mrrs        []string
	dates                   []pgtype.Date
}

func (r *mrrStepRows) add(s *domain.Subscription, steps []MRRStep) {
	partner := s.CreatedByPartner()
	for _, st := range steps {
		r.tenants, r.subs, r.accounts = append(r.tenants, s.TenantID), append(r.subs, s.ID), append(r.accounts, s.AccountID)
		r.partners = append(r.partners, pgtype.UUID{Bytes: partner, Valid: partner != uuid.Nil})
		r.currencies, r.mrrs = append(r.currencies, string(s.Currency)), append(r.mrrs, st.MRR.String())
		r.dates = append(r.dates, subsDate(st.Effective))
	}
}

// MRRStep is a subscription's MRR, exact as domain.Subscription.MRR
// gives it, from date Effective until the next step.
type MRRStep struct {
	Effective domain.Date
	MRR       decimal.Decimal
}

// MRRSteps returns subscription s's MRR as a step function: a step at
// each date where it differs from the day before, oldest first, the
// first from zero (none while it is zero from the start), the last to
// zero on its end date when it has one. MRR changes only where the
// subscription starts or ends, or where an item takes effect, is removed
// or changes quantity; MRRSteps evaluates s.MRR at each of those dates.
func MRRSteps(s *domain.Subscription) []MRRStep {
	if !s.Exists() {
		return nil
	}
	var steps []MRRStep
	prev := decimal.Zero
	for _, d := range mrrChangeDates(s) {
		if m := s.MRR(d); !m.Equal(prev) {
			steps, prev = append(steps, MRRStep{Effective: d, MRR: m}), m
		}
	}
	return steps
}

// mrrChangeDates returns the dates where s's MRR may change, sorted and
// distinct.
func mrrChangeDates(s *domain.Subscription) []domain.Date {
	dates := []domain.Date{s.StartDate}
	for _, it := range s.Items {
		dates = append(dates, it.EffectiveFrom)
		if !it.EffectiveTo.IsZero() {
			dates = append(dates, it.EffectiveTo)
		}
		for _, q := range it.Quantities {
			dates = append(dates, q.From)
		}
	}
	if end := s.EndDate(); !end.IsZero() {
		dates = append(dates, end)
	}
	slices.SortFunc(dates, domain.Date.Compare)
	return slices.Compact(dates)
}
