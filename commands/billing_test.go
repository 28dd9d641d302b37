package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
)

// shop is a world with a catalog and three accounts: the partner's
// operator is granted the first two.
type shop struct {
	*world
	plan, meter      uuid.UUID // product ids
	monthly, perGB   uuid.UUID // charge ids
	accA, accB, accC uuid.UUID
	operator, viewer domain.Principal
}

func newShop(t *testing.T) *shop {
	t.Helper()
	return stock(t, newMemoryWorld(t))
}

// stock makes a shop of w.
func stock(t *testing.T, w *world) *shop {
	t.Helper()
	s := &shop{world: w}
	ctx := context.Background()
	admin := s.req(s.admin)
	p, err := s.svc.CreateProduct(ctx, admin, commands.CreateProduct{Name: "Pro", SKU: "PRO", Charges: []commands.Charge{
		{Name: "Seat", Type: "recurring", Price: "49.00", Currency: "EUR", BillingPeriod: "month"},
	}})
	if err != nil {
		t.Fatalf("create product: %v", err)
	}
	s.plan, s.monthly = p.State.ID, p.State.Charges[0].ID
	m, err := s.svc.CreateProduct(ctx, admin, commands.CreateProduct{Name: "Storage", SKU: "STO", Charges: []commands.Charge{
		{Name: "Per GB", Type: "usage", Price: "0.10", Currency: "EUR", Unit: "GB"},
	}})
	if err != nil {
		t.Fatalf("create product: %v", err)
	}
	s.meter, s.perGB = m.State.ID, m.State.Charges[0].ID
	for _, id := range []*uuid.UUID{&s.accA, &s.accB, &s.accC} {
		a, err := s.svc.CreateAccount(ctx, admin, commands.CreateAccount{Name: "Customer", Currency: "EUR",
			Billing: commands.Billing{ContactName: "Ada", Email: "ada@example.com"}})
		if err != nil {
			t.Fatalf("create account: %v", err)
		}
		*id = a.State.ID
	}
	s.grant(t, domain.RolePartnerAdmin, s.accA, s.accB)
	s.operator = s.partnerUser(t, domain.RolePartnerOperator)
	s.viewer = s.partnerUser(t, domain.RolePartnerViewer)
	return s
}

func (s *shop) subscribe(t *testing.T, p domain.Principal, account uuid.UUID, unitPrice *string) (commands.Outcome[domain.Subscription], error) {
	t.Helper()
	return s.svc.CreateSubscription(context.Background(), s.req(p), commands.CreateSubscription{
		AccountID: account, StartDate: domain.NewDate(2026, 11, 1), Term: commands.Term{Type: "evergreen"},
		Items: []commands.SubscriptionItem{
			{ProductID: s.plan, ChargeID: s.monthly, Quantity: decimal.NewFromInt(3), UnitPrice: unitPrice},
			{ProductID: s.meter, ChargeID: s.perGB, Quantity: decimal.NewFromInt(1)},
		},
	})
}

func TestPartnerOperatorSubscribesWithinScope(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	sub, err := s.subscribe(t, s.operator, s.accA, nil)
	if err != nil {
		t.Fatalf("operator subscribes account A: %v", err)
	}
	if got := sub.State.MRR(domain.NewDate(2026, 11, 25)); !got.Equal(decimal.RequireFromString("147")) {
		t.Fatalf("MRR = %s, want 147 (3 × 49.00)", got)
	}
	if sub.State.CreatedBy.PartnerID != s.partner || sub.State.CreatedBy.ID != s.operator.ID {
		t.Fatalf("created_by = %+v, want the partner's operator", sub.State.CreatedBy)
	}

	_, err = s.subscribe(t, s.operator, s.accC, nil)
	wantCode(t, err, domain.ErrNotFound, domain.CodeNotFound)
	_, err = s.subscribe(t, s.viewer, s.accA, nil)
	wantCode(t, err, domain.ErrForbidden, domain.CodeForbidden)
	price := "10.00"
	_, err = s.subscribe(t, s.operator, s.accA, &price)
	wantCode(t, err, domain.ErrForbidden, domain.CodePriceOverrideNotPermitted)
	if _, err := s.subscribe(t, s.admin, s.accC, &price); err != nil {
		t.Fatalf("tenant admin overrides a price: %v", err)
	}

	reasons := []string{}
	for _, d := range s.denials(t) {
		reasons = append(reasons, d.Reason)
	}
	want := []string{"out_of_scope", domain.CodeForbidden, domain.CodePriceOverrideNotPermitted}
	if len(reasons) != len(want) {
		t.Fatalf("audited refusals %v, want %v", reasons, want)
	}
	for i := range want {
		if reasons[i] != want[i] {
			t.Fatalf("audited refusals %v, want %v", reasons, want)
		}
	}
}

