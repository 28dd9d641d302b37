package seed

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
)

// activity amends, cancels and adds subscriptions of t through the
// command layer, each active subscription by its chances for the month.
func (s *seeder) activity(ctx context.Context, rng *rand.Rand, t *tenant) error {
	active := len(t.subs)
	for range int(float64(active)*amendChance + rng.Float64()) {
		if err := s.amend(ctx, rng, t); err != nil {
			return err
		}
	}
	for range int(float64(active)*subscribeChance + rng.Float64()) {
		if err := s.subscribe(ctx, rng, t); err != nil {
			return err
		}
	}
	for range int(float64(active)*cancelChance + rng.Float64()) {
		if err := s.cancel(ctx, rng, t); err != nil {
			return err
		}
	}
	return nil
}

// actingOn returns who acts on sub: whoever created it, or the tenant's
// admin.
func actingOn(rng *rand.Rand, t *tenant, sub *subscription) commands.Request {
	if rng.IntN(4) == 0 {
		return t.admin
	}
	return sub.by
}

func (s *seeder) amend(ctx context.Context, rng *rand.Rand, t *tenant) error {
	if len(t.subs) == 0 {
		return nil
	}
	sub := t.subs[rng.IntN(len(t.subs))]
	seats := 1 + (sub.seats+int64(rng.IntN(49)))%50 // any of 1..50 but the current
	_, err := s.svc.AmendSubscription(ctx, actingOn(rng, t, sub), sub.id, commands.AmendSubscription{
		EffectiveDate: domain.DateOf(s.clock.Now()),
		Changes:       []commands.Change{{Type: "change_quantity", ItemID: sub.seat, Quantity: decimal.NewFromInt(seats)}},
	})
	if err != nil {
		return fmt.Errorf("seed amendment: %w", err)
	}
	sub.seats = seats
	s.count(t, 1, false)
	return nil
}

func (s *seeder) cancel(ctx context.Context, rng *rand.Rand, t *tenant) error {
	if len(t.subs) == 0 {
		return nil
	}
	i := rng.IntN(len(t.subs))
	sub := t.subs[i]
	_, err := s.svc.CancelSubscription(ctx, actingOn(rng, t, sub), sub.id, commands.CancelSubscription{Policy: "end_of_term", Reason: "seeded"})
	if err != nil {
		return fmt.Errorf("seed cancel: %w", err)
	}
	t.subs[i] = t.subs[len(t.subs)-1]
	t.subs = t.subs[:len(t.subs)-1]
	s.count(t, 1, false)
	return nil
}

// subscribe adds a subscription to the account of an active one.
func (s *seeder) subscribe(ctx context.Context, rng *rand.Rand, t *tenant) error {
	if len(t.subs) == 0 {
		return nil
	}
	of := t.subs[rng.IntN(len(t.subs))]
	by := actingOn(rng, t, of)
	cmd := subscriptionOrder(rng, t, s.clock.Now())
	cmd.AccountID = of.account
	out, err := s.svc.CreateSubscription(ctx, by, cmd)
	if err != nil {
		return fmt.Errorf("seed subscription: %w", err)
	}
	sub := out.State
	t.subs = append(t.subs, &subscription{id: sub.ID, account: sub.AccountID, seat: sub.Items[0].ID, storage: sub.Items[1].ID,
		start: sub.StartDate, end: sub.EndDate(), seats: int64(sub.Items[0].Quantity), by: by})
	t.created++
	s.count(t, 1, false)
	return nil
}

// usagePerSubscription is about how many records a usage command records
// on each subscription it names.
const usagePerSubscription = 400

// usageFloor is the fewest records a usage command records before the
// last month: smaller amounts wait until more is owed.
const usageFloor = 100

// usage records what t owes for the month, rate records per active
// subscription, through the command layer, UsageBatch records a command.
func (s *seeder) usage(ctx context.Context, rng *rand.Rand, t *tenant, rate float64, last bool) error {
	t.usageOwed += rate * float64(len(t.subs))
	for len(t.subs) > 0 && t.usageOwed >= 1 {
		n := min(int(t.usageOwed), s.shape.UsageBatch)
		if n < min(usageFloor, s.shape.UsageBatch) && !last {
			return nil
		}
		if err := s.recordUsage(ctx, rng, t, n); err != nil {
			return err
		}
		t.usageOwed -= float64(n)
	}
	return nil
}

// recordUsage records n usage records on a few of t's subscriptions, in
// one command of one of their actors, each in the last three days.
func (s *seeder) recordUsage(ctx context.Context, rng *rand.Rand, t *tenant, n int) error {
	subs := make([]*subscription, min(len(t.subs), 1+n/usagePerSubscription))
	for i := range subs {
		subs[i] = t.subs[rng.IntN(len(t.subs))]
	}
	by := subs[0].by
	if by.Principal.Type == domain.ActorPartnerUser {
		subs = subs[:1] // a partner's operator records on its own subscriptions
	}
	now := s.clock.Now()
	records := make([]commands.UsageRecord, n)
	for r := range records {
		sub := subs[r%len(subs)]
		records[r] = commands.UsageRecord{ID: uuid.New(), SubscriptionID: sub.id, ItemID: sub.storage,
			Quantity: decimal.New(int64(1+rng.IntN(1000)), -2), OccurredAt: usageTime(rng, sub, now)}
	}
	out, err := s.svc.RecordUsage(ctx, by, commands.RecordUsage{Records: records})
	if err != nil {
		return fmt.Errorf("seed usage: %w", err)
	}
	s.count(t, out.Accepted, false)
	return nil
}

// usageTime is an instant of the three days before now, not before sub
// started.
func usageTime(rng *rand.Rand, sub *subscription, now time.Time) time.Time {
	from := now.Add(-72 * time.Hour)
	if start := sub.start.Time(); start.After(from) {
		from = start
	}
	if !from.Before(now) {
		return now
	}
	return from.Add(time.Duration(rng.Int64N(int64(now.Sub(from)))))
}
