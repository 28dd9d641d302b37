package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"ledger/domain"
	"ledger/eventstore"
)

// Invoices is the read model of the invoices issued to accounts, with
// their lines: what GET …/invoices serves and the revenue report sums.
// The events of an account's invoices are in its stream
// invoices-{tenant}-{account} (invStream).
type Invoices struct{}

// Name implements Projection.
func (Invoices) Name() string { return "invoices" }

// Tables implements Projection.
func (Invoices) Tables() []string { return []string{"invoices", "invoice_lines"} }

// invTableNames are the schema-qualified tables of the invoices read model.
type invTableNames struct{ invoices, lines string }

func invTables(schema string) invTableNames {
	return invTableNames{invoices: table(schema, "invoices"), lines: table(schema, "invoice_lines")}
}

// expand replaces {invoices} and {lines} in sql with the tables' names.
func (t invTableNames) expand(sql string) string {
	return strings.NewReplacer("{invoices}", t.invoices, "{lines}", t.lines).Replace(sql)
}

// Create implements Projection. number_seq is the number's digits, which
// order invoices as their numbers do past INV-999999; position is that of
// the InvoiceIssued event.
func (Invoices) Create(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, invTables(schema).expand(`
CREATE TABLE {invoices} (
    invoice_id  uuid    PRIMARY KEY,
    tenant_id   uuid    NOT NULL,
    account_id  uuid    NOT NULL,
    number      text    NOT NULL,
    number_seq  bigint  NOT NULL,
    currency    text    NOT NULL,
    status      text    NOT NULL,
    issue_date  date    NOT NULL,
    due_date    date    NOT NULL,
    billing     jsonb   NOT NULL,
    total       numeric NOT NULL,
    bill_run_id uuid    NOT NULL,
    void_reason text,
    version     bigint  NOT NULL,
    position    bigint  NOT NULL
);
CREATE TABLE {lines} (
    invoice_id       uuid    NOT NULL,
    line_no          integer NOT NULL,
    tenant_id        uuid    NOT NULL,
    account_id       uuid    NOT NULL,
    line_id          uuid    NOT NULL,
    subscription_id  uuid    NOT NULL,
    item_id          uuid    NOT NULL,
    product_id       uuid    NOT NULL,
    partner_id       uuid,
    charge_id        uuid    NOT NULL,
    type             text    NOT NULL,
    description      text    NOT NULL,
    service_from     date    NOT NULL,
    period_from      date    NOT NULL,
    period_to        date    NOT NULL,
    quantity         numeric NOT NULL,
    unit_price       numeric NOT NULL,
    proration_factor numeric NOT NULL,
    amount           numeric NOT NULL,
    issue_date       date    NOT NULL,
    currency         text    NOT NULL,
    PRIMARY KEY (invoice_id, line_no)
)`))
	return err
}

// CreateIndexes implements Indexer: the keyset orders of the lists, by
// tenant and by account, and the revenue report's range of issue dates.
func (Invoices) CreateIndexes(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, invTables(schema).expand(`
CREATE INDEX ON {invoices} (tenant_id, issue_date, number_seq, invoice_id);
CREATE INDEX ON {invoices} (tenant_id, account_id, issue_date, number_seq, invoice_id);
CREATE INDEX ON {lines} (tenant_id, issue_date)`))
	return err
}

// Apply implements Projection. The batch becomes at most three
// statements, sent in one round trip: the invoices issued, their lines,
// and the voids, which come last since an invoice is voided only after it
// is issued. A void of an invoice the read model lacks fails the batch.
func (Invoices) Apply(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error {
	var b invBatch
	for _, e := range batch {
		if err := b.add(e); err != nil {
			return err
		}
	}
	var pb pgx.Batch
	b.queue(&pb, invTables(schema))
	if pb.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, &pb).Close()
}

