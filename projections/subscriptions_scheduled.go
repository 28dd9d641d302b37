package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"ledger/domain"
	"ledger/eventstore"
)

// The scheduled changes of the subscriptions read model: the rows of
// {sched} are domain.Subscription.Scheduled, the amendments made ahead of
// their effective date since the last one that was not, and {priors}
// keeps, for each item whose quantity one of them changes, the quantity
// the item had from that date before it (NULL: none began then), so that
// a withdrawal can put back what the change replaced.
const subsScheduledDDL = `
CREATE TABLE {sched} (
    subscription_id uuid   NOT NULL,
    change_id       uuid   NOT NULL,
    tenant_id       uuid   NOT NULL,
    version         bigint NOT NULL,
    effective_date  date   NOT NULL,
    changes         jsonb  NOT NULL,
    created_by      jsonb  NOT NULL,
    PRIMARY KEY (subscription_id, change_id)
);
CREATE TABLE {priors} (
    subscription_id uuid    NOT NULL,
    change_id       uuid    NOT NULL,
    item_id         uuid    NOT NULL,
    quantity        integer,
    PRIMARY KEY (subscription_id, change_id, item_id)
)`

// ScheduledChangeView is a change scheduled to take effect after the
// view's date, as its amendment made it.
type ScheduledChangeView struct {
	ID            uuid.UUID    `json:"id"`
	EffectiveDate domain.Date  `json:"effective_date"`
	Changes       []ChangeView `json:"changes"`
	CreatedBy     AuditActor   `json:"created_by"`
}

// ChangeView is one change of a scheduled change: add_item with the new
// item's id, product, charge, quantity and unit price; remove_item with
// the item's id; change_quantity with the item's id and new quantity.
type ChangeView struct {
	Type      domain.ChangeType `json:"type"`
	ItemID    uuid.UUID         `json:"item_id"`
	ProductID *uuid.UUID        `json:"product_id,omitempty"`
	ChargeID  *uuid.UUID        `json:"charge_id,omitempty"`
	Quantity  *int              `json:"quantity,omitempty"`
	UnitPrice *string           `json:"unit_price,omitempty"`
}

// scheduledViewOf is scheduled change c of a subscription in currency cur.
func scheduledViewOf(cur domain.Currency, c domain.ScheduledChange) (ScheduledChangeView, error) {
	v := ScheduledChangeView{ID: c.ID, EffectiveDate: c.EffectiveDate, Changes: make([]ChangeView, len(c.Changes)),
		CreatedBy: viewActor(c.CreatedBy)}
	for i, ch := range c.Changes {
		cv := ChangeView{Type: ch.Type, ItemID: ch.ItemID}
		switch {
		case ch.Type == domain.ChangeAddItem && ch.Item != nil:
			price, err := subsPresentPrice(cur, ch.Item.UnitPrice.String())
			if err != nil {
				return v, err
			}
			product, charge, q := ch.Item.ProductID, ch.Item.ChargeID, ch.Item.Quantity
			cv.ItemID, cv.ProductID, cv.ChargeID, cv.Quantity, cv.UnitPrice = ch.Item.ID, &product, &charge, &q, &price
		case ch.Type == domain.ChangeQuantity:
			q := ch.Quantity
			cv.Quantity = &q
		}
		v.Changes[i] = cv
	}
	return v, nil
}

// subsSched is what a batch does to the scheduled changes of one
// subscription: clear those of earlier batches, then add pending.
type subsSched struct {
	cleared bool
	pending []*subsSchedRow
}

// subsSchedRow is a scheduled change being inserted, with the prior
// quantities of the items it changes.
type subsSchedRow struct {
	sub, change uuid.UUID
	version     int64
	eff         domain.Date
	changes     []domain.Change
	by          domain.Actor
	priors      []subsPrior
}

// subsPrior is an item's quantity from a scheduled change's date before
// it: known (null or qty) when the batch set it or added the item, else
// read from {qty} as the batch's statements begin.
type subsPrior struct {
	item        uuid.UUID
	known, null bool
	qty         int
}

