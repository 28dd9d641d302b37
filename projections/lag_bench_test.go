package projections_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/eventstore/postgres"
	"ledger/internal/pgtest"
	"ledger/projections"
)

// BenchmarkAppendToVisible puts a steady load of subscription commands on
// the ledger, with every projection running, and measures how long each
// takes from the command's return to being visible in the subscriptions
// read model (its checkpoint, committed with its rows, passing the
// command's position). It reports p50, p99 and max in milliseconds.
func BenchmarkAppendToVisible(b *testing.B) {
	const rate = 200 // commands per second
	pool := pgtest.NewDatabase(b, 24)
	ctx := context.Background()
	if err := postgres.Migrate(ctx, pool); err != nil {
		b.Fatal(err)
	}
	store := postgres.New(pool)
	defer store.Close()
	if err := projections.Setup(ctx, pool, projections.All()); err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runner := projections.NewRunner(pool, store, slog.New(slog.NewTextHandler(io.Discard, nil)), projections.All()...)
	go func() { _ = runner.Run(runCtx) }()

	svc := commands.New(store)
	admin, account, plan := lagWorld(b, svc)
	var mu sync.Mutex
	var pending []pendingWrite
	var lat []time.Duration
	done := make(chan struct{})
	go pollCheckpoint(runCtx, b, pool, &mu, &pending, &lat, done)

	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		<-tick.C
		out, err := svc.CreateSubscription(ctx, admin, commands.CreateSubscription{
			AccountID: account, StartDate: domain.NewDate(2026, 11, 1), Term: commands.Term{Type: "evergreen"},
			Items: []commands.SubscriptionItem{{ProductID: plan.ID, ChargeID: plan.Charges[0].ID, Quantity: decimal.NewFromInt(2)}},
		})
		if err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		pending = append(pending, pendingWrite{out.Position, time.Now()})
		mu.Unlock()
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		mu.Lock()
		left := len(pending)
		mu.Unlock()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d writes still not visible 30s after the load ended", left)
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	<-done
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}

type pendingWrite struct {
	at    eventstore.Position
	since time.Time
}

// pollCheckpoint reads the subscriptions checkpoint every millisecond and
// records the latency of every write it has passed, until ctx ends.
func pollCheckpoint(ctx context.Context, b *testing.B, pool *pgxpool.Pool, mu *sync.Mutex, pending *[]pendingWrite, lat *[]time.Duration, done chan<- struct{}) {
	defer close(done)
	for ctx.Err() == nil {
		var at int64
		err := pool.QueryRow(ctx, `SELECT position FROM readmodel.checkpoints WHERE name = 'subscriptions'`).Scan(&at)
		now := time.Now()
		if err == nil {
			mu.Lock()
			kept := (*pending)[:0]
			for _, w := range *pending {
				if w.at <= eventstore.Position(at) {
					*lat = append(*lat, now.Sub(w.since))
				} else {
					kept = append(kept, w)
				}
			}
			*pending = kept
			mu.Unlock()
		} else if ctx.Err() == nil {
			b.Errorf("read checkpoint: %v", err)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func lagWorld(b *testing.B, svc *commands.Service) (commands.Request, uuid.UUID, *domain.Product) {
	b.Helper()
	ctx := context.Background()
	tb, err := svc.CreateTenant(ctx, commands.Request{Principal: domain.Principal{Type: domain.ActorOperator, ID: uuid.New()}}, commands.CreateTenant{Name: "Lag"})
	if err != nil {
		b.Fatal(err)
	}
	admin := commands.Request{TenantID: tb.ID, Principal: domain.Principal{Type: domain.ActorTenantUser, ID: tb.AdminUserID, TenantID: tb.ID, Role: domain.RoleTenantAdmin}}
	acc, err := svc.CreateAccount(ctx, admin, commands.CreateAccount{Name: "A", Currency: "EUR", Billing: commands.Billing{ContactName: "A", Email: "a@example.com"}})
	if err != nil {
		b.Fatal(err)
	}
	p, err := svc.CreateProduct(ctx, admin, commands.CreateProduct{Name: "P", SKU: "P", Charges: []commands.Charge{
		{Name: "Seat", Type: "recurring", Price: "10.00", Currency: "EUR", BillingPeriod: "month"}}})
	if err != nil {
		b.Fatal(err)
	}
	return admin, acc.State.ID, p.State
}
