package main

import (
	"bytes"
	"encoding/json"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The partner's operator at work: subscriptions, amendments, usage and a
// cancellation, within the grant's scope and refused outside it.

// orderLine is an item of a new subscription: a charge by short name, a
// quantity and, when set, a unit price override.
type orderLine struct {
	charge string
	qty    int
	price  string
}

func termed(months int, autoRenew bool) map[string]any {
	return map[string]any{"type": "termed", "months": months, "auto_renew": autoRenew}
}

// subscriptionBody is a new subscription of account from the scenario's
// start date.
func (s *scenario) subscriptionBody(account string, term map[string]any, lines ...orderLine) map[string]any {
	items := make([]map[string]any, 0, len(lines))
	for _, l := range lines {
		it := map[string]any{"product_id": s.product.ID, "charge_id": s.charge[l.charge].ID, "quantity": l.qty}
		if l.price != "" {
			it["unit_price"] = l.price
		}
		items = append(items, it)
	}
	return map[string]any{"account_id": account, "start_date": s.start, "term": term, "items": items}
}

// wantSubscription checks a subscription of account as created by from
// lines, at status and with mrr.
func (s *scenario) wantSubscription(t *testing.T, sub subscriptionJSON, account, status, mrr string, by *caller, lines ...orderLine) {
	t.Helper()
	wantUUID(t, "subscription id", sub.ID)
	wantActor(t, "subscription created_by", sub.CreatedBy, by)
	wantInstant(t, "subscription created_at", sub.CreatedAt)
	wantInstant(t, "subscription updated_at", sub.UpdatedAt)
	if sub.AccountID != account || sub.Currency != "USD" || sub.Status != status || sub.StartDate != s.start ||
		sub.MRR != mrr || len(sub.Items) != len(lines) {
		t.Errorf("subscription = %+v, want on %s in USD, %s from %s, mrr %s, %d items", sub, account, status, s.start, mrr, len(lines))
	}
	for _, l := range lines {
		c := s.charge[l.charge]
		it, price := sub.item(c.ID), c.Price
		if l.price != "" {
			price = l.price
		}
		wantUUID(t, "item id", it.ID)
		if it.ProductID != s.product.ID || it.Name != c.Name || it.Type != c.Type || it.Quantity != l.qty ||
			(c.Type != "usage" && it.UnitPrice != price) || !reflect.DeepEqual(it.BillingPeriod, c.BillingPeriod) ||
			!reflect.DeepEqual(it.Unit, c.Unit) || it.EffectiveFrom != s.start || it.EffectiveTo != nil {
			t.Errorf("item of %s = %+v, want %d × %s at %s from %s", c.Name, it, l.qty, c.Name, price, s.start)
		}
	}
}

// refused checks a refusal of a partner user, which the tenant's audit log
// must then list as AccessDenied.
func (s *scenario) refused(t *testing.T, r *reply, status int, code string) {
	t.Helper()
	r.problem(t, status, code)
	s.expectAudit["AccessDenied"]++
}

func (s *scenario) operatorSubscribes(t *testing.T) {
	a1, a2 := s.accounts[0].ID, s.accounts[1].ID
	s1Lines := []orderLine{{charge: "seat", qty: 5}, {charge: "support", qty: 1}}
	r := s.operator.post(t, s.tp("/subscriptions"), s.subscriptionBody(a1, termed(12, true), s1Lines...)).wantJSON(t, 201, &s.s1)
	r.wantETag(t, 1)
	s.s1Position = r.position(t)
	mrr, _ := revenue(t, line{5, "49.00", 1}, line{1, "1200.00", 12})
	s.wantSubscription(t, s.s1, a1, "active", mrr, s.operator, s1Lines...)
	if want := (termJSON{Type: "termed", Months: intp(12), AutoRenew: true, CurrentTermEnd: str(s.termEnd)}); !reflect.DeepEqual(s.s1.Term, want) || s.s1.CancelDate != nil || s.s1.Version != 1 {
		t.Errorf("S1 term %+v, cancel_date %s, version %d; want %+v, null, 1", s.s1.Term, deref(s.s1.CancelDate), s.s1.Version, want)
	}
	s.expectAudit["SubscriptionCreated"]++

	// S2 with an idempotency key: the retry returns the first response and appends nothing.
	key := "e2e-create-s2-" + uuid.NewString()
	s2Lines := []orderLine{{charge: "seat", qty: 3}, {charge: "review", qty: 1}, {charge: "storage", qty: 1}, {charge: "setup", qty: 1}}
	body := s.subscriptionBody(a2, termed(12, false), s2Lines...)
	first := s.operator.post(t, s.tp("/subscriptions"), body, "Idempotency-Key", key).wantJSON(t, 201, &s.s2)
	again := s.operator.post(t, s.tp("/subscriptions"), body, "Idempotency-Key", key).want(t, 201)
	if !jsonEqual(t, first.Body, again.Body) || again.position(t) != first.position(t) {
		t.Errorf("the retry answered %s at position %s, want the first response %s at %s",
			again.Body, again.Header.Get("Ledger-Position"), first.Body, first.Header.Get("Ledger-Position"))
	}
	mrr, _ = revenue(t, line{3, "49.00", 1}, line{1, "100.00", 3})
	s.wantSubscription(t, s.s2, a2, "active", mrr, s.operator, s2Lines...)
	s.expectAudit["SubscriptionCreated"]++
	body["items"].([]map[string]any)[0]["quantity"] = 4
	s.operator.post(t, s.tp("/subscriptions"), body, "Idempotency-Key", key).problem(t, 422, "idempotency_key_reused")

	var onA2 listJSON[subscriptionJSON]
	s.operator.get(t, s.tp("/subscriptions?account_id=%s", a2)).wantJSON(t, 200, &onA2)
	if len(onA2.Items) != 1 || !reflect.DeepEqual(onA2.Items[0], s.s2) {
		t.Errorf("subscriptions of A2 = %+v, want only S2 %+v", onA2.Items, s.s2)
	}
	events := s.auditEvents(t, s.admin, "subscription_id="+s.s2.ID, 50)
	if len(events) != 1 || events[0].Type != "SubscriptionCreated" || deref(events[0].IdempotencyKey) != key {
		t.Errorf("S2's audit events = %+v, want one SubscriptionCreated with idempotency_key %s", events, key)
	}
	var history historyJSON
	s.admin.get(t, s.tp("/subscriptions/%s/history", s.s2.ID)).wantJSON(t, 200, &history)
	if len(history.Items) != 1 {
		t.Errorf("S2's history holds %d events, want 1", len(history.Items))
	}

	// A partner_operator may not override prices; nothing is created.
	override := s.subscriptionBody(a1, map[string]any{"type": "evergreen"}, orderLine{charge: "seat", qty: 1, price: "10.00"})
	s.refused(t, s.operator.post(t, s.tp("/subscriptions"), override), 403, "price_override_not_permitted")
	var onA1 listJSON[subscriptionJSON]
	s.operator.get(t, s.tp("/subscriptions?account_id=%s", a1)).wantJSON(t, 200, &onA1)
	if got := ids(onA1.Items, subscriptionID); !slices.Equal(got, []string{s.s1.ID}) {
		t.Errorf("subscriptions of A1 = %v, want only S1 %s", got, s.s1.ID)
	}
}

func subscriptionID(s subscriptionJSON) string { return s.ID }

func intp(n int) *int { return &n }

// jsonEqual reports whether two JSON documents are equal as values.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Errorf("not JSON: %s", a)
		return false
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Errorf("not JSON: %s", b)
		return false
	}
	return reflect.DeepEqual(va, vb)
}

