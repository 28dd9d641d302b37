package projections

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/domain"
	"ledger/eventstore"
)

// Partners is the read model of partners, of the grants tenants made to
// them (partner access) and of tenants' names. A grant's status is not
// stored: it depends on the clock (expiry), so queries compute it from
// revoked and expires_at at the instant they are asked.
type Partners struct{}

// Name implements Projection.
func (Partners) Name() string { return "partners" }

// Tables implements Projection.
func (Partners) Tables() []string { return []string{"tenants", "partners", "partner_access"} }

// Create implements Projection.
func (Partners) Create(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`
CREATE TABLE %[1]s (
    tenant_id  uuid        PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE %[2]s (
    partner_id uuid        PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL,
    version    bigint      NOT NULL
);
CREATE TABLE %[3]s (
    tenant_id    uuid        NOT NULL,
    partner_id   uuid        NOT NULL,
    role         text        NOT NULL,
    all_accounts boolean     NOT NULL,
    account_ids  uuid[]      NOT NULL,
    actions      text[]      NOT NULL,
    revoked      boolean     NOT NULL,
    revoked_at   timestamptz,
    expires_at   timestamptz,
    granted_by   jsonb       NOT NULL,
    granted_at   timestamptz NOT NULL,
    version      bigint      NOT NULL,
    position     bigint      NOT NULL,
    PRIMARY KEY (tenant_id, partner_id)
);
CREATE INDEX ON %[3]s (partner_id, tenant_id)`,
		table(schema, "tenants"), table(schema, "partners"), table(schema, "partner_access")))
	if err != nil {
		return fmt.Errorf("partners: create tables: %w", err)
	}
	return nil
}

// Apply implements Projection. Every statement is guarded by the row's
// version or position, so an event applied twice changes nothing.
func (Partners) Apply(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error {
	q := partnerTables{
		tenants:  table(schema, "tenants"),
		partners: table(schema, "partners"),
		access:   table(schema, "partner_access"),
	}
	var b pgx.Batch
	for _, e := range batch {
		if err := q.queue(&b, e); err != nil {
			return fmt.Errorf("partners: %w", err)
		}
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("partners: apply batch: %w", err)
	}
	return nil
}

// partnerTables holds the qualified names of the Partners tables in one
// schema.
type partnerTables struct {
	tenants, partners, access string
}

// partnerEventTypes are the events Partners reads; it decodes no other.
var partnerEventTypes = map[string]bool{
	"TenantCreated": true, "PartnerCreated": true, "PartnerUserAdded": true, "PartnerUserRemoved": true,
	"PartnerAccessGranted": true, "PartnerAccessChanged": true, "PartnerAccessAccountAssigned": true,
	"PartnerAccessAccountUnassigned": true, "PartnerAccessRevoked": true,
}

// queue adds the statements that apply event e to b.
func (q partnerTables) queue(b *pgx.Batch, e eventstore.Event) error {
	if !partnerEventTypes[e.Type] {
		return nil
	}
	decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
	if err != nil {
		return fmt.Errorf("decode event at position %d: %w", e.Position, err)
	}
	v, pos := int64(e.Version), int64(e.Position)
	switch ev := decoded.(type) {
	case *domain.TenantCreated:
		b.Queue(`INSERT INTO `+q.tenants+` (tenant_id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			ev.TenantID, ev.Name, ev.CreatedAt)
	case *domain.PartnerCreated:
		b.Queue(`INSERT INTO `+q.partners+` (partner_id, name, created_at, version) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			ev.PartnerID, ev.Name, ev.CreatedAt, v)
	case *domain.PartnerUserAdded:
		q.queuePartnerVersion(b, ev.PartnerID, v)
	case *domain.PartnerUserRemoved:
		q.queuePartnerVersion(b, ev.PartnerID, v)
	case *domain.PartnerAccessGranted:
		b.Queue(`INSERT INTO `+q.access+` (tenant_id, partner_id, role, all_accounts, account_ids, actions, revoked,
    revoked_at, expires_at, granted_by, granted_at, version, position)
VALUES ($1, $2, $3, $4, $5, $6, false, NULL, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
			ev.TenantID, ev.PartnerID, string(ev.Role), ev.AllAccounts, nonNilUUIDs(ev.AccountIDs),
			permissionStrings(ev.Actions), ev.ExpiresAt, ev.GrantedBy, ev.GrantedAt, v, pos)
	case *domain.PartnerAccessChanged:
		b.Queue(`UPDATE `+q.access+` SET role = $3, all_accounts = $4, account_ids = $5, actions = $6, revoked = false,
    revoked_at = NULL, expires_at = $7, granted_by = $8, granted_at = $9, version = $10, position = $11
WHERE tenant_id = $1 AND partner_id = $2 AND position < $11`,
			ev.TenantID, ev.PartnerID, string(ev.Role), ev.AllAccounts, nonNilUUIDs(ev.AccountIDs),
			permissionStrings(ev.Actions), ev.ExpiresAt, ev.ChangedBy, ev.ChangedAt, v, pos)
	case *domain.PartnerAccessAccountAssigned:
		// Kept sorted and distinct, as the domain keeps them.
		b.Queue(`UPDATE `+q.access+` SET account_ids = ARRAY(SELECT DISTINCT a FROM unnest(array_append(account_ids, $3::uuid)) a ORDER BY a),
    version = $4, position = $5
WHERE tenant_id = $1 AND partner_id = $2 AND position < $5`, ev.TenantID, ev.PartnerID, ev.AccountID, v, pos)
	case *domain.PartnerAccessAccountUnassigned:
		b.Queue(`UPDATE `+q.access+` SET account_ids = array_remove(account_ids, $3::uuid), version = $4, position = $5
WHERE tenant_id = $1 AND partner_id = $2 AND position < $5`, ev.TenantID, ev.PartnerID, ev.AccountID, v, pos)
	case *domain.PartnerAccessRevoked:
		b.Queue(`UPDATE `+q.access+` SET revoked = true, revoked_at = $3, version = $4, position = $5
WHERE tenant_id = $1 AND partner_id = $2 AND position < $5`, ev.TenantID, ev.PartnerID, ev.RevokedAt, v, pos)
	}
	return nil
}

// queuePartnerVersion moves a partner's version to v: the partner's users
// are not in this read model, but their events are versions of the
// partner's stream.
func (q partnerTables) queuePartnerVersion(b *pgx.Batch, partner uuid.UUID, v int64) {
	b.Queue(`UPDATE `+q.partners+` SET version = $2 WHERE partner_id = $1 AND version < $2`, partner, v)
}

// nonNilUUIDs returns ids, or an empty list for nil: the column is NOT
// NULL and the representation shows [].
func nonNilUUIDs(ids []uuid.UUID) []uuid.UUID {
	if ids == nil {
		return []uuid.UUID{}
	}
	return ids
}

// permissionStrings returns actions as strings, never nil.
func permissionStrings(actions []domain.Permission) []string {
	out := make([]string, len(actions))
	for i, a := range actions {
		out[i] = string(a)
	}
	return out
}
