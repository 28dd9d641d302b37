package domain

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Billing stories. Each builds a subscription through its real commands
// (Create, Amend, Cancel, RecordTermEnds) on the fixtures of
// subscription_test.go (Seat 10/month, Support 30/quarter, Platform
// 120/year, Setup 50 once, API calls 0.002/call, all EUR), records usage
// through SubscriptionUsage.Record, and bills the account with
// AccountInvoices.Issue at each run's target date. Every expected line is
// worked out by hand in the comment beside it: days covered ÷ days in the
// service period, to 9 places half-up, × quantity × unit price, rounded
// half-up to the cent.
//
// A line reads "type description from..to quantity × unit price ×
// proration factor = amount" (amount to the cent).

// blWorld is one account with one subscription, its usage and invoices.
type blWorld struct {
	account  *Account
	sub      fxSubscription
	usage    SubscriptionUsage
	invoices AccountInvoices
	runs     int
}

// blStep is one step of a story: do changes the world; otherwise it is a
// bill run for target whose invoice holds want (none when want is
// empty), totals total and, when due is set, falls due on due.
type blStep struct {
	do    func(t *testing.T, w *blWorld)
	run   string
	want  []string
	total string
	due   string
}

// blPriced orders qty of charge at price, overriding the catalog's.
func blPriced(charge uuid.UUID, qty int64, price string) ItemInput {
	in := fxItem(charge, qty)
	in.UnitPrice = &price
	return in
}

// blAddPriced adds qty of charge at price.
func blAddPriced(charge uuid.UUID, qty int64, price string) ChangeInput {
	c := fxAdd(charge, qty)
	c.UnitPrice = &price
	return c
}

// blCreate is the command for an evergreen subscription from start; its
// items get the ids fxID(200), fxID(201)...
func blCreate(start string, items ...ItemInput) CreateSubscription {
	return CreateSubscription{SubscriptionID: fxSubID, TenantID: fxTenant, AccountID: fxAcct, StartDate: fxDate(start),
		Term: TermInput{Type: "evergreen"}, Items: items, NewID: fxIDs(200)}
}

// blTermed is blCreate for a termed subscription.
func blTermed(start string, months int, autoRenew bool, items ...ItemInput) CreateSubscription {
	cmd := blCreate(start, items...)
	cmd.Term = TermInput{Type: "termed", Months: months, AutoRenew: autoRenew}
	return cmd
}

// blAmend amends on eff (decided that day). Items it adds get the ids
// fxID(300 + 10 × events so far) on (see fxSubscription.amend).
func blAmend(eff string, changes ...ChangeInput) blStep {
	return blStep{do: func(t *testing.T, w *blWorld) { t.Helper(); w.sub = w.sub.amend(t, eff, changes...) }}
}

// blCancelOn cancels, decided on today, with effect from date.
func blCancelOn(today, date string) blStep {
	return blStep{do: func(t *testing.T, w *blWorld) {
		t.Helper()
		w.sub = w.sub.cancel(t, today, CancelSubscription{Policy: "specific_date", Date: fxDate(date)})
	}}
}

// blCancelNow cancels at once, decided on today.
func blCancelNow(today string) blStep {
	return blStep{do: func(t *testing.T, w *blWorld) {
		t.Helper()
		w.sub = w.sub.cancel(t, today, CancelSubscription{Policy: "immediate"})
	}}
}

// blTermEnds records what the term has come to by today.
func blTermEnds(today string) blStep {
	return blStep{do: func(t *testing.T, w *blWorld) {
		t.Helper()
		w.sub = w.sub.apply(w.sub.RecordTermEnds(fxDate(today), fxAt(today)))
	}}
}

// blUse records qty of usage on item at noon of day.
func blUse(item uuid.UUID, day string, qty string) blStep {
	return blStep{do: func(t *testing.T, w *blWorld) {
		t.Helper()
		rec := UsageRecord{ID: uuid.New(), SubscriptionID: w.sub.ID, ItemID: item,
			Quantity: decimal.RequireFromString(qty), OccurredAt: fxAt(day)}
		events, _, err := w.usage.Record([]UsageRecord{rec}, w.sub.Subscription, fxActor, fxAt(day))
		if err != nil {
			t.Fatalf("usage refused: %v", err)
		}
		for _, e := range events {
			w.usage.Apply(e)
		}
	}}
}

// blVoid voids the n-th invoice issued (from 0); code is the refusal
// expected, or empty.
func blVoid(n int, code string) blStep {
	return blStep{do: func(t *testing.T, w *blWorld) {
		t.Helper()
		events, err := w.invoices.Void(w.invoices.Invoices[n].ID, "wrong", fxActor, fxAt("2025-01-01"))
		if code != "" {
			fxWantErr(t, err, ErrRule, code, "")
			return
		}
		for _, e := range fxMust(t)(events, err) {
			w.invoices.Apply(e)
		}
	}}
}

// blLine formats a line as the stories expect it.
func blLine(l InvoiceLine) string {
	return fmt.Sprintf("%s %s %s..%s %s × %s × %s = %s", l.Type, l.Description, l.PeriodFrom, l.PeriodTo,
		l.Quantity, l.UnitPrice, l.ProrationFactor, l.Amount.StringFixed(2))
}

// run bills the world's account up to and including target: the invoice
// issued, or nil.
func (w *blWorld) run(t *testing.T, target string) *Invoice {
	t.Helper()
	cmd := IssueInvoice{InvoiceID: fxID(900 + w.runs), BillRunID: fxID(800 + w.runs), Number: len(w.invoices.Invoices) + 1,
		Account: w.account, Subscriptions: []Billable{{Subscription: w.sub.Subscription, Usage: &w.usage}},
		Target: fxDate(target), NewID: fxIDs(10_000 + 100*w.runs)}
	w.runs++
	events := fxMust(t)(w.invoices.Issue(cmd, fxActor, fxAt(target)))
	if len(events) == 0 {
		return nil
	}
	for _, e := range events {
		w.invoices.Apply(e)
	}
	inv := w.invoices.Invoices[len(w.invoices.Invoices)-1]
	if inv.Number != InvoiceNumber(cmd.Number) || inv.IssueDate != cmd.Target || inv.Status != InvoicePosted || inv.BillRunID != cmd.BillRunID {
		t.Fatalf("invoice %+v: want number %d, issued on %s, posted, of run %s", inv, cmd.Number, target, cmd.BillRunID)
	}
	return &inv
}

