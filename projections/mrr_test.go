package projections

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"

	"ledger/domain"
	"ledger/eventstore"
	"ledger/internal/pgtest"
)

// subsWorld is a read-model database with the accounts, subscriptions
// and usage projections, and a log of events decided by the domain that
// flush applies to them.
type subsWorld struct {
	pool     *pgxpool.Pool
	position eventstore.Position
	versions map[string]uint64
	pending  []eventstore.Event
	applied  []eventstore.Event
}

// subsT is what the helpers need of a test: *testing.T or *rapid.T.
type subsT interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Context() context.Context
}

func subsNewWorld(t *testing.T) *subsWorld {
	t.Helper()
	pool := pgtest.NewDatabase(t, 4)
	if err := Setup(t.Context(), pool, subsProjections); err != nil {
		t.Fatal(err)
	}
	return &subsWorld{pool: pool, versions: map[string]uint64{}}
}

var subsProjections = []Projection{Accounts{}, Subscriptions{}, Usage{}}

// record appends decided events to stream in the log, as the store
// would: the next positions and versions.
func (w *subsWorld) record(t subsT, stream string, events ...domain.Event) {
	t.Helper()
	for _, e := range events {
		name, version, data, err := domain.MarshalEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		w.position += eventstore.Position(1 + len(w.pending)%3) // gaps, as positions may have
		w.versions[stream]++
		w.pending = append(w.pending, eventstore.Event{ID: uuid.New(), Stream: stream, Version: w.versions[stream],
			Position: w.position, Type: name, SchemaVersion: version, Data: data, RecordedAt: time.Now()})
	}
}

// flush applies the pending events to every projection, in batches of
// the given sizes (the rest in one).
func (w *subsWorld) flush(t subsT, sizes ...int) {
	t.Helper()
	for len(w.pending) > 0 {
		n := len(w.pending)
		if len(sizes) > 0 {
			n, sizes = min(n, max(1, sizes[0])), sizes[1:]
		}
		w.applyBatch(t, w.pending[:n])
		w.applied, w.pending = append(w.applied, w.pending[:n]...), w.pending[n:]
	}
}

func (w *subsWorld) applyBatch(t subsT, batch []eventstore.Event) {
	t.Helper()
	for _, p := range subsProjections {
		if err := applyBatch(t.Context(), w.pool, LiveSchema, p, batch); err != nil {
			t.Fatalf("apply %s: %v", p.Name(), err)
		}
	}
}

// Fixtures: ids, actors and a catalog of EUR charges (seat 10/month,
// support 30/quarter, platform 120/year, setup 50 once, calls 0.002 per
// call) and one USD charge (seat 12/month).
var (
	subsTenantUser = domain.Actor{Type: domain.ActorTenantUser, ID: subsID(1)}
	subsPartnerP   = subsID(2)
	subsPartnerQ   = subsID(3)
	subsPartnerP1  = domain.Actor{Type: domain.ActorPartnerUser, ID: subsID(4), PartnerID: subsPartnerP}
	subsPartnerQ1  = domain.Actor{Type: domain.ActorPartnerUser, ID: subsID(5), PartnerID: subsPartnerQ}
	subsProduct    = subsID(100)
	subsSeat       = subsID(101)
	subsSupport    = subsID(102)
	subsPlatform   = subsID(103)
	subsSetup      = subsID(104)
	subsCalls      = subsID(105)
	subsSeatUSD    = subsID(106)
	subsNoon       = 12 * time.Hour
)

func subsID(n int) uuid.UUID {
	return uuid.MustParse(fmt.Sprintf("00000000-0000-7000-8000-%012d", n))
}

func subsDay(s string) domain.Date {
	d, err := domain.ParseDate("date", s)
	if err != nil {
		panic(err)
	}
	return d
}

// subsAt is noon UTC of date s.
func subsAt(s string) time.Time { return subsDay(s).Time().Add(subsNoon) }

func subsMust(t subsT, events []domain.Event, err error) []domain.Event {
	t.Helper()
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	return events
}

// subsTenant is a tenant of the world with its catalog.
type subsTenant struct {
	id      uuid.UUID
	catalog map[uuid.UUID]*domain.Product
}

