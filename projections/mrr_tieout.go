package projections

import (
	"fmt"

	"github.com/shopspring/decimal"

	"ledger/domain"
)

// mrrBook is what mrrSQL read: per currency, in the query's order, the
// exact ARR in total and of each group.
type mrrBook struct {
	currencies []domain.Currency
	totals     map[domain.Currency]decimal.Decimal
	groups     map[domain.Currency][]mrrLine
}

// mrrLine is one group's exact ARR.
type mrrLine struct {
	key, name string
	arr       decimal.Decimal
}

// scan adds one row of mrrSQL to the book.
func (b *mrrBook) scan(row subsScanner) error {
	var cur domain.Currency
	var total bool
	var key, name *string
	var arrText string
	if err := row.Scan(&cur, &total, &key, &name, &arrText); err != nil {
		return fmt.Errorf("scan mrr: %w", err)
	}
	arr, err := decimal.NewFromString(arrText)
	if err != nil {
		return fmt.Errorf("read arr %q: %w", arrText, err)
	}
	if b.totals == nil {
		b.totals, b.groups = map[domain.Currency]decimal.Decimal{}, map[domain.Currency][]mrrLine{}
	}
	if total {
		b.currencies = append(b.currencies, cur)
		b.totals[cur] = arr
		return nil
	}
	b.groups[cur] = append(b.groups[cur], mrrLine{key: *key, name: *name, arr: arr})
	return nil
}

// present is the report of the book on date asOf, tied out as api.md
// asks: per currency, MRR (ARR ÷ 12) and ARR are each computed exactly in
// total, rounded once to the currency's minor unit, and allocated to the
// groups by largest remainder (domain.Allocate), so that the groups sum
// to the total presented.
func (b *mrrBook) present(asOf domain.Date) MRRView {
	view := MRRView{AsOf: asOf, Totals: []MRRTotal{}, Groups: []MRRGroup{}}
	for _, cur := range b.currencies {
		groups := b.groups[cur]
		parts := make([]decimal.Decimal, len(groups))
		for i, g := range groups {
			parts[i] = g.arr
		}
		if len(groups) == 0 {
			parts = []decimal.Decimal{b.totals[cur]}
		}
		places := cur.MinorUnits()
		mrr, mrrShares := domain.Allocate(parts, 12, places)
		arr, arrShares := domain.Allocate(parts, 1, places)
		view.Totals = append(view.Totals, MRRTotal{Currency: cur, MRR: mrr.StringFixed(places), ARR: arr.StringFixed(places)})
		for i, g := range groups {
			view.Groups = append(view.Groups, MRRGroup{Key: g.key, Name: g.name, Currency: cur,
				MRR: mrrShares[i].StringFixed(places), ARR: arrShares[i].StringFixed(places)})
		}
	}
	return view
}
