package projections

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"

	"ledger/domain"
)

// subsWantScheduled is the scheduled changes of s on d as the
// representation gives them, worked out apart from scheduledViewOf.
func subsWantScheduled(s *domain.Subscription, d domain.Date) []ScheduledChangeView {
	out := []ScheduledChangeView{}
	for _, c := range s.Scheduled {
		if !c.EffectiveDate.After(d) {
			continue
		}
		v := ScheduledChangeView{ID: c.ID, EffectiveDate: c.EffectiveDate, CreatedBy: viewActor(c.CreatedBy), Changes: []ChangeView{}}
		for _, ch := range c.Changes {
			cv := ChangeView{Type: ch.Type, ItemID: ch.ItemID}
			if ch.Item != nil {
				product, charge, q := ch.Item.ProductID, ch.Item.ChargeID, ch.Item.Quantity
				price := ch.Item.UnitPrice.StringFixed(max(s.Currency.MinorUnits(), -ch.Item.UnitPrice.Exponent()))
				cv.ItemID, cv.ProductID, cv.ChargeID, cv.Quantity, cv.UnitPrice = ch.Item.ID, &product, &charge, &q, &price
			}
			if ch.Type == domain.ChangeQuantity {
				q := ch.Quantity
				cv.Quantity = &q
			}
			v.Changes = append(v.Changes, cv)
		}
		out = append(out, v)
	}
	return out
}

// subsSchedCase is a scenario of scheduled changes on one subscription.
type subsSchedCase struct {
	w  *subsWorld
	tn subsTenant
	s  *domain.Subscription
}

func (c *subsSchedCase) amend(t *testing.T, today, eff string, changes ...domain.ChangeInput) {
	t.Helper()
	events, err := c.s.Amend(domain.AmendSubscription{EffectiveDate: subsDay(eff), Changes: changes}, c.tn.catalog, subsTenantUser, subsAt(today))
	c.w.apply(t, subsStream(c.tn, c.s), c.s, subsMust(t, events, err))
}

// withdraw withdraws the scheduled change made by the amendment at
// version.
func (c *subsSchedCase) withdraw(t *testing.T, today string, version uint64) {
	t.Helper()
	events, err := c.s.WithdrawScheduledChange(domain.ScheduledChangeID(c.s.ID, version), subsPartnerP1, subsAt(today))
	c.w.apply(t, subsStream(c.tn, c.s), c.s, subsMust(t, events, err))
}

func (c *subsSchedCase) cancel(t *testing.T, today string, cmd domain.CancelSubscription) {
	t.Helper()
	events, err := c.s.Cancel(cmd, subsTenantUser, subsAt(today))
	c.w.apply(t, subsStream(c.tn, c.s), c.s, subsMust(t, events, err))
}

func subsQty(item uuid.UUID, q int64) domain.ChangeInput {
	return domain.ChangeInput{Type: "change_quantity", ItemID: item, Quantity: decimal.NewFromInt(q)}
}

func subsAdd(charge uuid.UUID, q int64) domain.ChangeInput {
	return domain.ChangeInput{Type: "add_item", ProductID: subsProduct, ChargeID: charge, Quantity: decimal.NewFromInt(q)}
}

