package projections

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/domain"
	"ledger/eventstore"
)

// publish appends the events w recorded to the log as tenant's, and
// returns the position of the last.
func (e env) publish(t *testing.T, w *subsWorld, tenant uuid.UUID) eventstore.Position {
	t.Helper()
	var last eventstore.Position
	for _, ev := range w.pending {
		id, err := uuid.NewV7()
		if err != nil {
			t.Fatal(err)
		}
		data := eventstore.EventData{ID: id, Type: ev.Type, SchemaVersion: ev.SchemaVersion, Data: ev.Data,
			Metadata: eventstore.Metadata{TenantID: tenant.String(), Actor: eventstore.Actor{Type: "system"}, OccurredAt: time.Now()}}
		res, err := e.store.Append(t.Context(), eventstore.To(ev.Stream, eventstore.Any(), data))
		if err != nil {
			t.Fatal(err)
		}
		last = res.Position
	}
	w.pending = nil
	return last
}

// wantStale checks that err is a *StaleError of projection naming stream.
func wantStale(t *testing.T, what string, err error, projection, stream string) {
	t.Helper()
	var stale *StaleError
	if !errors.As(err, &stale) || !errors.Is(err, ErrStale) || stale.Projection != projection || stale.Stream != stream {
		t.Fatalf("%s: %v, want the read model %s stale for stream %q", what, err, projection, stream)
	}
}

// mrrOf returns the EUR MRR of tenant's report on 2025-06-01.
func (e env) mrrOf(t *testing.T, tenant uuid.UUID) (string, error) {
	t.Helper()
	v, err := MRRReport(t.Context(), e.pool, tenant, Scope{All: true}, MRRGroupNone, subsDay("2025-06-01"))
	if err != nil || len(v.Totals) != 1 {
		return "", err
	}
	return v.Totals[0].MRR, nil
}

