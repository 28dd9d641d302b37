package projections

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/shopspring/decimal"

	"ledger/domain"
)

// TestMRRBookPresentsInOrderAndTiesOut holds the Go half of the MRR
// report to api.md: the query returns groups in no order, and present
// orders currencies by code and each currency's groups largest ARR
// first, then by key; the groups' shares sum to the total; an ungrouped
// report has totals only.
func TestMRRBookPresentsInOrderAndTiesOut(t *testing.T) {
	t.Parallel()
	line := func(key, arr string) mrrLine {
		return mrrLine{key: key, name: "n-" + key, arr: decimal.RequireFromString(arr)}
	}
	tests := []struct {
		name       string
		book       mrrBook
		wantTotals []MRRTotal
		wantKeys   []string
	}{
		{
			name: "by account, in no order",
			book: mrrBook{grouped: true, currencies: []domain.Currency{"USD", "EUR"}, groups: map[domain.Currency][]mrrLine{
				"USD": {line("b", "12"), line("c", "120"), line("a", "12"), line("d", "0.01")},
				"EUR": {line("x", "1"), line("y", "2")},
			}},
			wantTotals: []MRRTotal{{Currency: "EUR", MRR: "0.25", ARR: "3.00"}, {Currency: "USD", MRR: "12.00", ARR: "144.01"}},
			wantKeys:   []string{"EUR/y", "EUR/x", "USD/c", "USD/a", "USD/b", "USD/d"},
		},
		{
			name:       "not grouped",
			book:       mrrBook{currencies: []domain.Currency{"USD"}, groups: map[domain.Currency][]mrrLine{"USD": {{arr: decimal.RequireFromString("100.005")}}}},
			wantTotals: []MRRTotal{{Currency: "USD", MRR: "8.33", ARR: "100.01"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			view := tt.book.present(domain.Date{})
			if !slices.Equal(view.Totals, tt.wantTotals) {
				t.Errorf("totals %+v, want %+v", view.Totals, tt.wantTotals)
			}
			var keys []string
			sums := map[domain.Currency]decimal.Decimal{}
			for _, g := range view.Groups {
				keys = append(keys, string(g.Currency)+"/"+g.Key)
				sums[g.Currency] = sums[g.Currency].Add(decimal.RequireFromString(g.MRR))
				if g.Name != "n-"+g.Key {
					t.Errorf("group %s named %q", g.Key, g.Name)
				}
			}
			if !slices.Equal(keys, tt.wantKeys) {
				t.Errorf("groups %v, want %v", keys, tt.wantKeys)
			}
			for _, total := range view.Totals {
				if sum, ok := sums[total.Currency]; ok && !sum.Equal(decimal.RequireFromString(total.MRR)) {
					t.Errorf("%s groups' MRR sums to %s, total %s", total.Currency, sum, total.MRR)
				}
			}
		})
	}
}

// BenchmarkMRRBookPresent measures the Go half of the MRR report by
// account for the largest seeded tenant: 13,000 groups in the query's
// (no) order, sorted, tied out and formatted.
//
//	go test ./projections -run '^$' -bench MRRBookPresent
func BenchmarkMRRBookPresent(b *testing.B) {
	lines := make([]mrrLine, 13000)
	for i := range lines {
		lines[i] = mrrLine{key: fmt.Sprintf("%036d", i), name: "Account", arr: decimal.New(int64(1000+i*7), -2)}
	}
	rand.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	for b.Loop() {
		book := mrrBook{grouped: true, currencies: []domain.Currency{"USD"},
			groups: map[domain.Currency][]mrrLine{"USD": slices.Clone(lines)}}
		book.present(domain.Date{})
	}
}
