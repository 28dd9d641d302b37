package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"ledger/domain"
	"ledger/eventstore"
)

// Subscriptions is the read model of subscriptions: one row per
// subscription, one per item (removed items too, with their effective
// dates), each item's quantity history, and the scheduled changes that can
// still be withdrawn (subscriptions_scheduled.go), so that status, the
// items in effect and MRR can be read in SQL on any date. It also keeps the names
// of products and partners, which the MRR report groups by.
//
// Nothing date-dependent is stored: end_date is the first day the
// subscription is no longer in force (its cancel date, else the end of a
// term that does not renew), a fact of its events, and status is worked
// out from it at query time.
type Subscriptions struct{}

// Name implements Projection.
func (Subscriptions) Name() string { return "subscriptions" }

// Tables implements Projection.
func (Subscriptions) Tables() []string {
	return []string{"subscriptions", "subscription_items", "subscription_item_quantities",
		"subscription_products", "subscription_partners", "subscription_scheduled_changes",
		"subscription_scheduled_quantities"}
}

// Create implements Projection.
func (Subscriptions) Create(ctx context.Context, tx pgx.Tx, schema string) error {
	t := subsTables(schema)
	_, err := tx.Exec(ctx, t.expand(`
CREATE TABLE {subs} (
    subscription_id    uuid        PRIMARY KEY,
    tenant_id          uuid        NOT NULL,
    account_id         uuid        NOT NULL,
    currency           text        NOT NULL,
    start_date         date        NOT NULL,
    term_type          text        NOT NULL,
    term_months        integer     NOT NULL,
    auto_renew         boolean     NOT NULL,
    end_date           date,
    cancel_date        date,
    cancel_policy      text,
    cancel_reason      text,
    version            bigint      NOT NULL,
    created_by         jsonb       NOT NULL,
    created_by_partner uuid,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    position           bigint      NOT NULL
);
CREATE INDEX ON {subs} (tenant_id, subscription_id);
CREATE INDEX ON {subs} (tenant_id, account_id, subscription_id);
CREATE TABLE {items} (
    subscription_id uuid    NOT NULL,
    item_id         uuid    NOT NULL,
    tenant_id       uuid    NOT NULL,
    added_position  bigint  NOT NULL,
    added_index     integer NOT NULL,
    product_id      uuid    NOT NULL,
    charge_id       uuid    NOT NULL,
    name            text    NOT NULL,
    type            text    NOT NULL,
    quantity        integer NOT NULL,
    unit_price      numeric NOT NULL,
    billing_period  text,
    period_months   integer NOT NULL,
    unit            text,
    effective_from  date    NOT NULL,
    effective_to    date,
    PRIMARY KEY (subscription_id, item_id)
);
CREATE TABLE {qty} (
    subscription_id uuid    NOT NULL,
    item_id         uuid    NOT NULL,
    from_date       date    NOT NULL,
    quantity        integer NOT NULL,
    PRIMARY KEY (subscription_id, item_id, from_date)
);
CREATE TABLE {products} (
    tenant_id  uuid NOT NULL,
    product_id uuid NOT NULL,
    name       text NOT NULL,
    PRIMARY KEY (tenant_id, product_id)
);
CREATE TABLE {partners} (
    partner_id uuid PRIMARY KEY,
    name       text NOT NULL
)`))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, t.expand(subsScheduledDDL))
	return err
}

// subsTableNames are the schema-qualified tables of the subscriptions
// read model, and the accounts table that scopes it.
type subsTableNames struct {
	subs, items, qty, products, partners, accounts, sched, priors string
}

func subsTables(schema string) subsTableNames {
	return subsTableNames{
		subs: table(schema, "subscriptions"), items: table(schema, "subscription_items"),
		qty: table(schema, "subscription_item_quantities"), products: table(schema, "subscription_products"),
		partners: table(schema, "subscription_partners"), accounts: table(schema, "accounts"),
		sched: table(schema, "subscription_scheduled_changes"), priors: table(schema, "subscription_scheduled_quantities"),
	}
}

// expand replaces {subs}, {items}, {qty}, {products}, {partners},
// {accounts}, {sched} and {priors} in sql with the tables' names.
func (t subsTableNames) expand(sql string) string {
	return strings.NewReplacer("{subs}", t.subs, "{items}", t.items, "{qty}", t.qty,
		"{products}", t.products, "{partners}", t.partners, "{accounts}", t.accounts,
		"{sched}", t.sched, "{priors}", t.priors).Replace(sql)
}