// blAccount is the fixture account with payment terms of days days
// (nil: the default).
func blAccount(t *testing.T, days *int) *Account {
	t.Helper()
	var a Account
	cmd := CreateAccount{AccountID: fxAcct, TenantID: fxTenant, Name: "Acme", Currency: "EUR",
		Billing: BillingInput{ContactName: "Ada", Email: "ada@acme.example", PaymentTermsDays: days}}
	for _, e := range fxMust(t)(a.Create(cmd, fxActor, fxAt("2024-01-01"))) {
		a.Apply(e)
	}
	return &a
}

// blCheckRun checks a bill run's invoice against the step.
func blCheckRun(t *testing.T, w *blWorld, step blStep, inv *Invoice) {
	t.Helper()
	if inv == nil {
		if len(step.want) > 0 {
			t.Fatalf("run %s issued no invoice, want %q", step.run, step.want)
		}
		return
	}
	got := make([]string, 0, len(inv.Lines))
	sum := decimal.Zero
	for _, l := range inv.Lines {
		got = append(got, blLine(l))
		sum = sum.Add(l.Amount)
	}
	if !slices.Equal(got, step.want) {
		t.Fatalf("run %s lines:\n got %q\nwant %q", step.run, got, step.want)
	}
	if inv.Total.StringFixed(2) != step.total || !inv.Total.Equal(sum) {
		t.Fatalf("run %s total %s (lines sum to %s), want %s", step.run, inv.Total, sum, step.total)
	}
	if want := fxDate(step.run).AddDays(w.account.Billing.PaymentTermsDays); inv.DueDate != want {
		t.Fatalf("run %s due %s, want %s", step.run, inv.DueDate, want)
	}
	if step.due != "" && inv.DueDate != fxDate(step.due) {
		t.Fatalf("run %s due %s, want %s", step.run, inv.DueDate, step.due)
	}
	for _, l := range inv.Lines {
		if l.SubscriptionID != fxSubID || l.ServiceFrom.After(l.PeriodFrom) || !l.PeriodFrom.Before(l.PeriodTo) {
			t.Fatalf("run %s: malformed line %+v", step.run, l)
		}
	}
}