// schedule folds amendment ev, before its changes, into the batch's
// scheduled changes: one made ahead of its date is added with the prior
// quantities of the items it changes; any other settles those before it.
func (b *subsBatch) schedule(e eventstore.Event, ev *domain.SubscriptionAmended) {
	ss := b.sched[ev.SubscriptionID]
	if ss == nil {
		ss = &subsSched{}
		b.sched[ev.SubscriptionID] = ss
	}
	if !ev.EffectiveDate.After(domain.DateOf(ev.AmendedAt)) {
		ss.cleared, ss.pending = true, nil
		return
	}
	r := &subsSchedRow{sub: ev.SubscriptionID, change: domain.ScheduledChangeID(ev.SubscriptionID, e.Version),
		version: int64(e.Version), eff: ev.EffectiveDate, changes: ev.Changes, by: ev.AmendedBy}
	seen := map[uuid.UUID]bool{}
	for _, c := range ev.Changes {
		if c.Type != domain.ChangeQuantity || seen[c.ItemID] {
			continue
		}
		seen[c.ItemID] = true
		p := subsPrior{item: c.ItemID}
		key := subsItemKey{ev.SubscriptionID, c.ItemID}
		if q, ok := b.qty[subsQtyKey{key, ev.EffectiveDate}]; ok {
			p.known, p.qty = true, q
		} else if b.items[key] != nil {
			p.known, p.null = true, true
		}
		r.priors = append(r.priors, p)
	}
	ss.pending = append(ss.pending, r)
}

// queueScheduled queues the statements of the batch's scheduled changes:
// they must run before those that write {qty}, whose rows the prior
// quantities read.
func (b *subsBatch) queueScheduled(pb *pgx.Batch, t subsTableNames) {
	var cleared [][16]byte
	var rows []*subsSchedRow
	for id, ss := range b.sched {
		if ss.cleared {
			cleared = append(cleared, id)
		}
		rows = append(rows, ss.pending...)
	}
	if len(cleared) > 0 {
		pb.Queue(t.expand(`DELETE FROM {sched} WHERE subscription_id = ANY($1::uuid[])`), cleared)
		pb.Queue(t.expand(`DELETE FROM {priors} WHERE subscription_id = ANY($1::uuid[])`), cleared)
	}
	if len(rows) == 0 {
		return
	}
	n := len(rows)
	subs, changes, versions, effs := make([][16]byte, n), make([][16]byte, n), make([]int64, n), make([]pgtype.Date, n)
	data, actors := make([]string, n), make([]string, n)
	var pSubs, pChanges, pItems [][16]byte
	var pFrom []pgtype.Date
	var pKnown []bool
	var pQty []pgtype.Int4
	for i, r := range rows {
		raw, _ := json.Marshal(r.changes) // changes decoded from JSON always encode
		subs[i], changes[i], versions[i], effs[i] = r.sub, r.change, r.version, subsDate(r.eff)
		data[i], actors[i] = string(raw), subsActorJSON(r.by)
		for _, p := range r.priors {
			pSubs, pChanges, pItems = append(pSubs, r.sub), append(pChanges, r.change), append(pItems, p.item)
			pFrom, pKnown = append(pFrom, subsDate(r.eff)), append(pKnown, p.known)
			pQty = append(pQty, pgtype.Int4{Int32: int32(p.qty), Valid: p.known && !p.null})
		}
	}
	pb.Queue(t.expand(`INSERT INTO {sched} (subscription_id, change_id, tenant_id, version, effective_date, changes, created_by)
SELECT u.sub, u.change, s.tenant_id, u.version, u.eff, u.changes::jsonb, u.by::jsonb
FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::date[], $5::text[], $6::text[]) AS u(sub, change, version, eff, changes, by)
JOIN {subs} s ON s.subscription_id = u.sub`),
		subs, changes, versions, effs, data, actors).Exec(subsExpect("insert scheduled changes", n))
	if len(pSubs) == 0 {
		return
	}
	pb.Queue(t.expand(`INSERT INTO {priors} (subscription_id, change_id, item_id, quantity)
SELECT u.sub, u.change, u.item, CASE WHEN u.known THEN u.qty ELSE (SELECT q.quantity FROM {qty} q
    WHERE q.subscription_id = u.sub AND q.item_id = u.item AND q.from_date = u.from_date) END
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::date[], $5::bool[], $6::int[]) AS u(sub, change, item, from_date, known, qty)`),
		pSubs, pChanges, pItems, pFrom, pKnown, pQty).Exec(subsExpect("insert prior quantities", len(pSubs)))
}

