package projections

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"

	"ledger/domain"
)

// subsWant is the view of s on date d, as the domain says it is.
func subsWant(s *domain.Subscription, d domain.Date) SubscriptionView {
	v := SubscriptionView{ID: s.ID, AccountID: s.AccountID, Currency: s.Currency, Status: s.StatusOn(d),
		StartDate: s.StartDate, CancelDate: s.CancelDate, MRR: s.Currency.Present(s.MRR(d)), Version: s.Version,
		CreatedBy: viewActor(s.CreatedBy), CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, Items: []ItemView{},
		Term: TermView{Type: s.Term.Type, AutoRenew: s.Term.AutoRenew, CurrentTermEnd: s.CurrentTermEnd(d)}}
	if s.Term.Type == domain.TermTermed {
		v.Term.Months = &s.Term.Months
	}
	for _, it := range s.Items {
		iv := ItemView{ID: it.ID, ProductID: it.ProductID, ChargeID: it.ChargeID, Name: it.Name, Type: it.Type,
			Quantity: it.QuantityOn(d), EffectiveFrom: it.EffectiveFrom, EffectiveTo: it.EffectiveTo,
			UnitPrice: it.UnitPrice.StringFixed(max(s.Currency.MinorUnits(), -it.UnitPrice.Exponent()))}
		if it.BillingPeriod != "" {
			iv.BillingPeriod = &it.BillingPeriod
		}
		if it.Unit != "" {
			iv.Unit = &it.Unit
		}
		v.Items = append(v.Items, iv)
	}
	v.ScheduledChanges = subsWantScheduled(s, d)
	return v
}

// subsCheckView compares the read model's view of s on d with the
// domain's, as JSON.
func (w *subsWorld) checkView(t subsT, tn subsTenant, s *domain.Subscription, d domain.Date) {
	t.Helper()
	got, err := GetSubscription(t.Context(), w.pool, tn.id, Scope{All: true}, s.ID, d)
	if err != nil {
		t.Fatalf("get %s on %s: %v", s.ID, d, err)
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(subsWant(s, d))
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("on %s:\n got %s\nwant %s", d, gotJSON, wantJSON)
	}
}

// subsIDs returns the ids of views.
func subsIDs(views []SubscriptionView) []uuid.UUID {
	ids := make([]uuid.UUID, len(views))
	for i, v := range views {
		ids[i] = v.ID
	}
	return ids
}

// subsSorted returns ids sorted as lists order them.
func subsSorted(ids ...uuid.UUID) []uuid.UUID {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	if out == nil {
		out = []uuid.UUID{}
	}
	return out
}

func subsWantNotFound(t subsT, err error) {
	t.Helper()
	if !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("got %v, want not found", err)
	}
}

// TestSubscriptionsMatchDomain runs random commands through the domain's
// decide methods against a few subscriptions, applies the events in
// random batches, and checks that on every date where something changes
// (and some others) the read model says what domain.Subscription says:
// the representation (status, term end, items, quantities, MRR), the
// status filter, and the MRR total.
func TestSubscriptionsMatchDomain(t *testing.T) {
	t.Parallel()
	w := subsNewWorld(t)
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		tn, a, subs := w.drawSubscriptions(rt, n, 3, 90)
		now := subsAt("2025-01-01")
		for range rapid.IntRange(0, 12).Draw(rt, "steps") {
			now = now.Add(time.Duration(rapid.IntRange(0, 30).Draw(rt, "wait")) * 24 * time.Hour)
			s := rapid.SampledFrom(subs).Draw(rt, "subscription")
			events, err := subsDrawCommand(rt, s, tn, now)
			if err == nil {
				w.apply(rt, subsStream(tn, s), s, events)
			}
		}
		w.flush(rt, rapid.SliceOfN(rapid.IntRange(1, 6), 0, 6).Draw(rt, "batches")...)
		for _, d := range subsDrawDates(rt, subs) {
			w.checkDate(rt, tn, a, subs, d)
		}
	})
}

func subsDrawCharge(rt *rapid.T) uuid.UUID {
	return rapid.SampledFrom([]uuid.UUID{subsSeat, subsSupport, subsPlatform, subsSetup, subsCalls}).Draw(rt, "charge")
}

func subsDrawTerm(rt *rapid.T) domain.TermInput {
	return rapid.SampledFrom([]domain.TermInput{{Type: "evergreen"}, {Type: "termed", Months: 1, AutoRenew: true},
		{Type: "termed", Months: 3}, {Type: "termed", Months: 12, AutoRenew: true}, {Type: "termed", Months: 2, AutoRenew: true},
	}).Draw(rt, "term")
}

