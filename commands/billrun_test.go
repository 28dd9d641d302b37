package commands_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
)

// listIndex is a BillingIndex of the accounts and subscriptions a test
// made: the index is not what these tests test, the bill run is.
type listIndex struct {
	store    eventstore.Store
	tenant   uuid.UUID
	mu       sync.Mutex
	accounts []uuid.UUID
	subs     map[uuid.UUID][]uuid.UUID
}

func (ix *listIndex) Sync(context.Context) error { return nil }

func (ix *listIndex) Accounts(context.Context, uuid.UUID) ([]uuid.UUID, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return slices.Clone(ix.accounts), nil
}

func (ix *listIndex) Subscriptions(_ context.Context, _ uuid.UUID, accounts []uuid.UUID) (map[uuid.UUID][]uuid.UUID, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	out := map[uuid.UUID][]uuid.UUID{}
	for _, a := range accounts {
		out[a] = slices.Clone(ix.subs[a])
	}
	return out, nil
}

func (ix *listIndex) InvoiceAccount(ctx context.Context, tenant, invoice uuid.UUID) (uuid.UUID, error) {
	for _, acc := range ix.accounts {
		if inv := invoicesOf(ctx, ix.store, tenant, acc); inv != nil {
			if _, ok := inv.Invoice(invoice); ok {
				return acc, nil
			}
		}
	}
	return uuid.Nil, nil
}

// TermsDue names every subscription: the command decides which are due.
func (ix *listIndex) TermsDue(context.Context, domain.Date, int) ([]commands.SubscriptionRef, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var out []commands.SubscriptionRef
	for _, acc := range ix.accounts {
		for _, sub := range ix.subs[acc] {
			out = append(out, commands.SubscriptionRef{TenantID: ix.tenant, SubscriptionID: sub})
		}
	}
	return out, nil
}

// invoicesOf reads the invoices of an account from the log.
func invoicesOf(ctx context.Context, store eventstore.Store, tenant, account uuid.UUID) *domain.AccountInvoices {
	events, err := store.ReadStream(ctx, commands.InvoicesStream(tenant, account), 1, 10_000)
	if err != nil || len(events) == 0 {
		return nil
	}
	a := &domain.AccountInvoices{}
	for _, e := range events {
		decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			return nil
		}
		a.Apply(decoded)
	}
	return a
}

// billingShop is a shop whose service bills, through ix.
type billingShop struct {
	*shop
	ix *listIndex
}

func newBillingShop(t *testing.T, w *world) *billingShop {
	t.Helper()
	s := stock(t, w)
	ix := &listIndex{store: w.store, tenant: w.tenant, accounts: []uuid.UUID{s.accA, s.accB, s.accC}, subs: map[uuid.UUID][]uuid.UUID{}}
	s.svc = s.replica(ix)
	return &billingShop{shop: s, ix: ix}
}

// replica is another service on the shop's store: another process.
func (s *shop) replica(ix commands.BillingIndex) *commands.Service {
	return commands.New(s.store, commands.WithClock(func() time.Time { return s.now }), commands.WithBillingIndex(ix))
}

// subscribeAll subscribes every account of the shop, once each.
func (s *billingShop) subscribeAll(t *testing.T) {
	t.Helper()
	for _, acc := range s.ix.accounts {
		sub, err := s.subscribe(t, s.admin, acc, nil)
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		s.ix.subs[acc] = append(s.ix.subs[acc], sub.State.ID)
	}
}

func (s *billingShop) run(t *testing.T, svc *commands.Service, target domain.Date) *domain.BillRun {
	t.Helper()
	out, err := svc.RunBill(context.Background(), s.req(s.admin), commands.RunBill{TargetDate: target}, nil)
	if err != nil {
		t.Fatalf("bill run for %s: %v", target, err)
	}
	return out.State
}

func TestBillRunBillsWhatIsDueOnce(t *testing.T) {
	t.Parallel()
	s := newBillingShop(t, newMemoryWorld(t))
	s.subscribeAll(t)
	first := s.run(t, s.svc, domain.NewDate(2026, 11, 1))
	if len(first.Invoices) != 3 || first.Status != domain.BillRunStatusCompleted {
		t.Fatalf("first run: %d invoices, status %s; want 3, completed", len(first.Invoices), first.Status)
	}
	for i, inv := range first.Invoices {
		if inv.Number != domain.InvoiceNumber(i+1) || !inv.Total.Equal(decimal.RequireFromString("147")) {
			t.Fatalf("invoice %d: %s total %s, want %s total 147.00 (3 × 49.00)", i, inv.Number, inv.Total, domain.InvoiceNumber(i+1))
		}
	}
	if again := s.run(t, s.svc, domain.NewDate(2026, 11, 1)); len(again.Invoices) != 0 {
		t.Fatalf("the same target again issued %d invoices, want none", len(again.Invoices))
	}
	next := s.run(t, s.svc, domain.NewDate(2026, 12, 1))
	if len(next.Invoices) != 3 || next.Invoices[0].Number != "INV-000004" {
		t.Fatalf("December run: %+v, want 3 invoices from INV-000004", next.Invoices)
	}
	if got := next.Totals[0].Total; !got.Equal(decimal.RequireFromString("441")) {
		t.Fatalf("December total %s, want 441.00", got)
	}
}