// send writes the batch's net effect in one round trip: all of it, or,
// before a withdrawal, what the events before it do.
func (b *subsBatch) send(ctx context.Context, tx pgx.Tx, t subsTableNames) error {
	var pb pgx.Batch
	b.queue(&pb, t)
	if pb.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, &pb).Close()
}

// withdrawScheduled applies a ScheduledChangeWithdrawn event, after every
// earlier event of the batch is written: it undoes the change's removals
// and additions, and puts back the quantities it replaced, or hands them
// to the next scheduled change of the same item and date, which replaced
// them in turn.
func withdrawScheduled(ctx context.Context, tx pgx.Tx, t subsTableNames, e eventstore.Event) error {
	decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
	if err != nil {
		return fmt.Errorf("subscriptions: decode event at position %d: %w", e.Position, err)
	}
	ev := decoded.(*domain.ScheduledChangeWithdrawn)
	var version int64
	var changes []domain.Change
	err = tx.QueryRow(ctx, t.expand(`DELETE FROM {sched} WHERE subscription_id = $1 AND change_id = $2 RETURNING version, changes`),
		ev.SubscriptionID, ev.ChangeID).Scan(&version, &changes)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("subscriptions: event at position %d withdraws %s, which is no scheduled change of %s",
			e.Position, ev.ChangeID, ev.SubscriptionID)
	}
	if err != nil {
		return fmt.Errorf("subscriptions: withdraw %s: %w", ev.ChangeID, err)
	}
	rows, err := tx.Query(ctx, t.expand(`DELETE FROM {priors} WHERE subscription_id = $1 AND change_id = $2 RETURNING item_id, quantity`),
		ev.SubscriptionID, ev.ChangeID)
	if err != nil {
		return fmt.Errorf("subscriptions: withdraw %s: %w", ev.ChangeID, err)
	}
	priors, err := pgx.CollectRows(rows, pgx.RowToStructByPos[subsPriorRow])
	if err != nil {
		return fmt.Errorf("subscriptions: withdraw %s: %w", ev.ChangeID, err)
	}
	var pb pgx.Batch
	queueUndo(&pb, t, ev, changes)
	for _, p := range priors {
		queueRestore(&pb, t, ev, version, p)
	}
	pb.Queue(t.expand(`UPDATE {subs} SET version = $2, position = $3, updated_at = $4 WHERE subscription_id = $1`),
		ev.SubscriptionID, int64(e.Version), int64(e.Position), ev.WithdrawnAt).Exec(subsExpect("withdrawn subscription", 1))
	return tx.SendBatch(ctx, &pb).Close()
}

// subsPriorRow is a row of {priors} of a withdrawn change.
type subsPriorRow struct {
	Item     uuid.UUID
	Quantity *int32
}

