package commands_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/eventstore/postgres"
	"ledger/internal/pgtest"
)

// benchLongStream is how many events the long subscription's stream has.
const benchLongStream = 100_000

// benchSubscriptions is a tenant on Postgres with two subscriptions: one
// whose stream has benchLongStream events (amendments appended straight
// to the log, which is not what is measured), and a new one.
type benchSubscriptions struct {
	store     *postgres.Store
	now       time.Time
	tenant    uuid.UUID
	admin     domain.Principal
	long, new uuid.UUID
	items     map[uuid.UUID]uuid.UUID // the item of each subscription
	amended   int64
}

func newBenchSubscriptions(b *testing.B) *benchSubscriptions {
	b.Helper()
	pool := pgtest.NewDatabase(b, 8)
	ctx := context.Background()
	if err := postgres.Migrate(ctx, pool); err != nil {
		b.Fatalf("migrate: %v", err)
	}
	w := &benchSubscriptions{store: postgres.New(pool), now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		items: map[uuid.UUID]uuid.UUID{}}
	b.Cleanup(w.store.Close)
	svc := w.service(false)
	tb, err := svc.CreateTenant(ctx, commands.Request{Principal: operator}, commands.CreateTenant{Name: "Acme"})
	if err != nil {
		b.Fatal(err)
	}
	w.tenant = tb.ID
	w.admin = domain.Principal{Type: domain.ActorTenantUser, ID: tb.AdminUserID, TenantID: tb.ID, Role: domain.RoleTenantAdmin}
	p, err := svc.CreateProduct(ctx, w.req(), commands.CreateProduct{Name: "Pro", SKU: "PRO", Charges: []commands.Charge{
		{Name: "Seat", Type: "recurring", Price: "49.00", Currency: "EUR", BillingPeriod: "month"}}})
	if err != nil {
		b.Fatal(err)
	}
	a, err := svc.CreateAccount(ctx, w.req(), commands.CreateAccount{Name: "Customer", Currency: "EUR",
		Billing: commands.Billing{ContactName: "Ada", Email: "ada@example.com"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, id := range []*uuid.UUID{&w.long, &w.new} {
		sub, err := svc.CreateSubscription(ctx, w.req(), commands.CreateSubscription{
			AccountID: a.State.ID, StartDate: domain.NewDate(2026, 11, 1), Term: commands.Term{Type: "evergreen"},
			Items: []commands.SubscriptionItem{{ProductID: p.State.ID, ChargeID: p.State.Charges[0].ID, Quantity: decimal.NewFromInt(3)}}})
		if err != nil {
			b.Fatal(err)
		}
		*id = sub.State.ID
		w.items[sub.State.ID] = sub.State.Items[0].ID
	}
	w.lengthen(b, a.State.ID)
	return w
}

// lengthen appends amendments to the long subscription's stream until it
// has benchLongStream events.
func (w *benchSubscriptions) lengthen(b *testing.B, account uuid.UUID) {
	b.Helper()
	stream := commands.SubscriptionStream(w.tenant, w.long)
	meta := eventstore.Metadata{TenantID: w.tenant.String(), OccurredAt: w.now,
		Actor: eventstore.Actor{Type: string(domain.ActorTenantUser), ID: w.admin.ID.String()}}
	for version := uint64(1); version < benchLongStream; {
		batch := make([]eventstore.EventData, min(eventstore.MaxAppendEvents, benchLongStream-int(version)))
		for i := range batch {
			name, schema, data, err := domain.MarshalEvent(&domain.SubscriptionAmended{
				SubscriptionID: w.long, AccountID: account, EffectiveDate: domain.DateOf(w.now), AmendedAt: w.now,
				AmendedBy: domain.Actor{Type: domain.ActorTenantUser, ID: w.admin.ID},
				Changes:   []domain.Change{{Type: domain.ChangeQuantity, ItemID: w.items[w.long], Quantity: 4 + i%2}}})
			if err != nil {
				b.Fatal(err)
			}
			batch[i] = eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: name, SchemaVersion: schema, Data: data, Metadata: meta}
		}
		res, err := w.store.Append(context.Background(), eventstore.To(stream, eventstore.Exact(version), batch...))
		if err != nil {
			b.Fatalf("append to %s at %d: %v", stream, version, err)
		}
		version = res.Version
	}
}

func (w *benchSubscriptions) req() commands.Request {
	return commands.Request{Principal: w.admin, TenantID: w.tenant, RequestID: "req-" + uuid.NewString()}
}

// service is a new Service on the log, as a process just started: with the
// snapshot store or without.
func (w *benchSubscriptions) service(snapshots bool) *commands.Service {
	opts := []commands.Option{commands.WithClock(func() time.Time { return w.now })}
	if snapshots {
		opts = append(opts, commands.WithSnapshotStore(w.store.Snapshots()))
	}
	return commands.New(w.store, opts...)
}

// amend changes sub's quantity through svc, to another quantity each time.
func (w *benchSubscriptions) amend(b *testing.B, svc *commands.Service, sub uuid.UUID) {
	w.amended++
	_, err := svc.AmendSubscription(context.Background(), w.req(), sub, commands.AmendSubscription{
		EffectiveDate: domain.DateOf(w.now), Changes: []commands.Change{
			{Type: "change_quantity", ItemID: w.items[sub], Quantity: decimal.NewFromInt(10 + w.amended%2)}}})
	if err != nil {
		b.Fatalf("amend: %v", err)
	}
}

// BenchmarkAmendLongStream measures an amendment of a subscription whose
// stream has 100,000 events against one of a new subscription: cold, by
// a Service just made (memory empty, the snapshot store shared), and
// warm, by one Service throughout; and, for comparison, cold without the
// snapshot store, replaying the whole stream each time.
func BenchmarkAmendLongStream(b *testing.B) {
	w := newBenchSubscriptions(b)
	streams := []struct {
		name string
		sub  uuid.UUID
	}{{fmt.Sprintf("events=%d", benchLongStream), w.long}, {"events=new", w.new}}
	for _, s := range streams {
		b.Run(s.name+"/cold", func(b *testing.B) {
			w.amend(b, w.service(true), s.sub) // a snapshot stored, as after the first amendment
			b.ResetTimer()
			for range b.N {
				w.amend(b, w.service(true), s.sub)
			}
		})
		b.Run(s.name+"/warm", func(b *testing.B) {
			svc := w.service(true)
			w.amend(b, svc, s.sub)
			b.ResetTimer()
			for range b.N {
				w.amend(b, svc, s.sub)
			}
		})
	}
	b.Run(fmt.Sprintf("events=%d/cold-without-snapshots", benchLongStream), func(b *testing.B) {
		for range b.N {
			w.amend(b, w.service(false), w.long)
		}
	})
}
