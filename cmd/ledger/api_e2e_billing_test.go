package main

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// The billing walk of api.md's example, through HTTP only, against the
// real binary: a partner operator upgrades a subscription mid-period,
// previews the proration and amends; finance runs a bill run and sees the
// credit and the new charge; the partner's viewer sees the invoices of
// its account and not the others'; a second bill run bills nothing.

type invoiceLineJSON struct {
	ID              string `json:"id"`
	SubscriptionID  string `json:"subscription_id"`
	ItemID          string `json:"item_id"`
	ChargeID        string `json:"charge_id"`
	Type            string `json:"type"`
	Description     string `json:"description"`
	PeriodFrom      string `json:"period_from"`
	PeriodTo        string `json:"period_to"`
	Quantity        string `json:"quantity"`
	UnitPrice       string `json:"unit_price"`
	ProrationFactor string `json:"proration_factor"`
	Amount          string `json:"amount"`
}

type invoiceJSON struct {
	ID        string            `json:"id"`
	Number    string            `json:"number"`
	AccountID string            `json:"account_id"`
	Currency  string            `json:"currency"`
	Status    string            `json:"status"`
	IssueDate string            `json:"issue_date"`
	DueDate   string            `json:"due_date"`
	Billing   billingJSON       `json:"billing"`
	Lines     []invoiceLineJSON `json:"lines"`
	Total     string            `json:"total"`
	BillRunID string            `json:"bill_run_id"`
	Version   int               `json:"version"`
}

type billRunJSON struct {
	ID         string `json:"id"`
	TargetDate string `json:"target_date"`
	Status     string `json:"status"`
	Invoices   []struct {
		ID        string `json:"id"`
		Number    string `json:"number"`
		AccountID string `json:"account_id"`
		Currency  string `json:"currency"`
		Total     string `json:"total"`
	} `json:"invoices"`
	Totals []struct {
		Currency string `json:"currency"`
		Total    string `json:"total"`
	} `json:"totals"`
	Version int `json:"version"`
}

// prorationLine is an invoice line not billed yet: it has no id.
type prorationLine struct {
	SubscriptionID  string `json:"subscription_id"`
	ItemID          string `json:"item_id"`
	ChargeID        string `json:"charge_id"`
	Type            string `json:"type"`
	Description     string `json:"description"`
	PeriodFrom      string `json:"period_from"`
	PeriodTo        string `json:"period_to"`
	Quantity        string `json:"quantity"`
	UnitPrice       string `json:"unit_price"`
	ProrationFactor string `json:"proration_factor"`
	Amount          string `json:"amount"`
}

type previewJSON struct {
	subscriptionJSON
	Proration struct {
		Lines []prorationLine `json:"lines"`
		Total string          `json:"total"`
	} `json:"proration"`
}

func TestAPIBillingEndToEnd(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	runSteps(t, []step{
		{name: "accounts", run: s.openAccounts},
		{name: "partner access", needs: []string{"accounts"}, run: s.grantPartner},
		{name: "partner users", needs: []string{"partner access"}, run: s.addPartnerUsers},
		{name: "billing", needs: []string{"partner users"}, run: s.billingWalk},
		{name: "terms", needs: []string{"accounts"}, run: s.termsRenew},
	})
}

