package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// TestMRRReportTiesOut runs the book through the real binary:
// three accounts, each on a product of its own at 10.00 a quarter,
// subscribed by two partners and by the tenant directly, so that every
// grouping has three groups of 3.333… a month. For every group_by the
// report's total is 10.00 a month (40.00 × 3 ÷ 12, rounded once), and
// the groups sum to it exactly: the rounding's cent goes to one group by
// largest remainder, all equal here, so to the first in the report's
// order, which is by key among equals.
func TestMRRReportTiesOut(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	srv := startServer(t, dbURL)
	api := newAPIClient(srv.base)
	env := []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"}
	tb := runBootstrap(t, env, "tenant", "Tie Out Ltd")
	tenant := tb.ID.String()
	tp := func(format string, args ...any) string { return "/v1/tenants/" + tenant + fmt.Sprintf(format, args...) }
	admin := &caller{api: api, name: "tenant admin", key: tb.AdminKey}
	subscribers := []*caller{admin}
	for _, name := range []string{"Partner One", "Partner Two"} {
		pb := runBootstrap(t, env, "partner", name)
		admin.put(t, tp("/partners/%s/access", pb.ID), map[string]any{"role": "partner_operator", "all_accounts": true}).want(t, 201)
		subscribers = append(subscribers, &caller{api: api, name: name + "'s admin", key: pb.AdminKey})
	}
	start := time.Now().UTC().AddDate(0, -1, 0).Format(time.DateOnly)
	for i, by := range subscribers {
		var product productJSON
		admin.post(t, tp("/products"), map[string]any{"name": fmt.Sprintf("Plan %d", i), "sku": fmt.Sprintf("PLAN-%d", i),
			"charges": []map[string]any{{"name": "Quarterly", "type": "recurring", "price": "10.00", "currency": "USD", "billing_period": "quarter"}},
		}).wantJSON(t, 201, &product)
		var account accountJSON
		admin.post(t, tp("/accounts"), accountBody(fmt.Sprintf("Customer %d", i),
			map[string]any{"contact_name": "Pat", "email": fmt.Sprintf("pat%d@example.test", i)})).wantJSON(t, 201, &account)
		var sub struct{ MRR string } // the whole representation is the other end-to-end tests' to check
		r := by.post(t, tp("/subscriptions"), map[string]any{"account_id": account.ID, "start_date": start, "term": map[string]any{"type": "evergreen"},
			"items": []map[string]any{{"product_id": product.ID, "charge_id": product.Charges[0].ID, "quantity": 1}}}).want(t, 201)
		if err := json.Unmarshal(r.Body, &sub); err != nil || sub.MRR != "3.33" {
			t.Errorf("subscription %d: mrr %s, want 3.33", i, sub.MRR)
		}
	}

	for _, groupBy := range []string{"none", "partner", "product", "account"} {
		var report mrrJSON
		admin.get(t, tp("/reports/mrr?group_by=%s", groupBy)).wantJSON(t, 200, &report)
		if want := []mrrTotalJSON{{Currency: "USD", MRR: "10.00", ARR: "120.00"}}; !slices.Equal(report.Totals, want) {
			t.Errorf("by %s: totals %+v, want %+v", groupBy, report.Totals, want)
		}
		if groupBy == "none" {
			if len(report.Groups) != 0 {
				t.Errorf("by none: groups %+v, want none", report.Groups)
			}
			continue
		}
		wantTiedOut(t, groupBy, report)
	}
}

// wantTiedOut checks report's three groups of 3.333… a month: they sum to
// the total, the first (by key) gets the rounding's cent, and ARR is
// exact.
func wantTiedOut(t *testing.T, groupBy string, report mrrJSON) {
	t.Helper()
	if len(report.Groups) != 3 || len(report.Totals) != 1 {
		t.Errorf("by %s: %d groups and %d totals, want 3 and 1: %+v", groupBy, len(report.Groups), len(report.Totals), report)
		return
	}
	sum := decimal.Zero
	keys := make([]string, 3)
	for i, g := range report.Groups {
		wantMRR := "3.33"
		if i == 0 {
			wantMRR = "3.34"
		}
		if g.Currency != "USD" || g.MRR != wantMRR || g.ARR != "40.00" {
			t.Errorf("by %s: group %d = %+v, want USD, mrr %s, arr 40.00", groupBy, i, g, wantMRR)
		}
		sum, keys[i] = sum.Add(decimal.RequireFromString(g.MRR)), g.Key
	}
	if got := sum.StringFixed(2); got != report.Totals[0].MRR {
		t.Errorf("by %s: the groups sum to %s, the total is %s", groupBy, got, report.Totals[0].MRR)
	}
	if !slices.IsSorted(keys) {
		t.Errorf("by %s: equal groups not in order of key: %v", groupBy, keys)
	}
}