// invBatch is what a batch of events does to the invoices read model.
type invBatch struct {
	issued  []invIssued
	voided  map[[16]byte]*invVoid
	voidIDs [][16]byte // in order of first void
}

// invIssued is an issued invoice and where the log holds it.
type invIssued struct {
	ev       *domain.InvoiceIssued
	position eventstore.Position
}

// invVoid is the voids of one invoice in a batch: the last reason, and
// how many (one, unless the log says otherwise).
type invVoid struct {
	reason string
	n      int
}

func (b *invBatch) add(e eventstore.Event) error {
	if e.Type != "InvoiceIssued" && e.Type != "InvoiceVoided" {
		return nil
	}
	decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
	if err != nil {
		return fmt.Errorf("decode event at position %d: %w", e.Position, err)
	}
	switch ev := decoded.(type) {
	case *domain.InvoiceIssued:
		b.issued = append(b.issued, invIssued{ev: ev, position: e.Position})
	case *domain.InvoiceVoided:
		if b.voided == nil {
			b.voided = map[[16]byte]*invVoid{}
		}
		v, ok := b.voided[ev.InvoiceID]
		if !ok {
			v = &invVoid{}
			b.voided[ev.InvoiceID], b.voidIDs = v, append(b.voidIDs, ev.InvoiceID)
		}
		v.reason, v.n = ev.Reason, v.n+1
	}
	return nil
}

// invExpect returns a check that a statement touched want rows.
func invExpect(what string, want int) func(pgconn.CommandTag) error {
	return func(tag pgconn.CommandTag) error {
		if got := tag.RowsAffected(); got != int64(want) {
			return fmt.Errorf("invoices: %s: %d rows of %d", what, got, want)
		}
		return nil
	}
}

func (b *invBatch) queue(pb *pgx.Batch, t invTableNames) {
	if len(b.issued) > 0 {
		b.queueInvoices(pb, t)
		b.queueLines(pb, t)
	}
	if len(b.voidIDs) > 0 {
		b.queueVoids(pb, t)
	}
}

// invNumberSeq is the sequence number in an invoice number: 12 of
// INV-000012, 0 for a number without digits.
func invNumberSeq(number string) int64 {
	n, _ := strconv.ParseInt(strings.TrimPrefix(number, "INV-"), 10, 64) // a malformed number sorts first
	return n
}

func (b *invBatch) queueInvoices(pb *pgx.Batch, t invTableNames) {
	n := len(b.issued)
	ids, tenants, accounts, runs := make([][16]byte, n), make([][16]byte, n), make([][16]byte, n), make([][16]byte, n)
	numbers, currencies, billings, totals := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seqs, positions := make([]int64, n), make([]int64, n)
	issues, dues := make([]pgtype.Date, n), make([]pgtype.Date, n)
	for i, is := range b.issued {
		inv := is.ev.Invoice
		billing, _ := json.Marshal(inv.Billing) // a Billing always encodes
		ids[i], tenants[i], accounts[i], runs[i] = inv.ID, is.ev.TenantID, inv.AccountID, inv.BillRunID
		numbers[i], currencies[i], billings[i], totals[i] = inv.Number, string(inv.Currency), string(billing), inv.Total.String()
		seqs[i], positions[i] = invNumberSeq(inv.Number), int64(is.position)
		issues[i], dues[i] = subsDate(inv.IssueDate), subsDate(inv.DueDate)
	}
	pb.Queue(t.expand(`INSERT INTO {invoices} (invoice_id, tenant_id, account_id, number, number_seq, currency, status,
    issue_date, due_date, billing, total, bill_run_id, version, position)
SELECT id, tenant, account, number, seq, currency, 'posted', issue, due, billing, total, run, 1, position
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::text[], $7::date[], $8::date[],
    $9::jsonb[], $10::numeric[], $11::uuid[], $12::bigint[])
    AS u(id, tenant, account, number, seq, currency, issue, due, billing, total, run, position)`),
		ids, tenants, accounts, numbers, seqs, currencies, issues, dues, billings, totals, runs, positions,
	).Exec(invExpect("insert invoices", n))
}

