package domain

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

// TestBillingProperties builds random subscriptions through their
// commands (a random start, often on the 28th to 31st; monthly,
// quarterly and yearly items at awkward prices; amendments that add,
// remove and change quantities, dated in order; maybe a cancellation;
// maybe a term without renewal) interleaved with bill runs at random
// increasing target dates, each run's lines added to what is billed.
// After every run it checks, against a model of the history kept by the
// test itself:
//   - (a) every service period that has begun by the target (so every
//     fully elapsed one) is billed, per item, the exact pro-rata amount
//     Σ quantity × unit price × days ÷ days in the period, unrounded,
//     within one minor unit per line of that item and period;
//   - (b) every day of every item is billed, net of credits, exactly the
//     quantity due on it: never twice, never left out;
//   - (c) billing again at the same target bills nothing.
func TestBillingProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		bp := bpNew(rt)
		target := bp.sub.StartDate.AddDays(rapid.IntRange(-40, 40).Draw(rt, "first target"))
		for range rapid.IntRange(1, 14).Draw(rt, "steps") {
			switch op := rapid.IntRange(0, 9).Draw(rt, "op"); {
			case op < 4:
				target = target.AddDays(rapid.IntRange(0, 75).Draw(rt, "wait"))
				bp.run(rt, target)
			case op < 9:
				bp.amend(rt)
			default:
				bp.cancel(rt)
			}
		}
		bp.run(rt, target.AddDays(rapid.IntRange(0, 400).Draw(rt, "last wait")))
	})
}

// bpItem is the test's own model of a recurring item.
type bpItem struct {
	id     uuid.UUID
	months int
	price  decimal.Decimal
	from   Date
	to     Date // zero while never removed
	qty    []QuantityChange
}

// qtyOn is the item's quantity on d, or 0 when it is not in force.
func (it *bpItem) qtyOn(d Date, end Date) int64 {
	if d.Before(it.from) || (!it.to.IsZero() && !d.Before(it.to)) || (!end.IsZero() && !d.Before(end)) {
		return 0
	}
	q := 0
	for _, c := range it.qty {
		if !c.From.After(d) {
			q = c.Quantity
		}
	}
	return int64(q)
}

// bpWorld is a subscription, its model, and what is billed for it.
type bpWorld struct {
	sub     *Subscription
	items   []*bpItem
	end     Date // the model's end of the subscription; zero when it runs on
	last    Date // the effective date of the latest change
	billed  []InvoiceLine
	catalog map[uuid.UUID]*Product
	ids     func() uuid.UUID
}

var bpCharges = []struct {
	id     uuid.UUID
	months int
	price  string
}{{fxSeat, 1, "10"}, {fxSupport, 3, "30"}, {fxPlatform, 12, "120"}}

var bpPrices = []string{"9.99", "0.01", "15", "123.45", "0.3333", "1000000"}

func bpStart(rt *rapid.T) Date {
	rt.Helper()
	y := rapid.IntRange(2023, 2026).Draw(rt, "year")
	m := time.Month(rapid.IntRange(1, 12).Draw(rt, "month"))
	d := rapid.SampledFrom([]int{1, 2, 15, 28, 29, 30, 31}).Draw(rt, "day")
	if t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC); t.Month() != m {
		return NewDate(y, m+1, 0) // the month's last day
	}
	return NewDate(y, m, d)
}

// bpDrawItem draws a recurring item: its input and the model of it,
// from from.
func bpDrawItem(rt *rapid.T, from Date) (ItemInput, *bpItem) {
	rt.Helper()
	c := rapid.SampledFrom(bpCharges).Draw(rt, "charge")
	qty := rapid.IntRange(1, 5).Draw(rt, "quantity")
	in := fxItem(c.id, int64(qty))
	price := c.price
	if rapid.Bool().Draw(rt, "override") {
		price = rapid.SampledFrom(bpPrices).Draw(rt, "price")
		in.UnitPrice = &price
	}
	return in, &bpItem{months: c.months, price: decimal.RequireFromString(price), from: from,
		qty: []QuantityChange{{From: from, Quantity: qty}}}
}