func TestBillingStories(t *testing.T) {
	t.Parallel()
	seat, second := fxID(200), fxID(201)
	days := func(n int) *int { return &n }
	tests := []struct {
		name   string
		create CreateSubscription
		terms  *int
		steps  []blStep
	}{
		{
			// api.md, "Proration": 15.00/month from April 1, upgraded on
			// April 5 to 30.00/month: credit -13.00, charge 26.00, due 13.00.
			name:   "api.md example: upgrade from 15.00 to 30.00 on April 5",
			create: blCreate("2025-04-01", blPriced(fxSeat, 1, "15.00")),
			steps: []blStep{
				{run: "2025-04-01", total: "15.00", want: []string{
					"recurring Seat 2025-04-01..2025-05-01 1 × 15 × 1 = 15.00",
				}},
				blAmend("2025-04-05", fxRemove(seat), blAddPriced(fxSeat, 1, "30.00")),
				{run: "2025-04-05", total: "13.00", want: []string{
					// 26/30 = 0.866666667 × 15.00 = 13.000000005 → 13.00
					"credit Credit: Seat 2025-04-05..2025-05-01 1 × 15 × 0.866666667 = -13.00",
					// 0.866666667 × 30.00 = 26.00000001 → 26.00
					"recurring Seat 2025-04-05..2025-05-01 1 × 30 × 0.866666667 = 26.00",
				}},
				{run: "2025-05-01", total: "30.00", want: []string{
					"recurring Seat 2025-05-01..2025-06-01 1 × 30 × 1 = 30.00",
				}},
			},
		},
		{
			// Stripe's documented proration example (docs.stripe.com,
			// Billing › Subscriptions › Prorations): an upgrade from a
			// 10 USD monthly plan to a 20 USD one halfway through the
			// billing period: -5 for unused time, +10 for the remaining
			// time, 5 more. By days: April 16 of a 30-day April.
			name:   "upgrade halfway (Stripe's example)",
			create: blCreate("2025-04-01", fxItem(fxSeat, 1)),
			steps: []blStep{
				{run: "2025-04-01", total: "10.00", want: []string{"recurring Seat 2025-04-01..2025-05-01 1 × 10 × 1 = 10.00"}},
				blAmend("2025-04-16", fxRemove(seat), blAddPriced(fxSeat, 1, "20.00")),
				{run: "2025-04-20", total: "5.00", want: []string{
					// 15/30 = 0.5 × 10.00 = 5.00
					"credit Credit: Seat 2025-04-16..2025-05-01 1 × 10 × 0.5 = -5.00",
					// 0.5 × 20.00 = 10.00
					"recurring Seat 2025-04-16..2025-05-01 1 × 20 × 0.5 = 10.00",
				}},
			},
		},
		{
			name:   "downgrade mid-period after invoicing",
			create: blCreate("2025-03-01", blPriced(fxSeat, 1, "50.00")),
			steps: []blStep{
				{run: "2025-03-01", total: "50.00", want: []string{"recurring Seat 2025-03-01..2025-04-01 1 × 50 × 1 = 50.00"}},
				blAmend("2025-03-11", fxRemove(seat), blAddPriced(fxSeat, 1, "20.00")),
				{run: "2025-03-11", total: "-20.32", want: []string{
					// 21/31 = 0.677419355 × 50.00 = 33.87096775 → 33.87
					"credit Credit: Seat 2025-03-11..2025-04-01 1 × 50 × 0.677419355 = -33.87",
					// 0.677419355 × 20.00 = 13.5483871 → 13.55
					"recurring Seat 2025-03-11..2025-04-01 1 × 20 × 0.677419355 = 13.55",
				}},
				{run: "2025-04-01", total: "20.00", want: []string{"recurring Seat 2025-04-01..2025-05-01 1 × 20 × 1 = 20.00"}},
			},
		},
		{
			name:   "removal mid-period after invoicing",
			create: blCreate("2025-01-01", fxItem(fxSeat, 5), fxItem(fxPlatform, 1)),
			steps: []blStep{
				{run: "2025-01-01", total: "170.00", want: []string{
					"recurring Seat 2025-01-01..2025-02-01 5 × 10 × 1 = 50.00",
					"recurring Platform 2025-01-01..2026-01-01 1 × 120 × 1 = 120.00",
				}},
				blAmend("2025-01-21", fxRemove(seat)),
				{run: "2025-01-21", total: "-17.74", want: []string{
					// 11/31 = 0.354838710 × 5 × 10.00 = 17.7419355 → 17.74
					"credit Credit: Seat 2025-01-21..2025-02-01 5 × 10 × 0.35483871 = -17.74",
				}},
				{run: "2025-02-01"}, // the seat is gone, the platform paid for the year: no invoice
				{run: "2026-01-01", total: "120.00", want: []string{
					"recurring Platform 2026-01-01..2027-01-01 1 × 120 × 1 = 120.00",
				}},
			},
		},
		{
			name:   "quantity change mid-period after invoicing",
			create: blCreate("2025-06-01", fxItem(fxSeat, 2)),
			steps: []blStep{
				{run: "2025-06-01", total: "20.00", want: []string{"recurring Seat 2025-06-01..2025-07-01 2 × 10 × 1 = 20.00"}},
				blAmend("2025-06-11", fxQty(seat, 5)),
				{run: "2025-06-11", total: "20.00", want: []string{
					// 20/30 = 0.666666667 × 2 × 10.00 = 13.33333334 → 13.33
					"credit Credit: Seat 2025-06-11..2025-07-01 2 × 10 × 0.666666667 = -13.33",
					// 0.666666667 × 5 × 10.00 = 33.33333335 → 33.33
					"recurring Seat 2025-06-11..2025-07-01 5 × 10 × 0.666666667 = 33.33",
				}},
				{run: "2025-07-01", total: "50.00", want: []string{"recurring Seat 2025-07-01..2025-08-01 5 × 10 × 1 = 50.00"}},
				blAmend("2025-07-25", fxQty(seat, 1)),
				{run: "2025-07-25", total: "-9.03", want: []string{
					// 7/31 = 0.225806452 × 5 × 10.00 = 11.2903226 → 11.29
					"credit Credit: Seat 2025-07-25..2025-08-01 5 × 10 × 0.225806452 = -11.29",
					// 0.225806452 × 1 × 10.00 = 2.25806452 → 2.26
					"recurring Seat 2025-07-25..2025-08-01 1 × 10 × 0.225806452 = 2.26",
				}},
			},
		},
		{
			name:   "a month of 28 days: February 2025",
			create: blCreate("2025-02-01", fxItem(fxSeat, 1)),
			steps: []blStep{
				{run: "2025-02-01", total: "10.00", want: []string{"recurring Seat 2025-02-01..2025-03-01 1 × 10 × 1 = 10.00"}},
				blAmend("2025-02-15", fxQty(seat, 2)),
				{run: "2025-02-15", total: "5.00", want: []string{
					// 14/28 = 0.5 × 10.00 = 5.00; × 2 × 10.00 = 10.00
					"credit Credit: Seat 2025-02-15..2025-03-01 1 × 10 × 0.5 = -5.00",
					"recurring Seat 2025-02-15..2025-03-01 2 × 10 × 0.5 = 10.00",
				}},
				{run: "2025-03-01", total: "20.00", want: []string{"recurring Seat 2025-03-01..2025-04-01 2 × 10 × 1 = 20.00"}},
			},
		},
		{
			name:   "a month of 29 days: February 2024 (leap)",
			create: blCreate("2024-02-01", fxItem(fxSeat, 1)),
			steps: []blStep{
				{run: "2024-02-01", total: "10.00", want: []string{"recurring Seat 2024-02-01..2024-03-01 1 × 10 × 1 = 10.00"}},
				blAmend("2024-02-15", fxQty(seat, 2)),
				{run: "2024-02-15", total: "5.17", want: []string{
					// 15/29 = 0.517241379 × 10.00 = 5.17241379 → 5.17
					"credit Credit: Seat 2024-02-15..2024-03-01 1 × 10 × 0.517241379 = -5.17",
					// 0.517241379 × 2 × 10.00 = 10.34482758 → 10.34
					"recurring Seat 2024-02-15..2024-03-01 2 × 10 × 0.517241379 = 10.34",
				}},
			},
		},
		{
			name:   "a month of 30 days: April 2025",
			create: blCreate("2025-04-01", fxItem(fxSeat, 1)),
			steps: []blStep{
				{run: "2025-04-01", total: "10.00", want: []string{"recurring Seat 2025-04-01..2025-05-01 1 × 10 × 1 = 10.00"}},
				blAmend("2025-04-15", fxQty(seat, 2)),
				{run: "2025-04-15", total: "5.34", want: []string{
					// 16/30 = 0.533333333 × 10.00 = 5.33333333 → 5.33
					"credit Credit: Seat 2025-04-15..2025-05-01 1 × 10 × 0.533333333 = -5.33",
					// 0.533333333 × 2 × 10.00 = 10.66666666 → 10.67 (line by line: 10.67 - 5.33 = 5.34)
					"recurring Seat 2025-04-15..2025-05-01 2 × 10 × 0.533333333 = 10.67",
				}},
			},
		},
		{
			name:   "a month of 31 days: January 2025",
			create: blCreate("2025-01-01", fxItem(fxSeat, 1)),
			steps: []blStep{
				{run: "2025-01-01", total: "10.00", want: []string{"recurring Seat 2025-01-01..2025-02-01 1 × 10 × 1 = 10.00"}},
				blAmend("2025-01-15", fxQty(seat, 2)),
				{run: "2025-01-15", total: "5.49", want: []string{
					// 17/31 = 0.548387097 × 10.00 = 5.48387097 → 5.48
					"credit Credit: Seat 2025-01-15..2025-02-01 1 × 10 × 0.548387097 = -5.48",
					// 0.548387097 × 2 × 10.00 = 10.96774194 → 10.97
					"recurring Seat 2025-01-15..2025-02-01 2 × 10 × 0.548387097 = 10.97",
				}},
			},
		},
		{
			name:   "quarterly charge from the 31st, cancelled mid-quarter",
			create: blCreate("2025-01-31", fxItem(fxSupport, 2)),
			steps: []blStep{
				// Jan 31 + 3 months = Apr 30 (no Apr 31); + 6 months = Jul 31.
				{run: "2025-01-31", total: "60.00", want: []string{"recurring Support 2025-01-31..2025-04-30 2 × 30 × 1 = 60.00"}},
				{run: "2025-04-29"},
				{run: "2025-04-30", total: "60.00", want: []string{"recurring Support 2025-04-30..2025-07-31 2 × 30 × 1 = 60.00"}},
				blCancelOn("2025-06-01", "2025-06-15"),
				{run: "2025-06-15", total: "-30.00", want: []string{
					// Apr 30..Jul 31 is 92 days, Jun 15..Jul 31 46: 46/92 = 0.5 × 2 × 30 = 30.00
					"credit Credit: Support 2025-06-15..2025-07-31 2 × 30 × 0.5 = -30.00",
				}},
				{run: "2025-07-31"},
				{run: "2025-12-31"},
			},
		},
		{
			name:   "yearly charge from Feb 29",
			create: blCreate("2024-02-29", fxItem(fxPlatform, 1)),
			steps: []blStep{
				// 2024-02-29 + 12 months = 2025-02-28; + 24 months = 2026-02-28.
				{run: "2024-02-29", total: "120.00", want: []string{"recurring Platform 2024-02-29..2025-02-28 1 × 120 × 1 = 120.00"}},
				{run: "2025-02-27"},
				{run: "2025-02-28", total: "120.00", want: []string{"recurring Platform 2025-02-28..2026-02-28 1 × 120 × 1 = 120.00"}},
				blAmend("2025-09-01", fxQty(seat, 3)),
				{run: "2025-09-01", total: "118.35", want: []string{
					// Sep 1..Feb 28 is 30+31+30+31+31+27 = 180 of 365 days:
					// 180/365 = 0.493150685 × 120.00 = 59.1780822 → 59.18
					"credit Credit: Platform 2025-09-01..2026-02-28 1 × 120 × 0.493150685 = -59.18",
					// 0.493150685 × 3 × 120.00 = 177.5342466 → 177.53
					"recurring Platform 2025-09-01..2026-02-28 3 × 120 × 0.493150685 = 177.53",
				}},
			},
		},
		{
			name:   "monthly from the 31st: periods anchored to the start, not chained",
			create: blCreate("2025-01-31", fxItem(fxSeat, 1)),
			steps: []blStep{
				{run: "2025-04-30", total: "40.00", want: []string{
					"recurring Seat 2025-01-31..2025-02-28 1 × 10 × 1 = 10.00",
					"recurring Seat 2025-02-28..2025-03-31 1 × 10 × 1 = 10.00", // not Mar 28
					"recurring Seat 2025-03-31..2025-04-30 1 × 10 × 1 = 10.00",
					"recurring Seat 2025-04-30..2025-05-31 1 × 10 × 1 = 10.00",
				}},
				{run: "2025-05-30"},
				{run: "2025-05-31", total: "10.00", want: []string{"recurring Seat 2025-05-31..2025-06-30 1 × 10 × 1 = 10.00"}},
			},
		},
		{
			name:   "monthly from the 31st in a leap year",
			create: blCreate("2024-01-31", fxItem(fxSeat, 1)),
			steps: []blStep{
				{run: "2024-02-29", total: "20.00", want: []string{
					"recurring Seat 2024-01-31..2024-02-29 1 × 10 × 1 = 10.00",
					"recurring Seat 2024-02-29..2024-03-31 1 × 10 × 1 = 10.00",
				}},
			},
		},
		{
			name:   "cancellation on a specific date after invoicing",
			create: blCreate("2025-01-15", fxItem(fxSeat, 3)),
			steps: []blStep{
				{run: "2025-01-15", total: "30.00", want: []string{"recurring Seat 2025-01-15..2025-02-15 3 × 10 × 1 = 30.00"}},
				blCancelOn("2025-01-20", "2025-02-01"),
				{run: "2025-01-20", total: "-13.55", want: []string{
					// Jan 15..Feb 15 is 31 days, Feb 1..Feb 15 14:
					// 14/31 = 0.451612903 × 3 × 10.00 = 13.54838709 → 13.55
					"credit Credit: Seat 2025-02-01..2025-02-15 3 × 10 × 0.451612903 = -13.55",
				}},
				{run: "2025-02-15"},
				{run: "2025-06-15"},
			},
		},
		{
			name:   "termed without auto-renew: nothing after the term end",
			create: blTermed("2025-01-10", 2, false, fxItem(fxSeat, 1), fxItem(fxSupport, 1)),
			steps: []blStep{
				{run: "2025-01-10", total: "29.67", want: []string{
					"recurring Seat 2025-01-10..2025-02-10 1 × 10 × 1 = 10.00",
					// the quarter Jan 10..Apr 10 is 90 days, the term covers
					// 59 (to Mar 10): 59/90 = 0.655555556 × 30 = 19.66666668 → 19.67
					"recurring Support 2025-01-10..2025-03-10 1 × 30 × 0.655555556 = 19.67",
				}},
				{run: "2025-02-10", total: "10.00", want: []string{"recurring Seat 2025-02-10..2025-03-10 1 × 10 × 1 = 10.00"}},
				blTermEnds("2025-03-10"),
				{run: "2025-03-10"},
				{run: "2025-04-10"},
				{run: "2026-01-10"},
			},
		},
		{
			name:   "termed with auto-renew runs on past its first term",
			create: blTermed("2025-01-10", 1, true, fxItem(fxSeat, 1)),
			steps: []blStep{
				{run: "2025-01-10", total: "10.00", want: []string{"recurring Seat 2025-01-10..2025-02-10 1 × 10 × 1 = 10.00"}},
				blTermEnds("2025-02-10"),
				{run: "2025-02-10", total: "10.00", want: []string{"recurring Seat 2025-02-10..2025-03-10 1 × 10 × 1 = 10.00"}},
			},
		},
		{
			name:   "one-time charges are billed once",
			create: blCreate("2025-05-01", fxItem(fxSeat, 1), fxItem(fxSetup, 1)),
			steps: []blStep{
				{run: "2025-05-01", total: "60.00", want: []string{
					"recurring Seat 2025-05-01..2025-06-01 1 × 10 × 1 = 10.00",
					"one_time Setup 2025-05-01..2025-05-02 1 × 50 × 1 = 50.00",
				}},
				blAmend("2025-05-20", fxAdd(fxSetup, 2)),
				{run: "2025-05-19"},
				{run: "2025-05-20", total: "100.00", want: []string{"one_time Setup 2025-05-20..2025-05-21 2 × 50 × 1 = 100.00"}},
				{run: "2025-06-01", total: "10.00", want: []string{"recurring Seat 2025-06-01..2025-07-01 1 × 10 × 1 = 10.00"}},
				{run: "2025-07-01", total: "10.00", want: []string{"recurring Seat 2025-07-01..2025-08-01 1 × 10 × 1 = 10.00"}},
			},
		},
		{
			name:   "usage is billed in arrears once its monthly period ended",
			create: blCreate("2025-03-01", fxItem(fxSeat, 1), fxItem(fxCalls, 1)),
			steps: []blStep{
				{run: "2025-03-01", total: "10.00", want: []string{"recurring Seat 2025-03-01..2025-04-01 1 × 10 × 1 = 10.00"}},
				blUse(second, "2025-03-05", "1000"),
				blUse(second, "2025-03-31", "500"),
				{run: "2025-03-31"}, // March's usage period ends on Apr 1
				blUse(second, "2025-04-01", "250"),
				{run: "2025-04-01", total: "13.00", want: []string{
					"recurring Seat 2025-04-01..2025-05-01 1 × 10 × 1 = 10.00",
					// 1500 × 0.002 = 3.00; April's 250 are not yet due
					"usage API calls 2025-03-01..2025-04-01 1500 × 0.002 × 1 = 3.00",
				}},
				{run: "2025-04-30"},
				{run: "2025-05-01", total: "10.50", want: []string{
					"recurring Seat 2025-05-01..2025-06-01 1 × 10 × 1 = 10.00",
					"usage API calls 2025-04-01..2025-05-01 250 × 0.002 × 1 = 0.50",
				}},
				{run: "2025-06-01", total: "10.00", want: []string{"recurring Seat 2025-06-01..2025-07-01 1 × 10 × 1 = 10.00"}},
			},
		},
		{
			name:   "usage recorded late in an invoiced period is credited and billed again",
			create: blCreate("2025-03-01", fxItem(fxSeat, 1), fxItem(fxCalls, 1)),
			steps: []blStep{
				blUse(second, "2025-03-05", "1000"),
				{run: "2025-04-01", total: "22.00", want: []string{
					"recurring Seat 2025-03-01..2025-04-01 1 × 10 × 1 = 10.00",
					"recurring Seat 2025-04-01..2025-05-01 1 × 10 × 1 = 10.00",
					"usage API calls 2025-03-01..2025-04-01 1000 × 0.002 × 1 = 2.00",
				}},
				blUse(second, "2025-03-20", "500.5"),
				{run: "2025-04-02", total: "1.00", want: []string{
					"credit Credit: API calls 2025-03-01..2025-04-01 1000 × 0.002 × 1 = -2.00",
					// 1500.5 × 0.002 = 3.001 → 3.00
					"usage API calls 2025-03-01..2025-04-01 1500.5 × 0.002 × 1 = 3.00",
				}},
			},
		},
		{
			name:   "cancelled at once before its start: the first period credited in full",
			create: blCreate("2025-04-01", fxItem(fxSeat, 1), fxItem(fxSetup, 1)),
			steps: []blStep{
				{run: "2025-04-01", total: "60.00", want: []string{
					"recurring Seat 2025-04-01..2025-05-01 1 × 10 × 1 = 10.00",
					"one_time Setup 2025-04-01..2025-04-02 1 × 50 × 1 = 50.00",
				}},
				blCancelNow("2025-03-31"), // the subscription never runs
				{run: "2025-04-01", total: "-60.00", want: []string{
					"credit Credit: Seat 2025-04-01..2025-05-01 1 × 10 × 1 = -10.00",
					"credit Credit: Setup 2025-04-01..2025-04-02 1 × 50 × 1 = -50.00",
				}},
				{run: "2025-05-01"},
			},
		},
		{
			name:   "a voided invoice's lines are billed again",
			create: blCreate("2025-04-01", fxItem(fxSeat, 1)),
			steps: []blStep{
				{run: "2025-04-01", total: "10.00", want: []string{"recurring Seat 2025-04-01..2025-05-01 1 × 10 × 1 = 10.00"}},
				{run: "2025-04-01"},
				blVoid(0, ""),
				blVoid(0, CodeInvoiceNotVoidable), // already void
				{run: "2025-04-02", total: "10.00", want: []string{"recurring Seat 2025-04-01..2025-05-01 1 × 10 × 1 = 10.00"}},
				{run: "2025-04-02"},
			},
		},
		{
			name:   "an invoice a later one credits cannot be voided",
			create: blCreate("2025-04-01", fxItem(fxSeat, 1)),
			steps: []blStep{
				{run: "2025-04-01", total: "10.00", want: []string{"recurring Seat 2025-04-01..2025-05-01 1 × 10 × 1 = 10.00"}},
				blAmend("2025-04-16", fxQty(seat, 2)),
				{run: "2025-04-16", total: "5.00", want: []string{
					// 15/30 = 0.5: 1 × 10 × 0.5 = 5.00; 2 × 10 × 0.5 = 10.00
					"credit Credit: Seat 2025-04-16..2025-05-01 1 × 10 × 0.5 = -5.00",
					"recurring Seat 2025-04-16..2025-05-01 2 × 10 × 0.5 = 10.00",
				}},
				blVoid(0, CodeInvoiceNotVoidable), // invoice 1 credits its seat
				blVoid(1, ""),
				{run: "2025-04-16", total: "5.00", want: []string{
					"credit Credit: Seat 2025-04-16..2025-05-01 1 × 10 × 0.5 = -5.00",
					"recurring Seat 2025-04-16..2025-05-01 2 × 10 × 0.5 = 10.00",
				}},
				blVoid(0, CodeInvoiceNotVoidable), // now invoice 2 credits it
				blVoid(2, ""),
				blVoid(0, ""),
				// nothing stands: the month is billed afresh as it is now
				{run: "2025-04-16", total: "15.00", want: []string{
					"recurring Seat 2025-04-01..2025-04-16 1 × 10 × 0.5 = 5.00",
					"recurring Seat 2025-04-16..2025-05-01 2 × 10 × 0.5 = 10.00",
				}},
			},
		},
		{
			name:   "due date: issue date plus the default 30 days",
			create: blCreate("2025-01-31", fxItem(fxSeat, 1)),
			steps: []blStep{
				{run: "2025-01-31", total: "10.00", due: "2025-03-02", want: []string{"recurring Seat 2025-01-31..2025-02-28 1 × 10 × 1 = 10.00"}},
			},
		},
		{
			name:   "due date: issue date plus 14 days, across the year's end",
			create: blCreate("2025-12-20", fxItem(fxSeat, 1)),
			terms:  days(14),
			steps: []blStep{
				{run: "2025-12-20", total: "10.00", due: "2026-01-03", want: []string{"recurring Seat 2025-12-20..2026-01-20 1 × 10 × 1 = 10.00"}},
			},
		},
		{
			name:   "due date: payment terms of 0 days",
			create: blCreate("2025-12-20", fxItem(fxSeat, 1)),
			terms:  days(0),
			steps: []blStep{
				{run: "2025-12-20", total: "10.00", due: "2025-12-20", want: []string{"recurring Seat 2025-12-20..2026-01-20 1 × 10 × 1 = 10.00"}},
			},
		},
		{
			name:   "a run for an earlier target after a later one credits nothing",
			create: blCreate("2025-01-01", fxItem(fxSeat, 1)),
			steps: []blStep{
				{run: "2025-03-01", total: "30.00", want: []string{
					"recurring Seat 2025-01-01..2025-02-01 1 × 10 × 1 = 10.00",
					"recurring Seat 2025-02-01..2025-03-01 1 × 10 × 1 = 10.00",
					"recurring Seat 2025-03-01..2025-04-01 1 × 10 × 1 = 10.00",
				}},
				{run: "2025-02-01"},
				{run: "2025-01-01"},
				{run: "2024-12-01"},
				blAmend("2025-03-17", fxQty(seat, 3)),
				{run: "2025-02-15"}, // March's change is not due by then
				{run: "2025-03-01", total: "9.68", want: []string{
					// 15/31 = 0.483870968: 1 × 10 → 4.83870968 → 4.84; 3 × 10 → 14.51612904 → 14.52
					"credit Credit: Seat 2025-03-17..2025-04-01 1 × 10 × 0.483870968 = -4.84",
					"recurring Seat 2025-03-17..2025-04-01 3 × 10 × 0.483870968 = 14.52",
				}},
				{run: "2025-03-01"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := &blWorld{account: blAccount(t, tc.terms)}
			w.sub = fxSubscription{Subscription: &Subscription{}}
			w.sub = w.sub.apply(fxMust(t)(w.sub.Create(tc.create, w.account, fxCatalog(t), fxPartner, fxAt("2024-01-01"))))
			for _, step := range tc.steps {
				if step.do != nil {
					step.do(t, w)
					continue
				}
				blCheckRun(t, w, step, w.run(t, step.run))
			}
		})
	}
}

// TestIssueInvoiceScope: Issue bills only the account's subscriptions,
// refuses an unknown account and a target out of range, and issues
// nothing when nothing is due.
func TestIssueInvoiceScope(t *testing.T) {
	t.Parallel()
	acc := blAccount(t, nil)
	sub := fxNewSub(t, blCreate("2025-04-01", fxItem(fxSeat, 2)))
	other := *sub.Subscription
	other.ID, other.AccountID = fxID(21), fxID(11)
	cmd := func(target string, subs ...*Subscription) IssueInvoice {
		c := IssueInvoice{InvoiceID: fxID(900), BillRunID: fxID(800), Number: 7, Account: acc, Target: fxDate(target), NewID: fxIDs(1000)}
		for _, s := range subs {
			c.Subscriptions = append(c.Subscriptions, Billable{Subscription: s})
		}
		return c
	}
	tests := []struct {
		name  string
		cmd   IssueInvoice
		lines int
		total string
		kind  error
		code  string
	}{
		{"own subscription billed, another account's ignored", cmd("2025-04-01", sub.Subscription, &other), 1, "20.00", nil, ""},
		{"only another account's: nothing", cmd("2025-04-01", &other), 0, "", nil, ""},
		{"nothing due yet: nothing", cmd("2025-03-31", sub.Subscription), 0, "", nil, ""},
		{"no account", func() IssueInvoice { c := cmd("2025-04-01", sub.Subscription); c.Account = nil; return c }(), 0, "", ErrNotFound, CodeNotFound},
		{"target out of range", cmd("2025-04-01", sub.Subscription), 0, "", ErrRule, CodeDateOutOfRange},
	}
	tests[4].cmd.Target = NewDate(10000, 1, 1)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var invs AccountInvoices
			events, err := invs.Issue(tc.cmd, fxActor, fxAt("2025-04-01"))
			if tc.kind != nil {
				fxWantErr(t, err, tc.kind, tc.code, "")
				return
			}
			events = fxMust(t)(events, err)
			if tc.lines == 0 {
				if len(events) != 0 {
					t.Fatalf("issued %+v, want nothing", events)
				}
				return
			}
			inv := events[0].(*InvoiceIssued)
			if len(inv.Lines) != tc.lines || inv.Total.StringFixed(2) != tc.total || inv.Number != "INV-000007" ||
				inv.TenantID != fxTenant || inv.IssuedBy != fxActor || inv.Billing != acc.Billing {
				t.Fatalf("invoice %+v", inv)
			}
			for _, l := range inv.Lines {
				if l.SubscriptionID != sub.ID || l.PartnerID != fxPartner.PartnerID || l.ProductID != fxProduct || l.ChargeID != fxSeat {
					t.Fatalf("line %+v: wrong subscription or attribution", l)
				}
			}
		})
	}
}