// Apply implements Projection. It folds the batch into a few set-based
// statements (see subsBatch), sent in one round trip; a withdrawal of a
// scheduled change, rare, is applied on its own once the events before it
// are written.
func (Subscriptions) Apply(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error {
	t := subsTables(schema)
	b := newSubsBatch()
	for _, e := range batch {
		if e.Type == "ScheduledChangeWithdrawn" {
			if err := b.send(ctx, tx, t); err != nil {
				return err
			}
			if err := withdrawScheduled(ctx, tx, t, e); err != nil {
				return err
			}
			b = newSubsBatch()
			continue
		}
		if err := b.add(e); err != nil {
			return err
		}
	}
	return b.send(ctx, tx, t)
}

// subsRow is a subscription row being inserted, or the changes to one
// that exists (cancelled tells whether the cancel columns change).
type subsRow struct {
	id, tenant, account uuid.UUID
	currency            domain.Currency
	start, end          domain.Date
	term                domain.Term
	cancelled           bool
	cancelDate          domain.Date
	policy, reason      string
	version, position   int64
	createdBy           domain.Actor
	createdAt, updated  time.Time
}

// subsItemRow is an item row being inserted.
type subsItemRow struct {
	sub       uuid.UUID
	pos       int64
	index     int
	spec      domain.ItemSpec
	from, to  domain.Date
	latestQty int
}

type subsItemKey struct{ sub, item uuid.UUID }

type subsQtyKey struct {
	subsItemKey
	from domain.Date
}

// subsBatch is the net effect of a batch of events on the tables: rows to
// insert (with every later change of the same batch folded in) and
// changes to rows of earlier batches. Within a subscription, events come
// in version order; the statements that apply the net effect touch
// disjoint rows or commute, so their order is free but for inserts before
// the updates that read them.
type subsBatch struct {
	created, updated map[uuid.UUID]*subsRow
	subOrder         []*subsRow // created, in order
	items            map[subsItemKey]*subsItemRow
	itemOrder        []*subsItemRow
	removed          map[subsItemKey]domain.Date // items of earlier batches
	requantified     map[subsItemKey]int         // items of earlier batches
	qty              map[subsQtyKey]int
	qtyOrder         []subsQtyKey
	products         []*domain.ProductCreated
	partners         []*domain.PartnerCreated
	sched            map[uuid.UUID]*subsSched
}

func newSubsBatch() *subsBatch {
	return &subsBatch{
		created: map[uuid.UUID]*subsRow{}, updated: map[uuid.UUID]*subsRow{},
		items: map[subsItemKey]*subsItemRow{}, removed: map[subsItemKey]domain.Date{},
		requantified: map[subsItemKey]int{}, qty: map[subsQtyKey]int{}, sched: map[uuid.UUID]*subsSched{},
	}
}

// add folds one event into the batch.
func (b *subsBatch) add(e eventstore.Event) error {
	switch e.Type {
	case "SubscriptionCreated", "SubscriptionAmended", "SubscriptionCancelled", "ProductCreated", "PartnerCreated":
	default:
		return nil
	}
	decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
	if err != nil {
		return fmt.Errorf("subscriptions: decode event at position %d: %w", e.Position, err)
	}
	switch ev := decoded.(type) {
	case *domain.SubscriptionCreated:
		b.create(e, ev)
	case *domain.SubscriptionAmended:
		row := b.touch(ev.SubscriptionID, e, ev.AmendedAt)
		b.schedule(e, ev)
		for i, c := range ev.Changes {
			b.change(row.id, int64(e.Position), i, c, ev.EffectiveDate)
		}
	case *domain.SubscriptionCancelled:
		row := b.touch(ev.SubscriptionID, e, ev.CancelledAt)
		row.cancelled, row.cancelDate, row.end = true, ev.CancelDate, ev.CancelDate
		row.policy, row.reason = string(ev.Policy), ev.Reason
	case *domain.ProductCreated:
		b.products = append(b.products, ev)
	case *domain.PartnerCreated:
		b.partners = append(b.partners, ev)
	}
	return nil
}

func (b *subsBatch) create(e eventstore.Event, ev *domain.SubscriptionCreated) {
	row := &subsRow{
		id: ev.SubscriptionID, tenant: ev.TenantID, account: ev.AccountID, currency: ev.Currency,
		start: ev.StartDate, term: ev.Term, version: int64(e.Version), position: int64(e.Position),
		createdBy: ev.CreatedBy, createdAt: ev.CreatedAt, updated: ev.CreatedAt,
	}
	if ev.Term.Type == domain.TermTermed && !ev.Term.AutoRenew && ev.Term.Months > 0 {
		row.end = ev.StartDate.AddMonths(ev.Term.Months)
	}
	b.created[row.id] = row
	b.subOrder = append(b.subOrder, row)
	for i, spec := range ev.Items {
		b.addItem(row.id, int64(e.Position), i, spec, ev.StartDate)
	}
}

// touch returns the row that a later event of subscription id changes,
// with its version, position and update time moved on.
func (b *subsBatch) touch(id uuid.UUID, e eventstore.Event, at time.Time) *subsRow {
	row := b.created[id]
	if row == nil {
		if row = b.updated[id]; row == nil {
			row = &subsRow{id: id}
			b.updated[id] = row
		}
	}
	row.version, row.position, row.updated = int64(e.Version), int64(e.Position), at
	return row
}

func (b *subsBatch) addItem(sub uuid.UUID, pos int64, index int, spec domain.ItemSpec, from domain.Date) {
	it := &subsItemRow{sub: sub, pos: pos, index: index, spec: spec, from: from, latestQty: spec.Quantity}
	key := subsItemKey{sub, spec.ID}
	b.items[key] = it
	b.itemOrder = append(b.itemOrder, it)
	b.setQty(key, from, spec.Quantity)
}

// setQty records an item's quantity from date d on; a later change on
// the same date replaces it, as in domain.Subscription.
func (b *subsBatch) setQty(key subsItemKey, d domain.Date, q int) {
	k := subsQtyKey{key, d}
	if _, seen := b.qty[k]; !seen {
		b.qtyOrder = append(b.qtyOrder, k)
	}
	b.qty[k] = q
}

func (b *subsBatch) change(sub uuid.UUID, pos int64, index int, c domain.Change, d domain.Date) {
	if c.Type == domain.ChangeAddItem {
		if c.Item != nil {
			b.addItem(sub, pos, index, *c.Item, d)
		}
		return
	}
	key := subsItemKey{sub, c.ItemID}
	it := b.items[key]
	switch c.Type {
	case domain.ChangeRemoveItem:
		if it != nil {
			it.to = d
		} else {
			b.removed[key] = d
		}
	case domain.ChangeQuantity:
		if it != nil {
			it.latestQty = c.Quantity
		} else {
			b.requantified[key] = c.Quantity
		}
		b.setQty(key, d, c.Quantity)
	}
}

// subsDate is d as a date parameter: NULL for the zero Date.
func subsDate(d domain.Date) pgtype.Date {
	return pgtype.Date{Time: d.Time(), Valid: !d.IsZero()}
}

// subsText is s as a text parameter: NULL when empty.
func subsText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// subsActorJSON encodes who acted as the created_by column holds it.
func subsActorJSON(a domain.Actor) string {
	raw, _ := json.Marshal(a) // an Actor always encodes
	return string(raw)
}

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
	}
	b.queueScheduled(pb, t)
	if len(b.itemOrder) > 0 {
		b.queueItems(pb, t)
	}
	if len(b.qtyOrder) > 0 {
		b.queueQuantities(pb, t)
	}
	if len(b.removed) > 0 {
		b.queueRemovals(pb, t)
	}
	if len(b.requantified) > 0 {
		b.queueRequantified(pb, t)
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
	months, renew := make([]int32, n), make([]bool, n)
	versions, positions := make([]int64, n), make([]int64, n)
	actors, partners := make([]string, n), make([]pgtype.UUID, n)
	createdAt, updatedAt := make([]time.Time, n), make([]time.Time, n)
	for i, r := range b.subOrder {
		ids[i], tenants[i], accounts[i], currencies[i] = r.id, r.tenant, r.account, string(r.currency)
		starts[i], ends[i], cancels[i] = subsDate(r.start), subsDate(r.end), subsDate(r.cancelDate)
		termTypes[i], months[i], renew[i] = string(r.term.Type), int32(r.term.Months), r.term.AutoRenew
		policies[i], reasons[i] = subsText(r.policy), subsText(r.reason)
		versions[i], positions[i] = r.version, r.position
		partner := subsActorPartner(r.createdBy)
		actors[i], partners[i] = subsActorJSON(r.createdBy), pgtype.UUID{Bytes: partner, Valid: partner != uuid.Nil}
		createdAt[i], updatedAt[i] = r.createdAt, r.updated
	}
	pb.Queue(t.expand(`INSERT INTO {subs} (subscription_id, tenant_id, account_id, currency, start_date, term_type,
    term_months, auto_renew, end_date, cancel_date, cancel_policy, cancel_reason, version, created_by,
    created_by_partner, created_at, updated_at, position)
SELECT id, tenant, account, currency, start_date, term_type, term_months, auto_renew, end_date, cancel_date,
    policy, reason, version, created_by::jsonb, partner, created_at, updated_at, position
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::date[], $6::text[], $7::int[], $8::bool[],
    $9::date[], $10::date[], $11::text[], $12::text[], $13::bigint[], $14::text[], $15::uuid[],
    $16::timestamptz[], $17::timestamptz[], $18::bigint[])
    AS u(id, tenant, account, currency, start_date, term_type, term_months, auto_renew, end_date, cancel_date,
    policy, reason, version, created_by, partner, created_at, updated_at, position)`),
		ids, tenants, accounts, currencies, starts, termTypes, months, renew, ends, cancels,
		policies, reasons, versions, actors, partners, createdAt, updatedAt, positions).Exec(subsExpect("insert subscriptions", n))
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
	for _, r := range b.updated {
		ids, versions, positions = append(ids, r.id), append(versions, r.version), append(positions, r.position)
		updatedAt, cancelled = append(updatedAt, r.updated), append(cancelled, r.cancelled)
		cancels = append(cancels, subsDate(r.cancelDate))
		policies, reasons = append(policies, subsText(r.policy)), append(reasons, subsText(r.reason))
	}
	pb.Queue(t.expand(`UPDATE {subs} s SET version = u.version, position = u.position, updated_at = u.updated_at,
    cancel_date   = CASE WHEN u.cancelled THEN u.cancel_date ELSE s.cancel_date END,
    end_date      = CASE WHEN u.cancelled THEN u.cancel_date ELSE s.end_date END,
    cancel_policy = CASE WHEN u.cancelled THEN u.policy ELSE s.cancel_policy END,
    cancel_reason = CASE WHEN u.cancelled THEN u.reason ELSE s.cancel_reason END
FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::bool[], $6::date[], $7::text[], $8::text[])
    AS u(id, version, position, updated_at, cancelled, cancel_date, policy, reason)
WHERE s.subscription_id = u.id`),
		ids, versions, positions, updatedAt, cancelled, cancels, policies, reasons).Exec(subsExpect("update subscriptions", n))
}

