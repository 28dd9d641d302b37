package commands_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
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
)

// longShop is a shop on Postgres, with the snapshot store beside its log,
// and a subscription whose stream has more events than a load replays
// before its state is saved.
type longShop struct {
	*shop
	pool  *pgxpool.Pool
	pg    *postgres.Store
	sub   uuid.UUID
	items []uuid.UUID
}

func newLongShop(t *testing.T) *longShop {
	t.Helper()
	pool := pgtest.NewDatabase(t, 8)
	if err := postgres.Migrate(context.Background(), pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pg := postgres.New(pool)
	t.Cleanup(pg.Close)
	s := &longShop{shop: stock(t, newWorld(t, func(func() time.Time) eventstore.Store { return pg })), pool: pool, pg: pg}
	sub, err := s.subscribe(t, s.operator, s.accA, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.sub = sub.State.ID
	for _, it := range sub.State.Items {
		s.items = append(s.items, it.ID)
	}
	for i := range commands.SnapshotAfter + 50 {
		s.amend(t, s.svc, 0, int64(4+i%2))
	}
	return s
}

func (s *longShop) stream() string { return commands.SubscriptionStream(s.tenant, s.sub) }

// replica is another process on the shop's log, its memory empty, with
// the snapshot store unless snaps is nil, logging to log.
func (s *longShop) replica(store eventstore.Store, snaps commands.SnapshotStore, log *syncBuffer) *commands.Service {
	opts := []commands.Option{commands.WithClock(func() time.Time { return s.now })}
	if snaps != nil {
		opts = append(opts, commands.WithSnapshotStore(snaps))
	}
	if log != nil {
		opts = append(opts, commands.WithLogger(slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	return commands.New(store, opts...)
}

// amend changes the quantity of the subscription's item through svc.
func (s *longShop) amend(t *testing.T, svc *commands.Service, item int, quantity int64) commands.Outcome[domain.Subscription] {
	t.Helper()
	out, err := svc.AmendSubscription(context.Background(), s.req(s.operator), s.sub, commands.AmendSubscription{
		EffectiveDate: domain.DateOf(s.now), Changes: []commands.Change{
			{Type: "change_quantity", ItemID: s.items[item], Quantity: decimal.NewFromInt(quantity)}}})
	if err != nil {
		t.Fatalf("amend item %d to %d: %v", item, quantity, err)
	}
	return out
}

// replayed is the subscription as a replay of its whole stream gives it.
func (s *longShop) replayed(t *testing.T) commands.Outcome[domain.Subscription] {
	t.Helper()
	full := commands.New(s.store, commands.WithSnapshots(0), commands.WithClock(func() time.Time { return s.now }))
	out, err := full.Subscription(context.Background(), s.req(s.operator), s.sub, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// eventAt is the event of the subscription's stream at version.
func (s *longShop) eventAt(t *testing.T, version uint64) eventstore.Event {
	t.Helper()
	events, err := s.store.ReadStream(context.Background(), s.stream(), version, 1)
	if err != nil || len(events) != 1 {
		t.Fatalf("read %s at %d: %d events, %v", s.stream(), version, len(events), err)
	}
	return events[0]
}

// stored is the record stored for the subscription's stream.
func (s *longShop) stored(t *testing.T) []byte {
	t.Helper()
	records, err := s.pg.Snapshots().LoadSnapshots(context.Background(), []string{s.stream()})
	if err != nil {
		t.Fatal(err)
	}
	return records[s.stream()]
}

// put replaces whatever is stored for the subscription's stream by
// record.
func (s *longShop) put(t *testing.T, record []byte) {
	t.Helper()
	_, err := s.pool.Exec(context.Background(), `
INSERT INTO snapshots (stream, version, record) VALUES ($1, 1, $2)
ON CONFLICT (stream) DO UPDATE SET record = EXCLUDED.record, version = 1`, s.stream(), record)
	if err != nil {
		t.Fatal(err)
	}
}

// countingStore counts the events of one stream that its reads return.
type countingStore struct {
	eventstore.Store
	stream string
	read   atomic.Int64
}

func (c *countingStore) count(events []eventstore.Event) {
	for _, e := range events {
		if e.Stream == c.stream {
			c.read.Add(1)
		}
	}
}

func (c *countingStore) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.Event, error) {
	events, err := c.Store.ReadStream(ctx, stream, from, limit)
	c.count(events)
	return events, err
}

func (c *countingStore) ReadStreams(ctx context.Context, reads []eventstore.StreamRead) ([][]eventstore.Event, error) {
	results, err := eventstore.ReadStreams(ctx, c.Store, reads)
	for _, events := range results {
		c.count(events)
	}
	return results, err
}

// countingSnapshots counts the round trips to a snapshot store.
type countingSnapshots struct {
	commands.SnapshotStore
	loads atomic.Int64
}

func (c *countingSnapshots) LoadSnapshots(ctx context.Context, streams []string) (map[string][]byte, error) {
	c.loads.Add(1)
	return c.SnapshotStore.LoadSnapshots(ctx, streams)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestPersistedSnapshotsServeAReplica: a command that replayed the long
// stream saves its state; a second replica, its memory empty, loads the
// subscription from that snapshot and the events after it, reading a
// couple of the stream's events, and decides as a full replay would; once
// it keeps the state in memory, it asks the snapshot store nothing.
func TestPersistedSnapshotsServeAReplica(t *testing.T) {
	t.Parallel()
	s := newLongShop(t)
	before := s.replayed(t).Version
	first := s.replica(s.store, s.pg.Snapshots(), nil)
	s.amend(t, first, 0, 9)
	record := s.stored(t)
	if record == nil {
		t.Fatalf("no snapshot saved after a load that replayed %d events", before)
	}

	counting := &countingStore{Store: s.store, stream: s.stream()}
	snaps := &countingSnapshots{SnapshotStore: s.pg.Snapshots()}
	second := s.replica(counting, snaps, nil)
	got := s.amend(t, second, 1, 2)
	if n := counting.read.Load(); n > 2 {
		t.Fatalf("the replica read %d events of the stream, want the one the snapshot was taken at and the one after", n)
	}
	want := s.replayed(t)
	if got.Version != before+2 || got.Version != want.Version || !reflect.DeepEqual(got.State, want.State) {
		t.Fatalf("through the snapshot: version %d %+v\nreplayed: version %d %+v", got.Version, got.State, want.Version, want.State)
	}
	if got.State.Items[0].Quantity != 9 || got.State.Items[1].Quantity != 2 {
		t.Fatalf("quantities %d and %d, want 9 and 2", got.State.Items[0].Quantity, got.State.Items[1].Quantity)
	}

	loads := snaps.loads.Load()
	s.amend(t, second, 1, 3)
	if n := snaps.loads.Load(); n != loads {
		t.Fatalf("a command on states kept in memory asked the snapshot store %d times", n-loads)
	}
}

// lieQuantity is the quantity the lying snapshots claim: digits that
// neither a timestamp nor, in practice, an id in a log line holds.
const lieQuantity = 7070707

// TestPersistedSnapshotNeverTrustedOverTheLog stores, for the long
// subscription, snapshots that claim its second item has lieQuantity
// units where the log says 1: a replica with an empty memory decides on the log's
// state, reading the whole stream, for every snapshot but a sound one,
// and says which stream it replayed without logging the state.
func TestPersistedSnapshotNeverTrustedOverTheLog(t *testing.T) {
	t.Parallel()
	s := newLongShop(t)
	tests := []struct {
		name string
		// record makes the record stored from the truth (the replayed
		// state, at the event at its version) and a lie (the same
		// state with lieQuantity units of the second item).
		record  func(t *testing.T, truth *domain.Subscription, at eventstore.Event, lie *domain.Subscription) []byte
		trusted bool
		warns   bool
	}{
		{name: "sound (the control: the lie is believed)", trusted: true,
			record: func(t *testing.T, _ *domain.Subscription, at eventstore.Event, lie *domain.Subscription) []byte {
				return record(t, s.stream(), at, commands.SnapshotSchemaVersion, lie)
			}},
		{name: "state bytes changed, checksum not updated", warns: true,
			record: func(t *testing.T, truth *domain.Subscription, at eventstore.Event, lie *domain.Subscription) []byte {
				sound := record(t, s.stream(), at, commands.SnapshotSchemaVersion, truth)
				state, err := commands.SnapshotState(record(t, s.stream(), at, commands.SnapshotSchemaVersion, lie))
				if err != nil {
					t.Fatal(err)
				}
				changed, err := commands.WithSnapshotState(sound, state)
				if err != nil {
					t.Fatal(err)
				}
				return changed
			}},
		{name: "taken at another event", warns: true,
			record: func(t *testing.T, _ *domain.Subscription, at eventstore.Event, lie *domain.Subscription) []byte {
				at.ID = uuid.Must(uuid.NewV7())
				return record(t, s.stream(), at, commands.SnapshotSchemaVersion, lie)
			}},
		{name: "taken at another position", warns: true,
			record: func(t *testing.T, _ *domain.Subscription, at eventstore.Event, lie *domain.Subscription) []byte {
				at.Position++
				return record(t, s.stream(), at, commands.SnapshotSchemaVersion, lie)
			}},
		{name: "past the stream's end", warns: true,
			record: func(t *testing.T, _ *domain.Subscription, at eventstore.Event, lie *domain.Subscription) []byte {
				at.Version += 5
				return record(t, s.stream(), at, commands.SnapshotSchemaVersion, lie)
			}},
		{name: "another stream's", warns: true,
			record: func(t *testing.T, _ *domain.Subscription, at eventstore.Event, lie *domain.Subscription) []byte {
				return record(t, commands.SubscriptionStream(s.tenant, uuid.New()), at, commands.SnapshotSchemaVersion, lie)
			}},
		{name: "a state that does not decode", warns: true,
			record: func(t *testing.T, _ *domain.Subscription, at eventstore.Event, _ *domain.Subscription) []byte {
				r, err := commands.RecordSnapshot(s.stream(), at.Version, at.Position, at.ID, commands.SnapshotSchemaVersion,
					&domain.Account{Name: fmt.Sprint("Quantity ", lieQuantity)})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}},
		{name: "another schema version",
			record: func(t *testing.T, _ *domain.Subscription, at eventstore.Event, lie *domain.Subscription) []byte {
				return record(t, s.stream(), at, commands.SnapshotSchemaVersion+1, lie)
			}},
		{name: "not a record", warns: true,
			record: func(*testing.T, *domain.Subscription, eventstore.Event, *domain.Subscription) []byte {
				return []byte(`{"stream":`)
			}},
	}
	for _, tt := range tests { // in turn: each amends the one subscription
		t.Run(tt.name, func(t *testing.T) {
			truth := s.replayed(t)
			lie := truth.State.Clone()
			lie.Items[1].Quantity = lieQuantity
			s.put(t, tt.record(t, truth.State, s.eventAt(t, truth.Version), lie))

			log := &syncBuffer{}
			counting := &countingStore{Store: s.store, stream: s.stream()}
			got := s.amend(t, s.replica(counting, s.pg.Snapshots(), log), 0, int64(6+truth.Version%2))
			want := s.replayed(t)
			switch {
			case tt.trusted && got.State.Items[1].Quantity != lieQuantity:
				t.Fatalf("a sound snapshot was not used: item quantity %d", got.State.Items[1].Quantity)
			case tt.trusted:
				return
			case !reflect.DeepEqual(got.State, want.State) || got.State.Items[1].Quantity != 1:
				t.Fatalf("decided on %+v\nthe log's state is %+v", got.State, want.State)
			case counting.read.Load() < int64(truth.Version):
				t.Fatalf("read %d events of a stream of %d", counting.read.Load(), truth.Version)
			}
			logged := log.String()
			if tt.warns && (!strings.Contains(logged, "level=WARN") || !strings.Contains(logged, s.stream())) {
				t.Fatalf("no warning naming the stream: %s", logged)
			}
			if strings.Contains(logged, fmt.Sprint(lieQuantity)) || strings.Contains(logged, "Quantity") {
				t.Fatalf("the log shows the snapshot's state: %s", logged)
			}
		})
	}
}

// record is the record of a snapshot of stream holding state, taken at
// the event at.
func record(t *testing.T, stream string, at eventstore.Event, schema int, state *domain.Subscription) []byte {
	t.Helper()
	r, err := commands.RecordSnapshot(stream, at.Version, at.Position, at.ID, schema, state)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPersistedSnapshotsConcurrentReplicas: replicas with empty memories
// amend the long subscription at once, each replaying it and saving its
// state as it goes; every amendment lands, the snapshot kept is one a
// fresh replica can use, and it decides as a full replay would.
func TestPersistedSnapshotsConcurrentReplicas(t *testing.T) {
	t.Parallel()
	s := newLongShop(t)
	const replicas, amendments = 4, 5
	before := s.replayed(t).Version
	var wg sync.WaitGroup
	for r := range replicas {
		svc := s.replica(s.store, s.pg.Snapshots(), nil)
		wg.Go(func() {
			for i := range amendments {
				_, err := svc.AmendSubscription(context.Background(), s.req(s.operator), s.sub, commands.AmendSubscription{
					EffectiveDate: domain.DateOf(s.now), Changes: []commands.Change{
						{Type: "change_quantity", ItemID: s.items[0], Quantity: decimal.NewFromInt(int64(10 + r*amendments + i))}}})
				if err != nil {
					t.Errorf("replica %d, amendment %d: %v", r, i, err)
				}
			}
		})
	}
	wg.Wait()
	if s.stored(t) == nil {
		t.Fatal("no snapshot saved")
	}
	counting := &countingStore{Store: s.store, stream: s.stream()}
	got := s.amend(t, s.replica(counting, s.pg.Snapshots(), nil), 1, 5)
	want := s.replayed(t)
	if got.Version != before+replicas*amendments+1 || !reflect.DeepEqual(got.State, want.State) {
		t.Fatalf("through the snapshot: version %d %+v\nreplayed: version %d %+v", got.Version, got.State, want.Version, want.State)
	}
	if n := counting.read.Load(); n > replicas*amendments+1 {
		t.Fatalf("a fresh replica read %d events of the stream, more than were appended since the replicas loaded it", n)
	}
}
