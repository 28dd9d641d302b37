// Package pgtest gives each test package a fresh Postgres database of its
// own, dropped when the tests end, so runs never see each other's data.
//
// It connects with LEDGER_TEST_DATABASE_URL when set, else with the libpq
// defaults (PGHOST, PGPORT, PGUSER…; the local socket or localhost:5432)
// when a server answers there, else to an embedded Postgres started as
// make run starts one, shared by the test packages of a run (shared.go).
// The first use in a test process prints which to stderr.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/internal/pguuid"
)

// BaseConfig returns the connection settings that tests start from.
func BaseConfig(tb testing.TB) *pgx.ConnConfig {
	tb.Helper()
	cfg, err := baseConfig()
	if err != nil {
		tb.Fatalf("find a Postgres for the tests: %v", err)
	}
	return cfg
}

// NewDatabase creates an empty database, returns a pool of up to maxConns
// connections to it, and drops the database when tb ends.
func NewDatabase(tb testing.TB, maxConns int32) *pgxpool.Pool {
	tb.Helper()
	cfg := newDatabase(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	poolCfg, err := pgxpool.ParseConfig("")
	if err != nil {
		tb.Fatalf("pool config: %v", err)
	}
	poolCfg.ConnConfig = cfg
	poolCfg.MaxConns = maxConns
	poolCfg.AfterConnect = pguuid.AfterConnect
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		tb.Fatalf("connect to %s: %v", cfg.Database, err)
	}
	tb.Cleanup(pool.Close) // runs before the drop, registered earlier
	return pool
}

// NewDatabaseURL creates an empty database, dropped when tb ends, and
// returns a postgres:// URL to it, for a process the test starts.
func NewDatabaseURL(tb testing.TB) string {
	tb.Helper()
	cfg := newDatabase(tb)
	u := &url.URL{Scheme: "postgres", Host: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), Path: "/" + cfg.Database}
	if strings.HasPrefix(cfg.Host, "/") { // a unix socket
		u.Host = ""
		u.RawQuery = url.Values{"host": {cfg.Host}, "port": {strconv.Itoa(int(cfg.Port))}}.Encode()
	}
	if cfg.User != "" {
		u.User = url.UserPassword(cfg.User, cfg.Password)
		if cfg.Password == "" {
			u.User = url.User(cfg.User)
		}
	}
	q := u.Query()
	if cfg.TLSConfig == nil {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// newDatabase creates an empty database, dropped when tb ends, and
// returns the settings to connect to it.
func newDatabase(tb testing.TB) *pgx.ConnConfig {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := adminConn(ctx, tb)
	defer admin.Close(ctx)
	name := "ledger_test_" + randomSuffix(tb)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin := adminConn(ctx, tb)
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	cfg := BaseConfig(tb)
	cfg.Database = name
	return cfg
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
