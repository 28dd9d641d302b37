package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
)

// keyedCall sends one keyed request and says whether it was a replay.
type keyedCall func(key string) (replayed bool, err error)

// subscribeKeyed prepares the partner operator's keyed subscription of
// account A.
func subscribeKeyed(t *testing.T, s *shop) keyedCall {
	t.Helper()
	return func(key string) (bool, error) {
		out, err := s.svc.CreateSubscription(context.Background(), keyedReq(s.req(s.operator), key), commands.CreateSubscription{
			AccountID: s.accA, StartDate: domain.NewDate(2026, 11, 1), Term: commands.Term{Type: "evergreen"},
			Items: []commands.SubscriptionItem{{ProductID: s.plan, ChargeID: s.monthly, Quantity: decimal.NewFromInt(2)}},
		})
		return out.Replayed, err
	}
}

// amendKeyed prepares the partner operator's keyed amendment of a new
// subscription, If-Match its first version, and amend, an amendment of
// the same subscription without a key.
func amendKeyed(t *testing.T, s *shop) (keyed keyedCall, amend func(t *testing.T)) {
	t.Helper()
	sub, err := s.subscribe(t, s.operator, s.accA, nil)
	if err != nil {
		t.Fatal(err)
	}
	change := func(q int64) commands.AmendSubscription {
		return commands.AmendSubscription{EffectiveDate: domain.NewDate(2026, 11, 25),
			Changes: []commands.Change{{Type: "change_quantity", ItemID: sub.State.Items[0].ID, Quantity: decimal.NewFromInt(q)}}}
	}
	keyed = func(key string) (bool, error) {
		req := keyedReq(s.req(s.operator), key)
		req.IfMatch = &sub.Version
		out, err := s.svc.AmendSubscription(context.Background(), req, sub.State.ID, change(5))
		return out.Replayed, err
	}
	amend = func(t *testing.T) {
		t.Helper()
		if _, err := s.svc.AmendSubscription(context.Background(), s.req(s.operator), sub.State.ID, change(7)); err != nil {
			t.Fatal(err)
		}
	}
	return keyed, amend
}

// usageKeyed prepares the partner operator's keyed usage on a
// subscription of account A and one of account B, in one request.
func usageKeyed(t *testing.T, s *shop) keyedCall {
	t.Helper()
	var records []commands.UsageRecord
	for _, account := range []uuid.UUID{s.accA, s.accB} {
		sub, err := s.subscribe(t, s.operator, account, nil)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, commands.UsageRecord{ID: uuid.New(), SubscriptionID: sub.State.ID, ItemID: sub.State.Items[1].ID,
			Quantity: decimal.RequireFromString("1.5"), OccurredAt: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)})
	}
	return func(key string) (bool, error) {
		out, err := s.svc.RecordUsage(context.Background(), keyedReq(s.req(s.operator), key), commands.RecordUsage{Records: records})
		return out.Replayed, err
	}
}