// subsDrawCommand decides a random amendment (mostly) or cancellation of
// s at now; refusals come back as errors.
func subsDrawCommand(rt *rapid.T, s *domain.Subscription, tn subsTenant, now time.Time) ([]domain.Event, error) {
	by := rapid.SampledFrom([]domain.Actor{subsTenantUser, subsPartnerP1}).Draw(rt, "actor")
	if rapid.IntRange(0, 6).Draw(rt, "op") == 0 {
		cmd := domain.CancelSubscription{Policy: rapid.SampledFrom([]string{"immediate", "end_of_term", "specific_date"}).Draw(rt, "policy")}
		if cmd.Policy == "specific_date" {
			cmd.Date = domain.DateOf(now).AddDays(rapid.IntRange(0, 200).Draw(rt, "date"))
		}
		return s.Cancel(cmd, by, now)
	}
	cmd := domain.AmendSubscription{EffectiveDate: s.LastChangeDate.AddDays(rapid.IntRange(0, 60).Draw(rt, "effective"))}
	items := []uuid.UUID{uuid.New()}
	for _, it := range s.Items {
		items = append(items, it.ID)
	}
	for range rapid.IntRange(1, 3).Draw(rt, "changes") {
		q := decimal.NewFromInt(rapid.SampledFrom([]int64{1, 2, 3, 7, 12, 250}).Draw(rt, "quantity"))
		switch rapid.IntRange(0, 2).Draw(rt, "change") {
		case 0:
			c := domain.ChangeInput{Type: "add_item", ProductID: subsProduct, Quantity: q, ChargeID: subsDrawCharge(rt)}
			if rapid.IntRange(0, 4).Draw(rt, "override") == 0 {
				c.UnitPrice = new(rapid.SampledFrom([]string{"0", "7.50", "99.999", "0.0001", "33.335"}).Draw(rt, "price"))
			}
			cmd.Changes = append(cmd.Changes, c)
		case 1:
			cmd.Changes = append(cmd.Changes, domain.ChangeInput{Type: "remove_item", ItemID: rapid.SampledFrom(items).Draw(rt, "item")})
		default:
			cmd.Changes = append(cmd.Changes, domain.ChangeInput{Type: "change_quantity", ItemID: rapid.SampledFrom(items).Draw(rt, "item"), Quantity: q})
		}
	}
	return s.Amend(cmd, tn.catalog, by, now)
}

// subsDrawDates returns the dates where the subscriptions change, with
// their neighbours, and a few more.
func subsDrawDates(rt *rapid.T, subs []*domain.Subscription) []domain.Date {
	var ds []domain.Date
	add := func(d domain.Date) {
		if !d.IsZero() {
			ds = append(ds, d.AddDays(-1), d, d.AddDays(1))
		}
	}
	for _, s := range subs {
		add(s.StartDate)
		add(s.CancelDate)
		add(s.EndDate())
		for k := range 4 {
			add(s.CurrentTermEnd(s.StartDate.AddMonths(k * max(1, s.Term.Months))))
		}
		for _, it := range s.Items {
			add(it.EffectiveFrom)
			add(it.EffectiveTo)
			for _, q := range it.Quantities {
				add(q.From)
			}
		}
		ds = append(ds, s.StartDate.AddDays(rapid.IntRange(-40, 900).Draw(rt, "date")))
	}
	slices.SortFunc(ds, domain.Date.Compare)
	return slices.Compact(ds)
}

// checkDate compares the read model with the domain on date d: the
// subscriptions as listed, those listed with one status (drawn), and
// the MRR total.
func (w *subsWorld) checkDate(rt *rapid.T, tn subsTenant, a *domain.Account, subs []*domain.Subscription, d domain.Date) {
	all, err := ListSubscriptions(rt.Context(), w.pool, tn.id, Scope{All: true}, SubscriptionFilter{AccountID: &a.ID}, Page{}, d)
	if err != nil {
		rt.Fatal(err)
	}
	status := rapid.SampledFrom([]domain.Status{domain.StatusActive, domain.StatusPendingCancellation, domain.StatusCancelled}).Draw(rt, "status")
	total, want, withStatus := decimal.Zero, []SubscriptionView{}, []uuid.UUID{}
	for _, s := range subs {
		want = append(want, subsWant(s, d))
		total = total.Add(s.MRR(d))
		if s.StatusOn(d) == status {
			withStatus = append(withStatus, s.ID)
		}
	}
	slices.SortFunc(want, func(a, b SubscriptionView) int { return slices.Compare(a.ID[:], b.ID[:]) })
	gotJSON, _ := json.Marshal(all.Items)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		rt.Fatalf("on %s:\n got %s\nwant %s", d, gotJSON, wantJSON)
	}
	list, err := ListSubscriptions(rt.Context(), w.pool, tn.id, Scope{All: true}, SubscriptionFilter{Status: string(status)}, Page{}, d)
	if err != nil {
		rt.Fatal(err)
	}
	if got := subsIDs(list.Items); !slices.Equal(got, subsSorted(withStatus...)) {
		rt.Fatalf("%s on %s: got %v, want %v", status, d, got, subsSorted(withStatus...))
	}
	report, err := MRRReport(rt.Context(), w.pool, tn.id, Scope{All: true}, "none", d)
	if err != nil {
		rt.Fatal(err)
	}
	got := "0.00"
	if len(report.Totals) == 1 {
		got = report.Totals[0].MRR
	}
	if want := domain.Currency("EUR").Present(total); got != want || len(report.Totals) > 1 {
		rt.Fatalf("MRR on %s: got %+v, want %s", d, report.Totals, want)
	}
}

