package commands_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
)

// race is a shop on Postgres served by two replicas (two services on one
// store, each with the states it keeps), with a partner operator's key,
// subscriptions for the operator to amend, and the tenant admin's key.
type race struct {
	*shop
	replicas [2]*commands.Service
	opKey    string
	adminKey string
	subs     []commands.Outcome[domain.Subscription]
}

func newRace(t *testing.T, store eventstore.Store, subs int) *race {
	t.Helper()
	w := newWorld(t, func(func() time.Time) eventstore.Store { return store })
	r := &race{shop: stock(t, w)}
	for i := range r.replicas {
		r.replicas[i] = commands.New(store, commands.WithClock(func() time.Time { return w.now }))
	}
	ctx := context.Background()
	op, err := w.svc.AddPartnerUser(ctx, w.req(w.padmin), w.partner, commands.AddUser{Name: "racer", Role: domain.RolePartnerOperator})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := w.svc.AddTenantUser(ctx, w.req(w.admin), commands.AddUser{Name: "revoker", Role: domain.RoleTenantAdmin})
	if err != nil {
		t.Fatal(err)
	}
	r.opKey, r.adminKey = op.Key, admin.Key
	for range subs {
		sub, err := r.subscribe(t, r.admin, r.accA, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.subs = append(r.subs, sub)
	}
	return r
}

// keyed is a request of the world's tenant made with key, as the API
// makes it.
func (r *race) keyed(key string) commands.Request {
	return commands.Request{Key: key, TenantID: r.tenant, RequestID: "req-" + uuid.NewString()}
}

func (r *race) amend(ctx context.Context, svc *commands.Service, req commands.Request, sub int, quantity int64) (commands.Outcome[domain.Subscription], error) {
	return svc.AmendSubscription(ctx, req, r.subs[sub].State.ID, commands.AmendSubscription{
		EffectiveDate: domain.NewDate(2026, 11, 25),
		Changes: []commands.Change{{Type: "change_quantity", ItemID: r.subs[sub].State.Items[0].ID,
			Quantity: decimal.NewFromInt(quantity)}},
	})
}

// TestRevocationRacingPartnerWrites has a partner operator's eight
// clients amend subscriptions, through both replicas, while the tenant's
// admin revokes the partner's grant through one of them; then grants it
// again, 200 times. Replaying the log as an auditor does, no event of the
// partner may stand after a revocation and before the next grant.
func TestRevocationRacingPartnerWrites(t *testing.T) {
	t.Parallel()
	r := newRace(t, postgresStore(t), 4)
	from, err := r.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	trials := 200
	if testing.Short() {
		trials = 50
	}
	landed := 0
	for trial := range trials {
		landed += r.revokeDuringWrites(t, trial)
	}
	t.Logf("%d trials: %d partner amendments landed while revocations raced them", trials, landed)
	if acts := partnerActsWhileRevoked(t, r.store, from, r.partner); len(acts) > 0 {
		t.Fatalf("the log shows %d events of the partner after its revocation: %v", len(acts), acts)
	}
}

// revokeDuringWrites grants the partner access, starts eight writers
// that amend until they are refused, and revokes meanwhile; it returns how
// many amendments landed.
func (r *race) revokeDuringWrites(t *testing.T, trial int) int {
	t.Helper()
	ctx := context.Background()
	if _, err := r.replicas[0].PutPartnerAccess(ctx, r.keyed(r.adminKey), r.partner,
		commands.PutAccess{Role: domain.RolePartnerOperator, AllAccounts: true}); err != nil {
		t.Fatalf("trial %d: grant: %v", trial, err)
	}
	var wg sync.WaitGroup
	var landed atomic.Int32
	start := make(chan struct{})
	for w := range 8 {
		wg.Go(func() {
			<-start
			svc := r.replicas[w%2]
			for n := int64(1); ; n++ {
				_, err := r.amend(ctx, svc, r.keyed(r.opKey), w%len(r.subs), 1+n%5)
				switch {
				case err == nil:
					landed.Add(1)
				case errors.Is(err, domain.ErrForbidden):
					return
				default:
					t.Errorf("trial %d, writer %d: %v", trial, w, err)
					return
				}
			}
		})
	}
	close(start)
	time.Sleep(time.Duration(trial%4) * time.Millisecond)
	if _, err := r.replicas[trial%2].RevokePartnerAccess(ctx, r.keyed(r.adminKey), r.partner, "race"); err != nil {
		t.Fatalf("trial %d: revoke: %v", trial, err)
	}
	wg.Wait()
	return int(landed.Load())
}

// partnerActsWhileRevoked replays the log after from and describes each
// event a user of partner caused while the partner's grant stood revoked.
func partnerActsWhileRevoked(t *testing.T, store eventstore.Store, from eventstore.Position, partner uuid.UUID) []string {
	t.Helper()
	head, err := store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	revoked := false
	var acts []string
	for from < head {
		batch, err := store.ReadAll(context.Background(), from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range batch {
			switch {
			case e.Type == "PartnerAccessRevoked":
				revoked = true
			case e.Type == "PartnerAccessGranted" || e.Type == "PartnerAccessChanged":
				revoked = false
			case revoked && e.Type != "AccessDenied" && e.Metadata.Actor.PartnerID == partner.String():
				acts = append(acts, fmt.Sprintf("%s at %d", e.Type, e.Position))
			}
		}
		if len(batch) > 0 {
			from = batch[len(batch)-1].Position
		}
	}
	return acts
}

// TestRevocationRaceNeedsConditions runs the race above on a store that
// drops every append's conditions, and shows that the log then does show
// the partner acting after its revocation: the conditions are what keep
// it from doing so.
func TestRevocationRaceNeedsConditions(t *testing.T) {
	t.Parallel()
	store := &unconditioned{Store: postgresStore(t)}
	r := newRace(t, store, 4)
	from, err := r.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for trial := 0; trial < 200 && len(partnerActsWhileRevoked(t, store, from, r.partner)) == 0; trial++ {
		r.revokeDuringWrites(t, trial)
	}
	if len(partnerActsWhileRevoked(t, store, from, r.partner)) == 0 {
		t.Fatal("without conditions, 200 trials never put a partner's write after its revocation")
	}
}

// unconditioned is a store that drops the conditions of every append.
type unconditioned struct{ eventstore.Store }

func (s *unconditioned) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	req.Conditions = nil
	return s.Store.Append(ctx, req)
}

// TestHotSubscription has 32 writers amend one subscription at once,
// without If-Match, through one replica and then through two: every
// amendment lands, and the version rises by exactly 32 each time.
func TestHotSubscription(t *testing.T) {
	t.Parallel()
	r := newRace(t, postgresStore(t), 1)
	r.grant(t, domain.RolePartnerOperator)
	version := r.subs[0].Version
	for _, replicas := range []int{1, 2} {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range 32 {
			wg.Go(func() {
				<-start
				if _, err := r.amend(context.Background(), r.replicas[w%replicas], r.keyed(r.opKey), 0, int64(1+w%3)); err != nil {
					t.Errorf("%d replicas, writer %d: %v", replicas, w, err)
				}
			})
		}
		close(start)
		wg.Wait()
		events, err := r.store.ReadStream(context.Background(), commands.SubscriptionStream(r.tenant, r.subs[0].State.ID), version+1, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 32 {
			t.Fatalf("%d replicas: the subscription rose by %d versions, want 32", replicas, len(events))
		}
		version += 32
	}
}

// TestLostAcknowledgement loses the answer of an append that landed, and
// of one that did not, as a timeout or a dropped connection would: the
// command repeats the same append, learns what became of it, and the
// amendment is in the log exactly once, with the events first sent.
func TestLostAcknowledgement(t *testing.T) {
	t.Parallel()
	for _, landed := range []bool{true, false} {
		store := &lossy{Store: postgresStore(t), landFirst: landed}
		r := newRace(t, store, 1)
		store.losing.Store(true)
		out, err := r.amend(context.Background(), r.svc, r.req(r.admin), 0, 7)
		if err != nil {
			t.Fatalf("landed %v: amend: %v", landed, err)
		}
		events, err := store.ReadStream(context.Background(), out.Stream, 1, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 2 || out.Version != 2 {
			t.Fatalf("landed %v: the subscription holds %d events, the outcome says version %d; want the amendment once", landed, len(events), out.Version)
		}
		if sent := store.sent(); len(sent) != 2 || sent[0] != sent[1] || events[1].ID != sent[0] {
			t.Fatalf("landed %v: appends sent with events %v, stored %s; want one append repeated with its event", landed, sent, events[1].ID)
		}
	}
}

// lossy is a store that loses the answer of the first append made while
// losing is set: after making it (landFirst) or without.
type lossy struct {
	eventstore.Store
	landFirst bool
	losing    atomic.Bool
	mu        sync.Mutex
	ids       []uuid.UUID
}

var errLost = errors.New("connection reset: the answer was lost")

func (s *lossy) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	if !s.losing.Load() {
		return s.Store.Append(ctx, req)
	}
	s.mu.Lock()
	s.ids = append(s.ids, req.Streams[0].Events[0].ID)
	first := len(s.ids) == 1
	s.mu.Unlock()
	if first && !s.landFirst {
		return eventstore.AppendResult{}, errLost
	}
	res, err := s.Store.Append(ctx, req)
	if first {
		return eventstore.AppendResult{}, errors.Join(errLost, err)
	}
	return res, err
}

func (s *lossy) sent() []uuid.UUID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uuid.UUID(nil), s.ids...)
}

