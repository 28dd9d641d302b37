package commands_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
)

// AuthenticateAhead reads the subscription a write names with the key's
// owner; the command uses that read once, so that when another replica
// wrote in between, the lost race is retried on a fresh read.
func TestReadAheadServesOneLoadAndALostRaceReadsAgain(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	added, err := s.svc.AddPartnerUser(ctx, s.req(s.padmin), s.partner, commands.AddUser{Name: "Op", Role: domain.RolePartnerOperator})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := s.subscribe(t, s.operator, s.accA, nil)
	if err != nil {
		t.Fatal(err)
	}
	item := sub.State.Items[0].ID
	amend := func(q int64) commands.AmendSubscription {
		return commands.AmendSubscription{EffectiveDate: domain.NewDate(2026, 12, 1), Changes: []commands.Change{
			{Type: "change_quantity", ItemID: item, Quantity: decimal.NewFromInt(q)}}}
	}

	actx, p, err := s.svc.AuthenticateAhead(ctx, added.Key, commands.Ahead{TenantID: s.tenant, SubscriptionID: sub.State.ID})
	if err != nil || p.ID != added.State.ID || p.PartnerID != s.partner {
		t.Fatalf("AuthenticateAhead = %+v, %v", p, err)
	}
	other := commands.New(s.store, commands.WithClock(func() time.Time { return s.now }))
	if _, err := other.AmendSubscription(ctx, s.req(s.operator), sub.State.ID, amend(7)); err != nil {
		t.Fatal(err)
	}
	got, err := s.svc.AmendSubscription(actx, s.req(p), sub.State.ID, amend(9))
	if err != nil {
		t.Fatalf("amend after another replica's amendment: %v", err)
	}
	if got.Version != 3 || got.State.Items[0].Quantity != 9 {
		t.Fatalf("version %d, quantity %d; want 3 and 9", got.Version, got.State.Items[0].Quantity)
	}

	// With If-Match at the version read ahead, the same race is a failed
	// precondition, not a silent overwrite.
	actx, p, err = s.svc.AuthenticateAhead(ctx, added.Key, commands.Ahead{TenantID: s.tenant, SubscriptionID: sub.State.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.AmendSubscription(ctx, s.req(s.operator), sub.State.ID, amend(5)); err != nil {
		t.Fatal(err)
	}
	req := s.req(p)
	stale := uint64(3)
	req.IfMatch = &stale
	_, err = s.svc.AmendSubscription(actx, req, sub.State.ID, amend(6))
	wantCode(t, err, domain.ErrPrecondition, domain.CodePreconditionFailed)
}

// A key refused by Authenticate is refused with any Ahead.
func TestAuthenticateAheadRefusesARemovedUser(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	added, err := s.svc.AddPartnerUser(ctx, s.req(s.padmin), s.partner, commands.AddUser{Name: "Gone", Role: domain.RolePartnerOperator})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := s.subscribe(t, s.operator, s.accA, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.RemovePartnerUser(ctx, s.req(s.padmin), s.partner, added.State.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.svc.AuthenticateAhead(ctx, added.Key, commands.Ahead{TenantID: s.tenant, SubscriptionID: sub.State.ID})
	if !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("a removed user's key: %v, want ErrUnauthenticated", err)
	}
}
