package projections

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/eventstore/postgres"
)

// viewProjections are the read models the converters stand in for.
var viewProjections = []Projection{Accounts{}, Catalog{}, Partners{}, Subscriptions{}}

// viewStore is the event store, noting the streams appended to since the
// read models were last brought up to date. Reading those streams rather
// than the global log spares the wait for its horizon, which transactions
// of other databases on the same server hold back.
type viewStore struct {
	*postgres.Store
	dirty sync.Map // stream name → true
}

// Append implements eventstore.Store.
func (s *viewStore) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	for _, st := range req.Streams {
		s.dirty.Store(st.Stream, true)
	}
	return s.Store.Append(ctx, req)
}

// takeDirty returns the streams appended to since it was last called.
func (s *viewStore) takeDirty() []string {
	var streams []string
	s.dirty.Range(func(stream, _ any) bool {
		streams = append(streams, stream.(string))
		s.dirty.Delete(stream)
		return true
	})
	return streams
}

// viewWorld is an event store written through the command layer, with
// the read models applied from it: tenant T with its admin, partner P's
// admin holding a partner_admin grant of all T's accounts, partner Q
// with no grant yet, the products of viewProducts and four accounts.
type viewWorld struct {
	pool               *pgxpool.Pool
	store              *viewStore
	applied            map[string]uint64 // stream versions in the read models
	svc                *commands.Service
	clock              atomic.Int64 // the command layer's clock, in Unix nanoseconds
	tenant, p, q       uuid.UUID
	admin, partner     commands.Request
	products           []*domain.Product
	eur, kwd, jpy, old *domain.Account
	charges            map[domain.Currency][]viewCharge
}

// viewCharge is a charge a subscription item may bill.
type viewCharge struct{ product, charge uuid.UUID }

// viewProducts are the products of T: every type of charge, every billing
// period, currencies of 0, 2, 3 and 4 minor units, prices with more
// places than those.
var viewProducts = []commands.CreateProduct{
	{Name: "Suite", SKU: "suite", Charges: []commands.Charge{
		{Name: "Seat", Type: "recurring", Price: "10", Currency: "EUR", BillingPeriod: "month"},
		{Name: "Support", Type: "recurring", Price: "30.5", Currency: "EUR", BillingPeriod: "quarter"},
		{Name: "Platform", Type: "recurring", Price: "1200.00", Currency: "EUR", BillingPeriod: "year"},
		{Name: "Free tier", Type: "recurring", Price: "0", Currency: "EUR", BillingPeriod: "month"},
		{Name: "Setup", Type: "one_time", Price: "49.99", Currency: "EUR"},
		{Name: "Calls", Type: "usage", Price: "0.0001", Currency: "EUR", Unit: "call"},
		{Name: "Plan", Type: "recurring", Price: "12.345", Currency: "KWD", BillingPeriod: "month"},
		{Name: "Care", Type: "recurring", Price: "7.5", Currency: "KWD", BillingPeriod: "quarter"},
		{Name: "Storage", Type: "usage", Price: "2.5", Currency: "KWD", Unit: "GB"},
		{Name: "Seat JP", Type: "recurring", Price: "1200", Currency: "JPY", BillingPeriod: "month"},
		{Name: "Licence", Type: "recurring", Price: "99999", Currency: "JPY", BillingPeriod: "year"},
		{Name: "Onboarding", Type: "one_time", Price: "150000", Currency: "JPY"},
		{Name: "Requests", Type: "usage", Price: "0.5", Currency: "JPY", Unit: "request"},
	}},
	{Name: "Meter", SKU: "meter-1", Charges: []commands.Charge{
		{Name: "Events", Type: "usage", Price: "0.0000000001", Currency: "EUR", Unit: "event"},
		{Name: "Minutes", Type: "usage", Price: "1.25", Currency: "KWD", Unit: "minute"},
		{Name: "Kit", Type: "one_time", Price: "1", Currency: "KWD"},
		{Name: "Index", Type: "recurring", Price: "1.5", Currency: "CLF", BillingPeriod: "year"},
	}},
}