// TestContentionCountsFromTheFirstLostRace makes an amendment's first
// append outlast the contention window (an outage the command waits out,
// its outcome unknown) while another replica amends the same
// subscription: the command then loses one race, which is no reason to
// call it contended: it decides again and lands.
func TestContentionCountsFromTheFirstLostRace(t *testing.T) {
	t.Parallel()
	store := &stalled{Store: postgresStore(t), stall: make(chan struct{})}
	r := newRace(t, store, 1)
	svc := commands.New(store, commands.WithClock(func() time.Time { return r.now }), commands.WithContention(100*time.Millisecond))
	store.stalling.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := r.amend(context.Background(), svc, r.keyed(r.opKey), 0, 7)
		done <- err
	}()
	<-store.stall // the amendment's first append waits out an outage
	if _, err := r.amend(context.Background(), r.replicas[1], r.keyed(r.adminKey), 0, 9); err != nil {
		t.Fatalf("the other replica's amendment: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // thrice the contention window
	store.stall <- struct{}{}
	if err := <-done; err != nil {
		t.Fatalf("amendment after an outage and one lost race: %v; want it decided again and landed", err)
	}
}

// stalled is a store whose first append made while stalling is set
// announces itself on stall, waits there for the word to go on, and fails
// as an outage does, its outcome unknown.
type stalled struct {
	eventstore.Store
	stalling atomic.Bool
	stall    chan struct{}
}

var errOutage = errors.New("connection refused: the database is down")

func (s *stalled) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	if s.stalling.CompareAndSwap(true, false) {
		s.stall <- struct{}{}
		<-s.stall
		return eventstore.AppendResult{}, errOutage
	}
	return s.Store.Append(ctx, req)
}
