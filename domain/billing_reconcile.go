package domain

import (
	"slices"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// reconcile returns the lines that make what is billed in one service
// period of item it equal to what is due in it. The period is cut at
// every end of a due segment or billed line; in each run of days where
// the quantity billed differs from the quantity due, what was billed is
// credited and what is due billed, each prorated over those days.
func reconcile(sub *Subscription, it *Item, due []segment, billed []InvoiceLine, newID func() uuid.UUID) []InvoiceLine {
	var service Period
	cuts := []Date{}
	for _, s := range due {
		service = s.service
		cuts = append(cuts, s.span.From, s.span.To)
	}
	for _, l := range billed {
		cuts = append(cuts, l.PeriodFrom, l.PeriodTo)
	}
	if service.Empty() {
		service = servicePeriodOf(sub, it, billed[0].ServiceFrom)
	}
	slices.SortFunc(cuts, Date.Compare)
	cuts = slices.Compact(cuts)
	var out []InvoiceLine
	var run Period
	var runDue, runBilled decimal.Decimal
	flush := func() {
		if run.Empty() || runDue.Equal(runBilled) {
			return
		}
		factor := decimal.New(1, 0)
		if it.Type == ChargeRecurring {
			factor = ProrationFactor(run.Days(), service.Days())
		}
		if runBilled.IsPositive() {
			out = append(out, line(sub, it, service, run, LineCredit, runBilled, factor, newID()))
		}
		if q := runDue.Sub(decimal.Min(runBilled, decimal.Zero)); q.IsPositive() {
			out = append(out, line(sub, it, service, run, lineTypeOf(it), q, factor, newID()))
		}
	}
	for i := 0; i+1 < len(cuts); i++ {
		span := Period{cuts[i], cuts[i+1]}
		d, b := dueOn(due, span.From), billedOn(billed, span.From)
		if !run.Empty() && run.To == span.From && d.Equal(runDue) && b.Equal(runBilled) {
			run.To = span.To
			continue
		}
		flush()
		run, runDue, runBilled = span, d, b
	}
	flush()
	return out
}

// servicePeriodOf is the service period of it that starts on from.
func servicePeriodOf(sub *Subscription, it *Item, from Date) Period {
	switch it.Type {
	case ChargeUsage:
		return usagePeriod(sub, from)
	case ChargeRecurring:
		months := it.BillingPeriod.Months()
		return ServicePeriod(sub.StartDate, months, ServicePeriodIndex(sub.StartDate, months, from))
	}
	return Period{From: from, To: from.AddDays(1)}
}

func dueOn(due []segment, d Date) decimal.Decimal {
	sum := decimal.Zero
	for _, s := range due {
		if s.span.Contains(d) {
			sum = sum.Add(s.qty)
		}
	}
	return sum
}

func billedOn(billed []InvoiceLine, d Date) decimal.Decimal {
	sum := decimal.Zero
	for _, l := range billed {
		if !(Period{l.PeriodFrom, l.PeriodTo}).Contains(d) {
			continue
		}
		if l.Type == LineCredit {
			sum = sum.Sub(l.Quantity)
		} else {
			sum = sum.Add(l.Quantity)
		}
	}
	return sum
}

func lineTypeOf(it *Item) LineType {
	switch it.Type {
	case ChargeOneTime:
		return LineOneTime
	case ChargeUsage:
		return LineUsage
	}
	return LineRecurring
}

// line is one invoice line: qty of it over span, in service period
// service; a credit's amount is negative.
func line(sub *Subscription, it *Item, service, span Period, t LineType, qty, factor decimal.Decimal, id uuid.UUID) InvoiceLine {
	amount := LineAmount(sub.Currency, qty, it.UnitPrice, factor)
	desc := it.Name
	if t == LineCredit {
		amount, desc = amount.Neg(), "Credit: "+it.Name
	}
	return InvoiceLine{
		ID: id, SubscriptionID: sub.ID, ItemID: it.ID, ProductID: it.ProductID, PartnerID: sub.CreatedByPartner(), ChargeID: it.ChargeID,
		Type: t, Description: desc, ServiceFrom: service.From, PeriodFrom: span.From, PeriodTo: span.To,
		Quantity: qty, UnitPrice: it.UnitPrice, ProrationFactor: factor, Amount: amount,
	}
}
