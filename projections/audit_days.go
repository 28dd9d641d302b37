package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The audit log's days: for each tenant and each UTC day on which its
// events occurred, the first and the last position of those events. A
// filter on occurred_at becomes a range of positions, which every index
// of audit_log ends with, so that a date range narrows an index scan
// instead of filtering every row before it. The range holds every event
// of the days it spans whatever their order in the log; it is tight
// because events are appended when they occur.

// createAuditDays creates the days table in schema. Its primary key is
// made with it, not after a rebuild's load, because every batch upserts
// into it.
func createAuditDays(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`
CREATE TABLE %s (
    tenant_id      uuid   NOT NULL,
    day            date   NOT NULL,
    first_position bigint NOT NULL,
    last_position  bigint NOT NULL,
    PRIMARY KEY (tenant_id, day)
)`, table(schema, "audit_days")))
	if err != nil {
		return fmt.Errorf("audit: create days table: %w", err)
	}
	return nil
}

// auditDays gathers the days of a batch's rows.
type auditDays map[auditDay][2]int64

// auditDay is a tenant's UTC day.
type auditDay struct {
	tenant uuid.UUID
	day    time.Time
}

// add widens the day of row to hold its position.
func (d auditDays) add(row auditRow) {
	key := auditDay{row.tenant, row.e.Metadata.OccurredAt.UTC().Truncate(24 * time.Hour)}
	p := int64(row.e.Position)
	span, ok := d[key]
	if !ok {
		d[key] = [2]int64{p, p}
		return
	}
	d[key] = [2]int64{min(span[0], p), max(span[1], p)}
}

// write widens the stored days of schema to hold the gathered ones.
func (d auditDays) write(ctx context.Context, tx pgx.Tx, schema string) error {
	if len(d) == 0 {
		return nil
	}
	tenants, days := make([]uuid.UUID, 0, len(d)), make([]time.Time, 0, len(d))
	firsts, lasts := make([]int64, 0, len(d)), make([]int64, 0, len(d))
	for k, span := range d {
		tenants, days = append(tenants, k.tenant), append(days, k.day)
		firsts, lasts = append(firsts, span[0]), append(lasts, span[1])
	}
	t := table(schema, "audit_days")
	_, err := tx.Exec(ctx, `INSERT INTO `+t+` AS d (tenant_id, day, first_position, last_position)
SELECT * FROM unnest($1::uuid[], $2::date[], $3::bigint[], $4::bigint[])
ON CONFLICT (tenant_id, day) DO UPDATE
SET first_position = least(d.first_position, excluded.first_position),
    last_position = greatest(d.last_position, excluded.last_position)`, tenants, days, firsts, lasts)
	if err != nil {
		return fmt.Errorf("audit: write %d days: %w", len(d), err)
	}
	return nil
}

// auditDaysOfLog is the statement that fills the days table of schema
// from its audit_log, set-based.
func auditDaysOfLog(schema string) string {
	return `INSERT INTO ` + table(schema, "audit_days") + ` (tenant_id, day, first_position, last_position)
SELECT tenant_id, (occurred_at AT TIME ZONE 'UTC')::date, min(position), max(position)
FROM ` + table(schema, "audit_log") + ` GROUP BY 1, 2`
}

// addDateRange adds to w the range of positions of the events of tenant
// (its first parameter) that occurred in [from, to), read from the days
// table, and the exact condition on occurred_at. No day, no position: an
// empty range matches nothing.
func (w *auditConds) addDateRange(from, to *time.Time) {
	days := `FROM ` + table(LiveSchema, "audit_days") + ` WHERE tenant_id = $1`
	if from != nil {
		w.args = append(w.args, from.UTC().Truncate(24*time.Hour))
		days += fmt.Sprintf(` AND day >= $%d`, len(w.args))
	}
	if to != nil {
		w.args = append(w.args, to.UTC().Add(-time.Nanosecond).Truncate(24*time.Hour))
		days += fmt.Sprintf(` AND day <= $%d`, len(w.args))
	}
	w.conds = append(w.conds, `position >= (SELECT min(first_position) `+days+`)`,
		`position <= (SELECT max(last_position) `+days+`)`)
	if from != nil {
		w.add("occurred_at >= $%d", *from)
	}
	if to != nil {
		w.add("occurred_at < $%d", *to)
	}
}
