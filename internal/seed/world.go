package seed

import (
	"math"
	"math/rand/v2"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
)

// Chances, per active subscription and month, of the activity the command
// layer writes.
const (
	amendChance     = 0.010
	cancelChance    = 0.003
	subscribeChance = 0.005
	activityChance  = amendChance + cancelChance + subscribeChance
)

// world is the plan of the seeded world, and then its state as written.
type world struct {
	tenants     []*tenant
	partners    []*partner
	subsPerAcct int
	// opened[e] is how many accounts open in month e, over all tenants.
	opened []int64
}

// tenant is a seeded tenant: its plan, who acts in it and what it holds.
// Only the worker that holds it in a month touches it.
type tenant struct {
	index    int
	accounts int
	// opens[e] is how many of its accounts open in month e.
	opens  []int
	grants []*grant

	id       uuid.UUID
	version  uint64 // of its stream, on which its set-based appends are conditioned
	admin    commands.Request
	adminKey string
	catalog  catalog

	accountIDs []uuid.UUID
	subs       []*subscription // active
	created    int             // subscriptions created
	events     int64
	usageOwed  float64 // usage records due and not yet written
}

// partner is a seeded partner with its admin and an operator.
type partner struct {
	index       int
	id          uuid.UUID
	admin       domain.Principal
	adminKey    string
	operator    domain.Principal
	operatorKey string
}

// grant is a partner's access to a tenant: to all its accounts, as an
// operator, or, as an admin, to the accounts the partner opens itself.
type grant struct {
	partner *partner
	all     bool
	state   *domain.PartnerAccess
	version uint64
	opened  []uuid.UUID // accounts the partner opened under it
}

// subscription is an active subscription and who acts on it.
type subscription struct {
	id, account   uuid.UUID
	seat, storage uuid.UUID   // item ids
	start, end    domain.Date // end is zero for a subscription that does not end
	seats         int64
	by            commands.Request
}

// prune drops t's subscriptions that end before until: they take no more
// usage or changes.
func (t *tenant) prune(until domain.Date) {
	kept := t.subs[:0]
	for _, sub := range t.subs {
		if sub.end.IsZero() || until.Before(sub.end) {
			kept = append(kept, sub)
		}
	}
	t.subs = kept
}

// planWorld sizes every tenant (a Zipf law over the accounts), spreads
// each tenant's accounts over the months, and grants every partner access
// to 1 to 10 tenants, the larger the likelier.
func planWorld(rng *rand.Rand, shape Shape, epochs int) *world {
	w := &world{subsPerAcct: shape.SubscriptionsPerAcct, opened: make([]int64, epochs)}
	for i, n := range zipfSplit(shape.Accounts, shape.Tenants) {
		t := &tenant{index: i, accounts: n, opens: spread(rng, n, epochs)}
		for e, k := range t.opens {
			w.opened[e] += int64(k)
		}
		w.tenants = append(w.tenants, t)
	}
	for p := range shape.Partners {
		pt := &partner{index: p}
		w.partners = append(w.partners, pt)
		for _, t := range pickTenants(rng, w.tenants, 1+rng.IntN(10)) {
			t.grants = append(t.grants, &grant{partner: pt, all: rng.IntN(2) == 0})
		}
	}
	return w
}

// zipfSplit splits total into n parts, part i weighing 1/(i+1), each at
// least 1 (total >= n), by largest remainder.
func zipfSplit(total, n int) []int {
	weights, sum := make([]float64, n), 0.0
	for i := range weights {
		weights[i] = 1 / float64(i+1)
		sum += weights[i]
	}
	parts, given := make([]int, n), 0
	rest := make([]float64, n)
	for i, w := range weights {
		share := float64(total-n) * w / sum
		parts[i] = 1 + int(math.Floor(share))
		rest[i] = share - math.Floor(share)
		given += parts[i]
	}
	for ; given < total; given++ {
		best := 0
		for i := range rest {
			if rest[i] > rest[best] {
				best = i
			}
		}
		parts[best]++
		rest[best] = -1
	}
	return parts
}

// spread spreads n accounts evenly over epochs months, from a random
// offset, so that a tenant of one account opens it in a random month.
func spread(rng *rand.Rand, n, epochs int) []int {
	out := make([]int, epochs)
	offset := rng.Float64()
	for j := range n {
		out[int((float64(j)+offset)*float64(epochs)/float64(n))]++
	}
	return out
}

// pickTenants picks k distinct tenants (at most all), each drawn in
// proportion to its accounts.
func pickTenants(rng *rand.Rand, tenants []*tenant, k int) []*tenant {
	k = min(k, len(tenants))
	total := 0
	for _, t := range tenants {
		total += t.accounts
	}
	picked := map[*tenant]bool{}
	var out []*tenant
	for attempts := 0; len(out) < k && attempts < 100*k; attempts++ {
		r := rng.IntN(total)
		for _, t := range tenants {
			if r -= t.accounts; r < 0 {
				if !picked[t] {
					picked[t] = true
					out = append(out, t)
				}
				break
			}
		}
	}
	for _, t := range tenants {
		if len(out) == k {
			break
		}
		if !picked[t] {
			picked[t] = true
			out = append(out, t)
		}
	}
	return out
}

// setupEvents is about how many events the setup writes: each tenant
// with its admin and two products with their SKUs, each partner with its
// admin and an operator, and the grants.
func (w *world) setupEvents() int {
	grants := 0
	for _, t := range w.tenants {
		grants += len(t.grants)
	}
	return 6*len(w.tenants) + 3*len(w.partners) + grants
}

// activeSubs is how many subscriptions are planned to be active in month
// e: those of the accounts opened until then.
func (w *world) activeSubs(e int) int64 {
	var n int64
	for m := 0; m <= e; m++ {
		n += w.opened[m]
	}
	return n * int64(w.subsPerAcct)
}

// structuralEvents is about how many events other than usage month e
// writes: the accounts opening with their subscriptions, and activity.
func (w *world) structuralEvents(e int) int64 {
	activity := 0.0
	if e > 0 {
		activity = activityChance * float64(w.activeSubs(e-1))
	}
	return w.opened[e]*int64(1+w.subsPerAcct) + int64(activity)
}