func bpNew(rt *rapid.T) *bpWorld {
	rt.Helper()
	w := &bpWorld{sub: &Subscription{}, catalog: fxCatalog(rt), ids: fxIDs(5000)}
	cmd := CreateSubscription{SubscriptionID: fxSubID, TenantID: fxTenant, AccountID: fxAcct, StartDate: bpStart(rt),
		Term: TermInput{Type: "evergreen"}, NewID: w.ids}
	if rapid.IntRange(0, 3).Draw(rt, "termed") == 0 {
		cmd.Term = TermInput{Type: "termed", Months: rapid.IntRange(1, 15).Draw(rt, "term months"), AutoRenew: rapid.Bool().Draw(rt, "auto-renew")}
		if !cmd.Term.AutoRenew {
			w.end = cmd.StartDate.AddMonths(cmd.Term.Months)
		}
	}
	for range rapid.IntRange(1, 3).Draw(rt, "items") {
		in, it := bpDrawItem(rt, cmd.StartDate)
		cmd.Items = append(cmd.Items, in)
		w.items = append(w.items, it)
	}
	events, err := w.sub.Create(cmd, fxAccount(rt, "EUR"), w.catalog, fxActor, fxAt("2023-01-01"))
	if err != nil {
		rt.Fatalf("create refused: %v", err)
	}
	for _, e := range events {
		w.sub.Apply(e)
	}
	w.nameItems()
	w.last = cmd.StartDate
	return w
}

// nameItems gives the model's items the ids of the subscription's: both
// list them in the order they were added.
func (w *bpWorld) nameItems() {
	for i, it := range w.items {
		it.id = w.sub.Items[i].ID
	}
}

// inForce returns the model's items not removed.
func (w *bpWorld) inForce() []*bpItem {
	var out []*bpItem
	for _, it := range w.items {
		if it.to.IsZero() {
			out = append(out, it)
		}
	}
	return out
}

// amend draws an amendment of one to three changes after the latest; a
// refused one (the last item removed, a date past the end) changes
// nothing, in the subscription or the model.
func (w *bpWorld) amend(rt *rapid.T) {
	rt.Helper()
	eff := w.last.AddDays(rapid.IntRange(0, 60).Draw(rt, "effective in"))
	var changes []ChangeInput
	var apply []func()
	removed := map[uuid.UUID]bool{}
	for range rapid.IntRange(1, 3).Draw(rt, "changes") {
		live := w.inForce()
		switch kind := rapid.IntRange(0, 2).Draw(rt, "kind"); {
		case kind == 0 || len(live) == 0:
			in, it := bpDrawItem(rt, eff)
			changes = append(changes, ChangeInput{Type: "add_item", ProductID: in.ProductID, ChargeID: in.ChargeID, Quantity: in.Quantity, UnitPrice: in.UnitPrice})
			apply = append(apply, func() { w.items = append(w.items, it) })
		case kind == 1:
			it := rapid.SampledFrom(live).Draw(rt, "removed")
			if removed[it.id] {
				continue
			}
			removed[it.id] = true
			changes = append(changes, fxRemove(it.id))
			apply = append(apply, func() { it.to = eff })
		default:
			it := rapid.SampledFrom(live).Draw(rt, "changed")
			if removed[it.id] {
				continue
			}
			q := rapid.IntRange(1, 5).Draw(rt, "new quantity")
			changes = append(changes, fxQty(it.id, int64(q)))
			apply = append(apply, func() { it.qty = append(it.qty, QuantityChange{From: eff, Quantity: q}) })
		}
	}
	if len(changes) == 0 {
		return
	}
	events, err := w.sub.Amend(AmendSubscription{EffectiveDate: eff, Changes: changes, NewID: w.ids}, w.catalog, fxActor, fxAt(eff.String()))
	if err != nil {
		return
	}
	for _, e := range events {
		w.sub.Apply(e)
	}
	for _, f := range apply {
		f()
	}
	w.nameItems()
	w.last = eff
}