func etag(version int) string { return strconv.Quote(strconv.Itoa(version)) }

// amendment changes the quantity of item from today.
func (s *scenario) amendment(item string, qty int) map[string]any {
	return map[string]any{"effective_date": s.today, "changes": []map[string]any{{"type": "change_quantity", "item_id": item, "quantity": qty}}}
}

func (s *scenario) amendWithIfMatch(t *testing.T) {
	seat := s.s1.item(s.charge["seat"].ID)
	time.Sleep(5 * time.Millisecond)
	s.asOf = time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(5 * time.Millisecond)

	path := s.tp("/subscriptions/%s/amendments", s.s1.ID)
	var amended subscriptionJSON
	r := s.operator.post(t, path, s.amendment(seat.ID, 8), "If-Match", etag(s.s1.Version)).wantJSON(t, 200, &amended)
	r.wantETag(t, amended.Version)
	if amended.Version <= s.s1.Version || r.position(t) <= s.s1Position {
		t.Errorf("after the amendment: version %d at position %d, want more than %d at %d", amended.Version, r.position(t), s.s1.Version, s.s1Position)
	}
	mrr, _ := revenue(t, line{8, "49.00", 1}, line{1, "1200.00", 12})
	if got := amended.item(seat.ChargeID); got.ID != seat.ID || got.Quantity != 8 || amended.MRR != mrr || amended.Status != "active" {
		t.Errorf("amended S1: seat %+v, mrr %s, status %s; want item %s at 8, mrr %s, active", got, amended.MRR, amended.Status, seat.ID, mrr)
	}
	s.s1 = amended
	s.expectAudit["SubscriptionAmended"]++

	// A stale If-Match is 412 and appends nothing.
	s.operator.post(t, path, s.amendment(seat.ID, 9), "If-Match", etag(amended.Version-1)).problem(t, 412, "precondition_failed")
	var now subscriptionJSON
	s.operator.get(t, s.tp("/subscriptions/%s", s.s1.ID)).wantJSON(t, 200, &now).wantETag(t, amended.Version)
	if !reflect.DeepEqual(now, amended) {
		t.Errorf("S1 after a stale If-Match = %+v, want it unchanged, %+v", now, amended)
	}
}