// queueUndo queues what undoes the additions and removals of changes.
func queueUndo(pb *pgx.Batch, t subsTableNames, ev *domain.ScheduledChangeWithdrawn, changes []domain.Change) {
	for _, c := range changes {
		switch {
		case c.Type == domain.ChangeAddItem && c.Item != nil:
			pb.Queue(t.expand(`DELETE FROM {qty} WHERE subscription_id = $1 AND item_id = $2`), ev.SubscriptionID, c.Item.ID)
			pb.Queue(t.expand(`DELETE FROM {items} WHERE subscription_id = $1 AND item_id = $2`),
				ev.SubscriptionID, c.Item.ID).Exec(subsExpect("withdrawn item", 1))
		case c.Type == domain.ChangeRemoveItem:
			pb.Queue(t.expand(`UPDATE {items} SET effective_to = NULL WHERE subscription_id = $1 AND item_id = $2`),
				ev.SubscriptionID, c.ItemID).Exec(subsExpect("item restored", 1))
		}
	}
}

// queueRestore queues what puts back item p.Item's quantity from the
// withdrawn change's date, p.Quantity, unless a later scheduled change
// of the same date replaced it too: that one's prior becomes p.Quantity.
// Then the item's latest quantity is that of its latest-dated change.
func queueRestore(pb *pgx.Batch, t subsTableNames, ev *domain.ScheduledChangeWithdrawn, version int64, p subsPriorRow) {
	const passed = `WITH next AS (
    SELECT p.change_id FROM {priors} p JOIN {sched} c USING (subscription_id, change_id)
    WHERE p.subscription_id = $1 AND p.item_id = $2 AND c.effective_date = $3 AND c.version > $4
    ORDER BY c.version LIMIT 1),
passed AS (
    UPDATE {priors} p SET quantity = $5 FROM next
    WHERE p.subscription_id = $1 AND p.item_id = $2 AND p.change_id = next.change_id RETURNING 1)
`
	restore := `INSERT INTO {qty} (subscription_id, item_id, from_date, quantity)
SELECT $1, $2, $3, $5::int WHERE NOT EXISTS (SELECT 1 FROM passed)
ON CONFLICT (subscription_id, item_id, from_date) DO UPDATE SET quantity = EXCLUDED.quantity`
	if p.Quantity == nil {
		restore = `DELETE FROM {qty} WHERE subscription_id = $1 AND item_id = $2 AND from_date = $3
    AND NOT EXISTS (SELECT 1 FROM passed)`
	}
	pb.Queue(t.expand(passed+restore), ev.SubscriptionID, p.Item, subsDate(ev.EffectiveDate), version, p.Quantity)
	pb.Queue(t.expand(subsLatestQuantitySQL+`
WHERE i.subscription_id = $1 AND i.item_id = $2`), ev.SubscriptionID, p.Item).Exec(subsExpect("item quantity restored", 1))
}

// subsScheduledSQL reads the scheduled changes of subscriptions $3 that
// take effect after $2, oldest first.
const subsScheduledSQL = `SELECT c.subscription_id, c.change_id, c.effective_date, c.changes, c.created_by
FROM {sched} c
WHERE c.tenant_id = $1 AND c.subscription_id = ANY($3) AND c.effective_date > $2::date
ORDER BY c.subscription_id, c.version`

// subsLoadScheduled reads the scheduled changes of views, in one query.
func subsLoadScheduled(ctx context.Context, db Querier, tenant uuid.UUID, today domain.Date, views []SubscriptionView) error {
	if len(views) == 0 {
		return nil
	}
	ids, at := subsIndex(views)
	rows, err := db.Query(ctx, subsTables(LiveSchema).expand(subsScheduledSQL), tenant, subsDate(today), ids)
	if err != nil {
		return fmt.Errorf("query scheduled changes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sub uuid.UUID
		var c domain.ScheduledChange
		var eff time.Time
		if err := rows.Scan(&sub, &c.ID, &eff, &c.Changes, &c.CreatedBy); err != nil {
			return fmt.Errorf("scan scheduled change: %w", err)
		}
		c.EffectiveDate = domain.DateOf(eff)
		v := at[sub]
		sv, err := scheduledViewOf(v.Currency, c)
		if err != nil {
			return err
		}
		v.ScheduledChanges = append(v.ScheduledChanges, sv)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query scheduled changes: %w", err)
	}
	return nil
}