// tenant creates a tenant with the fixture catalog (ids of tenant n).
// drawSubscriptions makes tenant n with one account, a, and draws 1 to most
// subscriptions of it, created at 2025-01-01 and starting within days
// days of it, for the property tests.
func (w *subsWorld) drawSubscriptions(rt *rapid.T, n, most, days int) (subsTenant, *domain.Account, []*domain.Subscription) {
	tn := w.tenant(rt, n)
	a := w.account(rt, tn, subsID(10_000*n+1), "Alpha", "EUR", subsTenantUser)
	var subs []*domain.Subscription
	for k := range rapid.IntRange(1, most).Draw(rt, "subscriptions") {
		subs = append(subs, w.subscribe(rt, tn, a, subsID(10_000*n+10+k), subsTenantUser, subsAt("2025-01-01"),
			subsDay("2025-01-01").AddDays(rapid.IntRange(0, days).Draw(rt, "start")).String(), subsDrawTerm(rt), subsDrawCharge(rt), 1))
	}
	return tn, a, subs
}

func (w *subsWorld) tenant(t subsT, n int) subsTenant {
	t.Helper()
	tn := subsTenant{id: subsID(10_000 * n), catalog: map[uuid.UUID]*domain.Product{}}
	p := &domain.Product{}
	charge := func(name, typ, price, cur, period, unit string) domain.ChargeInput {
		return domain.ChargeInput{Name: name, Type: typ, Price: price, Currency: cur, BillingPeriod: period, Unit: unit}
	}
	ids := []uuid.UUID{subsSeat, subsSupport, subsPlatform, subsSetup, subsCalls, subsSeatUSD}
	events, err := p.Create(domain.CreateProduct{ProductID: subsProduct, TenantID: tn.id, Name: "Suite", SKU: "suite",
		Charges: []domain.ChargeInput{charge("Seat", "recurring", "10.00", "EUR", "month", ""),
			charge("Support", "recurring", "30", "EUR", "quarter", ""), charge("Platform", "recurring", "120", "EUR", "year", ""),
			charge("Setup", "one_time", "50", "EUR", "", ""), charge("Calls", "usage", "0.002", "EUR", "", "call"),
			charge("Seat US", "recurring", "12", "USD", "month", "")},
		NewID: func() uuid.UUID { id := ids[0]; ids = ids[1:]; return id }}, subsTenantUser, subsAt("2024-12-01"))
	w.apply(t, "product-"+tn.id.String()+"-"+subsProduct.String(), p, subsMust(t, events, err))
	tn.catalog[subsProduct] = p
	return tn
}

// apply records events of an aggregate and applies them to its state.
func (w *subsWorld) apply(t subsT, stream string, agg interface{ Apply(domain.Event) }, events []domain.Event) {
	t.Helper()
	w.record(t, stream, events...)
	for _, e := range events {
		agg.Apply(e)
	}
}

// account opens an account of tenant created by by.
func (w *subsWorld) account(t subsT, tn subsTenant, id uuid.UUID, name, cur string, by domain.Actor) *domain.Account {
	t.Helper()
	a := &domain.Account{}
	events, err := a.Create(domain.CreateAccount{AccountID: id, TenantID: tn.id, Name: name, Currency: cur,
		Billing: domain.BillingInput{ContactName: "Ann", Email: "ann@example.com"}}, by, subsAt("2024-12-01"))
	w.apply(t, "account-"+tn.id.String()+"-"+id.String(), a, subsMust(t, events, err))
	return a
}

// partner records a partner named name.
func (w *subsWorld) partner(t subsT, id uuid.UUID, name string, admin domain.Actor) {
	t.Helper()
	events, err := (&domain.Partner{}).Create(domain.CreatePartner{PartnerID: id, Name: name,
		Admin: domain.NewUser{ID: admin.ID, Name: "Admin", Role: domain.RolePartnerAdmin, KeyHash: admin.ID.String()}},
		domain.Actor{Type: domain.ActorOperator}, subsAt("2024-12-01"))
	w.record(t, "partner-"+id.String(), subsMust(t, events, err)...)
}