// TestVoidRefusals: voiding an unknown invoice is not found, and the
// reason is checked like any user text.
func TestVoidRefusals(t *testing.T) {
	t.Parallel()
	w := &blWorld{account: blAccount(t, nil), sub: fxNewSub(t, blCreate("2025-04-01", fxItem(fxSeat, 1)))}
	inv := w.run(t, "2025-04-01")
	tests := []struct {
		name   string
		id     uuid.UUID
		reason string
		kind   error
		code   string
	}{
		{"unknown invoice", fxID(12345), "wrong", ErrNotFound, CodeNotFound},
		{"control character in the reason", inv.ID, "wrong\x00", ErrRule, CodeInvalidText},
		{"reason too long", inv.ID, strings.Repeat("x", MaxVoidReason+1), ErrRule, CodeValueTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := w.invoices.Void(tc.id, tc.reason, fxActor, fxAt("2025-04-02"))
			fxWantErr(t, err, tc.kind, tc.code, "")
		})
	}
	events := fxMust(t)(w.invoices.Void(inv.ID, "billed to the wrong contact", fxActor, fxAt("2025-04-02")))
	w.invoices.Apply(events[0])
	got, _ := w.invoices.Invoice(inv.ID)
	if got.Status != InvoiceVoid || got.VoidReason != "billed to the wrong contact" || got.Version != 2 || w.invoices.Version != 2 {
		t.Fatalf("voided invoice %+v (stream version %d)", got, w.invoices.Version)
	}
	if billed := w.invoices.Billed(fxSubID); len(billed) != 0 {
		t.Fatalf("a void invoice still counts as billed: %+v", billed)
	}
}

