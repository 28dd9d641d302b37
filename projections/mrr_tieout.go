package projections

import (
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"ledger/domain"
)

// mrrBook is what mrrSQL read: per currency, the exact ARR of each group
// (of the currency's one group when the report is not grouped).
type mrrBook struct {
	grouped    bool
	currencies []domain.Currency
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
	var key, name *string
	var num pgtype.Numeric // exact, in binary: no text to format and parse
	if err := row.Scan(&cur, &key, &name, &num); err != nil {
		return fmt.Errorf("scan mrr: %w", err)
	}
	if !num.Valid || num.NaN || num.InfinityModifier != pgtype.Finite {
		return fmt.Errorf("scan mrr: an ARR of %s is not a number", cur)
	}
	arr := decimal.NewFromBigInt(num.Int, num.Exp)
	if b.groups == nil {
		b.groups = map[domain.Currency][]mrrLine{}
	}
	if _, seen := b.groups[cur]; !seen {
		b.currencies = append(b.currencies, cur)
	}
	line := mrrLine{arr: arr}
	if key != nil && name != nil {
		line.key, line.name = *key, *name
	}
	b.groups[cur] = append(b.groups[cur], line)
	return nil
}

// present is the report of the book on date asOf, tied out as api.md
// asks: per currency, MRR (ARR ÷ 12) and ARR are each computed exactly in
// total, rounded once to the currency's minor unit, and allocated to the
// groups by largest remainder (domain.Allocate), so that the groups sum
// to the total presented. Currencies come in code order, and a
// currency's groups largest ARR first, then by key; remainders that tie
// go to the group that comes first.
func (b *mrrBook) present(asOf domain.Date) MRRView {
	view := MRRView{AsOf: asOf, Totals: []MRRTotal{}, Groups: []MRRGroup{}}
	if b.grouped {
		n := 0
		for _, groups := range b.groups {
			n += len(groups)
		}
		view.Groups = make([]MRRGroup, 0, n)
	}
	slices.Sort(b.currencies)
	for _, cur := range b.currencies {
		groups := b.groups[cur]
		slices.SortFunc(groups, func(a, b mrrLine) int {
			if c := b.arr.Cmp(a.arr); c != 0 {
				return c
			}
			return strings.Compare(a.key, b.key)
		})
		parts := make([]decimal.Decimal, len(groups))
		for i, g := range groups {
			parts[i] = g.arr
		}
		places := cur.MinorUnits()
		mrr, mrrShares := domain.Allocate(parts, 12, places)
		arr, arrShares := domain.Allocate(parts, 1, places)
		view.Totals = append(view.Totals, MRRTotal{Currency: cur, MRR: mrr.StringFixed(places), ARR: arr.StringFixed(places)})
		if !b.grouped {
			continue
		}
		for i, g := range groups {
			view.Groups = append(view.Groups, MRRGroup{Key: g.key, Name: g.name, Currency: cur,
				MRR: mrrShares[i].StringFixed(places), ARR: arrShares[i].StringFixed(places)})
		}
	}
	return view
}