func (s *scenario) viewerIsReadOnly(t *testing.T) {
	seat := s.s1.item(s.charge["seat"].ID)
	s.refused(t, s.viewer.post(t, s.tp("/subscriptions/%s/amendments", s.s1.ID), s.amendment(seat.ID, 9)), 403, "forbidden")
	s.refused(t, s.viewer.post(t, s.tp("/subscriptions/%s/cancel", s.s1.ID), map[string]any{"policy": "immediate"}), 403, "forbidden")
	s.refused(t, s.viewer.get(t, s.tp("/audit/events")), 403, "forbidden")

	var got subscriptionJSON
	s.viewer.get(t, s.tp("/subscriptions/%s", s.s1.ID)).wantJSON(t, 200, &got).wantETag(t, s.s1.Version)
	if !reflect.DeepEqual(got, s.s1) {
		t.Errorf("S1 as the viewer reads it = %+v, want %+v", got, s.s1)
	}
	var a1 accountJSON
	s.viewer.get(t, s.tp("/accounts/%s", s.accounts[0].ID)).wantJSON(t, 200, &a1)
	if !reflect.DeepEqual(a1, s.accounts[0]) {
		t.Errorf("A1 as the viewer reads it = %+v, want %+v", a1, s.accounts[0])
	}
}

func (s *scenario) thirdAccountOutOfScope(t *testing.T) {
	a3 := s.accounts[2].ID
	lines := []orderLine{{charge: "seat", qty: 2}}
	s.admin.post(t, s.tp("/subscriptions"), s.subscriptionBody(a3, map[string]any{"type": "evergreen"}, lines...)).wantJSON(t, 201, &s.s3)
	mrr, _ := revenue(t, line{2, "49.00", 1})
	s.wantSubscription(t, s.s3, a3, "active", mrr, s.admin, lines...)

	for _, u := range []*caller{s.operator, s.viewer} {
		for _, path := range []string{"/accounts/" + a3, "/subscriptions?account_id=" + a3, "/subscriptions/" + s.s3.ID,
			"/usage/summary?subscription_id=" + s.s3.ID} {
			r := u.get(t, s.tp("%s", path))
			s.refused(t, r, 404, "not_found")
			if bytes.Contains(r.Body, []byte("Umbrella")) {
				t.Errorf("%s: the 404 reveals the account: %s", r.req, r.Body)
			}
		}
	}
	s.refused(t, s.operator.post(t, s.tp("/subscriptions"), s.subscriptionBody(a3, termed(12, true), lines...)), 404, "not_found")

	var accounts listJSON[accountJSON]
	s.viewer.get(t, s.tp("/accounts")).wantJSON(t, 200, &accounts)
	if got, want := ids(accounts.Items, func(a accountJSON) string { return a.ID }), s.accountIDs(0, 1); !slices.Equal(got, want) {
		t.Errorf("the viewer lists the accounts %v, want only those of its grant, %v", got, want)
	}
	var subs listJSON[subscriptionJSON]
	s.operator.get(t, s.tp("/subscriptions")).wantJSON(t, 200, &subs)
	if got, want := ids(subs.Items, subscriptionID), sorted(s.s1.ID, s.s2.ID); !slices.Equal(got, want) {
		t.Errorf("the operator lists the subscriptions %v, want only those in its scope, %v", got, want)
	}
}