// TestBillRun: a bill run starts once, completes once, with its totals
// by currency in currency order.
func TestBillRun(t *testing.T) {
	t.Parallel()
	var run BillRun
	start := StartBillRun{BillRunID: fxID(800), TenantID: fxTenant, TargetDate: fxDate("2025-04-01"),
		AccountIDs: []uuid.UUID{fxID(12), fxID(11), fxID(12)}}
	_, err := run.Complete(nil, fxAt("2025-04-01"))
	fxWantErr(t, err, ErrNotFound, CodeNotFound, "")
	_, err = run.Start(StartBillRun{BillRunID: fxID(800), TenantID: fxTenant}, fxActor, fxAt("2025-04-01"))
	fxWantErr(t, err, ErrInvalid, CodeInvalid, "target_date")
	events := fxMust(t)(run.Start(start, fxActor, fxAt("2025-04-01")))
	run.Apply(events[0])
	if run.Status != BillRunStatusRunning || !slices.Equal(run.AccountIDs, []uuid.UUID{fxID(11), fxID(12)}) {
		t.Fatalf("started run %+v: want running, accounts sorted without repeats", run)
	}
	_, err = run.Start(start, fxActor, fxAt("2025-04-01"))
	fxWantErr(t, err, ErrConflict, CodeConflict, "")
	d := decimal.RequireFromString
	invoices := []BillRunInvoice{
		{InvoiceID: fxID(901), Number: "INV-000001", AccountID: fxID(11), Currency: "USD", Total: d("10.5")},
		{InvoiceID: fxID(902), Number: "INV-000002", AccountID: fxID(12), Currency: "EUR", Total: d("-13")},
		{InvoiceID: fxID(903), Number: "INV-000003", AccountID: fxID(13), Currency: "USD", Total: d("0.25")},
	}
	done := fxMust(t)(run.Complete(invoices, fxAt("2025-04-01")))
	run.Apply(done[0])
	got := make([]string, 0, len(run.Totals))
	for _, tot := range run.Totals {
		got = append(got, string(tot.Currency)+" "+tot.Total.StringFixed(2))
	}
	if want := []string{"EUR -13.00", "USD 10.75"}; !slices.Equal(got, want) || run.Status != BillRunStatusCompleted {
		t.Fatalf("totals %q, status %s; want %q, completed", got, run.Status, want)
	}
	if again := fxMust(t)(run.Complete(invoices, fxAt("2025-04-02"))); len(again) != 0 {
		t.Fatalf("completed twice: %+v", again)
	}
	// canonical totals ("10.5", not "10.50") survive JSON unchanged
	fxCheckReplay[BillRun](t, append(events, done...), &run)
}

