package commands_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/eventstore/memory"
)

// countingStore counts the reads and guarded appends that reach a store.
type countingStore struct {
	eventstore.KeyedAppender
	reads, guarded, missed atomic.Int64
}

func (c *countingStore) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.Event, error) {
	c.reads.Add(1)
	return c.KeyedAppender.ReadStream(ctx, stream, from, limit)
}

func (c *countingStore) ReadStreams(ctx context.Context, reads []eventstore.StreamRead) ([][]eventstore.Event, error) {
	c.reads.Add(1)
	return eventstore.ReadStreams(ctx, c.KeyedAppender, reads)
}

func (c *countingStore) AppendGuarded(ctx context.Context, stream string, expected eventstore.ExpectedVersion, guards []eventstore.Guard, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	c.guarded.Add(1)
	res, err := c.KeyedAppender.(eventstore.GuardedAppender).AppendGuarded(ctx, stream, expected, guards, events...)
	if errors.Is(err, eventstore.ErrConcurrency) {
		c.missed.Add(1)
	}
	return res, err
}

// unguardedStore hides a store's guarded appends.
type unguardedStore struct{ eventstore.KeyedAppender }

// optimist is a shop whose partner operator and tenant admin have keys,
// with a subscription of the operator's on account A, on a counting
// store; other is a second replica on the same store, whose writes this
// one does not see until it reads.
type optimist struct {
	*shop
	store         *countingStore
	other         *commands.Service
	opKey, tenKey string
	opUser        uuid.UUID
	sub           *domain.Subscription
}