// An event of tenant A that the subscriptions read model cannot store is
// parked with the later event of its stream: tenant B's reads stay
// current, A's reads of that subscription, its lists and its MRR report
// say the read model is stale, its other subscription reads as usual, and
// once the read model is fixed a retry of the stream brings A current.
func TestPoisonOfOneTenantLeavesTheOthersReadsCurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	w := &subsWorld{versions: map[string]uint64{}}
	evergreen, jan := domain.TermInput{Type: "evergreen"}, subsAt("2025-01-01")
	a := w.tenant(t, 1)
	a1 := w.account(t, a, subsID(11), "Alpha", "EUR", subsTenantUser)
	sa := w.subscribe(t, a, a1, subsID(31), subsTenantUser, jan, "2025-01-01", evergreen, subsSeat, 1)
	e.publish(t, w, a.id)
	b := w.tenant(t, 2)
	b1 := w.account(t, b, subsID(21), "Beta", "EUR", subsTenantUser)
	sb := w.subscribe(t, b, b1, subsID(41), subsTenantUser, jan, "2025-01-01", evergreen, subsSeat, 1)
	head := e.publish(t, w, b.id)
	e.start(t, All()...)
	if err := NewWaiter(e.pool, e.store.Head).Wait(ctx, head, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	// The read model refuses a price of 1000 or more, as it once refused a
	// price of more digits than numeric holds; A's subscription X has one.
	if _, err := e.pool.Exec(ctx, `ALTER TABLE readmodel.subscription_items ADD CONSTRAINT price_cap CHECK (unit_price < 1000)`); err != nil {
		t.Fatal(err)
	}
	x, price := &domain.Subscription{}, "5000"
	events, err := x.Create(domain.CreateSubscription{SubscriptionID: subsID(32), TenantID: a.id, AccountID: a1.ID,
		StartDate: subsDay("2025-01-01"), Term: evergreen,
		Items: []domain.ItemInput{{ProductID: subsProduct, ChargeID: subsSeat, Quantity: decimal.NewFromInt(1), UnitPrice: &price}},
	}, a1, a.catalog, subsTenantUser, jan)
	w.apply(t, streamName("subscription", a.id, subsID(32)), x, subsMust(t, events, err))
	amend := func(tn subsTenant, s *domain.Subscription, qty int64) {
		events, err := s.Amend(domain.AmendSubscription{EffectiveDate: subsDay("2025-02-01"), Changes: []domain.ChangeInput{
			{Type: "change_quantity", ItemID: s.Items[0].ID, Quantity: decimal.NewFromInt(qty)}}}, tn.catalog, subsTenantUser, subsAt("2025-01-10"))
		w.apply(t, subsStream(tn, s), s, subsMust(t, events, err))
	}
	amend(a, x, 2)
	amend(a, sa, 2)
	e.publish(t, w, a.id)
	amend(b, sb, 3)
	written := time.Now()
	head = e.publish(t, w, b.id)
	for mrr, err := e.mrrOf(t, b.id); mrr != "30.00"; mrr, err = e.mrrOf(t, b.id) {
		if err != nil || time.Since(written) > time.Second {
			t.Fatalf("B's MRR %s (%v) a second after its amendment, want 30.00", mrr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := NewWaiter(e.pool, e.store.Head).Wait(ctx, head, 5*time.Second); err != nil {
		t.Fatalf("read-your-writes past a parked event: %v", err)
	}

	xStream := subsStream(a, x)
	_, err = GetSubscription(ctx, e.pool, a.id, Scope{All: true}, x.ID, subsDay("2025-06-01"))
	wantStale(t, "A's subscription X", err, "subscriptions", xStream)
	_, err = GetSubscription(ctx, e.pool, a.id, Scope{PartnerID: subsPartnerP}, x.ID, subsDay("2025-06-01"))
	if !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("X read by a partner that sees none of A's accounts: %v, want not found", err)
	}
	_, err = e.mrrOf(t, a.id)
	wantStale(t, "A's MRR report", err, "subscriptions", "")
	_, err = ListSubscriptions(ctx, e.pool, a.id, Scope{All: true}, SubscriptionFilter{}, Page{Limit: 10}, subsDay("2025-06-01"))
	wantStale(t, "A's subscriptions", err, "subscriptions", "")
	if v, err := GetSubscription(ctx, e.pool, a.id, Scope{All: true}, sa.ID, subsDay("2025-06-01")); err != nil || v.Version != 2 || v.MRR != "20.00" {
		t.Fatalf("A's other subscription = %+v, %v; want version 2 at 20.00", v, err)
	}
	if list, err := ListSubscriptions(ctx, e.pool, b.id, Scope{All: true}, SubscriptionFilter{}, Page{Limit: 10}, subsDay("2025-06-01")); err != nil || len(list.Items) != 1 {
		t.Fatalf("B's subscriptions = %+v, %v; want its one", list, err)
	}
	parked := e.parked(t)
	if len(parked) != 2 || parked[0].Stream != xStream || parked[0].EventType != "SubscriptionCreated" ||
		parked[1].EventType != "SubscriptionAmended" || parked[1].Error != skippedReason ||
		parked[0].Projection != "subscriptions" || parked[0].TenantID == nil || *parked[0].TenantID != a.id {
		t.Fatalf("parked %+v, want X's creation and amendment in subscriptions, as A's", parked)
	}
	statuses, err := Status(ctx, e.pool)
	if i := slices.IndexFunc(statuses, func(s ProjectionStatus) bool { return s.Name == "subscriptions" }); err != nil || i < 0 || statuses[i].Parked != 2 {
		t.Fatalf("status %+v, %v; want 2 parked in subscriptions", statuses, err)
	}

	if _, err := e.pool.Exec(ctx, `ALTER TABLE readmodel.subscription_items DROP CONSTRAINT price_cap`); err != nil {
		t.Fatal(err)
	}
	res, err := RetryStream(ctx, e.pool, e.store, All(), xStream)
	if err != nil || !slices.Equal(res, []StreamRetry{{Projection: "subscriptions", Applied: 2}}) {
		t.Fatalf("retry X = %+v, %v; want its 2 events applied", res, err)
	}
	if mrr, err := e.mrrOf(t, a.id); err != nil || mrr != "10020.00" {
		t.Fatalf("A's MRR after the retry = %s, %v; want 10020.00 (X's 2 × 5000 and 2 × 10)", mrr, err)
	}
	if v, err := GetSubscription(ctx, e.pool, a.id, Scope{All: true}, x.ID, subsDay("2025-06-01")); err != nil || v.Version != 2 {
		t.Fatalf("X after the retry = %+v, %v; want version 2", v, err)
	}
}
