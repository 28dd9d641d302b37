package seed_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/eventstore/memory"
	"ledger/eventstore/postgres"
	"ledger/internal/pgtest"
	"ledger/internal/seed"
	"ledger/projections"
)

// small is a world that seeds in seconds: skewed, with partners on
// several tenants, over three years. One worker writes it, so that the
// log's order is exactly the clock's (with more, a worker's append may
// land after others' later ones: see TestSeedCountsEveryEvent).
var small = seed.Shape{Tenants: 12, Accounts: 240, Partners: 6, SubscriptionsPerAcct: 2, UsageBatch: 200, Years: 3, Workers: 1}

// seeded is a seed of the small world into a fresh database.
type seeded struct {
	pool  *pgxpool.Pool
	store *postgres.Store
	res   seed.Result
	last  int64
}

const seededEvents = 30_000

// TestSeedOnPostgres seeds the small world once into a fresh database and
// checks the log from each side.
func TestSeedOnPostgres(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDatabase(t, 8)
	if err := postgres.Migrate(context.Background(), pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	store := postgres.New(pool)
	t.Cleanup(store.Close)
	s := &seeded{pool: pool, store: store}
	var err error
	s.res, err = seed.Run(context.Background(), store, seededEvents, small, func(done, _ int64) { s.last = done })
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	for name, check := range map[string]func(*testing.T, *seeded){
		"shape": checkShape, "span": checkSpan, "keys": checkKeys, "rebuild and verify": checkRebuild,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			check(t, s)
		})
	}
}

// checkShape: the tenants, accounts and partners asked, the accounts
// skewed over the tenants.
func checkShape(t *testing.T, s *seeded) {
	res := s.res
	if res.Events < seededEvents || s.last != seededEvents {
		t.Errorf("seeded %d events, progress ended at %d; want at least %d, progress to it", res.Events, s.last, seededEvents)
	}
	if len(res.Tenants) != small.Tenants || res.Accounts != small.Accounts || res.Partners != small.Partners {
		t.Errorf("seeded %d tenants, %d accounts, %d partners; want %d, %d, %d",
			len(res.Tenants), res.Accounts, res.Partners, small.Tenants, small.Accounts, small.Partners)
	}
	accounts := 0
	for _, tn := range res.Tenants {
		accounts += tn.Accounts
	}
	if accounts != small.Accounts {
		t.Errorf("tenants' accounts sum to %d, want %d", accounts, small.Accounts)
	}
	largest, median := res.Tenants[0], res.Tenants[len(res.Tenants)/2]
	if largest.Events <= 2*median.Events || largest.Accounts <= 2*median.Accounts {
		t.Errorf("largest tenant %+v, median %+v: want the largest more than twice the median", largest, median)
	}
	if res.Subscriptions < small.Accounts*small.SubscriptionsPerAcct || res.Bypassed == 0 || res.Bypassed >= res.Events {
		t.Errorf("%d subscriptions, %d of %d events set-based", res.Subscriptions, res.Bypassed, res.Events)
	}
}