// TestScheduledChangesWithdrawn withdraws scheduled changes of each kind
// and checks that the read model says what the domain says on every date
// around them, whether the events come one batch each or all in one, and
// that the tables are those a rebuild makes.
func TestScheduledChangesWithdrawn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		start string
		steps func(t *testing.T, c *subsSchedCase, seat, calls uuid.UUID)
	}{
		{"an added item", "2025-01-01", func(t *testing.T, c *subsSchedCase, seat, _ uuid.UUID) {
			c.amend(t, "2025-02-01", "2025-03-01", subsAdd(subsSupport, 2), subsQty(seat, 4)) // v2
			c.withdraw(t, "2025-02-02", 2)
		}},
		{"a removal", "2025-01-01", func(t *testing.T, c *subsSchedCase, _, calls uuid.UUID) {
			c.amend(t, "2025-02-01", "2025-03-01", domain.ChangeInput{Type: "remove_item", ItemID: calls})
			c.withdraw(t, "2025-02-02", 2)
		}},
		{"the first of two on one date", "2025-01-01", func(t *testing.T, c *subsSchedCase, seat, _ uuid.UUID) {
			c.amend(t, "2025-02-01", "2025-03-01", subsQty(seat, 4), subsQty(seat, 5)) // v2
			c.amend(t, "2025-02-01", "2025-03-01", subsQty(seat, 6))                   // v3
			c.withdraw(t, "2025-02-02", 2)
		}},
		{"the second of two on one date", "2025-01-01", func(t *testing.T, c *subsSchedCase, seat, _ uuid.UUID) {
			c.amend(t, "2025-02-01", "2025-03-01", subsQty(seat, 4))
			c.amend(t, "2025-02-01", "2025-03-01", subsQty(seat, 6))
			c.withdraw(t, "2025-02-02", 3)
		}},
		{"the middle of three", "2025-01-01", func(t *testing.T, c *subsSchedCase, seat, _ uuid.UUID) {
			c.amend(t, "2025-02-01", "2025-03-01", subsQty(seat, 4))
			c.amend(t, "2025-02-01", "2025-03-01", subsQty(seat, 6))
			c.amend(t, "2025-02-01", "2025-03-01", subsQty(seat, 8))
			c.withdraw(t, "2025-02-02", 3)
			c.withdraw(t, "2025-02-02", 4)
		}},
		{"an earlier date", "2025-01-01", func(t *testing.T, c *subsSchedCase, seat, _ uuid.UUID) {
			c.amend(t, "2025-02-01", "2025-03-01", subsQty(seat, 4))
			c.amend(t, "2025-02-01", "2025-04-01", subsQty(seat, 6))
			c.withdraw(t, "2025-02-02", 2)
		}},
		{"a change of the start date", "2025-03-01", func(t *testing.T, c *subsSchedCase, seat, _ uuid.UUID) {
			c.amend(t, "2025-02-01", "2025-03-01", subsQty(seat, 4))
			c.withdraw(t, "2025-02-02", 2)
		}},
		{"of an item a scheduled change added", "2025-01-01", func(t *testing.T, c *subsSchedCase, _, _ uuid.UUID) {
			c.amend(t, "2025-02-01", "2025-03-01", subsAdd(subsSupport, 2))
			c.amend(t, "2025-02-01", "2025-03-01", subsQty(c.s.Items[2].ID, 5))
			c.withdraw(t, "2025-02-02", 3)
		}},
		{"settled, then scheduled again", "2025-01-01", func(t *testing.T, c *subsSchedCase, seat, _ uuid.UUID) {
			c.amend(t, "2025-02-01", "2025-03-01", subsQty(seat, 4))
			c.amend(t, "2025-03-05", "2025-03-05", subsQty(seat, 5))
			c.amend(t, "2025-03-06", "2025-04-01", subsQty(seat, 6))
			c.withdraw(t, "2025-03-07", 4)
		}},
		{"by a cancellation", "2025-01-01", func(t *testing.T, c *subsSchedCase, seat, calls uuid.UUID) {
			c.amend(t, "2025-02-01", "2025-03-01", subsQty(seat, 4))
			c.amend(t, "2025-02-01", "2025-04-01", domain.ChangeInput{Type: "remove_item", ItemID: calls}, subsAdd(subsSetup, 1))
			c.cancel(t, "2025-02-02", domain.CancelSubscription{Policy: "specific_date", Date: subsDay("2025-03-15"), WithdrawScheduled: true})
		}},
	}
	for _, tt := range tests {
		for _, oneByOne := range []bool{true, false} {
			name := tt.name + ", all in one batch"
			if oneByOne {
				name = tt.name + ", one batch each"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				w := subsNewWorld(t)
				c := &subsSchedCase{w: w, tn: w.tenant(t, 1)}
				a := w.account(t, c.tn, subsID(11), "Alpha", "EUR", subsTenantUser)
				c.s = w.subscribe(t, c.tn, a, subsID(31), subsTenantUser, subsAt("2025-01-01"), tt.start,
					domain.TermInput{Type: "evergreen"}, subsSeat, 3, subsCalls, 1)
				tt.steps(t, c, c.s.Items[0].ID, c.s.Items[1].ID)
				sizes := []int{len(w.pending)}
				if oneByOne {
					sizes = slices.Repeat([]int{1}, len(w.pending))
				}
				w.flush(t, sizes...)
				for _, d := range subsDrawDatesOf(c.s) {
					w.checkView(t, c.tn, c.s, d)
				}
				w.checkRebuild(t)
			})
		}
	}
}

