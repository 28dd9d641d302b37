package commands_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
)

// Two services on one store are two replicas, each with its snapshots:
// what one appends, the other's next load reads, and a state loaded through
// snapshots is the state replayed from scratch.
func TestSnapshotsNeverHideAnotherReplicasEvents(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	other := commands.New(s.store, commands.WithClock(func() time.Time { return s.now }))
	fresh := commands.New(s.store, commands.WithSnapshots(0), commands.WithClock(func() time.Time { return s.now }))

	sub, err := s.subscribe(t, s.operator, s.accA, nil)
	if err != nil {
		t.Fatal(err)
	}
	item := sub.State.Items[0].ID
	for i, svc := range []*commands.Service{s.svc, other, s.svc, other, s.svc} {
		amend := commands.AmendSubscription{EffectiveDate: domain.NewDate(2026, 11, 1+i), Changes: []commands.Change{
			{Type: "change_quantity", ItemID: item, Quantity: decimal.NewFromInt(int64(4 + i))}}}
		req := s.req(s.operator)
		want := sub.Version
		req.IfMatch = &want
		if sub, err = svc.AmendSubscription(ctx, req, sub.State.ID, amend); err != nil {
			t.Fatalf("amendment %d: %v", i, err)
		}
	}
	for _, svc := range []*commands.Service{s.svc, other} {
		got, err := svc.Subscription(ctx, s.req(s.operator), sub.State.ID, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := fresh.Subscription(ctx, s.req(s.operator), sub.State.ID, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 6 || !reflect.DeepEqual(got.State, want.State) {
			t.Fatalf("through snapshots: version %d %+v\nreplayed: version %d %+v", got.Version, got.State, want.Version, want.State)
		}
	}

	// A revocation on one replica refuses the partner on the other at once.
	if _, err := other.RevokePartnerAccess(ctx, s.req(s.admin), s.partner, "ended"); err != nil {
		t.Fatal(err)
	}
	_, err = s.subscribe(t, s.operator, s.accA, nil)
	wantCode(t, err, domain.ErrForbidden, domain.CodePartnerAccessRevoked)

	// So does a user's removal for authentication.
	added, err := s.svc.AddTenantUser(ctx, s.req(s.admin), commands.AddUser{Name: "Aud", Role: domain.RoleAuditor})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.Authenticate(ctx, added.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := other.RemoveTenantUser(ctx, s.req(s.admin), added.State.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.Authenticate(ctx, added.Key); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("Authenticate after removal on another replica = %v, want ErrUnauthenticated", err)
	}
}