func TestListSubscriptionsFiltersAndScope(t *testing.T) {
	t.Parallel()
	f := subsNewFixture(t)
	all := Scope{All: true}
	tests := []struct {
		name   string
		tenant uuid.UUID
		scope  Scope
		filter SubscriptionFilter
		date   string
		want   []*domain.Subscription
	}{
		{"all", f.t1.id, all, SubscriptionFilter{}, "2025-03-01", []*domain.Subscription{f.s1, f.s2, f.s3, f.s4, f.s5, f.s6}},
		{"account", f.t1.id, all, SubscriptionFilter{AccountID: &f.a1.ID}, "2025-03-01", []*domain.Subscription{f.s1, f.s5, f.s6}},
		{"active", f.t1.id, all, SubscriptionFilter{Status: "active"}, "2025-03-01", []*domain.Subscription{f.s1, f.s2, f.s3, f.s4, f.s6}},
		{"cancelled", f.t1.id, all, SubscriptionFilter{Status: "cancelled"}, "2025-03-01", []*domain.Subscription{f.s5}},
		{"not yet cancelled", f.t1.id, all, SubscriptionFilter{Status: "cancelled"}, "2025-01-31", nil},
		{"pending", f.t1.id, all, SubscriptionFilter{Status: "pending_cancellation"}, "2025-01-31", []*domain.Subscription{f.s5}},
		{"term ended", f.t1.id, all, SubscriptionFilter{AccountID: &f.a1.ID, Status: "cancelled"}, "2025-07-01", []*domain.Subscription{f.s5, f.s6}},
		{"account and status", f.t1.id, all, SubscriptionFilter{AccountID: &f.a1.ID, Status: "active"}, "2025-03-01", []*domain.Subscription{f.s1, f.s6}},
		{"partner: listed and created accounts", f.t1.id, Scope{AccountIDs: []uuid.UUID{f.a3.ID}, PartnerID: subsPartnerP}, SubscriptionFilter{}, "2025-03-01", []*domain.Subscription{f.s2, f.s3}},
		{"partner: no accounts", f.t1.id, Scope{PartnerID: subsPartnerQ}, SubscriptionFilter{}, "2025-03-01", nil},
		{"partner: account out of scope", f.t1.id, Scope{AccountIDs: []uuid.UUID{f.a3.ID}, PartnerID: subsPartnerQ}, SubscriptionFilter{AccountID: &f.a1.ID}, "2025-03-01", nil},
		{"partner: all accounts", f.t1.id, Scope{All: true, PartnerID: subsPartnerQ}, SubscriptionFilter{AccountID: &f.a4.ID}, "2025-03-01", []*domain.Subscription{f.s4}},
		{"other tenant", f.t2.id, all, SubscriptionFilter{}, "2025-03-01", []*domain.Subscription{f.x1}},
		{"other tenant's account", f.t2.id, all, SubscriptionFilter{AccountID: &f.a1.ID}, "2025-03-01", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			list, err := ListSubscriptions(t.Context(), f.w.pool, tt.tenant, tt.scope, tt.filter, Page{}, subsDay(tt.date))
			if err != nil {
				t.Fatal(err)
			}
			var want []uuid.UUID
			for _, s := range tt.want {
				want = append(want, s.ID)
				if got := list.Items[slices.Index(subsIDs(list.Items), s.ID)]; !reflect.DeepEqual(got, subsWant(s, subsDay(tt.date))) {
					t.Errorf("%s: got %+v, want %+v", s.ID, got, subsWant(s, subsDay(tt.date)))
				}
			}
			if got := subsIDs(list.Items); !slices.Equal(got, subsSorted(want...)) || list.NextCursor != nil {
				t.Fatalf("got %v (next %v), want %v", got, list.NextCursor, subsSorted(want...))
			}
		})
	}
}