func newOptimist(t *testing.T, open func(clock func() time.Time) eventstore.KeyedAppender) *optimist {
	t.Helper()
	o := &optimist{}
	w := newWorld(t, func(clock func() time.Time) eventstore.KeyedAppender {
		o.store = &countingStore{KeyedAppender: open(clock)}
		return o.store
	})
	o.shop = stock(t, w)
	o.other = commands.New(o.store, commands.WithClock(func() time.Time { return w.now }))
	ctx := context.Background()
	op, err := o.svc.AddPartnerUser(ctx, o.req(o.padmin), o.partner, commands.AddUser{Name: "Op", Role: domain.RolePartnerOperator})
	if err != nil {
		t.Fatal(err)
	}
	ten, err := o.svc.AddTenantUser(ctx, o.req(o.admin), commands.AddUser{Name: "Ops", Role: domain.RoleTenantAdmin})
	if err != nil {
		t.Fatal(err)
	}
	o.opKey, o.opUser, o.tenKey = op.Key, op.State.ID, ten.Key
	o.operator = domain.Principal{Type: domain.ActorPartnerUser, ID: op.State.ID, PartnerID: o.partner, Role: domain.RolePartnerOperator}
	sub, err := o.subscribe(t, o.operator, o.accA, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.sub = sub.State
	return o
}

func memoryStore(clock func() time.Time) eventstore.KeyedAppender {
	return memory.New(memory.WithClock(clock))
}

// amend authenticates key for an amendment of o's subscription, as the
// HTTP layer does on a guarded route, and amends its seats to q.
func (o *optimist) amend(t *testing.T, key string, q int64, ifMatch *uint64) (commands.Outcome[domain.Subscription], context.Context, error) {
	t.Helper()
	ctx, p, err := o.svc.AuthenticateAhead(context.Background(), key, commands.Ahead{TenantID: o.tenant, SubscriptionID: o.sub.ID, Guarded: true})
	if err != nil {
		return commands.Outcome[domain.Subscription]{}, ctx, err
	}
	req := o.req(p)
	req.IfMatch = ifMatch
	out, err := o.svc.AmendSubscription(ctx, req, o.sub.ID, o.seats(q))
	return out, ctx, err
}

func (o *optimist) seats(q int64) commands.AmendSubscription {
	return commands.AmendSubscription{EffectiveDate: domain.NewDate(2026, 12, 1), Changes: []commands.Change{
		{Type: "change_quantity", ItemID: o.sub.Items[0].ID, Quantity: decimal.NewFromInt(q)}}}
}

func (o *optimist) version(t *testing.T) uint64 {
	t.Helper()
	evs, err := o.store.KeyedAppender.ReadStream(context.Background(), commands.SubscriptionStream(o.tenant, o.sub.ID), 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(len(evs))
}

// With every state kept current, an amendment reads nothing: one
// guarded append, which confirms the principal.
func TestOptimisticAmendmentReadsNothing(t *testing.T) {
	t.Parallel()
	o := newOptimist(t, memoryStore)
	for _, key := range []string{o.opKey, o.tenKey} {
		if _, _, err := o.amend(t, key, 4, nil); err != nil { // the first use of a key reads its owner
			t.Fatal(err)
		}
		reads, guarded := o.store.reads.Load(), o.store.guarded.Load()
		v := o.version(t)
		out, ctx, err := o.amend(t, key, 5, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := o.store.reads.Load() - reads; n != 0 {
			t.Errorf("an optimistic amendment read the store %d times", n)
		}
		if n := o.store.guarded.Load() - guarded; n != 1 {
			t.Errorf("%d guarded appends, want 1", n)
		}
		if out.Version != v+1 || out.State.Items[0].Quantity != 5 || !commands.Confirmed(ctx) {
			t.Fatalf("version %d (want %d), seats %d, confirmed %v", out.Version, v+1, out.State.Items[0].Quantity, commands.Confirmed(ctx))
		}
	}
}

// missCase is a change made by another replica, and what this replica's
// next amendment must then give: success (kind nil) or a refusal, with
// the refusals it audits.
type missCase struct {
	name     string
	change   func(t *testing.T, o *optimist)
	kind     error
	code     string
	denials  int
	appended bool
}

// When another replica changed what an amendment decided on, its guarded
// append misses and it runs again on fresh reads, with what those give.
func TestOptimisticMissDecidesAgainOnFreshReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []missCase{
		{"the subscription amended", func(t *testing.T, o *optimist) {
			_, err := o.other.AmendSubscription(ctx, o.req(o.admin), o.sub.ID, o.seats(7))
			must(t, err)
		}, nil, "", 0, true},
		{"another user added to the partner", func(t *testing.T, o *optimist) {
			_, err := o.other.AddPartnerUser(ctx, o.req(o.padmin), o.partner, commands.AddUser{Name: "New", Role: domain.RolePartnerViewer})
			must(t, err)
		}, nil, "", 0, true},
		{"the user removed", func(t *testing.T, o *optimist) {
			_, err := o.other.RemovePartnerUser(ctx, o.req(o.padmin), o.partner, o.opUser)
			must(t, err)
		}, domain.ErrUnauthenticated, domain.CodeUnauthenticated, 0, false},
		{"the grant revoked", func(t *testing.T, o *optimist) {
			_, err := o.other.RevokePartnerAccess(ctx, o.req(o.admin), o.partner, "ended")
			must(t, err)
		}, domain.ErrForbidden, domain.CodePartnerAccessRevoked, 1, false},
		{"the grant's role lowered", func(t *testing.T, o *optimist) {
			_, err := o.other.PutPartnerAccess(ctx, o.req(o.admin), o.partner, commands.PutAccess{Role: domain.RolePartnerViewer, AccountIDs: []uuid.UUID{o.accA, o.accB}})
			must(t, err)
		}, domain.ErrForbidden, domain.CodeForbidden, 1, false},
		{"the account taken out of the grant", func(t *testing.T, o *optimist) {
			_, err := o.other.PutPartnerAccess(ctx, o.req(o.admin), o.partner, commands.PutAccess{Role: domain.RolePartnerAdmin, AccountIDs: []uuid.UUID{o.accB}})
			must(t, err)
		}, domain.ErrNotFound, domain.CodeNotFound, 1, false},
	}
	pg := postgresStore(t)
	backends := map[string]func(func() time.Time) eventstore.KeyedAppender{
		"memory":   memoryStore,
		"postgres": func(func() time.Time) eventstore.KeyedAppender { return pg },
	}
	for backend, open := range backends {
		for _, tc := range cases {
			t.Run(backend+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				missAndDecideAgain(t, newOptimist(t, open), tc)
			})
		}
	}
}

func missAndDecideAgain(t *testing.T, o *optimist, tc missCase) {
	t.Helper()
	if _, _, err := o.amend(t, o.opKey, 4, nil); err != nil {
		t.Fatal(err)
	}
	tc.change(t, o)
	v, denied, missed := o.version(t), len(o.denials(t)), o.store.missed.Load()
	out, actx, err := o.amend(t, o.opKey, 9, nil)
	if tc.kind == nil {
		must(t, err)
		if out.Version != v+1 || out.State.Items[0].Quantity != 9 {
			t.Fatalf("version %d (want %d), seats %d", out.Version, v+1, out.State.Items[0].Quantity)
		}
	} else {
		wantCode(t, err, tc.kind, tc.code)
	}
	if got := o.version(t); (got == v+1) != tc.appended || got > v+1 {
		t.Fatalf("subscription at version %d after, %d before; appended: want %v", got, v, tc.appended)
	}
	if n := len(o.denials(t)) - denied; n != tc.denials {
		t.Fatalf("%d refusals audited, want %d", n, tc.denials)
	}
	if o.store.missed.Load() == missed {
		t.Fatal("no guarded append missed: the change went unseen")
	}
	if tc.kind != nil && !errors.Is(err, domain.ErrUnauthenticated) && !commands.Confirmed(actx) {
		t.Fatal("a refusal answered on an unconfirmed principal")
	}
}

// A removed user's request is refused as unauthenticated whatever else
// is wrong with it, and a replay of its earlier keyed request too, though
// this replica still keeps the user.
func TestOptimisticRemovedUserIsUnauthenticatedFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bad := func(o *optimist) commands.AmendSubscription {
		a := o.seats(3)
		a.Changes[0].ItemID = uuid.New()
		return a
	}
	cases := []struct {
		name string
		key  string // an Idempotency-Key used before the removal
		cmd  func(o *optimist) commands.AmendSubscription
	}{
		{"an amendment the subscription refuses", "", bad},
		{"a replay of a keyed amendment", "seats-6", func(o *optimist) commands.AmendSubscription { return o.seats(6) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := newOptimist(t, memoryStore)
			send := func() (commands.Outcome[domain.Subscription], error) {
				actx, p, err := o.svc.AuthenticateAhead(ctx, o.opKey, commands.Ahead{TenantID: o.tenant, SubscriptionID: o.sub.ID, Guarded: true})
				if err != nil {
					return commands.Outcome[domain.Subscription]{}, err
				}
				req := o.req(p)
				req.IdempotencyKey = tc.key
				return o.svc.AmendSubscription(actx, req, o.sub.ID, tc.cmd(o))
			}
			if tc.key != "" {
				if _, err := send(); err != nil {
					t.Fatal(err)
				}
				if out, err := send(); err != nil || !out.Replayed {
					t.Fatalf("keyed retry = %+v, %v; want a replay", out, err)
				}
			} else if _, _, err := o.amend(t, o.opKey, 4, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := o.other.RemovePartnerUser(ctx, o.req(o.padmin), o.partner, o.opUser); err != nil {
				t.Fatal(err)
			}
			_, err := send()
			wantCode(t, err, domain.ErrUnauthenticated, domain.CodeUnauthenticated)
		})
	}
}

// A refusal decided on the states kept is decided again on fresh reads,
// and audited once.
func TestOptimisticRefusalIsAuditedOnce(t *testing.T) {
	t.Parallel()
	o := newOptimist(t, memoryStore)
	viewer, err := o.svc.AddPartnerUser(context.Background(), o.req(o.padmin), o.partner, commands.AddUser{Name: "View", Role: domain.RolePartnerViewer})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, ctx, err := o.amend(t, viewer.Key, 4, nil)
		wantCode(t, err, domain.ErrForbidden, domain.CodeForbidden)
		if n := len(o.denials(t)); n != i+1 {
			t.Fatalf("after %d refusals, %d audited", i+1, n)
		}
		if !commands.Confirmed(ctx) {
			t.Fatal("a refusal answered on an unconfirmed principal")
		}
	}
}

