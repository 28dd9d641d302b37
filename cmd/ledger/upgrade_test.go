package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestServeUpgradesReadModels runs `ledger serve` on a database whose
// read models an older build made: its subscriptions read model has no
// table of scheduled changes (wave 1 had none). The new build finds the
// shape changed, rebuilds that read model beside the live one before it
// listens, and serves the subscription made by the older build, scheduled
// changes and all, as if it had always run.
func TestServeUpgradesReadModels(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	env := []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"}
	tb := runBootstrap(t, env, "tenant", "Upgrade Ltd")
	tp := func(format string, args ...any) string {
		return "/v1/tenants/" + tb.ID.String() + fmt.Sprintf(format, args...)
	}

	srv := startServer(t, dbURL)
	admin := &caller{api: newAPIClient(srv.base), name: "tenant admin", key: tb.AdminKey}
	var product productJSON
	admin.post(t, tp("/products"), map[string]any{"name": "Plan", "sku": "PLAN",
		"charges": []map[string]any{{"name": "Seat", "type": "recurring", "price": "10.00", "currency": "USD", "billing_period": "month"}},
	}).wantJSON(t, 201, &product)
	var account accountJSON
	admin.post(t, tp("/accounts"), accountBody("Customer", map[string]any{"contact_name": "Pat", "email": "pat@example.test"})).wantJSON(t, 201, &account)
	var sub subscriptionJSON
	admin.post(t, tp("/subscriptions"), map[string]any{"account_id": account.ID,
		"start_date": time.Now().UTC().AddDate(0, -1, 0).Format(time.DateOnly), "term": map[string]any{"type": "evergreen"},
		"items": []map[string]any{{"product_id": product.ID, "charge_id": product.Charges[0].ID, "quantity": 1}}}).wantJSON(t, 201, &sub)
	r := admin.post(t, tp("/subscriptions/%s/amendments", sub.ID), map[string]any{
		"effective_date": time.Now().UTC().AddDate(0, 1, 0).Format(time.DateOnly),
		"changes":        []map[string]any{{"type": "change_quantity", "item_id": sub.Items[0].ID, "quantity": 3}}}).want(t, 200)
	position := r.Header.Get("Ledger-Position")
	admin.get(t, tp("/subscriptions/%s", sub.ID), "Ledger-Min-Position", position).want(t, 200)
	srv.stop(t)

	asOlderBuild(t, dbURL, `DROP TABLE readmodel.subscription_scheduled_changes, readmodel.subscription_scheduled_quantities`)

	srv = startServer(t, dbURL)
	admin = &caller{api: newAPIClient(srv.base), name: "tenant admin", key: tb.AdminKey}
	var got subscriptionJSON
	admin.get(t, tp("/subscriptions/%s", sub.ID)).wantJSON(t, 200, &got)
	if len(got.ScheduledChanges) != 1 || got.Version != 2 {
		t.Fatalf("after the upgrade: version %d with scheduled changes %+v, want version 2 with the one amendment", got.Version, got.ScheduledChanges)
	}
	if logs := srv.stop(t); !strings.Contains(logs, "read models rebuilt in their new shape") || !strings.Contains(logs, "subscriptions") {
		t.Errorf("the server's logs do not say it rebuilt the subscriptions read model:\n%s", logs)
	}
}

// asOlderBuild runs ddl on the database at dbURL, turning its read models
// into those of an older build.
func asOlderBuild(t *testing.T, dbURL, ddl string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, ddl); err != nil {
		t.Fatalf("%s: %v", ddl, err)
	}
}
