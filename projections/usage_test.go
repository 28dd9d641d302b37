package projections

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"ledger/domain"
	"ledger/internal/pgtest"
)

// subsUsageFixture adds to the fixture a subscription U on account A3
// with two usage items, X and Y, and records their usage:
//
//	X: 1.5 at 2025-01-05 23:59:59, 2.25 at 2025-01-06 00:00:00,
//	   0.0000000001 at 2025-01-06 10:00, 1000 at 2025-01-10 08:00;
//	Y: 3 at 2025-01-06 12:00, 4.75 at 2025-02-01 01:00+02:00 (in UTC, on
//	   2025-01-31).
func subsUsageFixture(t *testing.T) (f *subsFixture, u *domain.Subscription, x, y uuid.UUID) {
	t.Helper()
	f = subsNewFixture(t)
	u = f.w.subscribe(t, f.t1, f.a3, subsID(37), subsTenantUser, subsAt("2025-01-01"), "2025-01-01",
		domain.TermInput{Type: "evergreen"}, subsCalls, 1, subsCalls, 1)
	x, y = u.Items[0].ID, u.Items[1].ID
	record := func(item uuid.UUID, quantity, at string) {
		t.Helper()
		usage := &domain.SubscriptionUsage{}
		when, err := time.Parse(time.RFC3339, at)
		if err != nil {
			t.Fatal(err)
		}
		events, _, err := usage.Record([]domain.UsageRecord{{ID: uuid.New(), SubscriptionID: u.ID, ItemID: item,
			Quantity: decimal.RequireFromString(quantity), OccurredAt: when}}, u, subsPartnerP1, when)
		f.w.record(t, "usage-"+f.t1.id.String()+"-"+u.ID.String(), subsMust(t, events, err)...)
	}
	record(x, "1.5", "2025-01-05T23:59:59Z")
	record(x, "2.25", "2025-01-06T00:00:00Z")
	record(y, "3", "2025-01-06T12:00:00Z")
	f.w.flush(t) // the subscription, and usage in a batch of its own
	record(x, "0.0000000001", "2025-01-06T10:00:00Z")
	record(x, "1000", "2025-01-10T08:00:00Z")
	record(y, "4.75", "2025-02-01T01:00:00+02:00")
	f.w.flush(t, 1, 2)
	return f, u, x, y
}