func TestGetSubscriptionScope(t *testing.T) {
	t.Parallel()
	f := subsNewFixture(t)
	tests := []struct {
		name   string
		tenant uuid.UUID
		scope  Scope
		id     uuid.UUID
		found  bool
	}{
		{"tenant user", f.t1.id, Scope{All: true}, f.s3.ID, true},
		{"partner, listed account", f.t1.id, Scope{AccountIDs: []uuid.UUID{f.a3.ID}, PartnerID: subsPartnerQ}, f.s3.ID, true},
		{"partner, account it created", f.t1.id, Scope{PartnerID: subsPartnerP}, f.s2.ID, true},
		{"partner, other account", f.t1.id, Scope{AccountIDs: []uuid.UUID{f.a3.ID}, PartnerID: subsPartnerP}, f.s1.ID, false},
		{"partner, account another partner created", f.t1.id, Scope{PartnerID: subsPartnerQ}, f.s2.ID, false},
		{"other tenant", f.t2.id, Scope{All: true}, f.s1.ID, false},
		{"absent", f.t1.id, Scope{All: true}, uuid.New(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := GetSubscription(t.Context(), f.w.pool, tt.tenant, tt.scope, tt.id, subsDay("2025-03-01"))
			if !tt.found {
				subsWantNotFound(t, err)
				return
			}
			if err != nil || got.ID != tt.id {
				t.Fatalf("got %s, %v; want %s", got.ID, err, tt.id)
			}
		})
	}
}

// TestSubscriptionStatusOnDates follows a subscription pending
// cancellation, one that is cancelled, and a term that ends.
func TestSubscriptionStatusOnDates(t *testing.T) {
	t.Parallel()
	f := subsNewFixture(t)
	events, err := f.s2.Cancel(domain.CancelSubscription{Policy: "end_of_term", Reason: "moving"}, subsPartnerP1, subsAt("2025-05-10"))
	f.w.apply(t, subsStream(f.t1, f.s2), f.s2, subsMust(t, events, err))
	f.w.flush(t)
	tests := []struct {
		s      *domain.Subscription
		date   string
		status domain.Status
		mrr    string
	}{
		{f.s2, "2025-12-31", domain.StatusPendingCancellation, "20.00"},
		{f.s2, "2026-01-01", domain.StatusCancelled, "0.00"},
		{f.s5, "2025-01-31", domain.StatusPendingCancellation, "1000.00"},
		{f.s5, "2025-02-01", domain.StatusCancelled, "0.00"},
		{f.s6, "2025-03-31", domain.StatusActive, "0.00"},
		{f.s6, "2025-06-30", domain.StatusActive, "10000.00"},
		{f.s6, "2025-07-01", domain.StatusCancelled, "0.00"},
	}
	for _, tt := range tests {
		t.Run(tt.s.ID.String()+"@"+tt.date, func(t *testing.T) {
			t.Parallel()
			got, err := GetSubscription(t.Context(), f.w.pool, f.t1.id, Scope{All: true}, tt.s.ID, subsDay(tt.date))
			if err != nil || got.Status != tt.status || got.MRR != tt.mrr {
				t.Fatalf("got %s %s (%v), want %s %s", got.Status, got.MRR, err, tt.status, tt.mrr)
			}
			f.w.checkView(t, f.t1, tt.s, subsDay(tt.date))
		})
	}
}

func TestListSubscriptionsPages(t *testing.T) {
	t.Parallel()
	w := subsNewWorld(t)
	tn := w.tenant(t, 1)
	a := w.account(t, tn, subsID(11), "Alpha", "EUR", subsTenantUser)
	var want []uuid.UUID
	for i := range 23 {
		s := w.subscribe(t, tn, a, uuid.New(), subsTenantUser, subsAt("2025-01-01"), "2025-01-01", domain.TermInput{Type: "evergreen"}, subsSeat, i+1)
		want = append(want, s.ID)
	}
	w.flush(t, 7)
	for _, limit := range []int{1, 5, 22, 23, 500} {
		var got []uuid.UUID
		page := Page{Limit: limit}
		for pages := 1; ; pages++ {
			list, err := ListSubscriptions(t.Context(), w.pool, tn.id, Scope{All: true}, SubscriptionFilter{Status: "active"}, page, subsDay("2025-02-01"))
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Items) > limit || pages > 30 {
				t.Fatalf("limit %d: page %d of %d items", limit, pages, len(list.Items))
			}
			got = append(got, subsIDs(list.Items)...)
			if list.NextCursor == nil {
				break
			}
			page.Cursor = *list.NextCursor
		}
		if !slices.Equal(got, subsSorted(want...)) {
			t.Fatalf("limit %d: got %v, want %v", limit, got, subsSorted(want...))
		}
	}
	for _, page := range []Page{{Limit: 501}, {Limit: -1}, {Cursor: "not a cursor"}} {
		if _, err := ListSubscriptions(t.Context(), w.pool, tn.id, Scope{All: true}, SubscriptionFilter{}, page, subsDay("2025-02-01")); !errors.Is(err, domain.ErrInvalid) {
			t.Fatalf("page %+v: got %v, want invalid", page, err)
		}
	}
	if _, err := ListSubscriptions(t.Context(), w.pool, tn.id, Scope{All: true}, SubscriptionFilter{Status: "paused"}, Page{}, subsDay("2025-02-01")); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("status paused: got %v, want invalid", err)
	}
}