// TestPostgresRacingBillRunsBillOnce races bill runs for the same
// accounts and target date on two replicas: every account is billed once,
// and the invoices are numbered 1..n without gaps or repeats.
func TestPostgresRacingBillRunsBillOnce(t *testing.T) {
	t.Parallel()
	s := newBillingShop(t, newPostgresWorld(t))
	s.subscribeAll(t)
	replicas := []*commands.Service{s.svc, s.replica(s.ix)}
	const racers = 6
	for round, target := range []domain.Date{domain.NewDate(2026, 11, 1), domain.NewDate(2026, 12, 1)} {
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				req := s.req(s.admin)
				if _, err := replicas[i%2].RunBill(context.Background(), req, commands.RunBill{TargetDate: target}, nil); err != nil {
					t.Errorf("racer %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		var numbers []string
		for _, acc := range s.ix.accounts {
			inv := invoicesOf(context.Background(), s.store, s.tenant, acc)
			var own []string
			for _, i := range inv.Invoices {
				own = append(own, i.Number)
			}
			if len(own) != round+1 {
				t.Fatalf("round %d: account %s has invoices %v, want %d", round, acc, own, round+1)
			}
			numbers = append(numbers, own...)
		}
		slices.Sort(numbers)
		for i, n := range numbers {
			if n != domain.InvoiceNumber(i+1) {
				t.Fatalf("round %d: numbers %v, want INV-000001.. without gaps", round, numbers)
			}
		}
	}
}

func TestVoidedInvoiceIsBilledAgain(t *testing.T) {
	t.Parallel()
	s := newBillingShop(t, newMemoryWorld(t))
	s.subscribeAll(t)
	first := s.run(t, s.svc, domain.NewDate(2026, 11, 1))
	id := first.Invoices[0].InvoiceID
	out, err := s.svc.VoidInvoice(context.Background(), s.req(s.admin), id, commands.VoidInvoice{Reason: "wrong address"})
	if err != nil {
		t.Fatalf("void: %v", err)
	}
	if inv, _ := out.State.Invoice(id); inv.Status != domain.InvoiceVoid {
		t.Fatalf("status %s, want void", inv.Status)
	}
	_, err = s.svc.VoidInvoice(context.Background(), s.req(s.admin), id, commands.VoidInvoice{Reason: "again"})
	wantCode(t, err, domain.ErrRule, domain.CodeInvoiceNotVoidable)
	_, err = s.svc.VoidInvoice(context.Background(), s.req(s.operator), first.Invoices[1].InvoiceID, commands.VoidInvoice{})
	wantCode(t, err, domain.ErrForbidden, domain.CodeForbidden)
	_, err = s.svc.VoidInvoice(context.Background(), s.req(s.admin), uuid.New(), commands.VoidInvoice{})
	wantCode(t, err, domain.ErrNotFound, domain.CodeNotFound)
	again := s.run(t, s.svc, domain.NewDate(2026, 11, 1))
	if len(again.Invoices) != 1 || again.Invoices[0].AccountID != first.Invoices[0].AccountID || again.Invoices[0].Number != "INV-000004" {
		t.Fatalf("after the void: %+v, want one invoice, INV-000004, for the voided one's account", again.Invoices)
	}
}

func TestPreviewAmendmentProratesInvoicedPeriod(t *testing.T) {
	t.Parallel()
	s := newBillingShop(t, newMemoryWorld(t))
	s.subscribeAll(t)
	s.run(t, s.svc, domain.NewDate(2026, 11, 1))
	sub := s.ix.subs[s.accA][0]
	seat := mustSub(t, s, sub).Items[0].ID
	cmd := commands.AmendSubscription{EffectiveDate: domain.NewDate(2026, 11, 21), Changes: []commands.Change{
		{Type: "change_quantity", ItemID: seat, Quantity: decimal.NewFromInt(5)},
	}}
	headBefore, _ := s.svc.Head(context.Background())
	p, err := s.svc.PreviewAmendment(context.Background(), s.req(s.operator), sub, cmd)
	if err != nil {
		t.Fatalf("preview: %v", err)
	}
	// November has 30 days; 10 of them from the 21st: 0.333333333.
	// Credit 3 × 49.00 × 0.333333333 = 48.99999995 → 49.00; charge 5 ×
	// 49.00 × 0.333333333 = 81.66666658 → 81.67; due 32.67.
	if len(p.Proration) != 2 || !p.Total.Equal(decimal.RequireFromString("32.67")) {
		t.Fatalf("proration %+v total %s, want a credit and a charge, total 32.67", p.Proration, p.Total)
	}
	if p.Subscription.Items[0].Quantity != 5 {
		t.Fatalf("previewed quantity %d, want 5", p.Subscription.Items[0].Quantity)
	}
	if head, _ := s.svc.Head(context.Background()); head != headBefore {
		t.Fatalf("a preview appended: head %d → %d", headBefore, head)
	}
	_, err = s.svc.PreviewAmendment(context.Background(), s.req(s.operator), s.subscribeC(t), cmd)
	wantCode(t, err, domain.ErrNotFound, domain.CodeNotFound)
}

func (s *billingShop) subscribeC(t *testing.T) uuid.UUID {
	t.Helper()
	return s.ix.subs[s.accC][0]
}

func mustSub(t *testing.T, s *billingShop, id uuid.UUID) *domain.Subscription {
	t.Helper()
	out, err := s.svc.Subscription(context.Background(), s.req(s.admin), id, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return out.State
}

// TestPostgresTermEndsRecordedOnceAcrossReplicas has two replicas record
// the due term ends of the same subscriptions at once, again and again:
// each renewal and each end of term is in the log exactly once.
func TestPostgresTermEndsRecordedOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	s := newBillingShop(t, newPostgresWorld(t))
	terms := []commands.Term{{Type: "termed", Months: 1, AutoRenew: true}, {Type: "termed", Months: 3}}
	for i, term := range terms {
		acc := s.ix.accounts[i]
		sub, err := s.svc.CreateSubscription(context.Background(), s.req(s.admin), commands.CreateSubscription{
			AccountID: acc, StartDate: domain.NewDate(2026, 6, 30), Term: term,
			Items: []commands.SubscriptionItem{{ProductID: s.plan, ChargeID: s.monthly, Quantity: decimal.NewFromInt(1)}},
		})
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		s.ix.subs[acc] = []uuid.UUID{sub.State.ID}
	}
	replicas := []*commands.Service{s.svc, s.replica(s.ix)}
	today := domain.NewDate(2026, 11, 25)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			if _, err := replicas[i%2].RecordDueTermEnds(context.Background(), today); err != nil {
				t.Errorf("replica %d: %v", i%2, err)
			}
		})
	}
	wg.Wait()
	// Monthly from June 30: ends Jul 30, Aug 30, Sep 30, Oct 30 (not Nov
	// 30): four renewals. Three months from June 30: ends Sep 30, once.
	want := []map[string]int{{"SubscriptionRenewed": 4}, {"SubscriptionTermEnded": 1}}
	for i, acc := range s.ix.accounts[:2] {
		events, err := s.store.ReadStream(context.Background(), commands.SubscriptionStream(s.tenant, s.ix.subs[acc][0]), 1, 100)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, e := range events[1:] {
			got[e.Type]++
			if e.Metadata.Actor.Type != string(domain.ActorSystem) {
				t.Fatalf("%s recorded by %q, want the system", e.Type, e.Metadata.Actor.Type)
			}
		}
		if len(got) != 1 || got[firstKey(want[i])] != want[i][firstKey(want[i])] {
			t.Fatalf("subscription %d: term events %v, want %v", i, got, want[i])
		}
	}
}

