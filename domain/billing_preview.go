package domain

import (
	"slices"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Proration returns what a change of a subscription, from before to
// after, does to the periods the account's invoices already hold: the
// credits and charges the next bill run would add for them because of
// the change, and their total. Lines the next run would add anyway are
// left out. The lines have no ids: nothing is billed yet.
func (a *AccountInvoices) Proration(before, after Billable) ([]InvoiceLine, decimal.Decimal) {
	sub := before.Subscription.ID
	target := a.lastIssueFor(sub)
	total := decimal.Zero
	if target.IsZero() {
		return nil, total
	}
	noID := func() uuid.UUID { return uuid.Nil }
	billed := a.Billed(sub)
	anyway := NewLines(before, billed, target, noID)
	var out []InvoiceLine
	for _, l := range NewLines(after, billed, target, noID) {
		if i := slices.IndexFunc(anyway, l.same); i >= 0 {
			anyway = slices.Delete(anyway, i, i+1)
			continue
		}
		out = append(out, l)
		total = total.Add(l.Amount)
	}
	return out, total
}

// lastIssueFor returns the latest issue date of a posted invoice that
// bills subscription sub, or the zero Date.
func (a *AccountInvoices) lastIssueFor(sub uuid.UUID) Date {
	var last Date
	for _, inv := range a.Invoices {
		if inv.Status != InvoicePosted || !inv.IssueDate.After(last) {
			continue
		}
		if slices.ContainsFunc(inv.Lines, func(l InvoiceLine) bool { return l.SubscriptionID == sub }) {
			last = inv.IssueDate
		}
	}
	return last
}

// same reports whether l and o bill the same, whatever their ids.
func (l InvoiceLine) same(o InvoiceLine) bool {
	return l.ItemID == o.ItemID && l.Type == o.Type && l.ServiceFrom == o.ServiceFrom && l.PeriodFrom == o.PeriodFrom &&
		l.PeriodTo == o.PeriodTo && l.Quantity.Equal(o.Quantity) && l.Amount.Equal(o.Amount)
}
