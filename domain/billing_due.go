package domain

import (
	"cmp"
	"slices"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Billable is a subscription as a bill run sees it: its state and the
// usage recorded on it (nil when none).
type Billable struct {
	Subscription *Subscription
	Usage        *SubscriptionUsage
}

// farDate ends the spans of items and subscriptions that run on.
var farDate = NewDate(10000, 1, 1)

// segment is a quantity of an item due (or billed) over span, a part of
// the service period service.
type segment struct {
	item    *Item
	service Period
	span    Period
	qty     decimal.Decimal
}

// segmentKey is an item's service period: lines are compared, due
// against billed, within one.
type segmentKey struct {
	item uuid.UUID
	from Date
}

// NewLines returns the lines to bill for b up to and including target:
// what is due by then less what billed, the lines of the account's
// posted invoices for it, holds. A part of a service period billed and
// no longer due is credited, and what is due for it instead is billed
// again, prorated the same way: nothing is billed twice, nothing due left
// out. Billing the lines returned and calling again returns none.
func NewLines(b Billable, billed []InvoiceLine, target Date, newID func() uuid.UUID) []InvoiceLine {
	sub := b.Subscription
	due := groupSegments(dueSegments(sub, b.Usage, target))
	held := map[segmentKey][]InvoiceLine{}
	for _, l := range billed {
		if it, ok := sub.Item(l.ItemID); ok && dueBy(sub, it, l.ServiceFrom, target) {
			k := segmentKey{l.ItemID, l.ServiceFrom}
			held[k] = append(held[k], l)
		}
	}
	keys := make([]segmentKey, 0, len(due)+len(held))
	for k := range due {
		keys = append(keys, k)
	}
	for k := range held {
		if _, ok := due[k]; !ok {
			keys = append(keys, k)
		}
	}
	order := func(a, b segmentKey) int {
		if c := cmp.Compare(itemIndex(sub, a.item), itemIndex(sub, b.item)); c != 0 {
			return c
		}
		return a.from.Compare(b.from)
	}
	slices.SortFunc(keys, order)
	newID = idSource(newID)
	var out []InvoiceLine
	for _, k := range keys {
		it, _ := sub.Item(k.item)
		out = append(out, reconcile(sub, &it, due[k], held[k], newID)...)
	}
	return out
}

func itemIndex(sub *Subscription, id uuid.UUID) int {
	return slices.IndexFunc(sub.Items, func(it Item) bool { return it.ID == id })
}

// dueBy says whether the service period of item it starting on from is
// billed by a bill run for target: recurring and one-time charges in
// advance, from its first day; usage in arrears, once it has ended.
func dueBy(sub *Subscription, it Item, from Date, target Date) bool {
	if it.Type == ChargeUsage {
		return !usagePeriod(sub, from).To.After(target)
	}
	return !from.After(target)
}

func groupSegments(segs []segment) map[segmentKey][]segment {
	out := map[segmentKey][]segment{}
	for _, s := range segs {
		k := segmentKey{s.item.ID, s.service.From}
		out[k] = append(out[k], s)
	}
	return out
}

// dueSegments returns what is due for sub up to and including target.
func dueSegments(sub *Subscription, usage *SubscriptionUsage, target Date) []segment {
	var out []segment
	for i := range sub.Items {
		it := &sub.Items[i]
		switch it.Type {
		case ChargeRecurring:
			out = append(out, recurringDue(sub, it, target)...)
		case ChargeOneTime:
			if cov := coverage(sub, it); !cov.Empty() && cov.From == it.EffectiveFrom && !cov.From.After(target) {
				p := Period{From: cov.From, To: cov.From.AddDays(1)}
				out = append(out, segment{item: it, service: p, span: p, qty: decimal.NewFromInt(int64(it.QuantityOn(cov.From)))})
			}
		}
	}
	return append(out, usageDue(sub, usage, target)...)
}

// coverage is the span in which item it of sub is in force.
func coverage(sub *Subscription, it *Item) Period {
	item := Period{From: it.EffectiveFrom, To: it.EffectiveTo}
	if item.To.IsZero() {
		item.To = farDate
	}
	life := Period{From: sub.StartDate, To: sub.EndDate()}
	if life.To.IsZero() {
		life.To = farDate
	}
	return item.Intersect(life)
}

// recurringDue returns the segments of recurring item it in every service
// period that starts by target, split where its quantity changes.
func recurringDue(sub *Subscription, it *Item, target Date) []segment {
	cov := coverage(sub, it)
	months := it.BillingPeriod.Months()
	if cov.Empty() || months == 0 {
		return nil
	}
	var out []segment
	for k := ServicePeriodIndex(sub.StartDate, months, cov.From); ; k++ {
		p := ServicePeriod(sub.StartDate, months, k)
		if p.From.After(target) || !p.From.Before(cov.To) {
			return out
		}
		span := p.Intersect(cov)
		for _, part := range splitByQuantity(it, span) {
			out = append(out, segment{item: it, service: p, span: part.span, qty: part.qty})
		}
	}
}

type quantitySpan struct {
	span Period
	qty  decimal.Decimal
}

// splitByQuantity splits span where it's quantity changes.
func splitByQuantity(it *Item, span Period) []quantitySpan {
	var out []quantitySpan
	from := span.From
	for _, c := range it.Quantities {
		if c.From.After(from) && c.From.Before(span.To) {
			out = append(out, quantitySpan{Period{from, c.From}, decimal.NewFromInt(int64(it.QuantityOn(from)))})
			from = c.From
		}
	}
	return append(out, quantitySpan{Period{from, span.To}, decimal.NewFromInt(int64(it.QuantityOn(from)))})
}

// usagePeriod is the monthly period of sub's usage that contains day.
func usagePeriod(sub *Subscription, day Date) Period {
	return ServicePeriod(sub.StartDate, 1, ServicePeriodIndex(sub.StartDate, 1, day))
}

// usageDue returns, for each usage item and monthly period of sub that
// has ended by target, the usage recorded in it.
func usageDue(sub *Subscription, usage *SubscriptionUsage, target Date) []segment {
	if usage == nil {
		return nil
	}
	type sum struct {
		period Period
		qty    decimal.Decimal
	}
	sums := map[segmentKey]sum{}
	for day, q := range usage.Daily {
		if p := usagePeriod(sub, day.Day); !p.To.After(target) {
			key := segmentKey{day.Item, p.From}
			sums[key] = sum{p, sums[key].qty.Add(q)}
		}
	}
	var out []segment
	for key, s := range sums {
		if i := itemIndex(sub, key.item); i >= 0 && !s.qty.IsZero() {
			out = append(out, segment{item: &sub.Items[i], service: s.period, span: s.period, qty: s.qty})
		}
	}
	return out
}
