package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// scheduledShop is a tenant with a product of a seat (49.00/month) and
// API calls (usage), and one account, on a server of its own.
type scheduledShop struct {
	admin              *caller
	tenant             string
	account            string
	product            productJSON
	seat, calls, setup chargeJSON
}

func newScheduledShop(t *testing.T) *scheduledShop {
	t.Helper()
	dbURL := freshDatabase(t)
	srv := startServer(t, dbURL)
	tb := runBootstrap(t, []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"}, "tenant", "Schedules Ltd")
	s := &scheduledShop{tenant: tb.ID.String()}
	s.admin = &caller{api: newAPIClient(srv.base), name: "tenant admin", key: tb.AdminKey,
		actor: actorJSON{Type: "tenant_user", ID: str(tb.AdminUserID.String())}}
	s.admin.post(t, s.tp("/products"), map[string]any{"name": "API Plan", "sku": "API-1", "charges": []map[string]any{
		{"name": "Seat", "type": "recurring", "price": "49.00", "currency": "USD", "billing_period": "month"},
		{"name": "API calls", "type": "usage", "price": "0.002", "currency": "USD", "unit": "call"},
		{"name": "Setup", "type": "one_time", "price": "250.00", "currency": "USD"},
	}}).wantJSON(t, 201, &s.product)
	s.seat, s.calls, s.setup = s.product.Charges[0], s.product.Charges[1], s.product.Charges[2]
	var account accountJSON
	s.admin.post(t, s.tp("/accounts"), accountBody("Initech", map[string]any{"contact_name": "Bill", "email": "ap@initech.example"})).
		wantJSON(t, 201, &account)
	s.account = account.ID
	return s
}

func (s *scheduledShop) tp(format string, args ...any) string {
	return "/v1/tenants/" + s.tenant + fmt.Sprintf(format, args...)
}

// subscribe subscribes the account, from start, to 3 seats and the API
// calls.
func (s *scheduledShop) subscribe(t *testing.T, start string) subscriptionJSON {
	t.Helper()
	var sub subscriptionJSON
	s.admin.post(t, s.tp("/subscriptions"), map[string]any{"account_id": s.account, "start_date": start,
		"term": map[string]any{"type": "evergreen"}, "items": []map[string]any{
			{"product_id": s.product.ID, "charge_id": s.seat.ID, "quantity": 3},
			{"product_id": s.product.ID, "charge_id": s.calls.ID, "quantity": 1},
		}}).wantJSON(t, 201, &sub)
	return sub
}

// record records quantity calls on sub at instant at.
func (s *scheduledShop) record(t *testing.T, sub subscriptionJSON, quantity string, at time.Time) {
	t.Helper()
	var res usageResultJSON
	s.admin.post(t, s.tp("/usage"), map[string]any{"records": []map[string]any{{"id": uuid.NewString(), "subscription_id": sub.ID,
		"item_id": sub.item(s.calls.ID).ID, "quantity": json.Number(quantity), "occurred_at": at.Format(time.RFC3339)}}}).
		wantJSON(t, 200, &res)
	if res.Accepted != 1 {
		t.Fatalf("usage of %s at %s: %+v, want 1 accepted", quantity, at, res)
	}
}

// history returns sub's events.
func (s *scheduledShop) history(t *testing.T, sub subscriptionJSON) []auditItemJSON {
	t.Helper()
	var h historyJSON
	s.admin.get(t, s.tp("/subscriptions/%s/history", sub.ID)).wantJSON(t, 200, &h)
	return h.Items
}

// refusedAppendsNothing checks a refusal of status and code, naming
// names in its detail, and that sub's history did not grow.
func (s *scheduledShop) refusedAppendsNothing(t *testing.T, r *reply, sub subscriptionJSON, code string, names ...string) {
	t.Helper()
	before := len(s.history(t, sub))
	p := r.problem(t, 422, code)
	for _, name := range names {
		if !strings.Contains(p.Detail, name) {
			t.Errorf("%s: detail %q does not name %s", code, p.Detail, name)
		}
	}
	if after := len(s.history(t, sub)); after != before {
		t.Errorf("%s: the refusal appended %d events", code, after-before)
	}
}

// TestUsageRecordedAfter runs the case through the binary: 5,000
// calls recorded on 2025-06-10, then the calls removed from 2025-03-01.
// The removal is refused, naming 2025-06-10, and appends nothing: the
// summary still shows 5,000 and more usage of that day is accepted. A
// cancellation dated on a day with usage is refused the same way.
func TestUsageRecordedAfter(t *testing.T) {
	t.Parallel()
	s := newScheduledShop(t)
	sub := s.subscribe(t, "2025-01-01")
	calls := sub.item(s.calls.ID).ID
	s.record(t, sub, "5000", time.Date(2025, 6, 10, 10, 0, 0, 0, time.UTC))

	removal := map[string]any{"effective_date": "2025-03-01", "changes": []map[string]any{{"type": "remove_item", "item_id": calls}}}
	s.refusedAppendsNothing(t, s.admin.post(t, s.tp("/subscriptions/%s/amendments", sub.ID), removal), sub, "usage_recorded_after", "2025-06-10")
	var got subscriptionJSON
	s.admin.get(t, s.tp("/subscriptions/%s", sub.ID)).wantJSON(t, 200, &got)
	if it := got.item(s.calls.ID); it.EffectiveTo != nil || got.Version != sub.Version {
		t.Errorf("after the refusal: calls in effect to %s, version %d; want still in effect, version %d", deref(it.EffectiveTo), got.Version, sub.Version)
	}
	s.record(t, sub, "250", time.Date(2025, 6, 10, 11, 0, 0, 0, time.UTC))
	var sum usageSummaryJSON
	s.admin.get(t, s.tp("/usage/summary?subscription_id=%s", sub.ID)).wantJSON(t, 200, &sum)
	if len(sum.Items) != 1 || sum.Items[0].Quantity != "5250" {
		t.Errorf("usage summary %+v, want the 5,250 calls", sum)
	}
	// After the last day with usage, the removal is fine.
	removal["effective_date"] = "2025-06-11"
	s.admin.post(t, s.tp("/subscriptions/%s/amendments", sub.ID), removal).wantJSON(t, 200, &got)
	if it := got.item(s.calls.ID); deref(it.EffectiveTo) != "2025-06-11" {
		t.Errorf("calls in effect to %s, want 2025-06-11", deref(it.EffectiveTo))
	}

	now := time.Now().UTC().Truncate(time.Second)
	today := now.Format(time.DateOnly)
	other := s.subscribe(t, now.AddDate(0, -1, 0).Format(time.DateOnly))
	s.record(t, other, "10", now)
	cancel := map[string]any{"policy": "immediate"}
	s.refusedAppendsNothing(t, s.admin.post(t, s.tp("/subscriptions/%s/cancel", other.ID), cancel), other, "usage_recorded_after", today)
}

// TestScheduledChanges runs scheduled changes through the binary: two
// amendments made ahead of their dates are listed on the subscription,
// one is withdrawn (with If-Match and an Idempotency-Key) and recorded as
// ScheduledChangeWithdrawn; a cancellation before the other is refused
// naming it, and with withdraw_scheduled it withdraws and cancels in one
// append.
func TestScheduledChanges(t *testing.T) {
	t.Parallel()
	s := newScheduledShop(t)
	now := time.Now().UTC()
	day := func(days int) string { return now.AddDate(0, 0, days).Format(time.DateOnly) }
	sub := s.subscribe(t, now.AddDate(0, -1, 0).Format(time.DateOnly))
	seat := sub.item(s.seat.ID).ID

	var first, second subscriptionJSON
	s.admin.post(t, s.tp("/subscriptions/%s/amendments", sub.ID), map[string]any{"effective_date": day(40),
		"changes": []map[string]any{{"type": "change_quantity", "item_id": seat, "quantity": 10}}}).wantJSON(t, 200, &first)
	s.admin.post(t, s.tp("/subscriptions/%s/amendments", sub.ID), map[string]any{"effective_date": day(70),
		"changes": []map[string]any{{"type": "add_item", "product_id": s.product.ID, "charge_id": s.setup.ID, "quantity": 1}}}).
		wantJSON(t, 200, &second)
	if len(second.ScheduledChanges) != 2 {
		t.Fatalf("scheduled changes %+v, want the two amendments", second.ScheduledChanges)
	}
	q10, setup := 10, second.item(s.setup.ID)
	wantScheduled(t, s, second.ScheduledChanges[0], day(40), scheduledChangeItemJSON{Type: "change_quantity", ItemID: seat, Quantity: &q10})
	one := 1
	wantScheduled(t, s, second.ScheduledChanges[1], day(70), scheduledChangeItemJSON{Type: "add_item", ItemID: setup.ID,
		ProductID: &s.product.ID, ChargeID: &s.setup.ID, Quantity: &one, UnitPrice: str("250.00")})
	var got subscriptionJSON
	s.admin.get(t, s.tp("/subscriptions/%s", sub.ID)).wantJSON(t, 200, &got)
	if js(got.ScheduledChanges) != js(second.ScheduledChanges) {
		t.Errorf("GET lists %s, the amendment returned %s", js(got.ScheduledChanges), js(second.ScheduledChanges))
	}

	path := s.tp("/subscriptions/%s/scheduled-changes/%s", sub.ID, second.ScheduledChanges[0].ID)
	s.admin.delete(t, path, "If-Match", strconv.Quote(strconv.Itoa(second.Version-1))).problem(t, 412, "precondition_failed")
	key := []string{"If-Match", strconv.Quote(strconv.Itoa(second.Version)), "Idempotency-Key", "withdraw-" + uuid.NewString()}
	r := s.admin.delete(t, path, key...)
	var withdrawn subscriptionJSON
	r.wantJSON(t, 200, &withdrawn)
	r.wantETag(t, second.Version+1)
	if len(withdrawn.ScheduledChanges) != 1 || withdrawn.ScheduledChanges[0].ID != second.ScheduledChanges[1].ID {
		t.Errorf("after the withdrawal: scheduled %s, want only %s", js(withdrawn.ScheduledChanges), second.ScheduledChanges[1].ID)
	}
	again := s.admin.delete(t, path, key...)
	if again.want(t, 200); string(again.Body) != string(r.Body) || again.Header.Get("Ledger-Position") != r.Header.Get("Ledger-Position") {
		t.Errorf("the retry answered %s at %s, want %s at %s", again.Body, again.Header.Get("Ledger-Position"), r.Body, r.Header.Get("Ledger-Position"))
	}
	s.admin.delete(t, path).problem(t, 404, "not_found")
	h := s.history(t, sub)
	if last := h[len(h)-1]; last.Type != "ScheduledChangeWithdrawn" || !strings.Contains(string(last.Data), second.ScheduledChanges[0].ID) {
		t.Errorf("the history ends with %s %s, want the withdrawal of %s", last.Type, last.Data, second.ScheduledChanges[0].ID)
	}

	// An evergreen subscription ends at its next anniversary, within a
	// month: before the setup added on day 70.
	pending := second.ScheduledChanges[1].ID
	cancel := map[string]any{"policy": "end_of_term"}
	s.refusedAppendsNothing(t, s.admin.post(t, s.tp("/subscriptions/%s/cancel", sub.ID), cancel), sub, "scheduled_change_pending", pending)
	cancel["withdraw_scheduled"] = true
	var cancelled subscriptionJSON
	r = s.admin.post(t, s.tp("/subscriptions/%s/cancel", sub.ID), cancel).wantJSON(t, 200, &cancelled)
	if len(cancelled.ScheduledChanges) != 0 || cancelled.CancelDate == nil || cancelled.Status != "pending_cancellation" ||
		cancelled.item(s.setup.ID).ID != "" || cancelled.Version != withdrawn.Version+2 {
		t.Errorf("cancelled = %s, want pending cancellation without the setup or scheduled changes, version %d", js(cancelled), withdrawn.Version+2)
	}
	h = s.history(t, sub)
	w, c := h[len(h)-2], h[len(h)-1]
	if w.Type != "ScheduledChangeWithdrawn" || c.Type != "SubscriptionCancelled" || !strings.Contains(string(w.Data), pending) {
		t.Fatalf("the history ends with %s, %s; want the withdrawal of %s, then the cancellation", w.Type, c.Type, pending)
	}
	if deref(w.RequestID) == "" || deref(w.RequestID) != deref(c.RequestID) || r.position(t) != c.Position {
		t.Errorf("withdrawal (request %s) and cancellation (request %s, position %d) are not the one append the reply (position %d) made",
			deref(w.RequestID), deref(c.RequestID), c.Position, r.position(t))
	}
}

func wantScheduled(t *testing.T, s *scheduledShop, got scheduledChangeJSON, eff string, changes ...scheduledChangeItemJSON) {
	t.Helper()
	wantUUID(t, "scheduled change id", got.ID)
	wantActor(t, "scheduled change created_by", got.CreatedBy, s.admin)
	if got.EffectiveDate != eff || js(got.Changes) != js(changes) {
		t.Errorf("scheduled change %s, want from %s: %s", js(got), eff, js(changes))
	}
}
