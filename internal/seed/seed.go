// Package seed writes a realistic event log for tests and benchmarks: many
// tenants of skewed sizes, each with a catalog and accounts; partners
// granted on several tenants; subscriptions created, amended and
// cancelled by partner and tenant users over years; and usage, the bulk.
//
// The log is written on a simulated clock that advances month by month
// over Shape.Years, so events' occurred_at spread over years in log order.
// Tenants, catalogs, partners, users, grants, amendments, cancellations,
// later subscriptions and usage go through the command layer, as requests
// would. Accounts, and the subscriptions an account opens with, are
// decided by the domain in memory and appended set-based, many streams in
// one append, conditioned on the tenant, catalog and grant streams they
// were decided on (bulk.go).
package seed

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
)

// Shape sizes the seeded world; events beyond it are usage.
type Shape struct {
	// Tenants is how many tenants; their sizes follow a Zipf law.
	Tenants int
	// Accounts is how many accounts over all tenants.
	Accounts int
	// Partners is how many partners; each is granted access to 1 to 10
	// tenants (at most Tenants), chosen with the larger more likely.
	Partners int
	// SubscriptionsPerAcct is how many subscriptions an account opens with.
	SubscriptionsPerAcct int
	// UsageBatch is how many usage records one command records, at most 1000.
	UsageBatch int
	// Years is how long the simulated history lasts, ending now.
	Years int
	// Workers is how many tenants are worked on at once.
	Workers int
}

// DefaultShape is a world of many tenants, a few large and most small.
var DefaultShape = Shape{Tenants: 1000, Accounts: 100_000, Partners: 300, SubscriptionsPerAcct: 2,
	UsageBatch: 1000, Years: 3, Workers: 4}

// Validate reports the first field out of range.
func (s Shape) Validate() error {
	switch {
	case s.Tenants < 1:
		return fmt.Errorf("tenants %d: must be at least 1", s.Tenants)
	case s.Accounts < s.Tenants:
		return fmt.Errorf("accounts %d: must be at least one per tenant (%d)", s.Accounts, s.Tenants)
	case s.Partners < 0:
		return fmt.Errorf("partners %d: must be at least 0", s.Partners)
	case s.SubscriptionsPerAcct < 1:
		return fmt.Errorf("subscriptions %d: must be at least 1", s.SubscriptionsPerAcct)
	case s.UsageBatch < 1 || s.UsageBatch > 1000:
		return fmt.Errorf("usage batch %d: must be 1 to 1000", s.UsageBatch)
	case s.Years < 1:
		return fmt.Errorf("years %d: must be at least 1", s.Years)
	case s.Workers < 1:
		return fmt.Errorf("workers %d: must be at least 1", s.Workers)
	}
	return nil
}

// Result is what Run wrote.
type Result struct {
	// Events is how many events were appended.
	Events int64
	// Tenants are the tenants seeded, the largest (by events) first.
	Tenants []TenantSummary
	// Partners, Accounts and Subscriptions count what was created.
	Partners, Accounts, Subscriptions int
	// Bypassed is how many events were appended set-based, not through
	// the command layer.
	Bypassed int64
	// From and To bound the events' occurred_at.
	From, To time.Time
	// Keys are an API key for every tenant admin, and for every partner
	// user on every tenant its partner is granted.
	Keys Keys
}

// TenantSummary is one seeded tenant and how many events it holds.
type TenantSummary struct {
	ID       string
	Accounts int
	Events   int64
}

// Run writes at least events events to store, telling progress how many
// are written. The history it writes is billable: subscriptions started
// on every day of the month over the years, evergreen and termed, with
// monthly, yearly, one-time and usage charges, amended and cancelled, with
// usage.
func Run(ctx context.Context, store eventstore.Store, events int, shape Shape, progress func(done, total int64)) (Result, error) {
	if err := shape.Validate(); err != nil {
		return Result{}, fmt.Errorf("seed: %w", err)
	}
	if events < 1 {
		return Result{}, errors.New("seed: events must be at least 1")
	}
	s := newSeeder(store, int64(events), shape, progress)
	err := s.run(ctx)
	return s.result(), err
}

