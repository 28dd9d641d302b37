// Package pgresolve finds the PostgreSQL database a ledger process uses:
// the one LEDGER_DATABASE_URL names; else a local server at the libpq
// defaults; else an embedded server that the process starts under its data
// directory.
package pgresolve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultDBName is the database the ledger uses on a local or embedded
// server.
const DefaultDBName = "ledger"

// ErrNoDatabase reports that no database could be found or started. Its
// message says what was tried and what to set.
var ErrNoDatabase = errors.New("no database available")

// DB is a resolved database.
type DB struct {
	// Pool is connected to the database.
	Pool *pgxpool.Pool
	// Source says where the database is, without secrets, for logging.
	Source string

	stop func() error
}

// Close closes the pool, then stops the embedded server if one was started
// for it.
func (db *DB) Close() error {
	if db.Pool != nil {
		db.Pool.Close()
	}
	if db.stop != nil {
		return db.stop()
	}
	return nil
}

// Resolver finds the database. Its function fields do the actual work;
// New fills them with the real implementations, and tests replace them.
type Resolver struct {
	// DatabaseURL is LEDGER_DATABASE_URL; when set, only it is tried.
	DatabaseURL string
	// DataDir is LEDGER_DATA_DIR, where the embedded server keeps its files.
	DataDir string
	// DBName is the database to use or create on a local or embedded
	// server; empty means DefaultDBName.
	DBName string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger

	// ConnectURL connects to the server that connString names.
	ConnectURL func(ctx context.Context, connString string) (*DB, error)
	// ConnectLocal connects to a local server at the libpq defaults and
	// creates dbName there if it is missing.
	ConnectLocal func(ctx context.Context, dbName string) (*DB, error)
	// StartEmbedded starts an embedded server under dataDir, as an
	// unprivileged user when this process is root, and connects to dbName
	// on it; when another process runs that server, it connects to it.
	StartEmbedded func(ctx context.Context, dataDir, dbName string) (*DB, error)
}

// New returns a Resolver that uses real servers.
func New(databaseURL, dataDir string, logger *slog.Logger) *Resolver {
	r := &Resolver{DatabaseURL: databaseURL, DataDir: dataDir, Logger: logger}
	r.ConnectURL = connectURL
	r.ConnectLocal = connectLocal
	r.StartEmbedded = func(ctx context.Context, dataDir, dbName string) (*DB, error) {
		return startEmbedded(ctx, dataDir, dbName, r.logger())
	}
	return r
}

// Resolve returns the first database that answers, in the order
// LEDGER_DATABASE_URL, local server, embedded server. A set but failing
// LEDGER_DATABASE_URL is an error, with no fallback. When nothing answers,
// the error wraps ErrNoDatabase and every reason.
func (r *Resolver) Resolve(ctx context.Context) (*DB, error) {
	if r.DatabaseURL != "" {
		db, err := r.ConnectURL(ctx, r.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("LEDGER_DATABASE_URL: %w", err)
		}
		return db, nil
	}
	db, localErr := r.ConnectLocal(ctx, r.dbName())
	if localErr == nil {
		return db, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("find a local postgres: %w", err)
	}
	addr := probeAddr(localErr)
	r.logger().Info("no local postgres", "addr", addr, "error", localErr)
	local := "LEDGER_DATABASE_URL is not set, no local Postgres answered at " + addr
	db, embeddedErr := r.StartEmbedded(ctx, r.DataDir, r.dbName())
	if embeddedErr != nil {
		return nil, fmt.Errorf("%w: %s (%w), and the embedded Postgres in %s failed to start (%w); "+
			"set LEDGER_DATABASE_URL=postgres://user@host:5432/ledger or start a local Postgres",
			ErrNoDatabase, local, localErr, r.DataDir, embeddedErr)
	}
	return db, nil
}

func (r *Resolver) dbName() string {
	if r.DBName == "" {
		return DefaultDBName
	}
	return r.DBName
}

func (r *Resolver) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// probeError is a failed attempt to use the local server at addr.
type probeError struct {
	addr string
	err  error
}

func (e *probeError) Error() string { return e.err.Error() }

func (e *probeError) Unwrap() error { return e.err }

func probeAddr(err error) string {
	var pe *probeError
	if errors.As(err, &pe) {
		return pe.addr
	}
	return "the libpq defaults"
}
