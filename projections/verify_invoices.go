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

// verifyInvoicesSQL is every invoice of the read model with what the
// domain can say of it: status, version, void reason, total, and the
// number and sum of its lines.
const verifyInvoicesSQL = `SELECT i.tenant_id, i.account_id, i.invoice_id, i.status, i.version, COALESCE(i.void_reason, ''),
    i.total::text, count(l.line_no), COALESCE(sum(l.amount), 0)::text
FROM {invoices} i LEFT JOIN {lines} l ON l.invoice_id = i.invoice_id
GROUP BY i.invoice_id
ORDER BY i.tenant_id, i.account_id, i.issue_date, i.number_seq`

// invSide is what one side says of an invoice.
type invSide struct {
	Status     string `json:"status"`
	Version    uint64 `json:"version"`
	VoidReason string `json:"void_reason"`
	Total      string `json:"total"`
	Lines      int    `json:"lines"`
	LinesSum   string `json:"lines_sum"`
}

// sqlInvoice is an invoice as the read model has it.
type sqlInvoice struct {
	tenant, account, id uuid.UUID
	side                invSide
}

// verifyInvoices cross-checks the invoices read model with the domain:
// for every invoice in the live read model, its status, version, void
// reason, total and lines (how many, and their sum) against its
// account's invoice stream, up to the projection's checkpoint, folded by
// domain.AccountInvoices; and, on each side, that the lines sum to the
// total. It returns the invoices that differ, at most
// maxShownDifferences.
func verifyInvoices(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store) ([]Difference, error) {
	at, invoices, err := atCheckpoint(ctx, pool, Invoices{}.Name(), func(db Querier) ([]sqlInvoice, error) {
		return readSQLInvoices(ctx, db)
	})
	if err != nil {
		return nil, err
	}
	var out []Difference
	var folded *domain.AccountInvoices
	for i, inv := range invoices {
		if i == 0 || inv.tenant != invoices[i-1].tenant || inv.account != invoices[i-1].account {
			if folded, err = foldInvoices(ctx, store, invStream(inv.tenant, inv.account), at); err != nil {
				return nil, err
			}
		}
		if d := invDrift(inv, folded); d != nil && len(out) < maxShownDifferences {
			out = append(out, *d)
		}
	}
	return out, nil
}

// readSQLInvoices reads every invoice of the read model, by account.
func readSQLInvoices(ctx context.Context, db Querier) ([]sqlInvoice, error) {
	rows, err := db.Query(ctx, invTables(LiveSchema).expand(verifyInvoicesSQL))
	if err != nil {
		return nil, fmt.Errorf("read invoices: %w", err)
	}
	var out []sqlInvoice
	var s sqlInvoice
	var version int64
	_, err = pgx.ForEachRow(rows, []any{&s.tenant, &s.account, &s.id, &s.side.Status, &version, &s.side.VoidReason,
		&s.side.Total, &s.side.Lines, &s.side.LinesSum}, func() error {
		s.side.Version = uint64(version)
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read invoices: %w", err)
	}
	return out, nil
}

// foldInvoices folds stream up to position at. An event the domain
// cannot read is an error: the read model applied it, so verify cannot
// go on.
func foldInvoices(ctx context.Context, store eventstore.Store, stream string, at eventstore.Position) (*domain.AccountInvoices, error) {
	a := &domain.AccountInvoices{}
	for from := uint64(1); ; {
		events, err := store.ReadStream(ctx, stream, from, rebuildBatch)
		if err != nil {
			return nil, fmt.Errorf("verify invoices: %w", err)
		}
		for _, e := range events {
			if e.Position > at {
				return a, nil
			}
			decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
			if err != nil {
				return nil, fmt.Errorf("verify invoices: stream %s: %w", stream, err)
			}
			a.Apply(decoded)
		}
		if len(events) < rebuildBatch {
			return a, nil
		}
		from = events[len(events)-1].Version + 1
	}
}

// invDrift returns how the read model's invoice differs from the
// domain's, or nil when they agree and its lines sum to its total.
func invDrift(s sqlInvoice, folded *domain.AccountInvoices) *Difference {
	var dom *invSide
	if inv, ok := folded.Invoice(s.id); ok {
		sum := decimal.Zero
		for _, l := range inv.Lines {
			sum = sum.Add(l.Amount)
		}
		dom = &invSide{Status: string(inv.Status), Version: inv.Version, VoidReason: inv.VoidReason,
			Total: inv.Total.String(), Lines: len(inv.Lines), LinesSum: sum.String()}
	}
	if dom != nil && invSidesAgree(s.side, *dom) {
		return nil
	}
	row, _ := json.Marshal(struct { // strings, uuids and ints always encode
		ID        uuid.UUID `json:"invoice_id"`
		Tenant    uuid.UUID `json:"tenant_id"`
		ReadModel invSide   `json:"read_model"`
		Domain    *invSide  `json:"domain"`
	}{s.id, s.tenant, s.side, dom})
	return &Difference{Projection: Invoices{}.Name(), Table: "invoices", Side: SideDomain, Row: string(row)}
}

// invSidesAgree says whether the read model's invoice r and the domain's
// d agree, every amount by value, and the lines of each sum to its total.
func invSidesAgree(r, d invSide) bool {
	eq := func(a, b string) bool {
		x, errX := decimal.NewFromString(a)
		y, errY := decimal.NewFromString(b)
		return errX == nil && errY == nil && x.Equal(y)
	}
	return r.Status == d.Status && r.Version == d.Version && r.VoidReason == d.VoidReason && r.Lines == d.Lines &&
		eq(r.Total, d.Total) && eq(r.LinesSum, d.LinesSum) && eq(r.Total, r.LinesSum) && eq(d.Total, d.LinesSum)
}
