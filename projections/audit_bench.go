package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// AuditSample is what a benchmark of the audit log filters by: a tenant
// and its busiest subjects, chosen so that filters combined from them
// match something (the actor is one of the partner's users, the account
// one the partner acted on, the subscription one of the account's), and
// the tenant's last day of events.
type AuditSample struct {
	Tenant       uuid.UUID
	Events       int64 // the tenant's
	Partner      uuid.UUID
	Actor        uuid.UUID
	Account      uuid.UUID
	Subscription uuid.UUID
	Type         string // the tenant's second most frequent
	Day          time.Time
}

// SampleAudit reads the sample of tenant's audit log, or of the tenant
// with the most events when tenant is uuid.Nil. It scans the tenant's
// rows a few times: it is for benchmarks, not for requests.
func SampleAudit(ctx context.Context, db Querier, tenant uuid.UUID) (AuditSample, error) {
	t := table(LiveSchema, "audit_log")
	s := AuditSample{Tenant: tenant}
	steps := []struct {
		sql  string
		args func() []any
		dest func() []any
	}{
		{`SELECT tenant_id, count(*) FROM ` + t + ` WHERE $1::uuid IS NULL OR tenant_id = $1 GROUP BY 1 ORDER BY 2 DESC LIMIT 1`,
			func() []any { return []any{nullUUID(tenant)} }, func() []any { return []any{&s.Tenant, &s.Events} }},
		{`SELECT actor_partner_id FROM ` + t + ` WHERE tenant_id = $1 AND actor_partner_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`,
			func() []any { return []any{s.Tenant} }, func() []any { return []any{&s.Partner} }},
		{`SELECT actor_id FROM ` + t + ` WHERE tenant_id = $1 AND actor_partner_id = $2 AND actor_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`,
			func() []any { return []any{s.Tenant, s.Partner} }, func() []any { return []any{&s.Actor} }},
		{`SELECT account_id FROM ` + t + ` WHERE tenant_id = $1 AND actor_partner_id = $2 AND account_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`,
			func() []any { return []any{s.Tenant, s.Partner} }, func() []any { return []any{&s.Account} }},
		{`SELECT subscription_id FROM ` + t + ` WHERE tenant_id = $1 AND account_id = $2 AND subscription_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`,
			func() []any { return []any{s.Tenant, s.Account} }, func() []any { return []any{&s.Subscription} }},
		{`SELECT type FROM ` + t + ` WHERE tenant_id = $1 GROUP BY 1 ORDER BY count(*) DESC OFFSET 1 LIMIT 1`,
			func() []any { return []any{s.Tenant} }, func() []any { return []any{&s.Type} }},
		{`SELECT max(day)::timestamptz FROM ` + table(LiveSchema, "audit_days") + ` WHERE tenant_id = $1`,
			func() []any { return []any{s.Tenant} }, func() []any { return []any{&s.Day} }},
	}
	for _, step := range steps {
		if err := db.QueryRow(ctx, step.sql, step.args()...).Scan(step.dest()...); err != nil {
			return AuditSample{}, fmt.Errorf("sample the audit log: %w", err)
		}
	}
	s.Day = s.Day.UTC()
	return s, nil
}

// AuditMiddleCursor returns the cursor of the page of tenant's audit log,
// filtered by f, that begins in the middle of what f matches: a deep
// page. It is "" when f matches fewer than two events.
func AuditMiddleCursor(ctx context.Context, db Querier, tenant uuid.UUID, f AuditFilter) (string, error) {
	w, err := auditWhere(tenant, AuditViewer{}, f, "")
	if err != nil {
		return "", err
	}
	t, where := table(LiveSchema, "audit_log"), strings.Join(w.conds, " AND ")
	var position *int64
	err = db.QueryRow(ctx, `SELECT position FROM `+t+` WHERE `+where+` ORDER BY position
OFFSET (SELECT count(*) / 2 FROM `+t+` WHERE `+where+`) LIMIT 1`, w.args...).Scan(&position)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("middle of the audit log: %w", err)
	}
	if position == nil || *position == 0 {
		return "", nil
	}
	return encodeCursor(*position - 1)
}

// ExplainAuditEvents returns the plan of the query AuditEvents makes for
// the same arguments, run: EXPLAIN (ANALYZE, BUFFERS).
func ExplainAuditEvents(ctx context.Context, db Querier, tenant uuid.UUID, viewer AuditViewer, f AuditFilter, page Page) (string, error) {
	w, err := auditWhere(tenant, viewer, f, page.Cursor)
	if err != nil {
		return "", err
	}
	rows, err := w.queryPage(ctx, db, "EXPLAIN (ANALYZE, BUFFERS) ", page.Limit+1)
	if err != nil {
		return "", fmt.Errorf("explain audit events: %w", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("explain audit events: %w", err)
	}
	return strings.Join(lines, "\n"), nil
}