// TestInvoiceNumbering: numbers follow on, in order, without gaps, from
// INV-000001.
func TestInvoiceNumbering(t *testing.T) {
	t.Parallel()
	var n InvoiceNumbering
	if got := n.Number(fxID(800), nil); got != nil {
		t.Fatalf("numbered nothing as %+v", got)
	}
	var log []Event
	for _, batch := range []struct {
		size  int
		first int
	}{{3, 1}, {1, 4}, {2, 5}} {
		invoices := make([]NumberedInvoice, batch.size)
		for i := range invoices {
			invoices[i] = NumberedInvoice{InvoiceID: fxID(900 + i), AccountID: fxID(10 + i)}
		}
		events := n.Number(fxID(800+batch.first), invoices)
		e := events[0].(*InvoicesNumbered)
		for i, inv := range e.Invoices {
			if inv.Number != batch.first+i || inv.InvoiceID != invoices[i].InvoiceID {
				t.Fatalf("batch from %d numbered %+v", batch.first, e.Invoices)
			}
		}
		if e.First != batch.first || invoices[0].Number != 0 {
			t.Fatalf("batch %+v: first %d, or the input was changed", e, batch.first)
		}
		n.Apply(e)
		log = append(log, e)
	}
	if n.Last != 6 || InvoiceNumber(n.Last) != "INV-000006" || InvoiceNumber(1) != "INV-000001" {
		t.Fatalf("last %d", n.Last)
	}
	fxCheckReplay[InvoiceNumbering](t, log, &n)
}