// cancel draws a cancellation on a date on or after the latest change.
func (w *bpWorld) cancel(rt *rapid.T) {
	rt.Helper()
	date := w.last.AddDays(rapid.IntRange(0, 120).Draw(rt, "cancel in"))
	events, err := w.sub.Cancel(CancelSubscription{Policy: "specific_date", Date: date}, fxActor, fxAt(w.last.String()))
	if err != nil {
		return
	}
	for _, e := range events {
		w.sub.Apply(e)
	}
	w.end = date
}

// run bills up to and including target and checks the properties.
func (w *bpWorld) run(rt *rapid.T, target Date) {
	rt.Helper()
	lines := NewLines(Billable{Subscription: w.sub}, w.billed, target, w.ids)
	w.billed = append(w.billed, lines...)
	if again := NewLines(Billable{Subscription: w.sub}, w.billed, target, w.ids); len(again) != 0 {
		rt.Fatalf("(c) billing again at %s bills %d lines: %v", target, len(again), bpLines(again))
	}
	for _, it := range w.items {
		w.checkItem(rt, it, target)
	}
}

// checkItem checks (a) and (b) for one item, over every service period
// begun by target and the one after.
func (w *bpWorld) checkItem(rt *rapid.T, it *bpItem, target Date) {
	rt.Helper()
	start := w.sub.StartDate
	var mine []InvoiceLine
	for _, l := range w.billed {
		if l.ItemID != it.id {
			continue
		}
		if l.ServiceFrom.After(target) {
			rt.Fatalf("(b) item %s: a line of a service period from %s, after the target %s", it.id, l.ServiceFrom, target)
		}
		mine = append(mine, l)
	}
	for k := 0; ; k++ {
		p := Period{From: start.AddMonths(k * it.months), To: start.AddMonths((k + 1) * it.months)}
		due := !p.From.After(target)
		exact, billed, n := decimal.Zero, decimal.Zero, 0
		for d := p.From; d.Before(p.To); d = d.AddDays(1) {
			q := int64(0)
			if due {
				q = it.qtyOn(d, w.end)
			}
			if net := bpNetOn(mine, d); net != q {
				rt.Fatalf("(b) item %s on %s: billed %d net, due %d (target %s)\n%s", it.id, d, net, q, target, bpLines(mine))
			}
			exact = exact.Add(it.price.Mul(decimal.NewFromInt(q)))
		}
		exact = exact.DivRound(decimal.NewFromInt(int64(p.Days())), 20)
		for _, l := range mine {
			if l.ServiceFrom == p.From {
				billed, n = billed.Add(l.Amount), n+1
			}
		}
		tolerance := decimal.New(int64(n), -2)
		if billed.Sub(exact).Abs().GreaterThan(tolerance) {
			rt.Fatalf("(a) item %s period %s..%s: billed %s in %d lines, exactly due %s (target %s)\n%s",
				it.id, p.From, p.To, billed, n, exact, target, bpLines(mine))
		}
		if !due {
			return
		}
	}
}

// bpNetOn is the quantity of lines billed on day d, net of credits.
func bpNetOn(lines []InvoiceLine, d Date) int64 {
	var net int64
	for _, l := range lines {
		if !(Period{From: l.PeriodFrom, To: l.PeriodTo}).Contains(d) {
			continue
		}
		if l.Type == LineCredit {
			net -= l.Quantity.IntPart()
		} else {
			net += l.Quantity.IntPart()
		}
	}
	return net
}

func bpLines(lines []InvoiceLine) string {
	out := ""
	for _, l := range lines {
		out += fmt.Sprintf("  %s %s service %s, %s..%s %s × %s × %s = %s\n", l.Type, l.ItemID, l.ServiceFrom,
			l.PeriodFrom, l.PeriodTo, l.Quantity, l.UnitPrice, l.ProrationFactor, l.Amount)
	}
	return out
}