func viewNewWorld(t *testing.T) *viewWorld {
	t.Helper()
	e := newEnv(t)
	if err := Setup(t.Context(), e.pool, viewProjections); err != nil {
		t.Fatal(err)
	}
	w := &viewWorld{pool: e.pool, store: &viewStore{Store: e.store}, applied: map[string]uint64{},
		charges: map[domain.Currency][]viewCharge{}}
	w.setNow(subsDay("2025-01-01").Time().Add(9*time.Hour + 999_999_999))
	w.svc = commands.New(w.store, commands.WithClock(w.now))
	ctx := t.Context()
	op := commands.Request{Principal: domain.Principal{Type: domain.ActorOperator, ID: uuid.New()}}
	tb := viewMust(w.svc.CreateTenant(ctx, op, commands.CreateTenant{Name: "T"}))(t)
	pb := viewMust(w.svc.CreatePartner(ctx, op, commands.CreatePartner{Name: "P"}))(t)
	qb := viewMust(w.svc.CreatePartner(ctx, op, commands.CreatePartner{Name: "Q"}))(t)
	w.tenant, w.p, w.q = tb.ID, pb.ID, qb.ID
	w.admin = commands.Request{TenantID: tb.ID, Principal: domain.Principal{Type: domain.ActorTenantUser, ID: tb.AdminUserID,
		TenantID: tb.ID, Role: domain.RoleTenantAdmin}}
	w.partner = commands.Request{TenantID: tb.ID, Principal: domain.Principal{Type: domain.ActorPartnerUser, ID: pb.AdminUserID,
		PartnerID: pb.ID, Role: domain.RolePartnerAdmin}}
	viewMust(w.svc.PutPartnerAccess(ctx, w.admin, w.p, commands.PutAccess{Role: domain.RolePartnerAdmin, AllAccounts: true}))(t)
	for _, cmd := range viewProducts {
		p := viewMust(w.svc.CreateProduct(ctx, w.admin, cmd))(t).State
		w.products = append(w.products, p)
		for _, c := range p.Charges {
			w.charges[c.Currency] = append(w.charges[c.Currency], viewCharge{p.ID, c.ID})
		}
	}
	days, none := 45, 0
	w.eur = w.open(t, w.admin, "Alpha", "EUR", commands.Billing{ContactName: " Al ", Email: "al@Example.COM",
		Address: "1 Main St\r\nSpringfield", TaxID: "DE123", PaymentTermsDays: &days, InvoiceDelivery: "portal"})
	w.kwd = w.open(t, w.partner, "Beta", "KWD", commands.Billing{ContactName: "Bo", Email: "bo@example.com"})
	w.jpy = w.open(t, w.admin, "Gamma", "JPY", commands.Billing{ContactName: "Cy", Email: "cy@example.com", PaymentTermsDays: &none})
	w.old = w.open(t, w.admin, "Delta", "EUR", commands.Billing{ContactName: "Di", Email: "di@example.com"})
	w.sync(t)
	return w
}

