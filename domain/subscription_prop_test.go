package domain

import (
	"errors"
	"math/big"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

// TestSubscriptionProperties runs random commands (create, amend with
// random changes, cancel by random policies, at random dates) and checks
// after each that: replaying the events, directly and through JSON,
// rebuilds the state; a refusal decides nothing and changes nothing; no
// invariant breaks; MRR is never negative and equals an independent
// computation from the events.
func TestSubscriptionProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		account, catalog := fxAccount(rt, "EUR"), fxCatalog(rt)
		ids := fxIDs(1000)
		now := fxAt("2025-01-01").Add(fxDrawDays(rt, "created", 0, 60))
		s := &Subscription{}
		events, err := s.Create(fxDrawCreate(rt, ids), account, catalog, fxActor, now)
		if err != nil {
			fxCheckRefusal(rt, events, err)
			return
		}
		log := fxApplyAll(s, events)
		fxCheckAll(rt, s, log, catalog)
		for range rapid.IntRange(0, 15).Draw(rt, "steps") {
			now = now.Add(fxDrawDays(rt, "wait", 0, 30))
			wasCancelled, today := !s.CancelDate.IsZero(), DateOf(now)
			wasOver := s.StatusOn(today) == StatusCancelled
			if wasOver && rapid.Bool().Draw(rt, "stop") {
				break
			}
			if rapid.IntRange(0, 7).Draw(rt, "op") > 0 {
				events, err = s.Amend(fxDrawAmend(rt, s, ids), catalog, fxActor, now)
			} else {
				events, err = s.Cancel(fxDrawCancel(rt, today), fxActor, now)
			}
			if !reflect.DeepEqual(s, fxReplay[Subscription](log)) {
				rt.Fatalf("deciding changed the state")
			}
			if err != nil {
				fxCheckRefusal(rt, events, err)
				continue
			}
			if wasCancelled || wasOver {
				rt.Fatalf("a command was accepted after the cancellation: %+v", events)
			}
			log = append(log, fxApplyAll(s, events)...)
			fxCheckAll(rt, s, log, catalog)
		}
	})
}

func fxApplyAll(s *Subscription, events []Event) []Event {
	for _, e := range events {
		s.Apply(e)
	}
	return events
}

// fxRarely is true about one time in 16 (rapid favours small numbers, so
// not 0).
func fxRarely(rt *rapid.T, label string) bool { return rapid.IntRange(0, 15).Draw(rt, label) == 9 }

func fxDrawDays(rt *rapid.T, label string, lo, hi int) time.Duration {
	return time.Duration(rapid.IntRange(lo, hi).Draw(rt, label)) * 24 * time.Hour
}

// fxDrawQuantity is mostly a valid quantity.
func fxDrawQuantity(rt *rapid.T) decimal.Decimal {
	if fxRarely(rt, "bad quantity") {
		return decimal.RequireFromString(rapid.SampledFrom([]string{"0", "1000001", "2.5", "-4"}).Draw(rt, "quantity"))
	}
	return decimal.NewFromInt(rapid.SampledFrom([]int64{1, 2, 3, 7, 12, 250, 1_000_000}).Draw(rt, "quantity"))
}

func fxDrawCharge(rt *rapid.T) uuid.UUID {
	if fxRarely(rt, "bad charge") {
		return rapid.SampledFrom([]uuid.UUID{fxSeatUSD, fxID(999)}).Draw(rt, "charge")
	}
	return rapid.SampledFrom([]uuid.UUID{fxSeat, fxSupport, fxPlatform, fxSetup, fxCalls}).Draw(rt, "charge")
}

func fxDrawItem(rt *rapid.T) ItemInput {
	in := ItemInput{ProductID: fxProduct, ChargeID: fxDrawCharge(rt), Quantity: fxDrawQuantity(rt)}
	if fxRarely(rt, "override") || fxRarely(rt, "override again") {
		p := rapid.SampledFrom([]string{"0", "7.50", "99.999", "0.0001", "-1"}).Draw(rt, "price")
		in.UnitPrice = &p
	}
	return in
}

func fxDrawCreate(rt *rapid.T, ids func() uuid.UUID) CreateSubscription {
	terms := []TermInput{{Type: "evergreen"}, {Type: "termed", Months: 1, AutoRenew: true},
		{Type: "termed", Months: 3}, {Type: "termed", Months: 12, AutoRenew: true}, {Type: "termed", Months: 4},
		{Type: "evergreen"}, {Type: "termed", Months: 2, AutoRenew: true}, {Type: "evergreen"}, {Type: "termed", Months: 0}}
	cmd := CreateSubscription{SubscriptionID: fxSubID, TenantID: fxTenant, AccountID: fxAcct,
		StartDate: NewDate(2025, time.January, 1).AddDays(rapid.IntRange(0, 90).Draw(rt, "start")),
		Term:      rapid.SampledFrom(terms).Draw(rt, "term"), NewID: ids}
	n := rapid.IntRange(1, 4).Draw(rt, "items")
	if fxRarely(rt, "no items") {
		n = 0
	}
	for range n {
		cmd.Items = append(cmd.Items, fxDrawItem(rt))
	}
	return cmd
}