func TestUsageSummary(t *testing.T) {
	t.Parallel()
	f, u, x, y := subsUsageFixture(t)
	line := func(item uuid.UUID, quantity string) UsageLine {
		return UsageLine{ItemID: item, ChargeID: subsCalls, Unit: "call", Quantity: quantity}
	}
	day := func(s string) *domain.Date {
		d := subsDay(s)
		return &d
	}
	tests := []struct {
		name     string
		from, to *domain.Date
		want     []UsageLine
	}{
		{"all time", nil, nil, []UsageLine{line(x, "1003.7500000001"), line(y, "7.75")}},
		{"from a day on", day("2025-01-06"), nil, []UsageLine{line(x, "1002.2500000001"), line(y, "7.75")}},
		{"until a day, excluded", nil, day("2025-01-06"), []UsageLine{line(x, "1.5")}},
		{"one day", day("2025-01-06"), day("2025-01-07"), []UsageLine{line(x, "2.2500000001"), line(y, "3")}},
		{"a day in UTC", day("2025-01-31"), day("2025-02-01"), []UsageLine{line(y, "4.75")}},
		{"the day after the last", day("2025-01-11"), day("2025-01-31"), []UsageLine{}},
		{"after every record", day("2025-02-01"), nil, []UsageLine{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := UsageSummary(t.Context(), f.w.pool, f.t1.id, Scope{All: true}, u.ID, tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(tt.want)
			slices.SortFunc(want, func(a, b UsageLine) int { return strings.Compare(a.ItemID.String(), b.ItemID.String()) })
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestUsageSummaryScope(t *testing.T) {
	t.Parallel()
	f, u, _, _ := subsUsageFixture(t)
	tests := []struct {
		name   string
		tenant uuid.UUID
		scope  Scope
		id     uuid.UUID
		lines  int
	}{
		{"tenant user", f.t1.id, Scope{All: true}, u.ID, 2},
		{"partner with the account", f.t1.id, Scope{AccountIDs: []uuid.UUID{f.a3.ID}, PartnerID: subsPartnerQ}, u.ID, 2},
		{"subscription without usage", f.t1.id, Scope{All: true}, f.s1.ID, 0},
		{"partner without the account", f.t1.id, Scope{AccountIDs: []uuid.UUID{f.a1.ID}, PartnerID: subsPartnerP}, u.ID, -1},
		{"other tenant", f.t2.id, Scope{All: true}, u.ID, -1},
		{"absent", f.t1.id, Scope{All: true}, uuid.New(), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := UsageSummary(t.Context(), f.w.pool, tt.tenant, tt.scope, tt.id, nil, nil)
			if tt.lines < 0 {
				subsWantNotFound(t, err)
				return
			}
			if err != nil || got == nil || len(got) != tt.lines {
				t.Fatalf("got %+v, %v; want %d lines", got, err, tt.lines)
			}
		})
	}
}

func TestUsageSummaryRefusesAnEmptyRange(t *testing.T) {
	t.Parallel()
	f, u, _, _ := subsUsageFixture(t)
	for _, r := range [][2]string{{"2025-01-06", "2025-01-06"}, {"2025-01-07", "2025-01-06"}} {
		from, to := subsDay(r[0]), subsDay(r[1])
		if _, err := UsageSummary(t.Context(), f.w.pool, f.t1.id, Scope{All: true}, u.ID, &from, &to); !errors.Is(err, domain.ErrInvalid) {
			t.Fatalf("[%s, %s): got %v, want invalid", from, to, err)
		}
	}
}

// TestUsageReapplyChangesNothing applies the usage batches again: the
// checkpoint skips them, so nothing is counted twice.
func TestUsageReapplyChangesNothing(t *testing.T) {
	t.Parallel()
	f, u, _, _ := subsUsageFixture(t)
	before, err := UsageSummary(t.Context(), f.w.pool, f.t1.id, Scope{All: true}, u.ID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.w.applyBatch(t, f.w.applied)
	f.w.applyBatch(t, f.w.applied[len(f.w.applied)-3:])
	after, err := UsageSummary(t.Context(), f.w.pool, f.t1.id, Scope{All: true}, u.ID, nil, nil)
	if err != nil || !reflect.DeepEqual(before, after) {
		t.Fatalf("before %+v, after %+v (%v)", before, after, err)
	}
}

// BenchmarkRebuildSubscriptionsAndUsage applies a log of subscriptions (each
// created, amended twice, then cancelled) and their usage in batches of
// 5000, as a rebuild does, and reports events per second.
func BenchmarkRebuildSubscriptionsAndUsage(b *testing.B) {
	w := &subsWorld{pool: pgtest.NewDatabase(b, 4), versions: map[string]uint64{}}
	tn := w.tenant(b, 1)
	a := w.account(b, tn, subsID(11), "Alpha", "EUR", subsTenantUser)
	for range 2500 {
		s := w.subscribe(b, tn, a, uuid.New(), subsTenantUser, subsAt("2025-01-01"), "2025-01-01",
			domain.TermInput{Type: "termed", Months: 12, AutoRenew: true}, subsSeat, 3, subsPlatform, 1, subsCalls, 1)
		events, err := s.Amend(domain.AmendSubscription{EffectiveDate: subsDay("2025-02-01"), Changes: []domain.ChangeInput{
			{Type: "change_quantity", ItemID: s.Items[0].ID, Quantity: decimal.NewFromInt(5)},
			{Type: "add_item", ProductID: subsProduct, ChargeID: subsSupport, Quantity: decimal.NewFromInt(2)}}}, tn.catalog, subsTenantUser, subsAt("2025-01-20"))
		w.apply(b, subsStream(tn, s), s, subsMust(b, events, err))
		events, err = s.Amend(domain.AmendSubscription{EffectiveDate: subsDay("2025-03-01"), Changes: []domain.ChangeInput{
			{Type: "remove_item", ItemID: s.Items[1].ID}}}, tn.catalog, subsTenantUser, subsAt("2025-02-20"))
		w.apply(b, subsStream(tn, s), s, subsMust(b, events, err))
		events, err = s.Cancel(domain.CancelSubscription{Policy: "end_of_term"}, subsTenantUser, subsAt("2025-03-20"))
		w.apply(b, subsStream(tn, s), s, subsMust(b, events, err))
		usage := &domain.SubscriptionUsage{}
		var records []domain.UsageRecord
		for i := range 6 {
			records = append(records, domain.UsageRecord{Index: i, ID: uuid.New(), SubscriptionID: s.ID, ItemID: s.Items[2].ID,
				Quantity: decimal.NewFromInt(int64(i + 1)), OccurredAt: subsAt("2025-01-02").Add(time.Duration(i) * 7 * time.Hour)})
		}
		events, _, err = usage.Record(records, s, subsTenantUser, subsAt("2025-03-01"))
		w.apply(b, "usage-"+tn.id.String()+"-"+s.ID.String(), usage, subsMust(b, events, err))
	}
	log := w.pending
	b.ResetTimer()
	for i := range b.N {
		schema := fmt.Sprintf("bench_%d", i)
		err := pgx.BeginFunc(b.Context(), w.pool, func(tx pgx.Tx) error { return setupSchema(b.Context(), tx, schema, subsProjections, false) })
		if err != nil {
			b.Fatal(err)
		}
		for start := 0; start < len(log); start += 5000 {
			batch := log[start:min(start+5000, len(log))]
			for _, p := range []Projection{Subscriptions{}, Usage{}} {
				if err := applyBatch(b.Context(), w.pool, schema, p, batch); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportMetric(float64(len(log)*b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestUsageSumIsOneTextWhateverTheBatches sums a day's usage in two
// batches to a number whose last decimal is 0: the row reads as one batch
// (or a rebuild) writes it, so verify compares equal text.
func TestUsageSumIsOneTextWhateverTheBatches(t *testing.T) {
	t.Parallel()
	f := subsNewFixture(t)
	u := f.w.subscribe(t, f.t1, f.a3, subsID(38), subsTenantUser, subsAt("2025-01-01"), "2025-01-01",
		domain.TermInput{Type: "evergreen"}, subsCalls, 1)
	for _, q := range []string{"8.12", "892.28"} {
		usage := &domain.SubscriptionUsage{}
		at := subsAt("2025-01-06")
		events, _, err := usage.Record([]domain.UsageRecord{{ID: uuid.New(), SubscriptionID: u.ID, ItemID: u.Items[0].ID,
			Quantity: decimal.RequireFromString(q), OccurredAt: at}}, u, subsPartnerP1, at)
		f.w.record(t, "usage-"+f.t1.id.String()+"-"+u.ID.String(), subsMust(t, events, err)...)
		f.w.flush(t)
	}
	var text string
	if err := f.w.pool.QueryRow(t.Context(), `SELECT quantity::text FROM `+table(LiveSchema, "usage_daily")+
		` WHERE subscription_id = $1`, u.ID).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if text != "900.4" {
		t.Fatalf("8.12 + 892.28 in two batches reads %q, want \"900.4\" as one batch writes it", text)
	}
}
