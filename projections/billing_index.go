package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/commands"
	"ledger/domain"
)

// BillingIndex finds, in the live read models, a tenant's accounts,
// their subscriptions and the account of an invoice, for bill runs and
// invoice commands, which read every state they decide on from the log.
type BillingIndex struct {
	Pool   *pgxpool.Pool
	Waiter *Waiter
	// SyncTimeout bounds how long Sync waits; zero means 30 s.
	SyncTimeout time.Duration
}

// Sync returns once every read model includes the events appended before
// the call, or ErrLagging after SyncTimeout: the read models are kept by
// `ledger serve`, or by the command that runs a bill run.
func (ix BillingIndex) Sync(ctx context.Context) error {
	timeout := ix.SyncTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	head, err := ix.Waiter.head(ctx)
	if err != nil {
		return fmt.Errorf("read the log's head: %w", err)
	}
	if err := ix.Waiter.Wait(ctx, head, timeout); err != nil {
		return fmt.Errorf("wait for the read models (is `ledger serve` running?): %w", err)
	}
	return nil
}

// Accounts returns the ids of tenant's accounts, oldest first.
func (ix BillingIndex) Accounts(ctx context.Context, tenant uuid.UUID) ([]uuid.UUID, error) {
	rows, err := ix.Pool.Query(ctx, `SELECT account_id FROM `+table(LiveSchema, "accounts")+`
WHERE tenant_id = $1 ORDER BY created_at, account_id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("accounts of %s: %w", tenant, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("accounts of %s: %w", tenant, err)
	}
	return ids, nil
}

// Subscriptions returns the ids of the subscriptions of each of accounts.
func (ix BillingIndex) Subscriptions(ctx context.Context, tenant uuid.UUID, accounts []uuid.UUID) (map[uuid.UUID][]uuid.UUID, error) {
	rows, err := ix.Pool.Query(ctx, `SELECT account_id, subscription_id FROM `+table(LiveSchema, "subscriptions")+`
WHERE tenant_id = $1 AND account_id = ANY($2) ORDER BY account_id, start_date, subscription_id`, tenant, accounts)
	if err != nil {
		return nil, fmt.Errorf("subscriptions of %d accounts: %w", len(accounts), err)
	}
	defer rows.Close()
	out := make(map[uuid.UUID][]uuid.UUID, len(accounts))
	for rows.Next() {
		var acc, sub uuid.UUID
		if err := rows.Scan(&acc, &sub); err != nil {
			return nil, fmt.Errorf("subscriptions of %d accounts: %w", len(accounts), err)
		}
		out[acc] = append(out[acc], sub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("subscriptions of %d accounts: %w", len(accounts), err)
	}
	return out, nil
}

// InvoiceAccount returns the account of invoice, or uuid.Nil when the
// read model has no such invoice of tenant.
func (ix BillingIndex) InvoiceAccount(ctx context.Context, tenant, invoice uuid.UUID) (uuid.UUID, error) {
	var acc uuid.UUID
	err := ix.Pool.QueryRow(ctx, `SELECT account_id FROM `+table(LiveSchema, "invoices")+`
WHERE tenant_id = $1 AND invoice_id = $2`, tenant, invoice).Scan(&acc)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, nil
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("account of invoice %s: %w", invoice, err)
	}
	return acc, nil
}

// TermsDue returns up to limit termed subscriptions whose next term end
// not yet recorded is on or before today (DueTermEnds).
func (ix BillingIndex) TermsDue(ctx context.Context, today domain.Date, limit int) ([]commands.SubscriptionRef, error) {
	due, err := DueTermEnds(ctx, ix.Pool, today, limit)
	if err != nil {
		return nil, err
	}
	out := make([]commands.SubscriptionRef, len(due))
	for i, d := range due {
		out[i] = commands.SubscriptionRef{TenantID: d.TenantID, SubscriptionID: d.SubscriptionID}
	}
	return out, nil
}
