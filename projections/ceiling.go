package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// auditCeilingSQL fills an audit_log table with the same rows as the Audit
// projection, from the events table, in one set-based statement: what
// Postgres alone can do, the ceiling a rebuild is measured against.
const auditCeilingSQL = `
INSERT INTO %s
SELECT e.position, e.event_id, (m->>'tenant_id')::uuid, e.stream, e.version, e.type,
       (m->>'occurred_at')::timestamptz, e.recorded_at, m->'actor'->>'type',
       nullif(m->'actor'->>'id', '')::uuid, nullif(m->'actor'->>'partner_id', '')::uuid,
       CASE WHEN d->>'account_id' ~ '^[0-9a-f-]{36}$' THEN (d->>'account_id')::uuid END,
       CASE WHEN d->>'subscription_id' ~ '^[0-9a-f-]{36}$' THEN (d->>'subscription_id')::uuid END,
       nullif(m->>'correlation_id', ''), nullif(m->>'causation_id', ''),
       nullif(m->>'request_id', ''), nullif(m->>'idempotency_key', ''), d - 'key_hash'
FROM events e, LATERAL (SELECT e.metadata::jsonb AS m, e.data::jsonb AS d) x
WHERE coalesce(m->>'tenant_id', '') <> ''`

// AuditCeiling builds the audit read model's table in a scratch schema
// as a rebuild does, but with one INSERT … SELECT over the whole log, then
// its indexes, and returns how many rows it wrote and how long that took.
// The scratch schema is dropped after.
func AuditCeiling(ctx context.Context, pool *pgxpool.Pool) (int64, time.Duration, error) {
	schema := "readmodel_ceiling"
	defer pool.Exec(context.WithoutCancel(ctx), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
	var rows int64
	start := time.Now()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE; CREATE SCHEMA `+schema); err != nil {
			return err
		}
		if err := (Audit{}).Create(ctx, tx, schema); err != nil {
			return err
		}
		start = time.Now()
		tag, err := tx.Exec(ctx, fmt.Sprintf(auditCeilingSQL, table(schema, "audit_log")))
		if err != nil {
			return err
		}
		rows = tag.RowsAffected()
		return (Audit{}).CreateIndexes(ctx, tx, schema)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("audit ceiling: %w", err)
	}
	return rows, time.Since(start), nil
}
