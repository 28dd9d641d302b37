package projections

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Querier is the read-only subset of a pgx connection, pool or transaction
// that the query functions of this package need. *pgxpool.Pool, *pgx.Conn
// and pgx.Tx all satisfy it.
type Querier interface {
	// Query runs sql and returns the resulting rows.
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	// QueryRow runs sql, which must return at most one row.
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
