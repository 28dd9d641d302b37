package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ledger/eventstore"
	"ledger/eventstore/postgres"
	"ledger/internal/pgtest"
)

func benchStore(b *testing.B, conns int32) *postgres.Store {
	b.Helper()
	pool := pgtest.NewDatabase(b, conns)
	if err := postgres.Migrate(context.Background(), pool); err != nil {
		b.Fatalf("migrate: %v", err)
	}
	s := postgres.New(pool)
	b.Cleanup(s.Close)
	return s
}

func benchEvent(b *testing.B, n int) eventstore.EventData {
	b.Helper()
	e, err := eventstore.NewEvent("SubscriptionAmended", map[string]any{
		"subscription_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b", "effective_date": "2026-12-01",
		"changes": []map[string]any{{"type": "change_quantity", "item_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1c", "quantity": n}},
	}, eventstore.Metadata{
		TenantID:      "0193a1b2-0000-7000-8000-000000000001",
		Actor:         eventstore.Actor{Type: "partner_user", ID: "0193a1b2-0000-7000-8000-000000000002", PartnerID: "0193a1b2-0000-7000-8000-000000000003"},
		CorrelationID: "0193a1b2-0000-7000-8000-000000000004", RequestID: "req-0193a1b2", OccurredAt: time.Now().UTC(),
	})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkAppend measures durable single-event appends by concurrent
// writers, each appending to a stream of its own at its exact version.
// One store serves every round: creating a database forces a checkpoint,
// whose writes would disturb the rounds that follow.
func BenchmarkAppend(b *testing.B) {
	s := benchStore(b, 40)
	for _, writers := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			prefix := fmt.Sprintf("bench-%d-%d", writers, time.Now().UnixNano())
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := range writers {
				wg.Go(func() {
					stream := fmt.Sprintf("%s-%d", prefix, w)
					for version := uint64(0); next.Add(1) <= int64(b.N); version++ {
						if _, err := s.Append(context.Background(), eventstore.To(stream, eventstore.Exact(version), benchEvent(b, int(version)))); err != nil {
							b.Errorf("append: %v", err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

// BenchmarkReadAll measures reading the global log from the start in
// batches of 1000.
func BenchmarkReadAll(b *testing.B) {
	const total, batch = 100_000, 1000
	s := benchStore(b, 4)
	events := make([]eventstore.EventData, batch)
	for i := 0; i < total; i += batch {
		for j := range events {
			events[j] = benchEvent(b, i+j)
		}
		if _, err := s.Append(context.Background(), eventstore.To(fmt.Sprintf("seed-%d", i/batch), eventstore.NoStream(), events...)); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	b.ResetTimer()
	read := 0
	for b.Loop() {
		after := eventstore.Position(0)
		for {
			evs, err := s.ReadAll(context.Background(), after, batch)
			if err != nil {
				b.Fatalf("read: %v", err)
			}
			if len(evs) == 0 {
				break
			}
			read += len(evs)
			after = evs[len(evs)-1].Position
		}
	}
	b.ReportMetric(float64(read)/b.Elapsed().Seconds(), "events/s")
}
