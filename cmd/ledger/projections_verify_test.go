package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestVerifyReportsDriftEndToEnd seeds a log through the real binary,
// rebuilds the read models, and plants in turn each drift that
// `ledger projections verify` must report and exit non-zero for: a price
// kept at its value but not its scale, a price that changes a live
// subscription's MRR (reported by the domain's fold against the read
// model's SQL), and a log appended to while no projection runs (behind
// the head). A rebuild repairs the first two.
func TestVerifyReportsDriftEndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	env := []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"}
	run := func(args ...string) (string, error) { t.Helper(); return runLedger(t, env, args...) }
	if out, err := run("bench", "seed", "--events", "2000"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	if out, err := run("projections", "rebuild", "--all"); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	if out, err := run("projections", "verify", "subscriptions"); err != nil || !strings.Contains(out, "subscriptions: equal to a fresh replay") {
		t.Fatalf("verify of a faithful read model: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// A recurring item in effect today of a subscription in force.
	var sub, item, price string
	err = conn.QueryRow(ctx, `SELECT i.subscription_id::text, i.item_id::text, i.unit_price::text
FROM readmodel.subscription_items i JOIN readmodel.subscriptions s USING (subscription_id)
WHERE i.type = 'recurring' AND i.effective_from <= current_date AND (i.effective_to IS NULL OR i.effective_to > current_date)
    AND (s.end_date IS NULL OR s.end_date > current_date)
ORDER BY i.item_id LIMIT 1`).Scan(&sub, &item, &price)
	if err != nil {
		t.Fatalf("find an item in effect: %v", err)
	}

	tests := []struct {
		name, plant string
		want        []string
	}{
		{name: "a changed scale", plant: `UPDATE readmodel.subscription_items SET unit_price = unit_price::numeric(30, 8) WHERE item_id = $1`,
			want: []string{"subscriptions.subscription_items: only live", `"unit_price":"` + scaled(price, 8) + `"`, "subscriptions.subscription_items: only rebuilt"}},
		{name: "an MRR drift", plant: `UPDATE readmodel.subscription_items SET unit_price = unit_price + 1 WHERE item_id = $1`,
			want: []string{"subscriptions.subscriptions: the read model and the domain disagree", sub}},
	}
	for _, tt := range tests {
		if _, err := conn.Exec(ctx, tt.plant, item); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		out, err := run("projections", "verify", "subscriptions")
		if err == nil || !strings.Contains(out, "1 of 1 projections differ") {
			t.Errorf("verify after %s: %v, want an exit with 1 of 1 projections differing\n%s", tt.name, err, out)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("verify after %s does not say %q:\n%s", tt.name, w, out)
			}
		}
		if out, err := run("projections", "rebuild", "subscriptions"); err != nil {
			t.Fatalf("rebuild after %s: %v\n%s", tt.name, err, out)
		}
	}

	runBootstrap(t, env, "tenant", "Appended While Nothing Projects")
	out, err := run("projections", "verify", "accounts")
	if err == nil || !strings.Contains(out, "accounts: behind the head by ") || strings.Contains(out, "equal to a fresh replay") {
		t.Errorf("verify with a tenant appended after the rebuild: %v, want accounts behind the head\n%s", err, out)
	}
}

// scaled is decimal text price with places decimal places, as numeric
// shows it.
func scaled(price string, places int) string {
	whole, frac, _ := strings.Cut(price, ".")
	return whole + "." + (frac + strings.Repeat("0", places))[:places]
}
