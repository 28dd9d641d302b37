package domain

import (
	"github.com/shopspring/decimal"
)

// ProrationScale is the decimal places of a proration factor.
const ProrationScale = 9

// Period is a span of days [From, To): From is the first day in it, To
// the first day after it.
type Period struct {
	From Date `json:"from"`
	To   Date `json:"to"`
}

// Days returns the number of days in p.
func (p Period) Days() int { return p.From.DaysUntil(p.To) }

// Empty reports whether p holds no day.
func (p Period) Empty() bool { return !p.From.Before(p.To) }

// Contains reports whether day d lies in p.
func (p Period) Contains(d Date) bool { return !d.Before(p.From) && d.Before(p.To) }

// Intersect returns the days p and o share; it is Empty when none.
func (p Period) Intersect(o Period) Period {
	out := Period{From: p.From, To: p.To}
	if o.From.After(out.From) {
		out.From = o.From
	}
	if o.To.Before(out.To) {
		out.To = o.To
	}
	return out
}

// DaysUntil returns the days from d to o, negative when o is before d.
// It counts in Unix seconds, not time.Duration, which saturates at about
// 292 years: dates span 1900..9999.
func (d Date) DaysUntil(o Date) int {
	return int((o.Time().Unix() - d.Time().Unix()) / (24 * 60 * 60))
}

// BillCycleDay returns the day of the month a subscription that starts
// on start is billed on: start's day. In a month without that day,
// service periods end on the month's last day (Date.AddMonths).
func BillCycleDay(start Date) int { return start.Day() }

// ServicePeriod returns the k-th service period (k from 0) of a charge
// billed every months months on a subscription that started on start:
// [start + k × months, start + (k+1) × months). Each end is anchored to
// start, so a monthly charge from Jan 31 has periods ending Feb 28 (29),
// Mar 31, Apr 30...
func ServicePeriod(start Date, months, k int) Period {
	return Period{From: start.AddMonths(k * months), To: start.AddMonths((k + 1) * months)}
}

// ServicePeriodIndex returns k of the service period that contains d,
// for d on or after start.
func ServicePeriodIndex(start Date, months int, d Date) int {
	k := max(0, start.monthsFrom(d)/months)
	for k > 0 && start.AddMonths(k*months).After(d) {
		k--
	}
	for !start.AddMonths((k + 1) * months).After(d) {
		k++
	}
	return k
}

// ProrationFactor returns covered ÷ total days, to ProrationScale
// decimal places, rounded half-up: 26 of 30 days is 0.866666667.
func ProrationFactor(covered, total int) decimal.Decimal {
	if covered == total {
		return decimal.New(1, 0)
	}
	return decimal.NewFromInt(int64(covered)).DivRound(decimal.NewFromInt(int64(total)), ProrationScale)
}

// LineAmount returns quantity × unitPrice × factor, rounded half-up to
// c's minor unit: what one invoice line bills.
func LineAmount(c Currency, quantity, unitPrice, factor decimal.Decimal) decimal.Decimal {
	return quantity.Mul(unitPrice).Mul(factor).Round(c.MinorUnits())
}
