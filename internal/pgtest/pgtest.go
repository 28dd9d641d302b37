// Package pgtest gives each test package a fresh Postgres database of its
// own, dropped when the tests end, so runs never see each other's data.
//
// It connects with LEDGER_TEST_DATABASE_URL when set, else with the libpq
// defaults (PGHOST, PGPORT, PGUSER…; the local socket or localhost:5432).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/internal/pguuid"
)

// BaseConfig returns the connection settings that tests start from.
func BaseConfig(tb testing.TB) *pgx.ConnConfig {
	tb.Helper()
	cfg, err := pgx.ParseConfig(os.Getenv("LEDGER_TEST_DATABASE_URL"))
	if err != nil {
		tb.Fatalf("parse LEDGER_TEST_DATABASE_URL: %v", err)
	}
	return cfg
}

// NewDatabase creates an empty database, returns a pool of up to maxConns
// connections to it, and drops the database when tb ends.
func NewDatabase(tb testing.TB, maxConns int32) *pgxpool.Pool {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := adminConn(ctx, tb)
	defer admin.Close(ctx)
	name := "ledger_test_" + randomSuffix(tb)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	cfg := BaseConfig(tb)
	poolCfg, err := pgxpool.ParseConfig("")
	if err != nil {
		tb.Fatalf("pool config: %v", err)
	}
	poolCfg.ConnConfig = cfg
	poolCfg.ConnConfig.Database = name
	poolCfg.MaxConns = maxConns
	poolCfg.AfterConnect = pguuid.AfterConnect
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		tb.Fatalf("connect to %s: %v", name, err)
	}
	tb.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin := adminConn(ctx, tb)
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	return pool
}

func adminConn(ctx context.Context, tb testing.TB) *pgx.Conn {
	tb.Helper()
	cfg := BaseConfig(tb)
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("connect to Postgres at %s:%d (start it, or set LEDGER_TEST_DATABASE_URL): %v", cfg.Host, cfg.Port, err)
	}
	return conn
}

func randomSuffix(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("random: %v", err)
	}
	return fmt.Sprintf("%d_%s", os.Getpid(), hex.EncodeToString(b))
}