// subsDrawDatesOf returns the dates where s changes, with their
// neighbours.
func subsDrawDatesOf(s *domain.Subscription) []domain.Date {
	ds := []domain.Date{subsDay("2025-01-01"), subsDay("2025-02-02"), subsDay("2025-02-28"), subsDay("2025-03-01"),
		subsDay("2025-03-31"), subsDay("2025-04-01"), subsDay("2025-06-01")}
	for _, it := range s.Items {
		ds = append(ds, it.EffectiveFrom, it.EffectiveFrom.AddDays(-1))
	}
	return ds
}

// checkRebuild checks that the projections' tables are those the whole
// log makes applied at once to empty ones, as a rebuild does.
func (w *subsWorld) checkRebuild(t *testing.T) {
	t.Helper()
	err := pgx.BeginFunc(t.Context(), w.pool, func(tx pgx.Tx) error {
		if err := setupSchema(t.Context(), tx, "sched_scratch", subsProjections, false); err != nil {
			return err
		}
		for _, p := range subsProjections {
			if err := p.Apply(t.Context(), tx, "sched_scratch", w.applied); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if live, rebuilt := w.dump(t, LiveSchema), w.dump(t, "sched_scratch"); !reflect.DeepEqual(live, rebuilt) {
		t.Fatalf("live and rebuilt read models differ:\n%v\n%v", live, rebuilt)
	}
}

// TestScheduledWithdrawalsMatchDomain runs random amendments (often
// ahead of their date), withdrawals and cancellations (some withdrawing)
// against a few subscriptions, applies the events in random batches, and
// checks the read model against the domain on the dates around them.
func TestScheduledWithdrawalsMatchDomain(t *testing.T) {
	t.Parallel()
	w := subsNewWorld(t)
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		tn, a, subs := w.drawSubscriptions(rt, n, 2, 60)
		now := subsAt("2025-01-01")
		for range rapid.IntRange(0, 14).Draw(rt, "steps") {
			now = now.Add(time.Duration(rapid.IntRange(0, 10).Draw(rt, "wait")) * 24 * time.Hour)
			s := rapid.SampledFrom(subs).Draw(rt, "subscription")
			events, err := subsDrawScheduledCommand(rt, s, tn, now)
			if err == nil {
				w.apply(rt, subsStream(tn, s), s, events)
			}
		}
		w.flush(rt, rapid.SliceOfN(rapid.IntRange(1, 6), 0, 6).Draw(rt, "batches")...)
		dates := subsDrawDates(rt, subs)
		for _, s := range subs {
			for _, c := range s.Scheduled {
				dates = append(dates, c.EffectiveDate.AddDays(-1), c.EffectiveDate)
			}
		}
		for _, d := range dates {
			w.checkDate(rt, tn, a, subs, d)
		}
	})
}

// subsDrawScheduledCommand decides, on s at now, a withdrawal of one of
// its scheduled changes, a cancellation (withdrawing or not), or an
// amendment, often ahead of its date.
func subsDrawScheduledCommand(rt *rapid.T, s *domain.Subscription, tn subsTenant, now time.Time) ([]domain.Event, error) {
	switch op := rapid.IntRange(0, 9).Draw(rt, "scheduled op"); {
	case op < 3 && len(s.Scheduled) > 0:
		c := rapid.SampledFrom(s.Scheduled).Draw(rt, "withdrawn")
		return s.WithdrawScheduledChange(c.ID, subsPartnerP1, now)
	case op == 3:
		cmd := domain.CancelSubscription{Policy: rapid.SampledFrom([]string{"immediate", "end_of_term", "specific_date"}).Draw(rt, "policy"),
			WithdrawScheduled: rapid.Bool().Draw(rt, "withdraw scheduled")}
		if cmd.Policy == "specific_date" {
			cmd.Date = domain.DateOf(now).AddDays(rapid.IntRange(0, 60).Draw(rt, "date"))
		}
		return s.Cancel(cmd, subsTenantUser, now)
	}
	return subsDrawCommand(rt, s, tn, now)
}
