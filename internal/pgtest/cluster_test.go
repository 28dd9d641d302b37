package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestClusterFaults restarts and kills a private cluster: a session open
// before each fault is gone after it, the server answers again once
// Restart or Start returns, and what was committed before a kill -9
// survives it.
func TestClusterFaults(t *testing.T) {
	t.Parallel()
	c := NewCluster(t)
	pool := c.Pool(t, "faults")
	ctx := context.Background()
	exec := func(sql string) error { // on a connection of its own
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, c.Config(t, "faults"))
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(`CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()

	c.Restart(t)
	if _, err := conn.Exec(ctx, `SELECT 1`); err == nil {
		t.Errorf("a session opened before the restart still answers after it")
	}
	if err := exec(`INSERT INTO kept VALUES (2)`); err != nil {
		t.Fatalf("after Restart: %v", err)
	}

	c.Kill(t)
	if c.running() {
		t.Fatalf("the postmaster runs after Kill")
	}
	if err := exec(`SELECT 1`); err == nil {
		t.Fatalf("the server answers after Kill")
	}
	c.Start(t)
	if err := exec(`DO $$ BEGIN IF (SELECT count(*) FROM kept) <> 2 THEN RAISE 'rows lost'; END IF; END $$`); err != nil {
		t.Fatalf("after Kill and Start: %v", err)
	}
}
