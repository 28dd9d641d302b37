package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// base is the server this test process uses, found once.
var base struct {
	once   sync.Once
	cfg    *pgx.ConnConfig
	source string
	err    error
}

// baseConfig finds, once per process, the server the tests use:
// LEDGER_TEST_DATABASE_URL when set; else a local server at the libpq
// defaults when one answers; else the shared embedded server. It prints
// which to stderr, once.
func baseConfig() (*pgx.ConnConfig, error) {
	base.once.Do(func() {
		base.cfg, base.source, base.err = findServer()
		if base.err == nil {
			fmt.Fprintf(os.Stderr, "pgtest: the tests use %s\n", base.source)
		}
	})
	if base.err != nil {
		return nil, base.err
	}
	return base.cfg.Copy(), nil
}

func findServer() (*pgx.ConnConfig, string, error) {
	url := os.Getenv("LEDGER_TEST_DATABASE_URL")
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, "", fmt.Errorf("parse LEDGER_TEST_DATABASE_URL: %w", err)
	}
	where := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if url != "" {
		return cfg, "LEDGER_TEST_DATABASE_URL (" + where + ")", nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	probe := cfg.Copy()
	probe.Database = "postgres"
	probe.ConnectTimeout = 3 * time.Second
	conn, localErr := pgx.ConnectConfig(ctx, probe)
	var answered *pgconn.PgError
	if localErr == nil || errors.As(localErr, &answered) {
		if conn != nil {
			conn.Close(ctx)
		}
		// A server that answers, even to refuse (too many clients for
		// now), is the local one: the tests use it and see its errors.
		return cfg, "the local Postgres at " + where + " (libpq defaults)", nil
	}
	shared, source, err := sharedServer(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("no LEDGER_TEST_DATABASE_URL, no local Postgres at %s (%v), and the embedded one: %w", where, localErr, err)
	}
	return shared, source, nil
}
