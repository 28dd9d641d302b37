package domain

import (
	"math/big"
	"slices"

	"github.com/shopspring/decimal"
)

// Allocate presents the parts of a total so that they tie out: part i is
// the exact quotient parts[i] ÷ divisor, the total is the exact sum of
// the parts rounded once, half away from zero, to places decimal places,
// and each share is its part rounded down to places, plus one unit of the
// last place for as many parts as the total exceeds the sum of the
// rounded-down shares (the largest remainder method). The parts with the
// largest remainders get a unit first, and among equal remainders the one
// that comes first in parts. So the shares sum to the total exactly, and
// each lies within one unit of its exact part.
//
// divisor must be positive: 1 for parts that are exact already, 12 for
// monthly shares of annual amounts.
func Allocate(parts []decimal.Decimal, divisor int64, places int32) (total decimal.Decimal, shares []decimal.Decimal) {
	if divisor <= 0 {
		panic("domain.Allocate: divisor must be positive")
	}
	// Every part is n[i] / den units of the last place, n[i] an integer.
	scale := places
	for _, p := range parts {
		scale = max(scale, -p.Exponent())
	}
	den := new(big.Int).Mul(big.NewInt(divisor), pow10(scale-places))
	floors := make([]big.Int, len(parts))
	rems := make([]big.Int, len(parts))
	sum, floorSum, n := new(big.Int), new(big.Int), new(big.Int)
	scales := map[int32]*big.Int{} // 10^(scale+exponent), by exponent: parts mostly share a few
	for i, p := range parts {
		up, ok := scales[p.Exponent()]
		if !ok {
			up = pow10(scale + p.Exponent())
			scales[p.Exponent()] = up
		}
		n.Mul(p.Coefficient(), up)
		sum.Add(sum, n)
		floors[i].DivMod(n, den, &rems[i]) // Euclidean: rems[i] in [0, den)
		floorSum.Add(floorSum, &floors[i])
	}
	totalUnits := roundHalfAway(sum, den)
	extra := new(big.Int).Sub(totalUnits, floorSum).Int64() // 0 ≤ extra ≤ len(parts)
	order := make([]int, len(parts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return rems[b].Cmp(&rems[a]) })
	one := big.NewInt(1)
	for _, i := range order[:extra] {
		floors[i].Add(&floors[i], one)
	}
	shares = make([]decimal.Decimal, len(parts))
	for i := range floors {
		shares[i] = decimal.NewFromBigInt(&floors[i], -places)
	}
	return decimal.NewFromBigInt(totalUnits, -places), shares
}

// pow10 is 10^n, n ≥ 0.
func pow10(n int32) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// roundHalfAway is n ÷ d (d > 0) rounded to an integer, halves away from
// zero, as decimal.Decimal.Round and Currency.Present round.
func roundHalfAway(n, d *big.Int) *big.Int {
	twice := new(big.Int).Mul(n, big.NewInt(2))
	abs := new(big.Int).Abs(twice)
	q := new(big.Int).Quo(abs.Add(abs, d), new(big.Int).Mul(d, big.NewInt(2)))
	if n.Sign() < 0 {
		q.Neg(q)
	}
	return q
}
