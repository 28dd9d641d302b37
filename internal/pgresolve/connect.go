package pgresolve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/internal/pguuid"
)

const (
	connectTimeout = 5 * time.Second
	localTimeout   = 5 * time.Second

	codeInvalidCatalogName = "3D000"
	codeDuplicateDatabase  = "42P04"
)

func connectURL(ctx context.Context, connString string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("parse connection string: %w", err)
	}
	if !strings.Contains(connString, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns()
	}
	where := describe(cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", where, oneLine{err})
	}
	return &DB{Pool: pool, Source: "LEDGER_DATABASE_URL " + where}, nil
}

func connectLocal(ctx context.Context, dbName string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig("")
	if err != nil {
		return nil, &probeError{addr: "the libpq defaults", err: err}
	}
	addLocalhostFallback(cfg.ConnConfig)
	addr := localAddr(cfg.ConnConfig)
	ctx, cancel := context.WithTimeout(ctx, localTimeout)
	defer cancel()
	pool, err := openDatabase(ctx, cfg, dbName)
	if err != nil {
		return nil, &probeError{addr: addr, err: oneLine{err}}
	}
	return &DB{Pool: pool, Source: "local Postgres at " + addr + ", database " + dbName}, nil
}

// openDatabase connects to cfg's maintenance database (its own, else
// "postgres"), creates dbName there if it is missing, and opens a pool on
// dbName.
func openDatabase(ctx context.Context, cfg *pgxpool.Config, dbName string) (*pgxpool.Pool, error) {
	conn, err := connectMaintenance(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, err
	}
	err = ensureDatabase(ctx, conn, dbName)
	if closeErr := conn.Close(ctx); err == nil && closeErr != nil {
		err = fmt.Errorf("close maintenance connection: %w", closeErr)
	}
	if err != nil {
		return nil, err
	}
	cfg = cfg.Copy()
	cfg.ConnConfig.Database = dbName
	cfg.MaxConns = defaultMaxConns()
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database %s: %w", dbName, err)
	}
	return pool, nil
}

func connectMaintenance(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	cfg = cfg.Copy()
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	var pgErr *pgconn.PgError
	if err == nil || cfg.Database == "postgres" || !errors.As(err, &pgErr) || pgErr.Code != codeInvalidCatalogName {
		return conn, err
	}
	cfg.Database = "postgres"
	return pgx.ConnectConfig(ctx, cfg)
}

func ensureDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	var exists bool
	err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	return createDatabase(ctx, conn, name)
}

// createDatabase creates database name; one that already exists, as when
// another process won the race, counts as created.
func createDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == codeDuplicateDatabase {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func openPool(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	cfg.AfterConnect = pguuid.AfterConnect
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// defaultMaxConns sizes a pool for one ledger process: up to 32 requests
// in flight at once, plus the connections that the projection runner (one
// per projection, holding its lock), its listener and the outbound
// publisher keep. A URL's pool_max_conns overrides it.
func defaultMaxConns() int32 { return 48 }

// addLocalhostFallback lets the local probe also try TCP on localhost when
// the libpq defaults chose a unix socket on their own, as servers in
// containers often listen on TCP only.
func addLocalhostFallback(cfg *pgx.ConnConfig) {
	for _, env := range []string{"PGHOST", "PGHOSTADDR", "PGSERVICE", "PGSSLMODE"} {
		if os.Getenv(env) != "" {
			return
		}
	}
	if strings.HasPrefix(cfg.Host, "/") && len(cfg.Fallbacks) == 0 {
		cfg.Fallbacks = append(cfg.Fallbacks, &pgconn.FallbackConfig{Host: "localhost", Port: cfg.Port})
	}
}

func localAddr(cfg *pgx.ConnConfig) string {
	addrs := []string{hostPort(cfg.Host, cfg.Port)}
	for _, fb := range cfg.Fallbacks {
		if a := hostPort(fb.Host, fb.Port); a != addrs[len(addrs)-1] {
			addrs = append(addrs, a)
		}
	}
	return strings.Join(addrs, " or ")
}

func describe(host string, port uint16, database string) string {
	if database == "" {
		database = "(default database)"
	}
	return hostPort(host, port) + "/" + database
}

func hostPort(host string, port uint16) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// oneLine shows an error on one line: pgx puts each failed connection
// attempt on a line of its own, often the same line twice.
type oneLine struct{ err error }

func (e oneLine) Error() string {
	var parts []string
	for _, line := range strings.Split(e.err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" && !slices.Contains(parts, line) {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, " ")
}

func (e oneLine) Unwrap() error { return e.err }
