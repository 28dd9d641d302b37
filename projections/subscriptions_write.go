package projections

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"ledger/domain"
)

// queue queues the statements that apply the batch: at most one per kind
// of change. Ids go as [16]byte, which pgx encodes directly (a uuid.UUID
// takes a slow path through driver.Valuer). Each checks the rows it touched, so that an event whose
// subscription or item is missing fails the batch rather than vanish.
func (b *subsBatch) queue(pb *pgx.Batch, t subsTableNames) {
	b.queueNames(pb, t)
	if len(b.subOrder) > 0 {
		b.queueInserts(pb, t)
	}
	if len(b.updated) > 0 {
		b.queueUpdates(pb, t)
		b.queueEndDates(pb, t)
	}
	b.queueScheduled(pb, t)
	if len(b.itemOrder) > 0 {
		b.queueItems(pb, t)
	}
	if len(b.qtyOrder) > 0 {
		b.queueQuantities(pb, t)
		b.queueLatestQuantities(pb, t)
	}
	if len(b.removed) > 0 {
		b.queueRemovals(pb, t)
	}
}

// subsExpect returns a check that a statement touched want rows.
func subsExpect(what string, want int) func(pgconn.CommandTag) error {
	return func(tag pgconn.CommandTag) error {
		if got := tag.RowsAffected(); got != int64(want) {
			return fmt.Errorf("subscriptions: %s: %d rows of %d", what, got, want)
		}
		return nil
	}
}

func (b *subsBatch) queueNames(pb *pgx.Batch, t subsTableNames) {
	if n := len(b.products); n > 0 {
		ids, tenants, names := make([][16]byte, n), make([][16]byte, n), make([]string, n)
		for i, p := range b.products {
			ids[i], tenants[i], names[i] = p.ProductID, p.TenantID, p.Name
		}
		pb.Queue(t.expand(`INSERT INTO {products} (product_id, tenant_id, name)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[]) ON CONFLICT DO NOTHING`), ids, tenants, names)
	}
	if n := len(b.partners); n > 0 {
		ids, names := make([][16]byte, n), make([]string, n)
		for i, p := range b.partners {
			ids[i], names[i] = p.PartnerID, p.Name
		}
		pb.Queue(t.expand(`INSERT INTO {partners} (partner_id, name)
SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING`), ids, names)
	}
}

func (b *subsBatch) queueInserts(pb *pgx.Batch, t subsTableNames) {
	n := len(b.subOrder)
	ids, tenants, accounts := make([][16]byte, n), make([][16]byte, n), make([][16]byte, n)
	currencies, termTypes, policies, reasons := make([]string, n), make([]string, n), make([]*string, n), make([]*string, n)
	starts, ends, cancels := make([]pgtype.Date, n), make([]pgtype.Date, n), make([]pgtype.Date, n)
	months, renewed, renew, ended := make([]int32, n), make([]int32, n), make([]bool, n), make([]bool, n)
	versions, positions := make([]int64, n), make([]int64, n)
	actors, partners := make([]string, n), make([]pgtype.UUID, n)
	createdAt, updatedAt := make([]time.Time, n), make([]time.Time, n)
	for i, r := range b.subOrder {
		ids[i], tenants[i], accounts[i], currencies[i] = r.id, r.tenant, r.account, string(r.currency)
		starts[i], ends[i], cancels[i] = subsDate(r.start), subsDate(r.end), subsDate(r.cancelDate)
		termTypes[i], months[i], renew[i] = string(r.term.Type), int32(r.term.Months), r.term.AutoRenew
		renewed[i], ended[i] = int32(r.termsRenewed), r.termEnded
		policies[i], reasons[i] = subsText(r.policy), subsText(r.reason)
		versions[i], positions[i] = r.version, r.position
		partner := subsActorPartner(r.createdBy)
		actors[i], partners[i] = subsActorJSON(r.createdBy), pgtype.UUID{Bytes: partner, Valid: partner != uuid.Nil}
		createdAt[i], updatedAt[i] = r.createdAt, r.updated
	}
	pb.Queue(t.expand(`INSERT INTO {subs} (subscription_id, tenant_id, account_id, currency, start_date, term_type,
    term_months, auto_renew, end_date, cancel_date, cancel_policy, cancel_reason, terms_renewed, term_ended,
    version, created_by, created_by_partner, created_at, updated_at, position)
SELECT id, tenant, account, currency, start_date, term_type, term_months, auto_renew, end_date, cancel_date,
    policy, reason, renewed, ended, version, created_by::jsonb, partner, created_at, updated_at, position
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::date[], $6::text[], $7::int[], $8::bool[],
    $9::date[], $10::date[], $11::text[], $12::text[], $13::bigint[], $14::text[], $15::uuid[],
    $16::timestamptz[], $17::timestamptz[], $18::bigint[], $19::int[], $20::bool[])
    AS u(id, tenant, account, currency, start_date, term_type, term_months, auto_renew, end_date, cancel_date,
    policy, reason, version, created_by, partner, created_at, updated_at, position, renewed, ended)`),
		ids, tenants, accounts, currencies, starts, termTypes, months, renew, ends, cancels,
		policies, reasons, versions, actors, partners, createdAt, updatedAt, positions, renewed, ended).Exec(subsExpect("insert subscriptions", n))
}