// TestSubscriptionsReapplyChangesNothing applies every batch again: the
// checkpoint skips what was applied, and the tables do not change. The
// same log applied in one batch, as a rebuild would, makes the same rows.
func TestSubscriptionsReapplyChangesNothing(t *testing.T) {
	t.Parallel()
	f := subsNewFixture(t)
	before := f.w.dump(t, LiveSchema)
	f.w.applyBatch(t, f.w.applied)
	f.w.applyBatch(t, f.w.applied[len(f.w.applied)/2:])
	if after := f.w.dump(t, LiveSchema); !reflect.DeepEqual(before, after) {
		t.Fatalf("re-applying changed the read models:\n%v\n%v", before, after)
	}
	err := pgx.BeginFunc(t.Context(), f.w.pool, func(tx pgx.Tx) error {
		if err := setupSchema(t.Context(), tx, "subs_scratch", subsProjections, false); err != nil {
			return err
		}
		for _, p := range subsProjections {
			if err := p.Apply(t.Context(), tx, "subs_scratch", f.w.applied); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if whole := f.w.dump(t, "subs_scratch"); !reflect.DeepEqual(before, whole) {
		t.Fatalf("applied in one batch, the read models differ:\n%v\n%v", before, whole)
	}
}

// dump returns the rows of every table of the projections in schema, as
// JSON.
func (w *subsWorld) dump(t *testing.T, schema string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, p := range subsProjections {
		for _, name := range p.Tables() {
			rows, err := w.pool.Query(t.Context(), `SELECT row_to_json(r)::text FROM `+table(schema, name)+` r ORDER BY 1`)
			if err != nil {
				t.Fatal(err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			out[name] = lines
		}
	}
	return out
}

// TestSubscriptionsRefuseEventsOfUnknownRows fails a batch whose events
// change a subscription or item the read model does not hold, rather
// than let the change vanish; the checkpoint stays where it was.
func TestSubscriptionsRefuseEventsOfUnknownRows(t *testing.T) {
	t.Parallel()
	f := subsNewFixture(t)
	item := f.s2.Items[0].ID
	tests := map[string]domain.Event{
		"unknown subscription": &domain.SubscriptionCancelled{SubscriptionID: uuid.New(), CancelDate: subsDay("2025-06-01")},
		"unknown item":         &domain.SubscriptionAmended{SubscriptionID: f.s2.ID, EffectiveDate: subsDay("2025-06-01"), Changes: []domain.Change{{Type: domain.ChangeRemoveItem, ItemID: uuid.New()}}},
		"item of another":      &domain.SubscriptionAmended{SubscriptionID: f.s1.ID, EffectiveDate: subsDay("2025-06-01"), Changes: []domain.Change{{Type: domain.ChangeQuantity, ItemID: item, Quantity: 2}}},
	}
	for name, e := range tests {
		w := &subsWorld{pool: f.w.pool, position: f.w.position + 100, versions: map[string]uint64{}}
		w.record(t, "subscription-x", e)
		err := applyUnguarded(t.Context(), w.pool, LiveSchema, Subscriptions{}, w.pending, Subscriptions{}.Apply)
		if err == nil || !strings.Contains(err.Error(), "rows of 1") {
			t.Fatalf("%s: got %v, want the batch refused", name, err)
		}
	}
	var at int64
	if err := f.w.pool.QueryRow(t.Context(), `SELECT position FROM `+table(LiveSchema, "checkpoints")+` WHERE name = 'subscriptions'`).Scan(&at); err != nil || at != int64(f.w.position) {
		t.Fatalf("checkpoint %d (%v), want %d", at, err, f.w.position)
	}
}