// Confirm confirms a pending principal on a fresh read.
func TestConfirm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := newOptimist(t, memoryStore)
	if _, _, err := o.amend(t, o.opKey, 4, nil); err != nil {
		t.Fatal(err)
	}
	ahead := commands.Ahead{TenantID: o.tenant, SubscriptionID: o.sub.ID, Guarded: true}
	actx, _, err := o.svc.AuthenticateAhead(ctx, o.opKey, ahead)
	if err != nil || commands.Confirmed(actx) {
		t.Fatalf("AuthenticateAhead: %v, confirmed %v; want a pending principal", err, commands.Confirmed(actx))
	}
	if err := o.svc.Confirm(actx); err != nil || !commands.Confirmed(actx) {
		t.Fatalf("Confirm = %v, confirmed %v", err, commands.Confirmed(actx))
	}
	actx, _, _ = o.svc.AuthenticateAhead(ctx, o.opKey, ahead)
	if _, err := o.other.RemovePartnerUser(ctx, o.req(o.padmin), o.partner, o.opUser); err != nil {
		t.Fatal(err)
	}
	if err := o.svc.Confirm(actx); !errors.Is(err, domain.ErrUnauthenticated) || commands.Confirmed(actx) {
		t.Fatalf("Confirm after removal = %v, confirmed %v; want ErrUnauthenticated", err, commands.Confirmed(actx))
	}
	if plain, _, err := o.svc.AuthenticateAhead(ctx, o.tenKey, commands.Ahead{}); err != nil || !commands.Confirmed(plain) {
		t.Fatalf("an authentication that is not guarded: %v, confirmed %v", err, commands.Confirmed(plain))
	}
}

