package projections

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/domain"
)

// SQL fragments of the term scheduler's query, on the subscriptions
// table unqualified: the partial index subscriptions_term_due
// (subscriptions.go) is made of the same expressions, so that the
// planner matches them.
const (
	// subsNextTermEndSQL is domain.Subscription.NextTermEnd's date: the
	// start date plus (terms renewed + 1) × the term's months. Postgres's
	// date + interval clamps the day to the month's end exactly as
	// domain.Date.AddMonths does (Jan 31 + 1 month is Feb 28 or 29), and
	// counts the months from the start date, as the domain does, not from
	// the previous term end.
	subsNextTermEndSQL = `(start_date + make_interval(months => term_months * (terms_renewed + 1)))::date`
	// subsTermDueSQL holds for the subscriptions whose next term end is
	// still to be recorded: termed, not ended, and not cancelled on or
	// before that end (NextTermEnd is zero for the others).
	subsTermDueSQL = `term_type = 'termed' AND term_months > 0 AND NOT term_ended
    AND (cancel_date IS NULL OR cancel_date > ` + subsNextTermEndSQL + `)`
	// subsRenewableSQL leaves out an auto-renewing subscription whose
	// next term would end after domain.MaxDate: RecordTermEnds records
	// nothing for it, so it would otherwise be due for ever.
	subsRenewableSQL = `(NOT auto_renew
    OR (start_date + make_interval(months => term_months * (terms_renewed + 2)))::date <= $3::date)`
)

// dueTermEndsSQL reads, oldest term end first, at most $2 subscriptions
// whose next term end is on or before $1.
var dueTermEndsSQL = `SELECT tenant_id, subscription_id FROM {subs}
WHERE ` + subsTermDueSQL + ` AND ` + subsNextTermEndSQL + ` <= $1::date AND ` + subsRenewableSQL + `
ORDER BY ` + subsNextTermEndSQL + `, subscription_id
LIMIT $2`

// TermDue is a subscription whose term has come to an end that is not
// recorded yet: the term scheduler decides RecordTermEnds for it.
type TermDue struct {
	TenantID       uuid.UUID
	SubscriptionID uuid.UUID
}

// DueTermEnds returns, across tenants, at most limit termed subscriptions
// whose next unrecorded term end (start date + (terms renewed + 1) ×
// months) is on or before today, that have not ended and are not
// cancelled on or before that end, those whose end came first first. It
// reads the partial index subscriptions_term_due, which holds only
// subscriptions still to renew or end, so it stays cheap however many
// subscriptions there are. The read model may lag the log: the scheduler
// decides on the subscription's stream, which records each term end once.
func DueTermEnds(ctx context.Context, db Querier, today domain.Date, limit int) ([]TermDue, error) {
	if limit < 1 {
		return nil, domain.Invalid("limit", "must be at least 1")
	}
	rows, err := db.Query(ctx, subsTables(LiveSchema).expand(dueTermEndsSQL), subsDate(today), limit, subsDate(domain.MaxDate))
	if err != nil {
		return nil, fmt.Errorf("query due term ends: %w", err)
	}
	due, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TermDue, error) {
		var d TermDue
		err := r.Scan(&d.TenantID, &d.SubscriptionID)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("query due term ends: %w", err)
	}
	return due, nil
}