// checkSpan: the events occurred over years, in log order, and the log
// holds every kind of event the seed writes.
func checkSpan(t *testing.T, s *seeded) {
	ctx := context.Background()
	var first, last time.Time
	var prev eventstore.Position
	types := map[string]int{}
	late := 0 // events that occurred before an earlier event of the log
	for {
		batch, err := s.store.ReadAll(ctx, prev, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		for _, e := range batch {
			at := e.Metadata.OccurredAt
			if first.IsZero() {
				first = at
			}
			if at.Before(last) {
				late++
			}
			if at.After(last) {
				last = at
			}
			types[e.Type]++
		}
		prev = batch[len(batch)-1].Position
	}
	if span := last.Sub(first); span < 2*365*24*time.Hour {
		t.Errorf("occurred_at spans %s..%s, want over two years", first, last)
	}
	if late > 0 {
		t.Errorf("%d events occurred before an earlier event of the log", late)
	}
	for _, want := range []string{"AccountCreated", "SubscriptionCreated", "SubscriptionAmended", "SubscriptionCancelled", "UsageRecorded", "PartnerAccessGranted"} {
		if types[want] == 0 {
			t.Errorf("no %s event in the seeded log: %v", want, types)
		}
	}
}

// checkKeys: the keys file is its owner's only, and every key in it
// authenticates the user it names.
func checkKeys(t *testing.T, s *seeded) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := seed.WriteKeys(path, s.res.Keys); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("keys file mode %o, want 600", mode)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var keys seed.Keys
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatalf("keys file: %v", err)
	}
	if len(keys.TenantAdmins) != small.Tenants || len(keys.PartnerUsers) == 0 {
		t.Fatalf("%d tenant admins' keys, %d partner users'; want %d and some", len(keys.TenantAdmins), len(keys.PartnerUsers), small.Tenants)
	}
	svc := commands.New(s.store)
	for _, k := range slices.Concat(keys.TenantAdmins, keys.PartnerUsers) {
		p, err := svc.Authenticate(context.Background(), k.Key)
		if err != nil {
			t.Errorf("key of %s %s: %v", k.Role, k.UserID, err)
			continue
		}
		if p.ID.String() != k.UserID || string(p.Role) != k.Role || len(k.Accounts) == 0 && k.Role == string(domain.RoleTenantAdmin) {
			t.Errorf("key of %+v authenticates %+v", k, p)
		}
	}
}

// checkRebuild rebuilds every read model from the seeded log and
// verifies each against a fresh replay.
func checkRebuild(t *testing.T, s *seeded) {
	ctx := context.Background()
	stats, err := projections.RebuildAll(ctx, s.pool, s.store, projections.All(), nil)
	if err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if stats.Events != s.res.Events {
		t.Fatalf("rebuilt from %d events, the seed wrote %d", stats.Events, s.res.Events)
	}
	for _, p := range projections.All() {
		diffs, err := projections.Verify(ctx, s.pool, s.store, p, nil)
		if err != nil {
			t.Fatalf("verify %s: %v", p.Name(), err)
		}
		if len(diffs) > 0 {
			t.Errorf("verify %s: %d differences, first %+v", p.Name(), len(diffs), diffs[0])
		}
	}
}

// TestSeedCountsEveryEvent seeds a tiny world with several workers into
// the in-memory store, whose positions are contiguous: the events Run
// counts are the log's.
func TestSeedCountsEveryEvent(t *testing.T) {
	t.Parallel()
	store := memory.New()
	shape := seed.Shape{Tenants: 4, Accounts: 20, Partners: 2, SubscriptionsPerAcct: 1, UsageBatch: 50, Years: 1, Workers: 3}
	res, err := seed.Run(context.Background(), store, 3000, shape, nil)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	head, err := store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Events < 3000 || int64(head) != res.Events {
		t.Fatalf("counted %d events, the log holds %d; want at least 3000, all counted", res.Events, head)
	}
}

func TestShapeRefusesWhatCannotBeSeeded(t *testing.T) {
	t.Parallel()
	for name, shape := range map[string]seed.Shape{
		"no tenant":               {Tenants: 0, Accounts: 1, SubscriptionsPerAcct: 1, UsageBatch: 1, Years: 1, Workers: 1},
		"fewer accounts":          {Tenants: 5, Accounts: 4, SubscriptionsPerAcct: 1, UsageBatch: 1, Years: 1, Workers: 1},
		"usage batch over limit":  {Tenants: 1, Accounts: 1, SubscriptionsPerAcct: 1, UsageBatch: 1001, Years: 1, Workers: 1},
		"no year of history":      {Tenants: 1, Accounts: 1, SubscriptionsPerAcct: 1, UsageBatch: 1, Years: 0, Workers: 1},
		"no subscription":         {Tenants: 1, Accounts: 1, SubscriptionsPerAcct: 0, UsageBatch: 1, Years: 1, Workers: 1},
		"negative partners count": {Tenants: 1, Accounts: 1, Partners: -1, SubscriptionsPerAcct: 1, UsageBatch: 1, Years: 1, Workers: 1},
	} {
		if err := shape.Validate(); err == nil {
			t.Errorf("%s: %+v validated", name, shape)
		}
	}
	if err := seed.DefaultShape.Validate(); err != nil {
		t.Errorf("the default shape: %v", err)
	}
}