// subsActorPartner is the partner whose user acted, or uuid.Nil, as
// domain.Subscription.CreatedByPartner.
func subsActorPartner(a domain.Actor) uuid.UUID {
	if a.Type != domain.ActorPartnerUser {
		return uuid.Nil
	}
	return a.PartnerID
}

func (b *subsBatch) queueUpdates(pb *pgx.Batch, t subsTableNames) {
	n := len(b.updated)
	ids, versions, positions := make([][16]byte, 0, n), make([]int64, 0, n), make([]int64, 0, n)
	updatedAt, cancelled, cancels := make([]time.Time, 0, n), make([]bool, 0, n), make([]pgtype.Date, 0, n)
	policies, reasons := make([]*string, 0, n), make([]*string, 0, n)
	renewedSet, renewed, ended := make([]bool, 0, n), make([]int32, 0, n), make([]bool, 0, n)
	for _, r := range b.updated {
		renewedSet, renewed, ended = append(renewedSet, r.renewed), append(renewed, int32(r.termsRenewed)), append(ended, r.termEnded)
		ids, versions, positions = append(ids, r.id), append(versions, r.version), append(positions, r.position)
		updatedAt, cancelled = append(updatedAt, r.updated), append(cancelled, r.cancelled)
		cancels = append(cancels, subsDate(r.cancelDate))
		policies, reasons = append(policies, subsText(r.policy)), append(reasons, subsText(r.reason))
	}
	pb.Queue(t.expand(`UPDATE {subs} s SET version = u.version, position = u.position, updated_at = u.updated_at,
    cancel_date   = CASE WHEN u.cancelled THEN u.cancel_date ELSE s.cancel_date END,
    end_date      = CASE WHEN u.cancelled THEN u.cancel_date ELSE s.end_date END,
    cancel_policy = CASE WHEN u.cancelled THEN u.policy ELSE s.cancel_policy END,
    cancel_reason = CASE WHEN u.cancelled THEN u.reason ELSE s.cancel_reason END,
    terms_renewed = CASE WHEN u.renewed THEN u.terms_renewed ELSE s.terms_renewed END,
    term_ended    = s.term_ended OR u.term_ended
FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::bool[], $6::date[], $7::text[], $8::text[],
    $9::bool[], $10::int[], $11::bool[])
    AS u(id, version, position, updated_at, cancelled, cancel_date, policy, reason, renewed, terms_renewed, term_ended)
WHERE s.subscription_id = u.id`),
		ids, versions, positions, updatedAt, cancelled, cancels, policies, reasons, renewedSet, renewed, ended).Exec(subsExpect("update subscriptions", n))
}

// queueEndDates gives the items of the subscriptions the batch cancelled
// their subscription's end date, its cancel date (as queueUpdates). It
// reads no other table and finds the items by the first column of their
// key (= ANY): joined to the subscriptions or to a list of ids, the
// planner took, on a table being loaded and not yet analyzed, a whole
// scan of the other side for each batch.
func (b *subsBatch) queueEndDates(pb *pgx.Batch, t subsTableNames) {
	var ids [][16]byte
	var ends []pgtype.Date
	for _, r := range b.updated {
		if r.cancelled {
			ids, ends = append(ids, r.id), append(ends, subsDate(r.cancelDate))
		}
	}
	if len(ids) == 0 {
		return
	}
	pb.Queue(t.expand(`UPDATE {items} SET subscription_end_date = ($2::date[])[array_position($1::uuid[], subscription_id)]
WHERE subscription_id = ANY($1::uuid[])`), ids, ends)
}

