package projections

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/domain"
)

// TestRevenueReport checks reports of invFixture worked by hand: void
// invoices left out, credits counted, dates inclusive, partners named
// for the tenant, other partners as "other" for a partner.
func TestRevenueReport(t *testing.T) {
	t.Parallel()
	f := invNewFixture(t, 2, 5)
	feb, mar := subsDay("2025-02-01"), subsDay("2025-03-31")
	p, q := subsPartnerP.String(), subsPartnerQ.String()
	eur := func(key, name, amount string) RevenueGroup { return RevenueGroup{key, name, "EUR", amount} }
	tests := []struct {
		name     string
		tenant   uuid.UUID
		scope    Scope
		groupBy  string
		from, to domain.Date
		want     RevenueView
	}{
		{"none", f.t1.id, Scope{All: true}, "", feb, mar, RevenueView{
			Totals: []RevenueTotal{{"EUR", "37.25"}, {"USD", "12.00"}}, Groups: []RevenueGroup{}}},
		{"by partner", f.t1.id, Scope{All: true}, MRRGroupPartner, feb, mar, RevenueView{
			Totals: []RevenueTotal{{"EUR", "37.25"}, {"USD", "12.00"}},
			Groups: []RevenueGroup{eur("direct", "Direct", "35.00"), eur(q, "Quay", "2.25"), {"direct", "Direct", "USD", "12.00"}}}},
		{"by partner, every date", f.t1.id, Scope{All: true}, MRRGroupPartner, domain.Date{}, domain.Date{}, RevenueView{
			Totals: []RevenueTotal{{"EUR", f.directJanuary().Add(decimal.RequireFromString("57.25")).StringFixed(2)}, {"USD", "12.00"}},
			Groups: []RevenueGroup{eur("direct", "Direct", f.directJanuary().Add(decimal.RequireFromString("35")).StringFixed(2)),
				eur(p, "Peak Partners", "20.00"), eur(q, "Quay", "2.25"), {"direct", "Direct", "USD", "12.00"}}}},
		{"partner sees its scope, others unnamed", f.t1.id, Scope{PartnerID: subsPartnerP, AccountIDs: []uuid.UUID{f.a3.ID}},
			MRRGroupPartner, domain.Date{}, domain.Date{}, RevenueView{Totals: []RevenueTotal{{"EUR", "22.25"}},
				Groups: []RevenueGroup{eur(p, "Peak Partners", "20.00"), eur("other", "Other", "2.25")}}},
		{"by product, an unknown one by its id", f.t1.id, Scope{All: true}, MRRGroupProduct, feb, mar, RevenueView{
			Totals: []RevenueTotal{{"EUR", "37.25"}, {"USD", "12.00"}},
			Groups: []RevenueGroup{eur(subsProduct.String(), "Suite", "42.25"), eur(subsID(200).String(), subsID(200).String(), "-5.00"),
				{subsProduct.String(), "Suite", "USD", "12.00"}}}},
		{"by account, other tenant", f.t2.id, Scope{All: true}, MRRGroupAccount, domain.Date{}, subsDay("2025-01-31"), RevenueView{
			Totals: []RevenueTotal{{"EUR", "70.00"}}, Groups: []RevenueGroup{eur(f.b1.ID.String(), "Other", "70.00")}}},
		{"nothing in range", f.t1.id, Scope{All: true}, MRRGroupAccount, subsDay("2025-01-02"), subsDay("2025-01-31"), RevenueView{
			Totals: []RevenueTotal{}, Groups: []RevenueGroup{}}},
		{"only the void invoice's day and account", f.t1.id, Scope{PartnerID: subsPartnerP}, MRRGroupNone,
			subsDay("2025-03-01"), subsDay("2025-03-01"), RevenueView{Totals: []RevenueTotal{}, Groups: []RevenueGroup{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := RevenueReport(t.Context(), f.w.pool, tt.tenant, tt.scope, tt.groupBy, tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if _, err := RevenueReport(t.Context(), f.w.pool, f.t1.id, Scope{All: true}, "month", feb, mar); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("group_by month: got %v, want invalid", err)
	}
}

// directJanuary is what invoice 1, issued by the domain, billed.
func (f *invFixture) directJanuary() decimal.Decimal { return f.issued[0].Total }

// TestRevenueTiesOut checks every grouping, scope and range against the
// domain's invoices summed in Go, and that per currency the groups sum
// to the total exactly; a partner sees no other partner's id or name.
func TestRevenueTiesOut(t *testing.T) {
	t.Parallel()
	f := invNewFixture(t)
	scopes := []Scope{{All: true}, {PartnerID: subsPartnerP, AccountIDs: []uuid.UUID{f.a1.ID, f.a3.ID}},
		{PartnerID: subsPartnerQ, AccountIDs: []uuid.UUID{f.a2.ID}}, {PartnerID: subsID(9)}}
	ranges := [][2]domain.Date{{}, {subsDay("2025-01-01"), subsDay("2025-01-01")}, {subsDay("2025-01-15"), {}}, {{}, subsDay("2025-02-01")}}
	for _, scope := range scopes {
		for _, groupBy := range []string{MRRGroupNone, MRRGroupPartner, MRRGroupProduct, MRRGroupAccount} {
			for _, r := range ranges {
				got, err := RevenueReport(t.Context(), f.w.pool, f.t1.id, scope, groupBy, r[0], r[1])
				if err != nil {
					t.Fatal(err)
				}
				totals, groups := f.revenueModel(scope, groupBy, r[0], r[1])
				revCheck(t, got, totals, groups, scope, groupBy)
			}
		}
	}
}

// revenueModel sums the lines of tenant 1's posted invoices in scope and
// range by currency, and by currency and group key.
func (f *invFixture) revenueModel(scope Scope, groupBy string, from, to domain.Date) (totals map[domain.Currency]decimal.Decimal, groups map[[2]string]decimal.Decimal) {
	totals, groups = map[domain.Currency]decimal.Decimal{}, map[[2]string]decimal.Decimal{}
	for _, a := range []*domain.Account{f.a1, f.a2, f.a3, f.a4} {
		if !scope.All && !slices.Contains(scope.AccountIDs, a.ID) && a.CreatedBy.PartnerID != scope.PartnerID {
			continue
		}
		for _, inv := range f.state(a).Invoices {
			if inv.Status != domain.InvoicePosted || (!from.IsZero() && inv.IssueDate.Before(from)) || (!to.IsZero() && inv.IssueDate.After(to)) {
				continue
			}
			for _, l := range inv.Lines {
				totals[inv.Currency] = totals[inv.Currency].Add(l.Amount)
				if groupBy != MRRGroupNone {
					k := [2]string{string(inv.Currency), revModelKey(scope, groupBy, inv, l)}
					groups[k] = groups[k].Add(l.Amount)
				}
			}
		}
	}
	return totals, groups
}

func revModelKey(scope Scope, groupBy string, inv domain.Invoice, l domain.InvoiceLine) string {
	switch {
	case groupBy == MRRGroupProduct:
		return l.ProductID.String()
	case groupBy == MRRGroupAccount:
		return inv.AccountID.String()
	case l.PartnerID == uuid.Nil:
		return "direct"
	case scope.PartnerID != uuid.Nil && l.PartnerID != scope.PartnerID:
		return MRRGroupOther
	}
	return l.PartnerID.String()
}

// revCheck compares a report with the model's sums, and checks that its
// groups tie out and that a partner caller sees no other partner.
func revCheck(t *testing.T, got RevenueView, totals map[domain.Currency]decimal.Decimal, groups map[[2]string]decimal.Decimal, scope Scope, groupBy string) {
	t.Helper()
	what := []any{scope, groupBy}
	if len(got.Totals) != len(totals) || len(got.Groups) != len(groups) {
		t.Fatalf("%v: got %+v; want totals %v, groups %v", what, got, totals, groups)
	}
	sums := map[domain.Currency]decimal.Decimal{}
	for _, g := range got.Groups {
		if want := groups[[2]string{string(g.Currency), g.Key}]; g.Amount != g.Currency.Present(want) {
			t.Errorf("%v: group %+v; want %s", what, g, want)
		}
		if scope.PartnerID != uuid.Nil && groupBy == MRRGroupPartner && !slices.Contains([]string{"direct", "other", scope.PartnerID.String()}, g.Key) {
			t.Errorf("%v: a partner sees group %+v", what, g)
		}
		if scope.PartnerID != uuid.Nil && (g.Name == "Quay" || g.Name == "Peak Partners") && g.Key != scope.PartnerID.String() {
			t.Errorf("%v: a partner sees another partner's name: %+v", what, g)
		}
		sums[g.Currency] = sums[g.Currency].Add(decimal.RequireFromString(g.Amount))
	}
	for _, tot := range got.Totals {
		if tot.Amount != tot.Currency.Present(totals[tot.Currency]) {
			t.Errorf("%v: total %+v; want %s", what, tot, totals[tot.Currency])
		}
		if groupBy != MRRGroupNone && !sums[tot.Currency].Equal(decimal.RequireFromString(tot.Amount)) {
			t.Errorf("%v: %s groups sum to %s, the total is %s", what, tot.Currency, sums[tot.Currency], tot.Amount)
		}
	}
}
