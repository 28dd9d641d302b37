package domain

import (
	"math/big"
	"slices"
	"testing"

	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

func TestAllocate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		parts   []string
		divisor int64
		places  int32
		total   string
		shares  []string
	}{
		{name: "three accounts at 10.00 a quarter, monthly", parts: []string{"40", "40", "40"}, divisor: 12, places: 2,
			total: "10.00", shares: []string{"3.34", "3.33", "3.33"}},
		{name: "largest remainders first, then the first of equal ones", parts: []string{"1.004", "1.001", "1.005", "1.004", "0.002"},
			divisor: 1, places: 2, total: "4.02", shares: []string{"1.01", "1.00", "1.01", "1.00", "0.00"}},
		{name: "every part rounds up", parts: []string{"0.009", "0.009"}, divisor: 1, places: 2,
			total: "0.02", shares: []string{"0.01", "0.01"}},
		{name: "a half rounds up once", parts: []string{"0.30"}, divisor: 12, places: 2,
			total: "0.03", shares: []string{"0.03"}},
		{name: "exact parts stay", parts: []string{"49.00", "1200", "0.10"}, divisor: 1, places: 2,
			total: "1249.10", shares: []string{"49.00", "1200.00", "0.10"}},
		{name: "no minor unit", parts: []string{"10", "10", "10"}, divisor: 12, places: 0,
			total: "3", shares: []string{"1", "1", "1"}},
		{name: "two ways to three", parts: []string{"1", "1"}, divisor: 3, places: 0,
			total: "1", shares: []string{"1", "0"}},
		{name: "negative parts", parts: []string{"-0.005", "-0.005"}, divisor: 1, places: 2,
			total: "-0.01", shares: []string{"0.00", "-0.01"}},
		{name: "nothing", parts: nil, divisor: 12, places: 2, total: "0.00", shares: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parts := make([]decimal.Decimal, len(tt.parts))
			for i, p := range tt.parts {
				parts[i] = decimal.RequireFromString(p)
			}
			total, shares := Allocate(parts, tt.divisor, tt.places)
			got := make([]string, len(shares))
			for i, s := range shares {
				got[i] = s.StringFixed(tt.places)
			}
			if total.StringFixed(tt.places) != tt.total || !slices.Equal(got, tt.shares) {
				t.Errorf("Allocate(%v, %d, %d) = %s, %v; want %s, %v", tt.parts, tt.divisor, tt.places,
					total.StringFixed(tt.places), got, tt.total, tt.shares)
			}
		})
	}
}

// TestAllocateProperties draws random books (amounts with up to 10
// decimal places, as prices have, either exact or twelfths of annual
// amounts, presented with 0 to 4 places) and checks Allocate against
// exact rational arithmetic: the shares sum to the total; the total is
// the exact sum rounded half away from zero; each share is its exact part
// rounded down or up, so within one unit of it; the units go to the
// largest remainders, the first of equal ones first; and the same book
// always gets the same answer.
func TestAllocateProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		parts := rapid.SliceOfN(allocDrawAmount(), 0, 40).Draw(rt, "parts")
		if rapid.IntRange(0, 3).Draw(rt, "repeat") == 0 && len(parts) > 1 { // many equal remainders
			for i := range parts {
				parts[i] = parts[0]
			}
		}
		divisor := rapid.SampledFrom([]int64{1, 3, 12}).Draw(rt, "divisor")
		places := rapid.Int32Range(0, 4).Draw(rt, "places")
		total, shares := Allocate(parts, divisor, places)
		if len(shares) != len(parts) {
			rt.Fatalf("%d shares of %d parts", len(shares), len(parts))
		}
		unit := new(big.Rat).SetFrac(big.NewInt(1), pow10(places))
		exactSum, shareSum := new(big.Rat), new(big.Rat)
		extra := make([]bool, len(parts))
		rems := make([]*big.Rat, len(parts))
		for i, p := range parts {
			exact := new(big.Rat).Quo(p.Rat(), new(big.Rat).SetInt64(divisor))
			exactSum.Add(exactSum, exact)
			shareSum.Add(shareSum, shares[i].Rat())
			floor := allocFloor(exact, places)
			rems[i] = new(big.Rat).Sub(exact, floor)
			switch shares[i].Rat().Cmp(floor) {
			case 0:
			case 1:
				if shares[i].Rat().Cmp(new(big.Rat).Add(floor, unit)) != 0 {
					rt.Fatalf("share %d = %s, more than one unit above %s, its exact part rounded down", i, shares[i], floor.FloatString(int(places)))
				}
				extra[i] = true
			default:
				rt.Fatalf("share %d = %s, below %s, its exact part rounded down", i, shares[i], floor.FloatString(int(places)))
			}
		}
		if shareSum.Cmp(total.Rat()) != 0 {
			rt.Fatalf("shares %v sum to %s, not the total %s", shares, shareSum.FloatString(int(places)), total)
		}
		if want := allocRound(exactSum, places); total.Rat().Cmp(want) != 0 {
			rt.Fatalf("total %s; the exact sum %s rounds to %s", total, exactSum.FloatString(12), want.FloatString(int(places)))
		}
		for i := range parts {
			for j := range parts {
				before := rems[i].Cmp(rems[j]) > 0 || rems[i].Cmp(rems[j]) == 0 && i < j
				if before && extra[j] && !extra[i] {
					rt.Fatalf("part %d (remainder %s) got a unit before part %d (remainder %s)", j, rems[j].FloatString(12), i, rems[i].FloatString(12))
				}
			}
		}
		again, sharesAgain := Allocate(parts, divisor, places)
		if !again.Equal(total) || !slices.EqualFunc(shares, sharesAgain, decimal.Decimal.Equal) {
			rt.Fatalf("the same book allocated twice: %v, then %v", shares, sharesAgain)
		}
	})
}

// allocDrawAmount draws an amount of up to 15 digits before the point and
// 10 after, mostly non-negative.
func allocDrawAmount() *rapid.Generator[decimal.Decimal] {
	return rapid.Custom(func(rt *rapid.T) decimal.Decimal {
		coef := rapid.Int64Range(0, 999_999_999_999_999).Draw(rt, "coefficient")
		if rapid.IntRange(0, 9).Draw(rt, "sign") == 0 {
			coef = -coef
		}
		return decimal.New(coef, -rapid.Int32Range(0, 10).Draw(rt, "scale"))
	})
}

// allocFloor is x rounded down to places decimal places.
func allocFloor(x *big.Rat, places int32) *big.Rat {
	scaled := new(big.Rat).Mul(x, new(big.Rat).SetInt(pow10(places)))
	return new(big.Rat).SetFrac(new(big.Int).Div(scaled.Num(), scaled.Denom()), pow10(places)) // Euclidean: down, as Denom > 0
}

// allocRound is x rounded half away from zero to places decimal places.
func allocRound(x *big.Rat, places int32) *big.Rat {
	half := new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Mul(big.NewInt(2), pow10(places)))
	if x.Sign() < 0 {
		return new(big.Rat).Neg(allocFloor(new(big.Rat).Add(new(big.Rat).Neg(x), half), places))
	}
	return allocFloor(new(big.Rat).Add(x, half), places)
}
