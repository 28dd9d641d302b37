package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Readers of the log read only below the transaction horizon: the oldest
// transaction still running anywhere on the server, in any database. A
// transaction left open (a session idle in transaction, a forgotten psql,
// a stuck migration) holds every reader back for as long as it stays
// open: committed events wait, unread, behind it. HeldBack says whether
// that is happening, since when, and who holds it, for /readyz, a metric
// and the operator (docs/operations.md).

// HeldBack describes the transaction that holds the log's readers back.
type HeldBack struct {
	// Waiting is true when committed events wait behind a transaction
	// still running; the rest is set only then.
	Waiting bool
	// Since is when the holding transaction began, when the server shows
	// it (its own user's sessions, or any with pg_read_all_stats), else
	// when this store first saw it hold readers back.
	Since time.Time
	// PID, Database, State and Application describe the holder's session
	// when the server shows it; PID is 0 otherwise.
	PID         int32
	Database    string
	State       string
	Application string
}

// Age is how long the holder has held readers back, at now: 0 when none
// does.
func (h HeldBack) Age(now time.Time) time.Duration {
	if !h.Waiting {
		return 0
	}
	return now.Sub(h.Since)
}

// heldBackSQL finds whether a committed event lies at or above the
// horizon (with min, so that the planner walks the index from the
// horizon, whatever it guesses of how far that is), and the session whose
// transaction is the horizon.
const heldBackSQL = `
WITH h AS (
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin,
           position_base + pg_snapshot_xmin(pg_current_snapshot())::text::bigint * 65536 AS horizon
    FROM event_log
)
SELECT h.xmin,
       (SELECT min(position) FROM events WHERE position >= (SELECT horizon FROM h)) IS NOT NULL,
       a.pid, a.datname, a.state, a.application_name, a.xact_start
FROM h LEFT JOIN pg_stat_activity a ON a.backend_xid::text::bigint = h.xmin % 4294967296`

// firstSeen remembers since when one horizon has held readers back, for
// when the server does not show the holder's start.
type firstSeen struct {
	mu   sync.Mutex
	xmin int64
	at   time.Time
}

func (f *firstSeen) since(xmin int64, now time.Time) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.xmin != xmin || f.at.IsZero() {
		f.xmin, f.at = xmin, now
	}
	return f.at
}

// HeldBack reports whether a transaction holds the log's readers back,
// and which.
func (s *Store) HeldBack(ctx context.Context) (HeldBack, error) {
	var (
		xmin           int64
		h              HeldBack
		pid            *int32
		db, state, app *string
		xactStart      *time.Time
	)
	if err := s.pool.QueryRow(ctx, heldBackSQL).Scan(&xmin, &h.Waiting, &pid, &db, &state, &app, &xactStart); err != nil {
		return HeldBack{}, fmt.Errorf("read the transaction horizon: %w", err)
	}
	if !h.Waiting {
		return HeldBack{}, nil
	}
	h.Since = s.heldSince.since(xmin, time.Now())
	if pid != nil {
		h.PID, h.Database, h.State, h.Application = *pid, deref(db), deref(state), deref(app)
	}
	if xactStart != nil && xactStart.Before(h.Since) {
		h.Since = *xactStart
	}
	return h, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