func fxDrawItemID(rt *rapid.T, s *Subscription) uuid.UUID {
	ids := []uuid.UUID{fxID(998)}
	for _, it := range s.Items {
		ids = append(ids, it.ID, it.ID)
	}
	return rapid.SampledFrom(ids).Draw(rt, "item")
}

func fxDrawAmend(rt *rapid.T, s *Subscription, ids func() uuid.UUID) AmendSubscription {
	days := rapid.IntRange(0, 60).Draw(rt, "effective")
	if fxRarely(rt, "early") {
		days = -rapid.IntRange(1, 3).Draw(rt, "before")
	}
	cmd := AmendSubscription{EffectiveDate: s.LastChangeDate.AddDays(days), NewID: ids}
	for range rapid.IntRange(1, 4).Draw(rt, "changes") {
		var c ChangeInput
		switch rapid.IntRange(0, 2).Draw(rt, "change") {
		case 0:
			item := fxDrawItem(rt)
			c = ChangeInput{Type: "add_item", ProductID: item.ProductID, ChargeID: item.ChargeID,
				Quantity: item.Quantity, UnitPrice: item.UnitPrice}
		case 1:
			c = ChangeInput{Type: "remove_item", ItemID: fxDrawItemID(rt, s)}
		default:
			c = ChangeInput{Type: "change_quantity", ItemID: fxDrawItemID(rt, s), Quantity: fxDrawQuantity(rt)}
		}
		cmd.Changes = append(cmd.Changes, c)
	}
	return cmd
}

func fxDrawCancel(rt *rapid.T, today Date) CancelSubscription {
	cmd := CancelSubscription{Policy: rapid.SampledFrom([]string{"immediate", "end_of_term", "specific_date", "later"}).Draw(rt, "policy")}
	if cmd.Policy == "specific_date" {
		cmd.Date = today.AddDays(rapid.IntRange(-5, 200).Draw(rt, "date"))
	}
	return cmd
}

var fxRefusalCodes = []string{CodeInvalid, CodeInvalidQuantity, CodeUnknownProduct, CodeUnknownCharge,
	CodeCurrencyMismatch, CodeNoItems, CodeInvalidTerm, CodeSubscriptionNotActive, CodeEffectiveDateBeforeStart,
	CodeUnknownItem, CodeItemAlreadyRemoved, CodeWouldRemoveLastItem, CodeAlreadyCancelled, CodeScheduledChangePending}

func fxCheckRefusal(rt *rapid.T, events []Event, err error) {
	var e *Error
	if events != nil || !errors.As(err, &e) || !slices.Contains(fxRefusalCodes, e.Code) ||
		!(errors.Is(err, ErrRule) || errors.Is(err, ErrInvalid)) {
		rt.Fatalf("unexpected refusal %v with events %v", err, events)
	}
}

// fxCheckAll checks replay, invariants and MRR.
func fxCheckAll(rt *rapid.T, s *Subscription, log []Event, catalog map[uuid.UUID]*Product) {
	fxCheckReplay[Subscription](rt, log, s)
	dates := fxBoundaryDates(s)
	fxCheckInvariants(rt, s, catalog, dates)
	for _, d := range dates {
		got, want := s.MRR(d), fxModelMRR(log, d)
		if got.IsNegative() {
			rt.Fatalf("MRR(%s) = %s is negative", d, got)
		}
		diff := new(big.Rat).Sub(got.Rat(), want)
		if diff.Abs(diff).Cmp(fxMRRTolerance) > 0 || got.Exponent() < -mrrScale {
			rt.Fatalf("MRR(%s) = %s, want %s", d, got, want.FloatString(24))
		}
	}
}

// fxMRRTolerance is the rounding of MRR to 20 decimal places.
var fxMRRTolerance = new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(10), big.NewInt(mrrScale), nil))

// fxBoundaryDates returns the dates where a subscription's state may
// change, with their neighbours.
func fxBoundaryDates(s *Subscription) []Date {
	var ds []Date
	add := func(d Date) {
		if !d.IsZero() {
			ds = append(ds, d.AddDays(-1), d, d.AddDays(1))
		}
	}
	add(s.StartDate)
	add(s.CancelDate)
	add(s.EndDate())
	add(s.CurrentTermEnd(s.StartDate))
	for _, it := range s.Items {
		add(it.EffectiveFrom)
		add(it.EffectiveTo)
		for _, q := range it.Quantities {
			add(q.From)
		}
	}
	return ds
}