func firstKey(m map[string]int) string {
	for k := range m {
		return k
	}
	return ""
}

// TestIfMatchIsComparedOnceAuthorized: a caller out of scope who names a
// version learns nothing from it (not found, not 412), and an invoice's
// If-Match names the invoice's version, not its stream's.
func TestIfMatchIsComparedOnceAuthorized(t *testing.T) {
	t.Parallel()
	s := newBillingShop(t, newMemoryWorld(t))
	s.subscribeAll(t)
	first := s.run(t, s.svc, domain.NewDate(2026, 11, 1))
	stale := uint64(9)
	outside := s.req(s.operator) // granted A and B, not C
	outside.IfMatch = &stale
	var invoiceOfC uuid.UUID
	for _, inv := range first.Invoices {
		if inv.AccountID == s.accC {
			invoiceOfC = inv.InvoiceID
		}
	}
	_, err := s.svc.VoidInvoice(context.Background(), outside, invoiceOfC, commands.VoidInvoice{})
	wantCode(t, err, domain.ErrNotFound, domain.CodeNotFound)
	_, err = s.svc.CancelSubscription(context.Background(), outside, s.ix.subs[s.accC][0], commands.CancelSubscription{Policy: "immediate"})
	wantCode(t, err, domain.ErrNotFound, domain.CodeNotFound)

	// Void A's invoice, bill it again: A's stream is at version 3, the
	// new invoice at version 1.
	admin := s.req(s.admin)
	if _, err := s.svc.VoidInvoice(context.Background(), admin, first.Invoices[0].InvoiceID, commands.VoidInvoice{}); err != nil {
		t.Fatal(err)
	}
	again := s.run(t, s.svc, domain.NewDate(2026, 11, 1))
	one := uint64(1)
	admin.IfMatch = &stale
	_, err = s.svc.VoidInvoice(context.Background(), admin, again.Invoices[0].InvoiceID, commands.VoidInvoice{})
	wantCode(t, err, domain.ErrPrecondition, domain.CodePreconditionFailed)
	admin.IfMatch = &one
	if _, err := s.svc.VoidInvoice(context.Background(), admin, again.Invoices[0].InvoiceID, commands.VoidInvoice{}); err != nil {
		t.Fatalf("void with If-Match 1, the invoice's version: %v", err)
	}
}
