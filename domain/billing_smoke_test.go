package domain

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

func TestBillingSmokeApril(t *testing.T) {
	start := NewDate(2025, time.April, 1)
	spec := ItemSpec{ID: uuid.New(), Name: "Basic", Type: ChargeRecurring, Quantity: 1, UnitPrice: decimal.RequireFromString("15.00"), BillingPeriod: PeriodMonth}
	sub := &Subscription{ID: uuid.New(), AccountID: uuid.New(), Currency: "USD", StartDate: start, Term: Term{Type: TermEvergreen},
		Items: []Item{newItem(spec, start)}}
	lines := NewLines(Billable{Subscription: sub}, nil, start, nil)
	for _, l := range lines {
		t.Logf("%s %s %s..%s q=%s f=%s a=%s", l.Type, l.Description, l.PeriodFrom, l.PeriodTo, l.Quantity, l.ProrationFactor, l.Amount)
	}
	up := NewDate(2025, time.April, 5)
	sub.Items[0].EffectiveTo = up
	spec2 := spec
	spec2.ID, spec2.Name, spec2.UnitPrice = uuid.New(), "Pro", decimal.RequireFromString("30.00")
	sub.Items = append(sub.Items, newItem(spec2, up))
	more := NewLines(Billable{Subscription: sub}, lines, start, nil)
	for _, l := range more {
		t.Logf("%s %s %s..%s q=%s f=%s a=%s", l.Type, l.Description, l.PeriodFrom, l.PeriodTo, l.Quantity, l.ProrationFactor, l.Amount)
	}
	again := NewLines(Billable{Subscription: sub}, append(lines, more...), NewDate(2025, time.April, 30), nil)
	if len(again) != 0 {
		t.Fatalf("again: %v", again)
	}
	next := NewLines(Billable{Subscription: sub}, append(lines, more...), NewDate(2025, time.May, 1), nil)
	for _, l := range next {
		t.Logf("%s %s %s..%s q=%s f=%s a=%s", l.Type, l.Description, l.PeriodFrom, l.PeriodTo, l.Quantity, l.ProrationFactor, l.Amount)
	}
}
