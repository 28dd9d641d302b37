package projections

import (
	"testing"

	"ledger/domain"
	"ledger/internal/pgtest"
)

// BenchmarkGetSubscription measures what one snapshot costs a read: the
// subscription of three items read on the pool (its row and its items by
// two statements, each on a snapshot of its own, as before) and in a
// REPEATABLE READ READ ONLY transaction (BEGIN and COMMIT around them), by
// one client and by as many as GOMAXPROCS × 4.
//
//	go test ./projections -run '^$' -bench GetSubscription -count 5
func BenchmarkGetSubscription(b *testing.B) {
	pool := pgtest.NewDatabase(b, 16)
	if err := Setup(b.Context(), pool, subsProjections); err != nil {
		b.Fatal(err)
	}
	w := &subsWorld{pool: pool, versions: map[string]uint64{}}
	tn := w.tenant(b, 1)
	a := w.account(b, tn, subsID(11), "Alpha", "EUR", subsTenantUser)
	s := w.subscribe(b, tn, a, subsID(31), subsTenantUser, subsAt("2025-01-01"), "2025-01-01", domain.TermInput{Type: "evergreen"},
		subsSeat, 3, subsSupport, 1, subsPlatform, 1)
	w.flush(b)
	day := subsDay("2025-03-01")
	read := func(db Querier) (SubscriptionView, error) {
		return GetSubscription(b.Context(), db, tn.id, Scope{All: true}, s.ID, day)
	}
	ways := []struct {
		name string
		get  func() (SubscriptionView, error)
	}{
		{"pool", func() (SubscriptionView, error) { return read(pool) }},
		{"snapshot", func() (SubscriptionView, error) { return Snapshot(b.Context(), pool, read) }},
	}
	for _, way := range ways {
		b.Run(way.name, func(b *testing.B) {
			for b.Loop() {
				if v, err := way.get(); err != nil || len(v.Items) != 3 {
					b.Fatalf("read %+v: %v", v, err)
				}
			}
		})
		b.Run(way.name+"-parallel", func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if v, err := way.get(); err != nil || len(v.Items) != 3 {
						b.Errorf("read %+v: %v", v, err)
						return
					}
				}
			})
		})
	}
}