func (s *scenario) cancelAtEndOfTerm(t *testing.T) {
	path := s.tp("/subscriptions/%s/cancel", s.s2.ID)
	var cancelled subscriptionJSON
	s.operator.post(t, path, map[string]any{"policy": "end_of_term", "reason": "moving to annual billing"}, "If-Match", etag(s.s2.Version)).
		wantJSON(t, 200, &cancelled).wantETag(t, s.s2.Version+1)
	if cancelled.Status != "pending_cancellation" || deref(cancelled.CancelDate) != s.termEnd || cancelled.Version != s.s2.Version+1 {
		t.Errorf("cancelled S2: status %s, cancel_date %s, version %d; want pending_cancellation on %s, version %d",
			cancelled.Status, deref(cancelled.CancelDate), cancelled.Version, s.termEnd, s.s2.Version+1)
	}
	s.expectAudit["SubscriptionCancelled"]++
	s.s2 = cancelled

	s.operator.post(t, path, map[string]any{"policy": "immediate"}).problem(t, 422, "already_cancelled")
	seat := s.s2.item(s.charge["seat"].ID)
	s.operator.post(t, s.tp("/subscriptions/%s/amendments", s.s2.ID), s.amendment(seat.ID, 4)).problem(t, 422, "subscription_not_active")
	var pending listJSON[subscriptionJSON]
	s.operator.get(t, s.tp("/subscriptions?status=pending_cancellation")).wantJSON(t, 200, &pending)
	if got := ids(pending.Items, subscriptionID); !slices.Equal(got, []string{s.s2.ID}) {
		t.Errorf("pending cancellations = %v, want only S2 %s", got, s.s2.ID)
	}
}

func (s *scenario) asOfAndHistory(t *testing.T) {
	var then subscriptionJSON
	s.admin.get(t, s.tp("/subscriptions/%s?as_of=%s", s.s1.ID, url.QueryEscape(s.asOf))).wantJSON(t, 200, &then).wantETag(t, 1)
	if seat := then.item(s.charge["seat"].ID); then.Version != 1 || seat.Quantity != 5 {
		t.Errorf("S1 as of %s: version %d with %d seats, want version 1 with 5", s.asOf, then.Version, seat.Quantity)
	}

	var history historyJSON
	s.admin.get(t, s.tp("/subscriptions/%s/history", s.s1.ID)).wantJSON(t, 200, &history)
	want := []string{"SubscriptionCreated", "SubscriptionAmended"}
	if len(history.Items) != len(want) {
		t.Fatalf("S1's history = %+v, want %v", history.Items, want)
	}
	for i, e := range history.Items {
		wantActor(t, "history "+e.Type, e.Actor, s.operator)
		wantUUID(t, "event id", e.EventID)
		wantInstant(t, "occurred_at", e.OccurredAt)
		wantInstant(t, "recorded_at", e.RecordedAt)
		if e.Type != want[i] || e.Version != i+1 || (i > 0 && e.Position <= history.Items[i-1].Position) ||
			e.RequestID == nil || e.IdempotencyKey != nil || !bytes.Contains([]byte(e.Stream), []byte(s.s1.ID)) {
			t.Errorf("history[%d] = %+v, want %s at version %d after the one before, with a request id and no idempotency key",
				i, e, want[i], i+1)
		}
	}
}