// invLineColumns are the columns of a line as queueLines writes them.
type invLineColumns struct {
	invoices, tenants, accounts, ids, subs, items, products, charges [][16]byte
	partners                                                         []pgtype.UUID
	nos                                                              []int32
	types, descriptions, quantities, prices, factors, amounts, curs  []string
	services, froms, tos, issues                                     []pgtype.Date
}

func (c *invLineColumns) add(is *domain.InvoiceIssued, no int, l domain.InvoiceLine) {
	c.invoices, c.tenants, c.accounts = append(c.invoices, is.ID), append(c.tenants, is.TenantID), append(c.accounts, is.AccountID)
	c.ids, c.subs, c.items = append(c.ids, l.ID), append(c.subs, l.SubscriptionID), append(c.items, l.ItemID)
	c.products, c.charges = append(c.products, l.ProductID), append(c.charges, l.ChargeID)
	c.partners = append(c.partners, pgtype.UUID{Bytes: l.PartnerID, Valid: l.PartnerID != [16]byte{}})
	c.nos, c.types, c.descriptions = append(c.nos, int32(no)), append(c.types, string(l.Type)), append(c.descriptions, l.Description)
	c.quantities, c.prices = append(c.quantities, l.Quantity.String()), append(c.prices, l.UnitPrice.String())
	c.factors, c.amounts = append(c.factors, l.ProrationFactor.String()), append(c.amounts, l.Amount.String())
	c.curs, c.issues = append(c.curs, string(is.Currency)), append(c.issues, subsDate(is.IssueDate))
	c.services, c.froms, c.tos = append(c.services, subsDate(l.ServiceFrom)), append(c.froms, subsDate(l.PeriodFrom)), append(c.tos, subsDate(l.PeriodTo))
}

func (b *invBatch) queueLines(pb *pgx.Batch, t invTableNames) {
	var c invLineColumns
	for _, is := range b.issued {
		for no, l := range is.ev.Lines {
			c.add(is.ev, no, l)
		}
	}
	if len(c.ids) == 0 {
		return
	}
	pb.Queue(t.expand(`INSERT INTO {lines} (invoice_id, line_no, tenant_id, account_id, line_id, subscription_id, item_id,
    product_id, partner_id, charge_id, type, description, service_from, period_from, period_to, quantity, unit_price,
    proration_factor, amount, issue_date, currency)
SELECT * FROM unnest($1::uuid[], $2::integer[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::uuid[],
    $8::uuid[], $9::uuid[], $10::uuid[], $11::text[], $12::text[], $13::date[], $14::date[], $15::date[], $16::numeric[],
    $17::numeric[], $18::numeric[], $19::numeric[], $20::date[], $21::text[])`),
		c.invoices, c.nos, c.tenants, c.accounts, c.ids, c.subs, c.items, c.products, c.partners, c.charges,
		c.types, c.descriptions, c.services, c.froms, c.tos, c.quantities, c.prices, c.factors, c.amounts, c.issues, c.curs,
	).Exec(invExpect("insert invoice lines", len(c.ids)))
}

// queueVoids sets the invoices voided in the batch void, with the reason
// given and one version more per void.
func (b *invBatch) queueVoids(pb *pgx.Batch, t invTableNames) {
	n := len(b.voidIDs)
	reasons, counts := make([]string, n), make([]int64, n)
	for i, id := range b.voidIDs {
		reasons[i], counts[i] = b.voided[id].reason, int64(b.voided[id].n)
	}
	pb.Queue(t.expand(`UPDATE {invoices} i SET status = 'void', void_reason = u.reason, version = i.version + u.n
FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS u(id, reason, n)
WHERE i.invoice_id = u.id`), b.voidIDs, reasons, counts).Exec(invExpect("void invoices", n))
}