// viewMust returns a function of the test that fails it on err, else
// returns v: viewMust(svc.Command(…))(t).
func viewMust[V any](v V, err error) func(t subsT) V {
	return func(t subsT) V {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func (w *viewWorld) open(t subsT, req commands.Request, name, cur string, b commands.Billing) *domain.Account {
	t.Helper()
	w.tick(time.Minute)
	return viewMust(w.svc.CreateAccount(t.Context(), req,
		commands.CreateAccount{Name: name, Currency: cur, Billing: b}))(t).State
}

// now is the command layer's clock: set by hand, to instants with
// nanoseconds, which the read model does not keep.
func (w *viewWorld) now() time.Time { return time.Unix(0, w.clock.Load()).UTC() }

func (w *viewWorld) setNow(t time.Time) { w.clock.Store(t.UnixNano()) }

// tick moves the clock on by d.
func (w *viewWorld) tick(d time.Duration) { w.setNow(w.now().Add(d)) }

// sync applies to the read models the events appended since it last
// did, in the order of the log. Every append has returned by then, so
// no event of a smaller position may still appear.
func (w *viewWorld) sync(t subsT) {
	t.Helper()
	var batch []eventstore.Event
	for _, stream := range w.store.takeDirty() {
		events, err := w.store.ReadStream(t.Context(), stream, w.applied[stream]+1, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) > 0 {
			batch, w.applied[stream] = append(batch, events...), events[len(events)-1].Version
		}
	}
	slices.SortFunc(batch, func(a, b eventstore.Event) int { return cmp.Compare(a.Position, b.Position) })
	for _, p := range viewProjections {
		if err := applyBatch(t.Context(), w.pool, LiveSchema, p, batch); err != nil {
			t.Fatal(err)
		}
	}
}

// decide appends to stream, at version, what an aggregate decided (for
// the decisions no command makes), as req's, and applies it to agg.
func (w *viewWorld) decide(t *testing.T, req commands.Request, stream string, version uint64,
	agg interface{ Apply(domain.Event) }, decided []domain.Event, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	p := req.Principal
	meta := eventstore.Metadata{TenantID: w.tenant.String(), OccurredAt: w.now(),
		Actor: eventstore.Actor{Type: string(p.Type), ID: p.ID.String()}}
	events := make([]eventstore.EventData, len(decided))
	for i, e := range decided {
		if events[i], err = eventstore.NewEvent(e.EventType(), e, meta); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.store.Append(t.Context(), eventstore.To(stream, eventstore.Exact(version), events...)); err != nil {
		t.Fatal(err)
	}
	for _, e := range decided {
		agg.Apply(e)
	}
}

// viewLoad rebuilds the aggregate of stream from the log.
func viewLoad[A any, P interface {
	*A
	Apply(domain.Event)
}](t subsT, store eventstore.Store, stream string) *A {
	t.Helper()
	events, err := store.ReadStream(t.Context(), stream, 1, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	agg := new(A)
	for _, e := range events {
		decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			t.Fatal(err)
		}
		P(agg).Apply(decoded)
	}
	return agg
}

// viewSame fails t unless got and want encode alike.
func viewSame(t subsT, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got) // views always encode
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("%s:\n view  %s\n query %s", what, g, w)
	}
}

// TestViewsMatchReadModel writes a log through the command layer and
// checks that each converter, given the state a command returned and the
// state rebuilt from the log, encodes as the query of the read model
// does.
func TestViewsMatchReadModel(t *testing.T) {
	t.Parallel()
	w := viewNewWorld(t)
	t.Run("products", w.checkProducts)
	t.Run("accounts", w.checkAccounts)
	t.Run("access", w.checkAccess)
	t.Run("subscriptions", w.checkSubscriptions)
}

func (w *viewWorld) checkProducts(t *testing.T) {
	for _, p := range w.products {
		want, err := GetProduct(t.Context(), w.pool, w.tenant, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		for name, state := range map[string]*domain.Product{
			"returned": p, "rebuilt": viewLoad[domain.Product](t, w.store, commands.ProductStream(w.tenant, p.ID)),
		} {
			got, err := ProductViewOf(state)
			if err != nil {
				t.Fatal(err)
			}
			viewSame(t, p.Name+", "+name, got, want)
		}
	}
	if _, err := ProductViewOf(&domain.Product{}); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("no product: got %v, want not found", err)
	}
}

func (w *viewWorld) checkAccounts(t *testing.T) {
	ctx := t.Context()
	same := commands.Billing{ContactName: "Al", Email: "al@example.com"}
	steps := []struct {
		name string
		do   func(t *testing.T) *domain.Account
	}{
		{"created by the tenant", func(*testing.T) *domain.Account { return w.eur }},
		{"created by a partner", func(*testing.T) *domain.Account { return w.kwd }},
		{"no payment terms", func(*testing.T) *domain.Account { return w.jpy }},
		{"billing replaced, address and tax id dropped", func(t *testing.T) *domain.Account {
			return viewMust(w.svc.UpdateBilling(ctx, w.admin, w.eur.ID, same))(t).State
		}},
		{"billing unchanged: no event", func(t *testing.T) *domain.Account {
			return viewMust(w.svc.UpdateBilling(ctx, w.admin, w.eur.ID, same))(t).State
		}},
		{"billing updated by the partner", func(t *testing.T) *domain.Account {
			return viewMust(w.svc.UpdateBilling(ctx, w.partner, w.kwd.ID, commands.Billing{
				ContactName: "Bo", Email: "bo@example.com", Address: "PO Box 1\nKuwait City", TaxID: "KW-9", InvoiceDelivery: "portal"}))(t).State
		}},
		{"closed", func(t *testing.T) *domain.Account {
			a := viewLoad[domain.Account](t, w.store, commands.AccountStream(w.tenant, w.old.ID))
			events, err := a.Close("moved away", w.admin.Principal.Actor(), w.now())
			w.decide(t, w.admin, commands.AccountStream(w.tenant, a.ID), a.Version, a, events, err)
			return a
		}},
	}
	for _, step := range steps {
		w.tick(time.Hour + 1357*time.Nanosecond)
		a := step.do(t)
		w.sync(t)
		want, err := GetAccount(ctx, w.pool, w.tenant, Scope{All: true}, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		viewSame(t, step.name+", returned", AccountViewOf(a), want)
		viewSame(t, step.name+", rebuilt", AccountViewOf(viewLoad[domain.Account](t, w.store, commands.AccountStream(w.tenant, a.ID))), want)
	}
}

// checkAccess follows tenant T's grant to partner Q through each change
// and compares the views at instants around its expiry.
func (w *viewWorld) checkAccess(t *testing.T) {
	ctx := t.Context()
	stream := commands.AccessStream(w.tenant, w.q)
	put := func(terms commands.PutAccess) func(t *testing.T) *domain.PartnerAccess {
		return func(t *testing.T) *domain.PartnerAccess {
			return viewMust(w.svc.PutPartnerAccess(ctx, w.admin, w.q, terms))(t).State
		}
	}
	scope := func(assign bool, account uuid.UUID) func(t *testing.T) *domain.PartnerAccess {
		return func(t *testing.T) *domain.PartnerAccess {
			g := viewLoad[domain.PartnerAccess](t, w.store, stream)
			decide := g.UnassignAccount
			if assign {
				decide = g.AssignAccount
			}
			events, err := decide(account, w.admin.Principal.Actor(), w.now())
			w.decide(t, w.admin, stream, g.Version, g, events, err)
			return g
		}
	}
	first := w.now().Truncate(time.Second).Add(2*time.Hour + 123_456_789)
	regrant := commands.PutAccess{Role: domain.RolePartnerOperator, AccountIDs: []uuid.UUID{w.kwd.ID},
		ExpiresAt: new(w.now().Add(30*24*time.Hour + 999_999_999))}
	steps := []struct {
		name string
		do   func(t *testing.T) *domain.PartnerAccess
	}{
		{"granted, listed accounts, expiring", put(commands.PutAccess{Role: domain.RolePartnerViewer,
			AccountIDs: []uuid.UUID{w.jpy.ID, w.eur.ID}, Actions: []domain.Permission{domain.PermSubscriptionsAmend, domain.PermAccountsCreate},
			ExpiresAt: &first})},
		{"account assigned", scope(true, w.kwd.ID)},
		{"account unassigned", scope(false, w.eur.ID)},
		{"changed to all accounts, no expiry", put(commands.PutAccess{Role: domain.RolePartnerAdmin, AllAccounts: true})},
		{"revoked", func(t *testing.T) *domain.PartnerAccess {
			return viewMust(w.svc.RevokePartnerAccess(ctx, w.admin, w.q, "contract ended"))(t).State
		}},
		{"granted again", put(regrant)},
		{"same terms: no event", put(regrant)},
	}
	for _, step := range steps {
		w.tick(time.Minute + 77*time.Nanosecond)
		g := step.do(t)
		w.sync(t)
		rebuilt := viewLoad[domain.PartnerAccess](t, w.store, stream)
		instants := []time.Time{w.now()} // and around the expiry, as kept (to the microsecond) and exact
		if exp := g.ExpiresAt; exp != nil {
			kept := exp.Truncate(time.Microsecond)
			instants = append(instants, kept.Add(-time.Nanosecond), kept, *exp, exp.Add(time.Hour))
		}
		for _, now := range instants {
			want, err := GetPartnerAccess(ctx, w.pool, w.tenant, w.q, now)
			if err != nil {
				t.Fatal(err)
			}
			at := fmt.Sprintf("%s at %s", step.name, now.Format(time.RFC3339Nano))
			viewSame(t, at+", returned", AccessViewOf(g, now), want)
			viewSame(t, at+", rebuilt", AccessViewOf(rebuilt, now), want)
		}
	}
	// The view's expiry is the read model's, to the microsecond: in the
	// microsecond before the exact expiry the grant is expired there.
	exp := first.Truncate(time.Microsecond)
	g := &domain.PartnerAccess{TenantID: w.tenant, PartnerID: w.q, ExpiresAt: &first}
	if got := AccessViewOf(g, exp); got.Status != domain.AccessExpired || !got.ExpiresAt.Equal(exp) || g.StatusAt(exp) != domain.AccessActive {
		t.Fatalf("at %v: view %s expiring %v, domain %s; want expired at %v, domain active", exp, got.Status, got.ExpiresAt, g.StatusAt(exp), exp)
	}
}

// checkSubscriptions creates a subscription with random items, term and
// start, amends and cancels it at random (refusals included), and
// compares its views, returned and rebuilt, with the read model's on the
// dates where something changes.
func (w *viewWorld) checkSubscriptions(t *testing.T) {
	accounts := []*domain.Account{w.eur, w.kwd, w.jpy}
	by := rapid.SampledFrom([]commands.Request{w.admin, w.partner}) // both may override prices
	rapid.Check(t, func(rt *rapid.T) {
		ctx := rt.Context()
		today := subsDay("2025-01-01").AddDays(rapid.IntRange(0, 400).Draw(rt, "today"))
		w.setNow(viewDrawInstant(rt, today))
		a := rapid.SampledFrom(accounts).Draw(rt, "account")
		cmd := commands.CreateSubscription{AccountID: a.ID, StartDate: today.AddDays(rapid.IntRange(-60, 60).Draw(rt, "start")),
			Term: rapid.SampledFrom([]commands.Term{{Type: "evergreen"}, {Type: "termed", Months: 1, AutoRenew: true},
				{Type: "termed", Months: 3}, {Type: "termed", Months: 12, AutoRenew: true}, {Type: "termed", Months: 12}}).Draw(rt, "term")}
		for range rapid.IntRange(1, 3).Draw(rt, "items") {
			c := rapid.SampledFrom(w.charges[a.Currency]).Draw(rt, "charge")
			cmd.Items = append(cmd.Items, commands.SubscriptionItem{ProductID: c.product, ChargeID: c.charge,
				Quantity: viewDrawQuantity(rt), UnitPrice: viewDrawPrice(rt)})
		}
		s := viewMust(w.svc.CreateSubscription(ctx, by.Draw(rt, "by"), cmd))(rt).State
		for range rapid.IntRange(0, 5).Draw(rt, "steps") {
			today = today.AddDays(rapid.IntRange(0, 45).Draw(rt, "wait"))
			w.setNow(viewDrawInstant(rt, today))
			out, err := w.viewDrawCommand(rt, by.Draw(rt, "by"), s, a.Currency, today)
			if err != nil && !errors.As(err, new(*domain.Error)) {
				rt.Fatal(err)
			}
			if err == nil {
				s = out.State
			}
		}
		w.sync(rt)
		rebuilt := viewLoad[domain.Subscription](rt, w.store, commands.SubscriptionStream(w.tenant, s.ID))
		for _, d := range subsDrawDates(rt, []*domain.Subscription{s}) {
			want, err := GetSubscription(ctx, w.pool, w.tenant, Scope{All: true}, s.ID, d)
			if err != nil {
				rt.Fatal(err)
			}
			for name, state := range map[string]*domain.Subscription{"returned": s, "rebuilt": rebuilt} {
				got, err := SubscriptionViewOf(state, d)
				if err != nil {
					rt.Fatal(err)
				}
				viewSame(rt, fmt.Sprintf("%s on %s", name, d), got, want)
			}
		}
	})
	if _, err := SubscriptionViewOf(&domain.Subscription{}, subsDay("2025-01-01")); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("no subscription: got %v, want not found", err)
	}
}

// viewDrawInstant draws an instant of date d, often with nanoseconds,
// some of which round up to the next second and some not.
func viewDrawInstant(rt *rapid.T, d domain.Date) time.Time {
	nanos := rapid.SampledFrom([]int{0, 1, 999, 500_000, 123_456_789, 999_999_500, 999_999_999}).Draw(rt, "nanos")
	return d.Time().Add(time.Duration(rapid.IntRange(0, 86_399).Draw(rt, "second"))*time.Second + time.Duration(nanos))
}

func viewDrawQuantity(rt *rapid.T) decimal.Decimal {
	return decimal.NewFromInt(rapid.SampledFrom([]int64{1, 2, 3, 7, 12, 250, 1_000_000}).Draw(rt, "quantity"))
}

// viewDrawPrice draws no override (mostly) or a unit price.
func viewDrawPrice(rt *rapid.T) *string {
	if rapid.IntRange(0, 3).Draw(rt, "override") > 0 {
		return nil
	}
	return new(rapid.SampledFrom([]string{"0", "7.50", "99.999", "0.0001", "33.335", "1200", "0.0000000001"}).Draw(rt, "price"))
}

// viewDrawCommand runs a random amendment of s (mostly) or cancellation
// by by, on date today; refusals come back as errors.
func (w *viewWorld) viewDrawCommand(rt *rapid.T, by commands.Request, s *domain.Subscription, cur domain.Currency,
	today domain.Date) (commands.Outcome[domain.Subscription], error) {
	ctx := rt.Context()
	if rapid.IntRange(0, 3).Draw(rt, "op") == 0 {
		cmd := commands.CancelSubscription{Policy: rapid.SampledFrom([]string{"immediate", "end_of_term", "specific_date"}).Draw(rt, "policy"),
			Reason: rapid.SampledFrom([]string{"", "moving"}).Draw(rt, "reason")}
		if cmd.Policy == "specific_date" {
			cmd.Date = today.AddDays(rapid.IntRange(0, 200).Draw(rt, "date"))
		}
		return w.svc.CancelSubscription(ctx, by, s.ID, cmd)
	}
	cmd := commands.AmendSubscription{EffectiveDate: s.LastChangeDate.AddDays(rapid.IntRange(-2, 60).Draw(rt, "effective"))}
	items := []uuid.UUID{uuid.New()}
	for _, it := range s.Items {
		items = append(items, it.ID)
	}
	for range rapid.IntRange(1, 3).Draw(rt, "changes") {
		switch rapid.IntRange(0, 2).Draw(rt, "change") {
		case 0:
			c := rapid.SampledFrom(w.charges[cur]).Draw(rt, "charge")
			cmd.Changes = append(cmd.Changes, commands.Change{Type: "add_item", ProductID: c.product, ChargeID: c.charge,
				Quantity: viewDrawQuantity(rt), UnitPrice: viewDrawPrice(rt)})
		case 1:
			cmd.Changes = append(cmd.Changes, commands.Change{Type: "remove_item", ItemID: rapid.SampledFrom(items).Draw(rt, "item")})
		default:
			cmd.Changes = append(cmd.Changes, commands.Change{Type: "change_quantity", ItemID: rapid.SampledFrom(items).Draw(rt, "item"),
				Quantity: viewDrawQuantity(rt)})
		}
	}
	return w.svc.AmendSubscription(ctx, by, s.ID, cmd)
}