func TestAccountsAPartnerCreatesJoinItsScope(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	padmin := s.req(s.padmin)
	acc, err := s.svc.CreateAccount(context.Background(), padmin, commands.CreateAccount{Name: "Own", Currency: "EUR",
		Billing: commands.Billing{ContactName: "Bo", Email: "bo@example.com"}})
	if err != nil {
		t.Fatalf("partner admin creates an account: %v", err)
	}
	if _, err := s.subscribe(t, s.operator, acc.State.ID, nil); err != nil {
		t.Fatalf("operator subscribes the partner's own account: %v", err)
	}
}

func TestAmendCancelAndTimeTravel(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	sub, err := s.subscribe(t, s.operator, s.accA, nil)
	if err != nil {
		t.Fatal(err)
	}
	seat := sub.State.Items[0].ID
	beforeAmend := s.now
	s.now = s.now.Add(time.Hour)
	amended, err := s.svc.AmendSubscription(ctx, s.req(s.operator), sub.State.ID, commands.AmendSubscription{
		EffectiveDate: domain.NewDate(2026, 11, 25),
		Changes:       []commands.Change{{Type: "change_quantity", ItemID: seat, Quantity: decimal.NewFromInt(5)}},
	})
	if err != nil {
		t.Fatalf("amend: %v", err)
	}
	if got := amended.State.MRR(domain.NewDate(2026, 11, 25)); !got.Equal(decimal.RequireFromString("245")) {
		t.Fatalf("MRR after amendment = %s, want 245", got)
	}
	_, err = s.svc.AmendSubscription(ctx, s.req(s.viewer), sub.State.ID, commands.AmendSubscription{
		EffectiveDate: domain.NewDate(2026, 11, 26),
		Changes:       []commands.Change{{Type: "change_quantity", ItemID: seat, Quantity: decimal.NewFromInt(1)}},
	})
	wantCode(t, err, domain.ErrForbidden, domain.CodeForbidden)

	if _, err := s.svc.CancelSubscription(ctx, s.req(s.operator), sub.State.ID, commands.CancelSubscription{Policy: "end_of_term"}); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	_, err = s.svc.CancelSubscription(ctx, s.req(s.operator), sub.State.ID, commands.CancelSubscription{Policy: "immediate"})
	wantCode(t, err, domain.ErrRule, domain.CodeAlreadyCancelled)

	then, err := s.svc.Subscription(ctx, s.req(s.admin), sub.State.ID, beforeAmend)
	if err != nil {
		t.Fatalf("as of before the amendment: %v", err)
	}
	if then.Version != 1 || !then.State.CancelDate.IsZero() {
		t.Fatalf("as of before the amendment: version %d, cancel date %s; want version 1, not cancelled", then.Version, then.State.CancelDate)
	}
	history, err := s.svc.SubscriptionHistory(ctx, s.req(s.admin), sub.State.ID)
	if err != nil || len(history) != 3 {
		t.Fatalf("history = %d events, %v; want created, amended, cancelled", len(history), err)
	}
	if a := history[1].Metadata.Actor; a.ID != s.operator.ID.String() || a.PartnerID != s.partner.String() {
		t.Fatalf("amendment's actor = %+v, want the partner's operator", a)
	}
	_, err = s.svc.Subscription(ctx, s.req(s.operator), uuid.New(), time.Time{})
	wantCode(t, err, domain.ErrNotFound, domain.CodeNotFound)
}