func subsStream(tn subsTenant, s *domain.Subscription) string {
	return "subscription-" + tn.id.String() + "-" + s.ID.String()
}

// subscribe creates subscription id on account a, starting on start,
// with items of (charge, quantity) pairs.
func (w *subsWorld) subscribe(t subsT, tn subsTenant, a *domain.Account, id uuid.UUID, by domain.Actor, now time.Time,
	start string, term domain.TermInput, items ...any) *domain.Subscription {
	t.Helper()
	cmd := domain.CreateSubscription{SubscriptionID: id, TenantID: tn.id, AccountID: a.ID, StartDate: subsDay(start), Term: term}
	for i := 0; i < len(items); i += 2 {
		cmd.Items = append(cmd.Items, domain.ItemInput{ProductID: subsProduct, ChargeID: items[i].(uuid.UUID),
			Quantity: decimal.NewFromInt(int64(items[i+1].(int)))})
	}
	s := &domain.Subscription{}
	events, err := s.Create(cmd, a, tn.catalog, by, now)
	w.apply(t, "subscription-"+tn.id.String()+"-"+id.String(), s, subsMust(t, events, err))
	return s
}

// subsFixture is a world of two tenants, written out so that its figures
// can be worked by hand. Tenant 1 has partners P ("Peak Partners") and Q
// ("Quay"), accounts A1 "Alpha" (direct), A2 "Beta" (created by P), A3
// "Gamma" (direct) in EUR and A4 "Delta" (direct) in USD, and:
//
//	S1 on A1 by a tenant user, from 2025-01-01: 3 seats (10/month), support
//	   (30/quarter), platform (120/year), setup (one time), calls (usage);
//	   seats 3 → 4 from 2025-02-15; 12 more platforms from 2025-03-15.
//	   MRR before 2025-02-15: 30 + 10 + 10 = 50; on 2025-03-01: 40 + 10 +
//	   10 = 60; from 2025-03-15: 180.
//	S2 on A2 by P's user: 2 seats: MRR 20.
//	S3 on A3 by Q's user: 1 seat at 3.345: MRR 3.345 ("3.35" half-up).
//	S4 on A4 by a tenant user: 1 USD seat: MRR 12 USD.
//	S5 on A1: 100 seats (MRR 1000), cancelled at once on 2025-02-01.
//	S6 on A1: 1000 seats from 2025-04-01.
//
// Tenant 2 has account B1 "Other" with X1: 7 seats, MRR 70.
type subsFixture struct {
	w                          *subsWorld
	t1, t2                     subsTenant
	a1, a2, a3, a4, b1         *domain.Account
	s1, s2, s3, s4, s5, s6, x1 *domain.Subscription
}