// TestBillingArithmetic pins the primitives of api.md's arithmetic.
func TestBillingArithmetic(t *testing.T) {
	t.Parallel()
	d := decimal.RequireFromString
	days := []struct {
		from, to string
		want     int
	}{
		{"2025-04-01", "2025-05-01", 30},
		{"2024-02-01", "2024-03-01", 29},
		{"2025-05-01", "2025-04-01", -30},
		{"2024-02-29", "2025-02-28", 365},
		{"1900-01-01", "2300-01-01", 146_097}, // 400 Gregorian years, past time.Duration's 292
		{"1900-01-01", "9999-12-31", 2_958_463},
	}
	for _, c := range days {
		if got := fxDate(c.from).DaysUntil(fxDate(c.to)); got != c.want {
			t.Errorf("%s.DaysUntil(%s) = %d, want %d", c.from, c.to, got, c.want)
		}
	}
	periods := []struct {
		start     string
		months, k int
		from, to  string
	}{
		{"2025-01-31", 1, 0, "2025-01-31", "2025-02-28"},
		{"2025-01-31", 1, 1, "2025-02-28", "2025-03-31"},
		{"2025-01-31", 1, 2, "2025-03-31", "2025-04-30"},
		{"2024-01-31", 1, 1, "2024-02-29", "2024-03-31"},
		{"2025-01-31", 3, 1, "2025-04-30", "2025-07-31"},
		{"2024-02-29", 12, 1, "2025-02-28", "2026-02-28"},
		{"2024-02-29", 12, 4, "2028-02-29", "2029-02-28"},
	}
	for _, c := range periods {
		p := ServicePeriod(fxDate(c.start), c.months, c.k)
		if p.From != fxDate(c.from) || p.To != fxDate(c.to) {
			t.Errorf("ServicePeriod(%s, %d, %d) = %s..%s, want %s..%s", c.start, c.months, c.k, p.From, p.To, c.from, c.to)
		}
		for _, day := range []Date{p.From, p.From.AddDays(p.Days() / 2), p.To.AddDays(-1)} {
			if k := ServicePeriodIndex(fxDate(c.start), c.months, day); k != c.k {
				t.Errorf("ServicePeriodIndex(%s, %d, %s) = %d, want %d", c.start, c.months, day, k, c.k)
			}
		}
	}
	factors := []struct {
		covered, total int
		want           string
	}{
		{26, 30, "0.866666667"}, // 0.8666666666… half-up
		{1, 3, "0.333333333"},
		{2, 3, "0.666666667"},
		{30, 30, "1"},
		{0, 31, "0"},
		{180, 365, "0.493150685"},
	}
	for _, c := range factors {
		if got := ProrationFactor(c.covered, c.total); !got.Equal(d(c.want)) {
			t.Errorf("ProrationFactor(%d, %d) = %s, want %s", c.covered, c.total, got, c.want)
		}
	}
	amounts := []struct {
		currency                 Currency
		qty, price, factor, want string
	}{
		{"EUR", "1", "15.00", "0.866666667", "13.00"},       // 13.000000005
		{"EUR", "1", "0.01", "0.5", "0.01"},                 // 0.005, half-up
		{"EUR", "3", "0.3333", "1", "1.00"},                 // 0.9999
		{"EUR", "1500.5", "0.002", "1", "3.00"},             // 3.001
		{"JPY", "1", "1000", "0.516129032", "516"},          // 516.129032: no minor unit
		{"EUR", "1000000", "9999.99", "1", "9999990000.00"}, // the largest quantity
	}
	for _, c := range amounts {
		got := LineAmount(c.currency, d(c.qty), d(c.price), d(c.factor))
		if got.StringFixed(c.currency.MinorUnits()) != c.want {
			t.Errorf("LineAmount(%s, %s, %s, %s) = %s, want %s", c.currency, c.qty, c.price, c.factor, got, c.want)
		}
	}
}
