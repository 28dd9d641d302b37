package projections

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ceilingSQL fills table t, an audit_log, with the rows of the Audit
// projection, from the events table, in one set-based statement: what
// Postgres alone can do, the ceiling a rebuild is measured against.
//
// Each event's metadata and data are parsed once, into jsonb, and the
// fields read from that: OFFSET 0 keeps the planner from inlining the
// casts into every expression that uses them, which would parse the
// metadata once per field read. The data is stored as it is, but for
// events with a top-level key_hash. Ids are read as the projection reads
// them: a UUID (in canonical form), not nil, from the data, else from the
// stream's name. occurred_at is rounded to the microsecond where the
// projection truncates it.
func ceilingSQL(t string) string {
	return fmt.Sprintf(`
INSERT INTO %s (%s)
SELECT e.position, e.event_id, (x.m->>'tenant_id')::uuid, e.stream, e.version, e.type,
       (x.m->>'occurred_at')::timestamptz, e.recorded_at, x.m->'actor'->>'type',
       %s, %s,
       coalesce(%s, CASE WHEN %s THEN %s END),
       coalesce(%s, CASE WHEN %s OR %s THEN %s END),
       nullif(x.m->>'correlation_id', ''), nullif(x.m->>'causation_id', ''),
       nullif(x.m->>'request_id', ''), nullif(x.m->>'idempotency_key', ''),
       CASE WHEN x.d ? 'key_hash' THEN (x.d - 'key_hash')::json ELSE e.data END
FROM events e, LATERAL (SELECT e.metadata::jsonb AS m, e.data::jsonb AS d OFFSET 0) x
WHERE coalesce(x.m->>'tenant_id', '') <> ''`,
		t, strings.Join(auditColumnNames, ", "),
		sqlNotNilUUID(`nullif(x.m->'actor'->>'id', '')::uuid`), sqlNotNilUUID(`nullif(x.m->'actor'->>'partner_id', '')::uuid`),
		sqlLenientUUID(`x.d->>'account_id'`), sqlStreamOf("account"), sqlLenientUUID(`right(e.stream, 36)`),
		sqlLenientUUID(`x.d->>'subscription_id'`), sqlStreamOf("subscription"), sqlStreamOf("usage"), sqlLenientUUID(`right(e.stream, 36)`))
}

// sqlNotNilUUID is the uuid expression expr, NULL for the nil UUID.
func sqlNotNilUUID(expr string) string {
	return `nullif(` + expr + `, '00000000-0000-0000-0000-000000000000')`
}

// sqlLenientUUID is the text expression expr as a uuid, as lenientUUID
// reads it: NULL for anything but a UUID in canonical form, or for nil.
func sqlLenientUUID(expr string) string {
	return `CASE WHEN ` + expr + ` ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN ` +
		sqlNotNilUUID(`(`+expr+`)::uuid`) + ` END`
}

// sqlStreamOf says whether the event's stream is named
// {category}-{tenant}-{id}, as streamSubject reads it.
func sqlStreamOf(category string) string {
	n := len(category) + 1
	return fmt.Sprintf(`(e.stream LIKE '%s-%%' AND length(e.stream) = %d AND substr(e.stream, %d, 1) = '-')`, category, n+73, n+37)
}

// AuditCeiling builds the audit read model's tables in a scratch schema
// as a rebuild does, but set-based: with INSERT … SELECT over the whole
// log, one per core of this machine, each over its share of the log and
// in a session of its own, all at once, then its days from those rows,
// then its indexes, made as a rebuild makes them. It returns how many rows it wrote and how long that
// took. The scratch schema is dropped after.
func AuditCeiling(ctx context.Context, pool *pgxpool.Pool) (int64, time.Duration, error) {
	return AuditCeilingParts(ctx, pool, runtime.NumCPU())
}

// AuditCeilingParts is AuditCeiling with the log cut into parts shares,
// each written by an INSERT … SELECT of its own.
func AuditCeilingParts(ctx context.Context, pool *pgxpool.Pool, parts int) (int64, time.Duration, error) {
	schema := "readmodel_ceiling"
	defer pool.Exec(context.WithoutCancel(ctx), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE; CREATE SCHEMA `+schema); err != nil {
			return err
		}
		return (Audit{}).Create(ctx, tx, schema)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("audit ceiling: %w", err)
	}
	bounds, err := logShares(ctx, pool, max(parts, 1))
	if err != nil {
		return 0, 0, fmt.Errorf("audit ceiling: %w", err)
	}
	start := time.Now()
	rows := make([]int64, len(bounds)-1)
	errs := make([]error, len(bounds)-1)
	var wg sync.WaitGroup
	for i := range rows {
		wg.Go(func() {
			errs[i] = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
					return err
				}
				tag, err := tx.Exec(ctx, ceilingSQL(table(schema, "audit_log"))+` AND e.position > $1 AND e.position <= $2`, bounds[i], bounds[i+1])
				rows[i] = tag.RowsAffected()
				return err
			})
		})
	}
	wg.Wait()
	err = errors.Join(errs...)
	if err == nil {
		_, err = pool.Exec(ctx, auditDaysOfLog(schema))
	}
	if err == nil {
		err = indexScratch(ctx, pool, []string{schema}, []Projection{Audit{}}, nil)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("audit ceiling: %w", err)
	}
	var total int64
	for _, n := range rows {
		total += n
	}
	return total, time.Since(start), nil
}

// logShares cuts the events table into parts shares of about as many
// events: share i holds the positions in (bounds[i], bounds[i+1]].
func logShares(ctx context.Context, pool *pgxpool.Pool, parts int) ([]int64, error) {
	var events, last int64
	err := pool.QueryRow(ctx, `SELECT count(*), coalesce(max(position), 0) FROM events`).Scan(&events, &last)
	if err != nil {
		return nil, err
	}
	bounds := []int64{0}
	for i := 1; i < parts; i++ {
		var at int64
		err := pool.QueryRow(ctx, `SELECT coalesce((SELECT position FROM events ORDER BY position OFFSET $1 LIMIT 1), 0)`, events*int64(i)/int64(parts)).Scan(&at)
		if err != nil {
			return nil, err
		}
		bounds = append(bounds, max(at, bounds[len(bounds)-1]))
	}
	return append(bounds, max(last, bounds[len(bounds)-1])), nil
}