// queueItems queues the insert of the batch's new items, each with the
// quantity it was added with, from its effective date: every one has a
// row in the quantity history too, so queueLatestQuantities then sets it
// to its latest-dated quantity. An item takes its subscription's
// currency, account, partner and end date from the subscription's row,
// written or updated by the statements queued before.
func (b *subsBatch) queueItems(pb *pgx.Batch, t subsTableNames) {
	n := len(b.itemOrder)
	subs, items, products, charges := make([][16]byte, n), make([][16]byte, n), make([][16]byte, n), make([][16]byte, n)
	positions, indexes, quantities, months := make([]int64, n), make([]int32, n), make([]int32, n), make([]int32, n)
	names, types, prices, periods, units := make([]string, n), make([]string, n), make([]string, n), make([]*string, n), make([]*string, n)
	froms, tos := make([]pgtype.Date, n), make([]pgtype.Date, n)
	for i, it := range b.itemOrder {
		s := it.spec
		subs[i], items[i], products[i], charges[i] = it.sub, s.ID, s.ProductID, s.ChargeID
		positions[i], indexes[i], quantities[i] = it.pos, int32(it.index), int32(s.Quantity)
		months[i], names[i], types[i], prices[i] = int32(s.BillingPeriod.Months()), s.Name, string(s.Type), s.UnitPrice.String()
		periods[i], units[i] = subsText(string(s.BillingPeriod)), subsText(s.Unit)
		froms[i], tos[i] = subsDate(it.from), subsDate(it.to)
	}
	pb.Queue(t.expand(`INSERT INTO {items} (subscription_id, item_id, tenant_id, added_position, added_index, product_id,
    charge_id, name, type, quantity, quantity_from, unit_price, billing_period, period_months, unit, effective_from,
    effective_to, currency, account_id, created_by_partner, subscription_end_date)
SELECT u.sub, u.item, s.tenant_id, u.pos, u.idx, u.product, u.charge, u.name, u.type, u.quantity, u.from_date, u.price::numeric,
    u.period, u.months, u.unit, u.from_date, u.to_date, s.currency, s.account_id, s.created_by_partner, s.end_date
FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::int[], $5::uuid[], $6::uuid[], $7::text[], $8::text[],
    $9::int[], $10::text[], $11::text[], $12::int[], $13::text[], $14::date[], $15::date[])
    AS u(sub, item, pos, idx, product, charge, name, type, quantity, price, period, months, unit, from_date, to_date)
JOIN {subs} s ON s.subscription_id = u.sub`),
		subs, items, positions, indexes, products, charges, names, types, quantities, prices, periods, months, units,
		froms, tos).Exec(subsExpect("insert items", n))
}

func (b *subsBatch) queueQuantities(pb *pgx.Batch, t subsTableNames) {
	n := len(b.qtyOrder)
	subs, items, froms, quantities := make([][16]byte, n), make([][16]byte, n), make([]pgtype.Date, n), make([]int32, n)
	for i, k := range b.qtyOrder {
		subs[i], items[i], froms[i], quantities[i] = k.sub, k.item, subsDate(k.from), int32(b.qty[k])
	}
	pb.Queue(t.expand(`INSERT INTO {qty} (subscription_id, item_id, from_date, quantity)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::date[], $4::int[])
ON CONFLICT (subscription_id, item_id, from_date) DO UPDATE SET quantity = EXCLUDED.quantity`),
		subs, items, froms, quantities).Exec(subsExpect("item quantities", n))
}

func (b *subsBatch) queueRemovals(pb *pgx.Batch, t subsTableNames) {
	n := len(b.removed)
	subs, items, tos := make([][16]byte, 0, n), make([][16]byte, 0, n), make([]pgtype.Date, 0, n)
	for k, d := range b.removed {
		subs, items, tos = append(subs, k.sub), append(items, k.item), append(tos, subsDate(d))
	}
	pb.Queue(t.expand(`UPDATE {items} i SET effective_to = u.to_date
FROM unnest($1::uuid[], $2::uuid[], $3::date[]) AS u(sub, item, to_date)
WHERE i.subscription_id = u.sub AND i.item_id = u.item`), subs, items, tos).Exec(subsExpect("remove items", n))
}

// subsLatestQuantitySQL sets items i to the quantity of their
// latest-dated quantity, and its date.
const subsLatestQuantitySQL = `UPDATE {items} i SET (quantity, quantity_from) = (SELECT q.quantity, q.from_date
    FROM {qty} q WHERE q.subscription_id = i.subscription_id AND q.item_id = i.item_id
    ORDER BY q.from_date DESC LIMIT 1)`

// queueLatestQuantities sets every item whose quantity history the batch
// wrote to its latest-dated quantity (after queueQuantities): a change
// dated before one already scheduled does not replace it as the latest.
func (b *subsBatch) queueLatestQuantities(pb *pgx.Batch, t subsTableNames) {
	seen := make(map[subsItemKey]bool, len(b.qtyOrder))
	var subs, items [][16]byte
	for _, k := range b.qtyOrder {
		if !seen[k.subsItemKey] {
			seen[k.subsItemKey] = true
			subs, items = append(subs, k.sub), append(items, k.item)
		}
	}
	pb.Queue(t.expand(subsLatestQuantitySQL+`
FROM unnest($1::uuid[], $2::uuid[]) AS u(sub, item) WHERE i.subscription_id = u.sub AND i.item_id = u.item`),
		subs, items).Exec(subsExpect("latest item quantities", len(subs)))
}
