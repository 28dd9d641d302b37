package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"ledger/domain"
	"ledger/eventstore"
)

// Accounts is the read model of customer accounts with their billing
// details, and who created them (a partner's accounts are in its scope).
type Accounts struct{}

// Name implements Projection.
func (Accounts) Name() string { return "accounts" }

// Tables implements Projection.
func (Accounts) Tables() []string { return []string{"accounts"} }

// Create implements Projection.
func (Accounts) Create(ctx context.Context, tx pgx.Tx, schema string) error {
	t := table(schema, "accounts")
	_, err := tx.Exec(ctx, fmt.Sprintf(`
CREATE TABLE %[1]s (
    account_id         uuid        PRIMARY KEY,
    tenant_id          uuid        NOT NULL,
    name               text        NOT NULL,
    currency           text        NOT NULL,
    status             text        NOT NULL,
    billing            jsonb       NOT NULL,
    version            bigint      NOT NULL,
    created_by         jsonb       NOT NULL,
    created_by_partner uuid,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    position           bigint      NOT NULL
);
CREATE INDEX ON %[1]s (tenant_id, account_id);
CREATE INDEX ON %[1]s (tenant_id, created_by_partner, account_id)`, t))
	return err
}

// Apply implements Projection.
func (Accounts) Apply(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error {
	t := table(schema, "accounts")
	var b pgx.Batch
	for _, e := range batch {
		if err := queueAccount(&b, t, e); err != nil {
			return err
		}
	}
	return tx.SendBatch(ctx, &b).Close()
}

func queueAccount(b *pgx.Batch, t string, e eventstore.Event) error {
	switch e.Type {
	case "AccountCreated", "AccountBillingUpdated", "AccountClosed":
	default:
		return nil
	}
	decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
	if err != nil {
		return fmt.Errorf("decode event at position %d: %w", e.Position, err)
	}
	switch ev := decoded.(type) {
	case *domain.AccountCreated:
		b.Queue(`INSERT INTO `+t+` (account_id, tenant_id, name, currency, status, billing, version, created_by,
    created_by_partner, created_at, updated_at, position)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)`,
			ev.AccountID, ev.TenantID, ev.Name, string(ev.Currency), string(domain.AccountStatusActive), ev.Billing,
			int64(e.Version), ev.CreatedBy, nullUUID(ev.CreatedBy.PartnerID), ev.CreatedAt, int64(e.Position))
	case *domain.AccountBillingUpdated:
		b.Queue(`UPDATE `+t+` SET billing = $2, version = $3, updated_at = $4, position = $5 WHERE account_id = $1`,
			ev.AccountID, ev.Billing, int64(e.Version), ev.UpdatedAt, int64(e.Position))
	case *domain.AccountClosed:
		b.Queue(`UPDATE `+t+` SET status = $2, version = $3, updated_at = $4, position = $5 WHERE account_id = $1`,
			ev.AccountID, string(domain.AccountStatusClosed), int64(e.Version), ev.ClosedAt, int64(e.Position))
	}
	return nil
}