// TestKeyedReplayIsReauthorized replays keyed requests after what the
// caller may do changed: a replay is refused as the request would be were
// it new, the refusal audited, while the replay of a request still allowed
// answers with the first answer, even where deciding it again would now
// refuse it.
func TestKeyedReplayIsReauthorized(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	grant := func(t *testing.T, s *shop, cmd commands.PutAccess) {
		t.Helper()
		if _, err := s.svc.PutPartnerAccess(ctx, s.req(s.admin), s.partner, cmd); err != nil {
			t.Fatalf("put access: %v", err)
		}
	}
	expires := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		// prepare sets up, and returns the keyed request and what changes
		// between it and its replay.
		prepare func(t *testing.T, s *shop) (keyedCall, func(t *testing.T))
		kind    error // nil: the replay answers with the first answer
		code    string
	}{
		{name: "allowed still", prepare: func(t *testing.T, s *shop) (keyedCall, func(*testing.T)) {
			return subscribeKeyed(t, s), func(*testing.T) {}
		}},
		{name: "revoked", kind: domain.ErrForbidden, code: domain.CodePartnerAccessRevoked,
			prepare: func(t *testing.T, s *shop) (keyedCall, func(*testing.T)) {
				return subscribeKeyed(t, s), func(t *testing.T) {
					if _, err := s.svc.RevokePartnerAccess(ctx, s.req(s.admin), s.partner, "contract ended"); err != nil {
						t.Fatal(err)
					}
				}
			}},
		{name: "expired", kind: domain.ErrForbidden, code: domain.CodePartnerAccessExpired,
			prepare: func(t *testing.T, s *shop) (keyedCall, func(*testing.T)) {
				grant(t, s, commands.PutAccess{Role: domain.RolePartnerAdmin, AccountIDs: []uuid.UUID{s.accA, s.accB}, ExpiresAt: &expires})
				return subscribeKeyed(t, s), func(*testing.T) { s.now = expires.Add(time.Minute) }
			}},
		{name: "account out of scope", kind: domain.ErrNotFound, code: domain.CodeNotFound,
			prepare: func(t *testing.T, s *shop) (keyedCall, func(*testing.T)) {
				return subscribeKeyed(t, s), func(t *testing.T) {
					grant(t, s, commands.PutAccess{Role: domain.RolePartnerAdmin, AccountIDs: []uuid.UUID{s.accB}})
				}
			}},
		{name: "grant lowered to viewer", kind: domain.ErrForbidden, code: domain.CodeForbidden,
			prepare: func(t *testing.T, s *shop) (keyedCall, func(*testing.T)) {
				return subscribeKeyed(t, s), func(t *testing.T) {
					grant(t, s, commands.PutAccess{Role: domain.RolePartnerViewer, AllAccounts: true})
				}
			}},
		{name: "price override no longer permitted", kind: domain.ErrForbidden, code: domain.CodePriceOverrideNotPermitted,
			prepare: func(t *testing.T, s *shop) (keyedCall, func(*testing.T)) {
				price := "10.00"
				return func(key string) (bool, error) {
						out, err := s.svc.CreateSubscription(ctx, keyedReq(s.req(s.padmin), key), commands.CreateSubscription{
							AccountID: s.accA, StartDate: domain.NewDate(2026, 11, 1), Term: commands.Term{Type: "evergreen"},
							Items: []commands.SubscriptionItem{{ProductID: s.plan, ChargeID: s.monthly, Quantity: decimal.NewFromInt(1), UnitPrice: &price}},
						})
						return out.Replayed, err
					}, func(t *testing.T) {
						grant(t, s, commands.PutAccess{Role: domain.RolePartnerOperator, AccountIDs: []uuid.UUID{s.accA, s.accB}})
					}
			}},
		{name: "amendment revoked", kind: domain.ErrForbidden, code: domain.CodePartnerAccessRevoked,
			prepare: func(t *testing.T, s *shop) (keyedCall, func(*testing.T)) {
				keyed, _ := amendKeyed(t, s)
				return keyed, func(t *testing.T) {
					if _, err := s.svc.RevokePartnerAccess(ctx, s.req(s.admin), s.partner, "contract ended"); err != nil {
						t.Fatal(err)
					}
				}
			}},
		{name: "amendment If-Match a version since passed", prepare: amendKeyed},
		{name: "usage on two accounts, one out of scope", kind: domain.ErrNotFound, code: domain.CodeNotFound,
			prepare: func(t *testing.T, s *shop) (keyedCall, func(*testing.T)) {
				return usageKeyed(t, s), func(t *testing.T) {
					grant(t, s, commands.PutAccess{Role: domain.RolePartnerAdmin, AccountIDs: []uuid.UUID{s.accA}})
				}
			}},
		{name: "usage on two accounts, both in scope", prepare: func(t *testing.T, s *shop) (keyedCall, func(*testing.T)) {
			return usageKeyed(t, s), func(t *testing.T) {
				grant(t, s, commands.PutAccess{Role: domain.RolePartnerOperator, AccountIDs: []uuid.UUID{s.accA, s.accB}})
			}
		}},
		{name: "user removed, removed again", prepare: func(t *testing.T, s *shop) (keyedCall, func(*testing.T)) {
			added, err := s.svc.AddTenantUser(ctx, s.req(s.admin), commands.AddUser{Name: "Finn", Role: domain.RoleFinance})
			if err != nil {
				t.Fatal(err)
			}
			return func(key string) (bool, error) {
				out, err := s.svc.RemoveTenantUser(ctx, keyedReq(s.req(s.admin), key), added.State.ID)
				return out.Replayed, err
			}, func(*testing.T) {}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { // one at a time: each holds a pool of its own
			s := stock(t, newPostgresWorld(t))
			keyed, between := tc.prepare(t, s)
			if replayed, err := keyed("k-1"); err != nil || replayed {
				t.Fatalf("first request = replayed %v, %v; want a new request", replayed, err)
			}
			between(t)
			denials := len(s.denials(t))
			replayed, err := keyed("k-1")
			if tc.kind == nil {
				if err != nil || !replayed {
					t.Fatalf("replay = replayed %v, %v; want the first answer", replayed, err)
				}
				return
			}
			wantCode(t, err, tc.kind, tc.code)
			if got := len(s.denials(t)) - denials; got != 1 {
				t.Fatalf("the refused replay recorded %d AccessDenied events, want 1", got)
			}
		})
	}
}
