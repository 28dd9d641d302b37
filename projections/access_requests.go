package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/domain"
	"ledger/eventstore"
)

// AccessRequests is the read model of partners' requests for access to
// tenants and the tenants' decisions. A request's status is not stored
// while it waits: it expires with the clock, so queries compute it from
// expires_at at the instant they are asked. tenant_visible says whether
// the tenant named existed when the request was made (its events carry
// the tenant in their metadata): only those requests are the tenant's to
// list; the others are seen by their partner only.
type AccessRequests struct{}

// Name implements Projection.
func (AccessRequests) Name() string { return "access_requests" }

// Tables implements Projection.
func (AccessRequests) Tables() []string { return []string{"access_requests"} }

// Create implements Projection.
func (AccessRequests) Create(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`
CREATE TABLE %[1]s (
    request_id     uuid        PRIMARY KEY,
    tenant_id      uuid        NOT NULL,
    partner_id     uuid        NOT NULL,
    tenant_visible boolean     NOT NULL,
    role           text        NOT NULL,
    all_accounts   boolean     NOT NULL,
    account_ids    uuid[]      NOT NULL,
    actions        text[]      NOT NULL,
    duration_days  integer     NOT NULL,
    message        text        NOT NULL,
    requested_by   jsonb       NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    decision       text        NOT NULL,
    granted        jsonb,
    decided_by     jsonb,
    decided_at     timestamptz,
    reason         text,
    version        bigint      NOT NULL,
    position       bigint      NOT NULL
);
CREATE INDEX ON %[1]s (partner_id, request_id);
CREATE INDEX ON %[1]s (tenant_id, request_id) WHERE tenant_visible`, table(schema, "access_requests")))
	if err != nil {
		return fmt.Errorf("access requests: create table: %w", err)
	}
	return nil
}

// accessRequestEventTypes are the events AccessRequests reads; it decodes
// no other.
var accessRequestEventTypes = map[string]bool{
	"AccessRequested": true, "AccessRequestApproved": true, "AccessRequestRejected": true,
}

// grantedTerms is what the granted column holds of an approval.
type grantedTerms struct {
	Role         domain.Role         `json:"role"`
	AllAccounts  bool                `json:"all_accounts"`
	AccountIDs   []uuid.UUID         `json:"account_ids"`
	Actions      []domain.Permission `json:"actions"`
	DurationDays int                 `json:"duration_days"`
	ExpiresAt    time.Time           `json:"expires_at"`
}

// Apply implements Projection. Every statement is guarded by the row's
// position, so an event applied twice changes nothing.
func (AccessRequests) Apply(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error {
	t := table(schema, "access_requests")
	var b pgx.Batch
	for _, e := range batch {
		if !accessRequestEventTypes[e.Type] {
			continue
		}
		decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			return fmt.Errorf("access requests: decode event at position %d: %w", e.Position, err)
		}
		v, pos := int64(e.Version), int64(e.Position)
		switch ev := decoded.(type) {
		case *domain.AccessRequested:
			b.Queue(`INSERT INTO `+t+` (request_id, tenant_id, partner_id, tenant_visible, role, all_accounts, account_ids,
    actions, duration_days, message, requested_by, created_at, expires_at, decision, version, position)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, '', $14, $15) ON CONFLICT DO NOTHING`,
				ev.RequestID, ev.TenantID, ev.PartnerID, e.Metadata.TenantID != "", string(ev.Role), ev.AllAccounts,
				nonNilUUIDs(ev.AccountIDs), permissionStrings(ev.Actions), ev.DurationDays, ev.Message, ev.RequestedBy,
				ev.RequestedAt, ev.ExpiresAt, v, pos)
		case *domain.AccessRequestApproved:
			granted := grantedTerms{Role: ev.Role, AllAccounts: ev.AllAccounts, AccountIDs: nonNilUUIDs(ev.AccountIDs),
				Actions: append([]domain.Permission{}, ev.Actions...), DurationDays: ev.DurationDays,
				ExpiresAt: viewTime(ev.GrantExpiresAt)}
			b.Queue(`UPDATE `+t+` SET decision = 'approved', granted = $2, decided_by = $3, decided_at = $4,
    version = $5, position = $6 WHERE request_id = $1 AND position < $6`,
				ev.RequestID, granted, ev.ApprovedBy, ev.ApprovedAt, v, pos)
		case *domain.AccessRequestRejected:
			b.Queue(`UPDATE `+t+` SET decision = 'rejected', reason = $2, decided_by = $3, decided_at = $4,
    version = $5, position = $6 WHERE request_id = $1 AND position < $6`,
				ev.RequestID, ev.Reason, ev.RejectedBy, ev.RejectedAt, v, pos)
		}
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("access requests: apply batch: %w", err)
	}
	return nil
}
