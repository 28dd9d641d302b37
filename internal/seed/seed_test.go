package seed_test

import (
	"context"
	"testing"

	"ledger/commands"
	"ledger/eventstore/memory"
	"ledger/internal/seed"
)

func TestSeedWritesAtLeastTheEventsAsked(t *testing.T) {
	t.Parallel()
	store := memory.New()
	shape := seed.Shape{Tenants: 2, PartnersPerTenant: 2, AccountsPerTenant: 5, SubscriptionsPerAcct: 2, UsageBatch: 10}
	var last int64
	res, err := seed.Run(context.Background(), commands.New(store), 2000, shape, func(done, _ int64) { last = done })
	n := res.Events
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	head, err := store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tenants) != shape.Tenants {
		t.Fatalf("seeded tenants %v, want %d", res.Tenants, shape.Tenants)
	}
	if n < 2000 || int64(head) != n || last != 2000 {
		t.Fatalf("seeded %d events, log holds %d, progress ended at %d; want at least 2000, all in the log", n, head, last)
	}
	types := map[string]int{}
	events, err := store.ReadAll(context.Background(), 0, int(n))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		types[e.Type]++
	}
	for _, want := range []string{"SubscriptionCreated", "SubscriptionAmended", "SubscriptionCancelled", "UsageRecorded", "PartnerAccessGranted"} {
		if types[want] == 0 {
			t.Errorf("no %s event in the seeded log: %v", want, types)
		}
	}
}
