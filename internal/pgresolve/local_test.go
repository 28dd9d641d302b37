package pgresolve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// localMaintenance connects to the local server's maintenance database, or
// skips the test when no local server answers.
func localMaintenance(t *testing.T) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		t.Fatalf("parse libpq defaults: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := connectMaintenance(ctx, cfg)
	if err != nil {
		t.Skipf("no local PostgreSQL answers at the libpq defaults, so the local resolution is not tested: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func uniqueDBName(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("ledger_test_%d_%d", os.Getpid(), time.Now().UnixNano())
}

func dropDatabase(t *testing.T, conn *pgx.Conn, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("drop database %s: %v", name, err)
	}
}

func TestResolveLocalCreatesDatabase(t *testing.T) {
	t.Parallel()
	maint := localMaintenance(t)
	name := uniqueDBName(t)
	t.Cleanup(func() { dropDatabase(t, maint, name) })

	r := New("", t.TempDir(), nil)
	r.DBName = name
	r.StartEmbedded = func(context.Context, string, string) (*DB, error) {
		t.Error("embedded postgres started although a local one answers")
		return nil, errors.New("unexpected")
	}
	ctx := context.Background()
	for range 2 { // the second time the database exists already
		db, err := r.Resolve(ctx)
		if err != nil {
			t.Fatalf("Resolve: %v", err)
		}
		var current string
		err = db.Pool.QueryRow(ctx, "SELECT current_database()").Scan(&current)
		if closeErr := db.Close(); closeErr != nil {
			t.Errorf("Close: %v", closeErr)
		}
		if err != nil || current != name {
			t.Fatalf("current_database() = %q, %v; want %q", current, err, name)
		}
		if !strings.HasPrefix(db.Source, "local Postgres at ") || !strings.HasSuffix(db.Source, "database "+name) {
			t.Errorf("Source = %q, want the local server and database %s", db.Source, name)
		}
	}
}

func TestCreateDatabaseAcceptsExisting(t *testing.T) {
	t.Parallel()
	maint := localMaintenance(t)
	name := uniqueDBName(t)
	t.Cleanup(func() { dropDatabase(t, maint, name) })
	ctx := context.Background()
	for i := range 2 {
		if err := createDatabase(ctx, maint, name); err != nil {
			t.Fatalf("createDatabase #%d: %v", i+1, err)
		}
	}
}

func TestConnectURLNamesServerWithoutPassword(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := connectURL(ctx, "postgres://nobody:s3cret@127.0.0.1:1/ledger?sslmode=disable")
	if err == nil {
		t.Fatal("connectURL to a closed port succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "connect to 127.0.0.1:1/ledger") || strings.Contains(msg, "s3cret") {
		t.Errorf("error %q should name 127.0.0.1:1/ledger and hide the password", msg)
	}
}
