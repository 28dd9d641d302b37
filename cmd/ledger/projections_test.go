package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestProjectionsEndToEnd seeds a log through the real binary, rebuilds
// and verifies the read models, times their reads (every audit filter
// shape and the reports), then tampers with one row: verify must find it
// and exit non-zero, and a rebuild must repair it.
func TestProjectionsEndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	env := []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"}
	run := func(args ...string) (string, error) { t.Helper(); return runLedger(t, env, args...) }
	if out, err := run("bench", "seed", "--events", "3000"); err != nil || !strings.Contains(out, "seeded") {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	if out, err := run("projections", "rebuild", "--all"); err != nil || !strings.Contains(out, "events/s") {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	if out, err := run("projections", "verify"); err != nil || !strings.Contains(out, "equal to a fresh replay") {
		t.Fatalf("verify of a faithful read model: %v\n%s", err, out)
	}
	if out, err := run("bench", "reads", "--runs", "2"); err != nil || strings.Count(out, "\n") < 2+64+1+5 ||
		!strings.Contains(out, "partner+actor+account+subscription+type+date") || !strings.Contains(out, "mrr by account") {
		t.Fatalf("bench reads: %v\n%s", err, out)
	}
	if out, err := run("projections", "status"); err != nil || !strings.Contains(out, "accounts") || !strings.Contains(out, "LAG (EVENTS)") {
		t.Fatalf("status: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE readmodel.accounts SET name = 'tampered' WHERE account_id = (SELECT account_id FROM readmodel.accounts ORDER BY account_id LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	out, err := run("projections", "verify", "accounts")
	if err == nil || !strings.Contains(out, "only live") || !strings.Contains(out, "tampered") {
		t.Fatalf("verify after tampering: %v\n%s", err, out)
	}
	if out, err := run("projections", "rebuild", "accounts"); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	if out, err := run("projections", "verify", "accounts"); err != nil {
		t.Fatalf("verify after rebuild: %v\n%s", err, out)
	}
	if out, err := run("projections", "rebuild"); err == nil || !strings.Contains(out, "--all") {
		t.Fatalf("rebuild with no name: %v\n%s; want a clear refusal", err, out)
	}
}