// seeder holds the world as it is written.
type seeder struct {
	store  eventstore.Store
	svc    *commands.Service
	clock  *simClock
	shape  Shape
	target int64
	world  *world
	epochs int

	mu       sync.Mutex // guards done, bypassed and progress calls
	done     int64
	bypassed int64
	progress func(done, total int64)
}

func newSeeder(store eventstore.Store, target int64, shape Shape, progress func(done, total int64)) *seeder {
	clock := newSimClock(historyEnd().AddDate(-shape.Years, 0, 0))
	s := &seeder{store: store, clock: clock, shape: shape, target: target, epochs: 12 * shape.Years, progress: progress}
	s.svc = commands.New(store, commands.WithClock(clock.Now))
	s.world = planWorld(rand.New(rand.NewPCG(1, 2)), shape, s.epochs)
	return s
}

// count records n events written, of tenant t when t is not nil, and
// moves the clock on.
func (s *seeder) count(t *tenant, n int, bypassed bool) {
	if t != nil {
		t.events += int64(n)
	}
	s.clock.advance(int64(n))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done += int64(n)
	if bypassed {
		s.bypassed += int64(n)
	}
	if s.progress != nil {
		s.progress(min(s.done, s.target), s.target)
	}
}

func (s *seeder) written() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

// run writes the setup in the first week of simulated time, then the
// history month by month: accounts opening, activity and usage.
func (s *seeder) run(ctx context.Context) error {
	setupEnd := s.clock.start.AddDate(0, 0, 7)
	s.clock.window(setupEnd, int64(s.world.setupEvents()))
	if err := s.setup(ctx); err != nil {
		return err
	}
	span := historyEnd().Sub(setupEnd)
	for e := range s.epochs {
		to := setupEnd.Add(span * time.Duration(e+1) / time.Duration(s.epochs))
		if err := s.epoch(ctx, e, to); err != nil {
			return err
		}
	}
	return s.topUp(ctx)
}

// epoch writes month e, which ends at to: every tenant's accounts that
// open in it, its activity and its share of the usage.
func (s *seeder) epoch(ctx context.Context, e int, to time.Time) error {
	active := 0
	for _, t := range s.world.tenants {
		t.prune(domain.DateOf(to).AddDays(1))
		active += len(t.subs)
	}
	usage := s.usageBudget(e)
	s.clock.window(to, s.world.structuralEvents(e)+usage)
	rate := float64(usage) / float64(max(active+int(s.world.opened[e])*s.shape.SubscriptionsPerAcct, 1))
	return forEach(ctx, s.shape.Workers, s.world.tenants, func(ctx context.Context, t *tenant) error {
		rng := rand.New(rand.NewPCG(uint64(e), uint64(t.index)))
		if err := s.open(ctx, rng, t, t.opens[e]); err != nil {
			return err
		}
		if err := s.activity(ctx, rng, t); err != nil {
			return err
		}
		return s.usage(ctx, rng, t, rate, e == s.epochs-1)
	})
}

// topUp records usage on the largest tenants' subscriptions until the
// log holds the events asked.
func (s *seeder) topUp(ctx context.Context) error {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, t := range s.world.tenants {
		for len(t.subs) > 0 {
			left := s.target - s.written()
			if left <= 0 {
				return nil
			}
			if err := s.recordUsage(ctx, rng, t, int(min(left, int64(s.shape.UsageBatch)))); err != nil {
				return err
			}
		}
	}
	return nil
}

// usageBudget is the usage to write in month e: what the target leaves
// after the structure still to come, shared by the months left in
// proportion to their active subscriptions, so that a subscription's
// usage per month stays about the same over the years.
func (s *seeder) usageBudget(e int) int64 {
	left := s.target - s.written()
	active, activeLeft := s.world.activeSubs(e), int64(0)
	structure := int64(0)
	for m := e; m < s.epochs; m++ {
		activeLeft += s.world.activeSubs(m)
		structure += s.world.structuralEvents(m)
	}
	if left <= structure || activeLeft == 0 {
		return 0
	}
	return (left - structure) * active / activeLeft
}

// forEach runs fn on every item, workers at a time, and returns the first
// error, after every started fn has returned.
func forEach[T any](ctx context.Context, workers int, items []T, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan T)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for item := range next {
				if err := fn(ctx, item); err != nil {
					cancel(err)
				}
			}
		})
	}
	for _, item := range items {
		if ctx.Err() != nil {
			break
		}
		next <- item
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}