func (b *subsBatch) queueItems(pb *pgx.Batch, t subsTableNames) {
	n := len(b.itemOrder)
	subs, items, products, charges := make([][16]byte, n), make([][16]byte, n), make([][16]byte, n), make([][16]byte, n)
	positions, indexes, quantities, months := make([]int64, n), make([]int32, n), make([]int32, n), make([]int32, n)
	names, types, prices, periods, units := make([]string, n), make([]string, n), make([]string, n), make([]*string, n), make([]*string, n)
	froms, tos := make([]pgtype.Date, n), make([]pgtype.Date, n)
	for i, it := range b.itemOrder {
		s := it.spec
		subs[i], items[i], products[i], charges[i] = it.sub, s.ID, s.ProductID, s.ChargeID
		positions[i], indexes[i], quantities[i] = it.pos, int32(it.index), int32(it.latestQty)
		months[i], names[i], types[i], prices[i] = int32(s.BillingPeriod.Months()), s.Name, string(s.Type), s.UnitPrice.String()
		periods[i], units[i] = subsText(string(s.BillingPeriod)), subsText(s.Unit)
		froms[i], tos[i] = subsDate(it.from), subsDate(it.to)
	}
	pb.Queue(t.expand(`INSERT INTO {items} (subscription_id, item_id, tenant_id, added_position, added_index, product_id,
    charge_id, name, type, quantity, unit_price, billing_period, period_months, unit, effective_from, effective_to)
SELECT u.sub, u.item, s.tenant_id, u.pos, u.idx, u.product, u.charge, u.name, u.type, u.quantity, u.price::numeric,
    u.period, u.months, u.unit, u.from_date, u.to_date
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

func (b *subsBatch) queueRequantified(pb *pgx.Batch, t subsTableNames) {
	n := len(b.requantified)
	subs, items, quantities := make([][16]byte, 0, n), make([][16]byte, 0, n), make([]int32, 0, n)
	for k, q := range b.requantified {
		subs, items, quantities = append(subs, k.sub), append(items, k.item), append(quantities, int32(q))
	}
	pb.Queue(t.expand(`UPDATE {items} i SET quantity = u.quantity
FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS u(sub, item, quantity)
WHERE i.subscription_id = u.sub AND i.item_id = u.item`), subs, items, quantities).Exec(subsExpect("item quantities", n))
}