func TestRecordUsage(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	sub, err := s.subscribe(t, s.operator, s.accA, nil)
	if err != nil {
		t.Fatal(err)
	}
	meter, seat := sub.State.Items[1].ID, sub.State.Items[0].ID
	record := func(id uuid.UUID, item uuid.UUID) commands.UsageRecord {
		return commands.UsageRecord{ID: id, SubscriptionID: sub.State.ID, ItemID: item, Quantity: decimal.RequireFromString("2.5"),
			OccurredAt: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)}
	}
	r1, r2 := uuid.New(), uuid.New()
	got, err := s.svc.RecordUsage(ctx, s.req(s.operator), commands.RecordUsage{Records: []commands.UsageRecord{record(r1, meter), record(r2, meter)}})
	if err != nil || got.Accepted != 2 || got.Duplicates != 0 {
		t.Fatalf("record = %+v, %v; want 2 accepted", got, err)
	}
	got, err = s.svc.RecordUsage(ctx, s.req(s.operator), commands.RecordUsage{Records: []commands.UsageRecord{record(r1, meter), record(uuid.New(), meter)}})
	if err != nil || got.Accepted != 1 || got.Duplicates != 1 {
		t.Fatalf("record again = %+v, %v; want 1 accepted, 1 duplicate", got, err)
	}
	_, err = s.svc.RecordUsage(ctx, s.req(s.operator), commands.RecordUsage{Records: []commands.UsageRecord{record(uuid.New(), meter), record(uuid.New(), seat)}})
	wantCode(t, err, domain.ErrRule, domain.CodeUnknownItem)
	usage, err := s.store.ReadStream(ctx, commands.UsageStream(s.tenant, sub.State.ID), 1, 100)
	if err != nil || len(usage) != 3 {
		t.Fatalf("usage stream has %d events, %v; want 3 (the refused request wrote nothing)", len(usage), err)
	}

	req := s.req(s.operator)
	req.IdempotencyKey = "usage-1"
	batch := commands.RecordUsage{Records: []commands.UsageRecord{record(uuid.New(), meter)}}
	first, err := s.svc.RecordUsage(ctx, req, batch)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.svc.RecordUsage(ctx, req, batch)
	if err != nil || !again.Replayed || again.Accepted != first.Accepted || again.Position != first.Position {
		t.Fatalf("retry = %+v, %v; want the first result %+v", again, err, first)
	}
}

func TestRecordUsageIsAuthorized(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	inScope, err := s.subscribe(t, s.operator, s.accA, nil)
	if err != nil {
		t.Fatal(err)
	}
	outOfScope, err := s.subscribe(t, s.admin, s.accC, nil)
	if err != nil {
		t.Fatal(err)
	}
	usage := func(sub commands.Outcome[domain.Subscription]) commands.RecordUsage {
		return commands.RecordUsage{Records: []commands.UsageRecord{{ID: uuid.New(), SubscriptionID: sub.State.ID,
			ItemID: sub.State.Items[1].ID, Quantity: decimal.NewFromInt(1), OccurredAt: s.now}}}
	}
	_, err = s.svc.RecordUsage(ctx, s.req(s.viewer), usage(inScope))
	wantCode(t, err, domain.ErrForbidden, domain.CodeForbidden)
	_, err = s.svc.RecordUsage(ctx, s.req(s.operator), usage(outOfScope))
	wantCode(t, err, domain.ErrNotFound, domain.CodeNotFound)
	if _, err := s.svc.RecordUsage(ctx, s.req(s.operator), usage(inScope)); err != nil {
		t.Fatalf("operator records usage in scope: %v", err)
	}
}
