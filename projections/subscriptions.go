package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"ledger/domain"
	"ledger/eventstore"
)

// Subscriptions is the read model of subscriptions: one row per
// subscription, one per item (removed items too, with their effective
// dates), each item's quantity history, and the scheduled changes that can
// still be withdrawn (subscriptions_scheduled.go), so that status, the
// items in effect and MRR can be read in SQL on any date. An item's
// quantity and quantity_from are those of its latest-dated quantity, so
// that on a day from quantity_from on its quantity is read without the
// history. An item also carries what the MRR report needs of its
// subscription (currency, account, creating partner and end date), and
// the index subscription_items_report holds all that the report reads,
// so that the report is one index-only scan of the tenant's items. It
// also keeps the names of products and partners, which the MRR report
// groups by.
//
// Nothing date-dependent is stored: end_date is the first day the
// subscription is no longer in force (its cancel date, else the end of a
// term that does not renew), a fact of its events, and status is worked
// out from it at query time. The term events move version and updated_at:
// SubscriptionRenewed sets terms_renewed (the renewals recorded), and
// SubscriptionTermEnded sets term_ended and cancels the subscription on
// the day its term ended (cancel_date and end_date, reason term_ended),
// as domain.Subscription does. DueTermEnds (terms_query.go) finds the
// term ends still to record through the partial index
// subscriptions_term_due.
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
    terms_renewed      integer     NOT NULL,
    term_ended         boolean     NOT NULL,
    version            bigint      NOT NULL,
    created_by         jsonb       NOT NULL,
    created_by_partner uuid,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    position           bigint      NOT NULL
);
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
    quantity_from   date    NOT NULL,
    unit_price      numeric NOT NULL,
    billing_period  text,
    period_months   integer NOT NULL,
    unit            text,
    effective_from  date    NOT NULL,
    effective_to    date,
    currency              text NOT NULL,
    account_id            uuid NOT NULL,
    created_by_partner    uuid,
    subscription_end_date date,
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

// CreateIndexes implements Indexer: the lists' keyset orders by tenant
// and by account, the term ends due (DueTermEnds), and the MRR report's
// covering index of a tenant's items, in the order of the account
// grouping (which then sums each account as the scan reaches it, with no
// hash table). No statement of Apply reads them, so a rebuild makes them
// once, after loading the tables.
func (Subscriptions) CreateIndexes(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, subsTables(schema).expand(`
CREATE INDEX ON {subs} (tenant_id, subscription_id);
CREATE INDEX ON {subs} (tenant_id, account_id, subscription_id);
CREATE INDEX subscriptions_term_due ON {subs} ((`+subsNextTermEndSQL+`), subscription_id)
    WHERE `+subsTermDueSQL+`;
CREATE INDEX subscription_items_report ON {items} (tenant_id, account_id, currency) INCLUDE (created_by_partner,
    product_id, subscription_end_date, type, period_months, effective_from, effective_to, quantity, quantity_from,
    unit_price, subscription_id, item_id)`))
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
	renewed, termEnded  bool // whether terms_renewed and term_ended change
	termsRenewed        int
	policy, reason      string
	version, position   int64
	createdBy           domain.Actor
	createdAt, updated  time.Time
}

// subsItemRow is an item row being inserted.
type subsItemRow struct {
	sub      uuid.UUID
	pos      int64
	index    int
	spec     domain.ItemSpec
	from, to domain.Date
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
		qty: map[subsQtyKey]int{}, sched: map[uuid.UUID]*subsSched{},
	}
}

// add folds one event into the batch.
func (b *subsBatch) add(e eventstore.Event) error {
	switch e.Type {
	case "SubscriptionCreated", "SubscriptionAmended", "SubscriptionCancelled", "ProductCreated", "PartnerCreated",
		"SubscriptionRenewed", "SubscriptionTermEnded":
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
	case *domain.SubscriptionRenewed:
		row := b.touch(ev.SubscriptionID, e, ev.RenewedAt)
		row.renewed, row.termsRenewed = true, ev.Term-1
	case *domain.SubscriptionTermEnded:
		row := b.touch(ev.SubscriptionID, e, ev.EndedAt)
		row.cancelled, row.cancelDate, row.end, row.termEnded = true, ev.EndedOn, ev.EndedOn, true
		row.policy, row.reason = string(domain.CancelEndOfTerm), domain.TermEndedReason
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
	it := &subsItemRow{sub: sub, pos: pos, index: index, spec: spec, from: from}
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