// If-Match holds against the version the store has, not the one kept.
func TestOptimisticIfMatch(t *testing.T) {
	t.Parallel()
	o := newOptimist(t, memoryStore)
	first, _, err := o.amend(t, o.opKey, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := first.Version
	if _, _, err := o.amend(t, o.opKey, 5, &at); err != nil {
		t.Fatalf("If-Match at the current version: %v", err)
	}
	if _, err := o.other.AmendSubscription(context.Background(), o.req(o.admin), o.sub.ID, o.seats(7)); err != nil {
		t.Fatal(err)
	}
	kept := at + 1 // what this replica last saw
	_, _, err = o.amend(t, o.opKey, 8, &kept)
	wantCode(t, err, domain.ErrPrecondition, domain.CodePreconditionFailed)
}

// A store that cannot guard appends gets no optimistic authentication.
func TestGuardedAheadNeedsAGuardingStore(t *testing.T) {
	t.Parallel()
	o := newOptimist(t, memoryStore)
	svc := commands.New(unguardedStore{o.store.KeyedAppender})
	ahead := commands.Ahead{TenantID: o.tenant, SubscriptionID: o.sub.ID, Guarded: true}
	for range 2 {
		ctx, p, err := svc.AuthenticateAhead(context.Background(), o.opKey, ahead)
		if err != nil || !commands.Confirmed(ctx) {
			t.Fatalf("AuthenticateAhead: %v, confirmed %v", err, commands.Confirmed(ctx))
		}
		if _, err := svc.AmendSubscription(ctx, o.req(p), o.sub.ID, o.seats(4)); err != nil {
			t.Fatal(err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