func subsNewFixture(t *testing.T) *subsFixture {
	t.Helper()
	w := subsNewWorld(t)
	f := &subsFixture{w: w, t1: w.tenant(t, 1), t2: w.tenant(t, 2)}
	w.partner(t, subsPartnerP, "Peak Partners", subsPartnerP1)
	w.partner(t, subsPartnerQ, "Quay", subsPartnerQ1)
	f.a1 = w.account(t, f.t1, subsID(11), "Alpha", "EUR", subsTenantUser)
	f.a2 = w.account(t, f.t1, subsID(12), "Beta", "EUR", subsPartnerP1)
	f.a3 = w.account(t, f.t1, subsID(13), "Gamma", "EUR", subsTenantUser)
	f.a4 = w.account(t, f.t1, subsID(14), "Delta", "USD", subsTenantUser)
	f.b1 = w.account(t, f.t2, subsID(21), "Other", "EUR", subsTenantUser)
	jan := subsAt("2025-01-01")
	evergreen := domain.TermInput{Type: "evergreen"}
	f.s1 = w.subscribe(t, f.t1, f.a1, subsID(31), subsTenantUser, jan, "2025-01-01", evergreen,
		subsSeat, 3, subsSupport, 1, subsPlatform, 1, subsSetup, 1, subsCalls, 1)
	f.s2 = w.subscribe(t, f.t1, f.a2, subsID(32), subsPartnerP1, jan, "2025-01-01", domain.TermInput{Type: "termed", Months: 12, AutoRenew: true}, subsSeat, 2)
	f.s3 = w.subscribeAt(t, f.t1, f.a3, subsID(33), subsPartnerQ1, "3.345")
	f.s4 = w.subscribe(t, f.t1, f.a4, subsID(34), subsTenantUser, jan, "2025-01-01", evergreen, subsSeatUSD, 1)
	f.s5 = w.subscribe(t, f.t1, f.a1, subsID(35), subsTenantUser, jan, "2025-01-01", evergreen, subsSeat, 100)
	f.s6 = w.subscribe(t, f.t1, f.a1, subsID(36), subsTenantUser, jan, "2025-04-01", domain.TermInput{Type: "termed", Months: 3}, subsSeat, 1000)
	f.x1 = w.subscribe(t, f.t2, f.b1, subsID(41), subsTenantUser, jan, "2025-01-01", evergreen, subsSeat, 7)
	f.amend(t, f.s1, "2025-02-15", domain.ChangeInput{Type: "change_quantity", ItemID: f.s1.Items[0].ID, Quantity: decimal.NewFromInt(4)})
	f.amend(t, f.s1, "2025-03-15", domain.ChangeInput{Type: "add_item", ProductID: subsProduct, ChargeID: subsPlatform, Quantity: decimal.NewFromInt(12)})
	events, err := f.s5.Cancel(domain.CancelSubscription{Policy: "immediate"}, subsTenantUser, subsAt("2025-02-01"))
	w.apply(t, subsStream(f.t1, f.s5), f.s5, subsMust(t, events, err))
	w.flush(t, 3, 1, 5, 2)
	return f
}

// subscribeAt creates an evergreen subscription from 2025-01-01 with one
// seat at price.
func (w *subsWorld) subscribeAt(t *testing.T, tn subsTenant, a *domain.Account, id uuid.UUID, by domain.Actor, price string) *domain.Subscription {
	t.Helper()
	s := &domain.Subscription{}
	events, err := s.Create(domain.CreateSubscription{SubscriptionID: id, TenantID: tn.id, AccountID: a.ID,
		StartDate: subsDay("2025-01-01"), Term: domain.TermInput{Type: "evergreen"},
		Items: []domain.ItemInput{{ProductID: subsProduct, ChargeID: subsSeat, Quantity: decimal.NewFromInt(1), UnitPrice: &price}},
	}, a, tn.catalog, by, subsAt("2025-01-01"))
	w.apply(t, subsStream(tn, s), s, subsMust(t, events, err))
	return s
}

// amend amends s of tenant 1 with changes effective on date, decided on
// 2025-01-10.
func (f *subsFixture) amend(t *testing.T, s *domain.Subscription, date string, changes ...domain.ChangeInput) {
	t.Helper()
	events, err := s.Amend(domain.AmendSubscription{EffectiveDate: subsDay(date), Changes: changes},
		f.t1.catalog, subsTenantUser, subsAt("2025-01-10"))
	f.w.apply(t, subsStream(f.t1, s), s, subsMust(t, events, err))
}