func fxCheckInvariants(rt *rapid.T, s *Subscription, catalog map[uuid.UUID]*Product, dates []Date) {
	start, end := s.StartDate, s.EndDate()
	notAfterEnd := func(d Date) bool { return end.IsZero() || !d.After(end) }
	if s.Currency != "EUR" || (!s.CancelDate.IsZero() && s.CancelDate.Before(start)) {
		rt.Fatalf("currency %s, cancel date %s, start %s", s.Currency, s.CancelDate, start)
	}
	for _, it := range s.Items {
		c, ok := catalog[it.ProductID].Charge(it.ChargeID)
		if !ok || c.Currency != s.Currency || c.Type != it.Type || c.BillingPeriod != it.BillingPeriod || c.Unit != it.Unit {
			rt.Fatalf("item %+v does not fit its charge %+v in %s", it, c, s.Currency)
		}
		if it.EffectiveFrom.Before(start) || !notAfterEnd(it.EffectiveFrom) ||
			!it.EffectiveTo.IsZero() && (it.EffectiveTo.Before(it.EffectiveFrom) || !notAfterEnd(it.EffectiveTo)) {
			rt.Fatalf("item %s in effect %s to %s, subscription %s to %s", it.ID, it.EffectiveFrom, it.EffectiveTo, start, end)
		}
		if len(it.Quantities) == 0 || it.Quantities[0].From != it.EffectiveFrom || it.Quantities[len(it.Quantities)-1].Quantity != it.Quantity {
			rt.Fatalf("item %s quantity history %+v", it.ID, it.Quantities)
		}
		for i, q := range it.Quantities {
			if q.Quantity < MinQuantity || q.Quantity > MaxQuantity || !notAfterEnd(q.From) || i > 0 && !q.From.After(it.Quantities[i-1].From) {
				rt.Fatalf("item %s quantity history %+v", it.ID, it.Quantities)
			}
		}
	}
	for _, d := range dates {
		if !d.Before(start) && s.StatusOn(d) != StatusCancelled && len(s.ItemsOn(d)) == 0 {
			rt.Fatalf("on %s the subscription is %s with no item in effect", d, s.StatusOn(d))
		}
	}
}

// fxModelMRR computes MRR on d from the events alone, in exact rationals.
func fxModelMRR(log []Event, d Date) *big.Rat {
	type item struct {
		spec     ItemSpec
		from, to Date
		qty      []QuantityChange
	}
	var start, cancel Date
	var term Term
	items := map[uuid.UUID]*item{}
	for _, e := range log {
		switch e := e.(type) {
		case *SubscriptionCreated:
			start, term = e.StartDate, e.Term
			for _, spec := range e.Items {
				items[spec.ID] = &item{spec: spec, from: start, qty: []QuantityChange{{start, spec.Quantity}}}
			}
		case *SubscriptionAmended:
			for _, c := range e.Changes {
				switch c.Type {
				case ChangeAddItem:
					items[c.Item.ID] = &item{spec: *c.Item, from: e.EffectiveDate, qty: []QuantityChange{{e.EffectiveDate, c.Item.Quantity}}}
				case ChangeRemoveItem:
					items[c.ItemID].to = e.EffectiveDate
				case ChangeQuantity:
					items[c.ItemID].qty = append(items[c.ItemID].qty, QuantityChange{e.EffectiveDate, c.Quantity})
				}
			}
		case *SubscriptionCancelled:
			cancel = e.CancelDate
		}
	}
	sum := new(big.Rat)
	expired := term.Type == TermTermed && !term.AutoRenew && !d.Before(start.AddMonths(term.Months))
	if expired || !cancel.IsZero() && !d.Before(cancel) {
		return sum
	}
	perPeriod := map[BillingPeriod]int64{PeriodMonth: 1, PeriodQuarter: 3, PeriodYear: 12}
	for _, it := range items {
		if it.spec.Type != ChargeRecurring || d.Before(it.from) || !it.to.IsZero() && !d.Before(it.to) {
			continue
		}
		var q int
		for _, c := range it.qty {
			if !c.From.After(d) {
				q = c.Quantity
			}
		}
		line := new(big.Rat).Mul(it.spec.UnitPrice.Rat(), big.NewRat(int64(q), perPeriod[it.spec.BillingPeriod]))
		sum.Add(sum, line)
	}
	return sum
}