// termsRenew subscribes for monthly terms that renew, from a date three
// term ends ago: the server's scheduler records each renewal once, as the
// system.
func (s *scenario) termsRenew(t *testing.T) {
	var cat productJSON
	s.admin.post(t, s.tp("/products"), map[string]any{"name": "Termed", "sku": "TERMED", "charges": []map[string]any{
		{"name": "Plan", "type": "recurring", "price": "10.00", "currency": s.accounts[1].Currency, "billing_period": "month"}}}).wantJSON(t, 201, &cat)
	start := time.Now().UTC().AddDate(0, -3, -1).Format(time.DateOnly)
	var sub subscriptionJSON
	s.admin.post(t, s.tp("/subscriptions"), map[string]any{"account_id": s.accounts[1].ID, "start_date": start,
		"term":  map[string]any{"type": "termed", "months": 1, "auto_renew": true},
		"items": []map[string]any{{"product_id": cat.ID, "charge_id": cat.Charges[0].ID, "quantity": 1}}}).wantJSON(t, 201, &sub)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var page struct {
			Items []struct {
				Type  string    `json:"type"`
				Actor actorJSON `json:"actor"`
			} `json:"items"`
		}
		r := s.admin.get(t, s.tp("/subscriptions/%s/history", sub.ID)).want(t, 200)
		if err := json.Unmarshal(r.Body, &page); err != nil {
			t.Fatal(err)
		}
		history := page.Items
		renewals := 0
		for _, e := range history[1:] {
			if e.Type != "SubscriptionRenewed" || e.Actor.Type != "system" {
				t.Fatalf("history %+v: want only renewals by the system after the creation", history)
			}
			renewals++
		}
		if renewals == 3 {
			return
		}
		if renewals > 3 || time.Now().After(deadline) {
			t.Fatalf("%d renewals recorded, want 3 (terms from %s ended three times)", renewals, start)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *scenario) billingWalk(t *testing.T) {
	var basic, pro productJSON
	for _, p := range []struct {
		dst              *productJSON
		name, sku, price string
	}{{&basic, "Basic", "BASIC", "15.00"}, {&pro, "Pro", "PRO", "30.00"}} {
		s.admin.post(t, s.tp("/products"), map[string]any{"name": p.name, "sku": p.sku, "charges": []map[string]any{
			{"name": p.name, "type": "recurring", "price": p.price, "currency": s.accounts[0].Currency, "billing_period": "month"}}}).wantJSON(t, 201, p.dst)
	}
	subscribe := func(c *caller, account string) subscriptionJSON {
		var sub subscriptionJSON
		c.post(t, s.tp("/subscriptions"), map[string]any{"account_id": account, "start_date": "2026-04-01", "term": map[string]any{"type": "evergreen"},
			"items": []map[string]any{{"product_id": basic.ID, "charge_id": basic.Charges[0].ID, "quantity": 1}}}).wantJSON(t, 201, &sub)
		return sub
	}
	mine := subscribe(s.operator, s.accounts[0].ID)
	subscribe(s.admin, s.accounts[2].ID)
	var fin newUserJSON
	s.admin.post(t, s.tp("/users"), map[string]any{"name": "Fiona Finance", "role": "finance"}).wantJSON(t, 201, &fin)
	finance := s.tenantUser("finance", fin.ID, fin.Key)

	april := s.billRun(t, finance, "2026-04-01")
	if len(april.Invoices) != 2 || april.Totals[0].Total != "30.00" {
		t.Fatalf("April's run: %+v, want two invoices of 15.00", april)
	}

	upgrade := map[string]any{"effective_date": "2026-04-05", "changes": []map[string]any{
		{"type": "remove_item", "item_id": mine.Items[0].ID},
		{"type": "add_item", "product_id": pro.ID, "charge_id": pro.Charges[0].ID, "quantity": 1},
	}}
	var preview previewJSON
	s.operator.post(t, s.tp("/subscriptions/%s/amendments?preview=true", mine.ID), upgrade).wantJSON(t, 200, &preview)
	got := map[string]string{}
	for _, l := range preview.Proration.Lines {
		got[l.Type] = l.Amount + " × " + l.ProrationFactor
	}
	if preview.Proration.Total != "13.00" || got["credit"] != "-13.00 × 0.866666667" || got["recurring"] != "26.00 × 0.866666667" || len(got) != 2 {
		t.Fatalf("preview: %v, total %s; want credit -13.00 and charge 26.00 at 26/30, total 13.00", got, preview.Proration.Total)
	}
	if preview.Version != mine.Version+1 {
		t.Errorf("previewed version %d, want %d", preview.Version, mine.Version+1)
	}
	s.operator.get(t, s.tp("/subscriptions/%s", mine.ID)).wantETag(t, mine.Version) // nothing appended
	s.operator.post(t, s.tp("/subscriptions/%s/amendments", mine.ID), upgrade).want(t, 200)

	again := s.billRun(t, finance, "2026-04-01")
	if len(again.Invoices) != 1 || again.Invoices[0].AccountID != s.accounts[0].ID || again.Invoices[0].Total != "13.00" {
		t.Fatalf("the run after the upgrade: %+v, want one invoice of 13.00 for the upgraded account", again)
	}
	var inv invoiceJSON
	finance.get(t, s.tp("/invoices/%s", again.Invoices[0].ID)).wantJSON(t, 200, &inv)
	amounts := []string{}
	for _, l := range inv.Lines {
		amounts = append(amounts, l.Type+" "+l.Amount)
	}
	if !slices.Equal(amounts, []string{"credit -13.00", "recurring 26.00"}) || inv.Number != "INV-000003" {
		t.Fatalf("invoice %s lines %v, want INV-000003 with credit -13.00 and recurring 26.00", inv.Number, amounts)
	}

	var seen listJSON[invoiceJSON]
	s.viewer.get(t, s.tp("/invoices")).wantJSON(t, 200, &seen)
	for _, i := range seen.Items {
		if i.AccountID != s.accounts[0].ID && i.AccountID != s.accounts[1].ID {
			t.Errorf("the viewer sees invoice %s of account %s, outside its scope", i.Number, i.AccountID)
		}
	}
	if len(seen.Items) != 2 {
		t.Errorf("the viewer sees %d invoices, want its account's two", len(seen.Items))
	}
	for _, i := range april.Invoices {
		if i.AccountID == s.accounts[2].ID {
			s.viewer.get(t, s.tp("/invoices/%s", i.ID)).problem(t, 404, "not_found")
		}
	}
	s.operator.post(t, s.tp("/bill-runs"), map[string]any{"target_date": "2026-04-01"}).problem(t, 403, "")
	if last := s.billRun(t, finance, "2026-04-01"); len(last.Invoices) != 0 {
		t.Fatalf("a second run for the same date issued %+v, want nothing", last.Invoices)
	}
}

func (s *scenario) billRun(t *testing.T, c *caller, target string) billRunJSON {
	t.Helper()
	var run billRunJSON
	r := c.post(t, s.tp("/bill-runs"), map[string]any{"target_date": target}).wantJSON(t, 201, &run)
	if run.Status != "completed" || run.TargetDate != target || r.Header.Get("Location") != s.tp("/bill-runs/%s", run.ID) {
		t.Fatalf("bill run %+v at %s, want completed for %s", run, r.Header.Get("Location"), target)
	}
	return run
}