func TestMRRReport(t *testing.T) {
	t.Parallel()
	f := subsNewFixture(t)
	eur := func(mrr, arr string) MRRTotal { return MRRTotal{Currency: "EUR", MRR: mrr, ARR: arr} }
	usd := MRRTotal{Currency: "USD", MRR: "12.00", ARR: "144.00"}
	group := func(key, name, cur, mrr, arr string) MRRGroup {
		return MRRGroup{Key: key, Name: name, Currency: domain.Currency(cur), MRR: mrr, ARR: arr}
	}
	partnerScope := Scope{AccountIDs: []uuid.UUID{f.a3.ID}, PartnerID: subsPartnerP}
	tests := []struct {
		name    string
		tenant  uuid.UUID
		scope   Scope
		groupBy string
		date    string
		totals  []MRRTotal
		groups  []MRRGroup
	}{
		{"totals", f.t1.id, Scope{All: true}, "none", "2025-03-01", []MRRTotal{eur("83.35", "1000.14"), usd}, nil},
		{"default grouping", f.t1.id, Scope{All: true}, "", "2025-03-01", []MRRTotal{eur("83.35", "1000.14"), usd}, nil},
		{"before the cancellation", f.t1.id, Scope{All: true}, "none", "2025-01-31", []MRRTotal{eur("1073.35", "12880.14"), usd}, nil},
		{"before the quantity change", f.t1.id, Scope{All: true}, "none", "2025-02-14", []MRRTotal{eur("73.35", "880.14"), usd}, nil},
		{"with the added item", f.t1.id, Scope{All: true}, "none", "2025-03-15", []MRRTotal{eur("203.35", "2440.14"), usd}, nil},
		{"with the later subscription", f.t1.id, Scope{All: true}, "none", "2025-04-01", []MRRTotal{eur("10203.35", "122440.14"), usd}, nil},
		{"before any start", f.t1.id, Scope{All: true}, "none", "2024-12-31", nil, nil},
		{"by partner", f.t1.id, Scope{All: true}, "partner", "2025-03-01", []MRRTotal{eur("83.35", "1000.14"), usd}, []MRRGroup{
			group("direct", "Direct", "EUR", "60.00", "720.00"), group(subsPartnerP.String(), "Peak Partners", "EUR", "20.00", "240.00"),
			group(subsPartnerQ.String(), "Quay", "EUR", "3.35", "40.14"), group("direct", "Direct", "USD", "12.00", "144.00")}},
		{"by product", f.t1.id, Scope{All: true}, "product", "2025-03-01", []MRRTotal{eur("83.35", "1000.14"), usd}, []MRRGroup{
			group(subsProduct.String(), "Suite", "EUR", "83.35", "1000.14"), group(subsProduct.String(), "Suite", "USD", "12.00", "144.00")}},
		{"by account", f.t1.id, Scope{All: true}, "account", "2025-03-01", []MRRTotal{eur("83.35", "1000.14"), usd}, []MRRGroup{
			group(f.a1.ID.String(), "Alpha", "EUR", "60.00", "720.00"), group(f.a2.ID.String(), "Beta", "EUR", "20.00", "240.00"),
			group(f.a3.ID.String(), "Gamma", "EUR", "3.35", "40.14"), group(f.a4.ID.String(), "Delta", "USD", "12.00", "144.00")}},
		{"partner scope", f.t1.id, partnerScope, "account", "2025-03-01", []MRRTotal{eur("23.35", "280.14")}, []MRRGroup{
			group(f.a2.ID.String(), "Beta", "EUR", "20.00", "240.00"), group(f.a3.ID.String(), "Gamma", "EUR", "3.35", "40.14")}},
		{"partner scope by partner", f.t1.id, partnerScope, "partner", "2025-03-01", []MRRTotal{eur("23.35", "280.14")}, []MRRGroup{
			group(subsPartnerP.String(), "Peak Partners", "EUR", "20.00", "240.00"), group(MRRGroupOther, "Other", "EUR", "3.35", "40.14")}},
		{"partner without accounts", f.t1.id, Scope{PartnerID: subsPartnerQ}, "none", "2025-03-01", nil, nil},
		{"other tenant", f.t2.id, Scope{All: true}, "account", "2025-03-01", []MRRTotal{eur("70.00", "840.00")}, []MRRGroup{
			group(f.b1.ID.String(), "Other", "EUR", "70.00", "840.00")}},
		{"tenant without subscriptions", subsID(999), Scope{All: true}, "partner", "2025-03-01", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := MRRReport(t.Context(), f.w.pool, tt.tenant, tt.scope, tt.groupBy, subsDay(tt.date))
			if err != nil {
				t.Fatal(err)
			}
			want := MRRView{AsOf: subsDay(tt.date), Totals: tt.totals, Groups: tt.groups}
			if want.Totals == nil {
				want.Totals = []MRRTotal{}
			}
			if want.Groups == nil {
				want.Groups = []MRRGroup{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestMRRReportRefusesUnknownGrouping(t *testing.T) {
	t.Parallel()
	f := subsNewFixture(t)
	_, err := MRRReport(t.Context(), f.w.pool, f.t1.id, Scope{All: true}, "region", subsDay("2025-03-01"))
	if !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("got %v, want invalid", err)
	}
}
