package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
)

// keyedReq is req with an idempotency key.
func keyedReq(req commands.Request, key string) commands.Request {
	req.IdempotencyKey = key
	return req
}

// streamLen counts the events of stream.
func streamLen(t *testing.T, store eventstore.Store, stream string) int {
	t.Helper()
	evs, err := store.ReadStream(context.Background(), stream, 1, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// logHead is the position of the log's last event.
func logHead(t *testing.T, store eventstore.Store) eventstore.Position {
	t.Helper()
	head, err := store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return head
}

// TestIdempotencyKeyScopedByPathOwner sends one key, with one body, from
// one partner admin to two tenants that granted it access: each tenant
// gets an account of its own, and a retry on each replays its own. The
// same key on the partner's own route is a request of its own too.
func TestIdempotencyKeyScopedByPathOwner(t *testing.T) {
	t.Parallel()
	w := newPostgresWorld(t)
	ctx := context.Background()
	w.grant(t, domain.RolePartnerAdmin)
	tb, err := w.svc.CreateTenant(ctx, commands.Request{Principal: operator}, commands.CreateTenant{Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	other := domain.Principal{Type: domain.ActorTenantUser, ID: tb.AdminUserID, TenantID: tb.ID, Role: domain.RoleTenantAdmin}
	otherReq := func(p domain.Principal) commands.Request {
		r := w.req(p)
		r.TenantID = tb.ID
		return r
	}
	if _, err := w.svc.PutPartnerAccess(ctx, otherReq(other), w.partner, commands.PutAccess{Role: domain.RolePartnerAdmin, AllAccounts: true}); err != nil {
		t.Fatal(err)
	}

	const key = "open-globex"
	create := commands.CreateAccount{Name: "Globex", Currency: "EUR", Billing: commands.Billing{ContactName: "Hank", Email: "h@example.com"}}
	accounts := map[uuid.UUID]commands.Outcome[domain.Account]{}
	for _, req := range []commands.Request{w.req(w.padmin), otherReq(w.padmin)} {
		req = keyedReq(req, key)
		first, err := w.svc.CreateAccount(ctx, req, create)
		if err != nil {
			t.Fatalf("create on tenant %s: %v", req.TenantID, err)
		}
		if first.Replayed || first.State.TenantID != req.TenantID {
			t.Fatalf("create on tenant %s = replayed %v, account of tenant %s; want a new account of its own",
				req.TenantID, first.Replayed, first.State.TenantID)
		}
		if n := streamLen(t, w.store, commands.AccountStream(req.TenantID, first.State.ID)); n != 1 {
			t.Fatalf("tenant %s's account stream holds %d events, want 1", req.TenantID, n)
		}
		accounts[req.TenantID] = first
	}
	for _, req := range []commands.Request{w.req(w.padmin), otherReq(w.padmin)} {
		again, err := w.svc.CreateAccount(ctx, keyedReq(req, key), create)
		want := accounts[req.TenantID]
		if err != nil || !again.Replayed || again.State.ID != want.State.ID || again.Position != want.Position || again.Version != want.Version {
			t.Fatalf("retry on tenant %s = %+v, %v; want its own account %s at %d replayed", req.TenantID, again, err, want.State.ID, want.Position)
		}
	}

	added, err := w.svc.AddPartnerUser(ctx, keyedReq(w.req(w.padmin), key), w.partner, commands.AddUser{Name: "Olga", Role: domain.RolePartnerOperator})
	if err != nil || added.Replayed || added.State == nil {
		t.Fatalf("the key on the partner's route = %+v, %v; want a new user", added, err)
	}
}

// usageShop is a Postgres shop with two subscriptions of the partner's
// operator and a usage record on each.
type usageShop struct {
	*shop
	subs  [2]commands.Outcome[domain.Subscription]
	seen  [2]commands.UsageRecord // recorded already
	setup eventstore.Position     // the position of the last usage recorded
}

func newUsageShop(t *testing.T) *usageShop {
	t.Helper()
	u := &usageShop{shop: stock(t, newPostgresWorld(t))}
	for i, acc := range []uuid.UUID{u.accA, u.accB} {
		sub, err := u.subscribe(t, u.operator, acc, nil)
		if err != nil {
			t.Fatal(err)
		}
		u.subs[i] = sub
		u.seen[i] = u.record(i)
		got, err := u.svc.RecordUsage(context.Background(), u.req(u.operator), commands.RecordUsage{Records: []commands.UsageRecord{u.seen[i]}})
		if err != nil || got.Accepted != 1 || got.Position == 0 {
			t.Fatalf("record usage = %+v, %v", got, err)
		}
		u.setup = got.Position
	}
	return u
}

// record is a new usage record on subscription i's meter.
func (u *usageShop) record(i int) commands.UsageRecord {
	return commands.UsageRecord{ID: uuid.New(), SubscriptionID: u.subs[i].State.ID, ItemID: u.subs[i].State.Items[1].ID,
		Quantity: decimal.RequireFromString("1.5"), OccurredAt: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)}
}

func (u *usageShop) usageEvents(t *testing.T) int {
	t.Helper()
	return streamLen(t, u.store, commands.UsageStream(u.tenant, u.subs[0].State.ID)) +
		streamLen(t, u.store, commands.UsageStream(u.tenant, u.subs[1].State.ID))
}

// TestUsageKeyRecordedWhateverTheShape sends usage requests with a key
// whose records are all, some or none duplicates, over one or two
// subscriptions: each records its key, so that a retry replays the first
// answer at its position and the key with another body is refused.
func TestUsageKeyRecordedWhateverTheShape(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name            string
		records         func(u *usageShop) []commands.UsageRecord
		accepted, dups  int
		atSetupPosition bool // changed nothing: answers where the duplicates were recorded
	}{
		{name: "all duplicates of one subscription", accepted: 0, dups: 1, atSetupPosition: true,
			records: func(u *usageShop) []commands.UsageRecord { return []commands.UsageRecord{u.seen[1]} }},
		{name: "all duplicates of two subscriptions", accepted: 0, dups: 2, atSetupPosition: true,
			records: func(u *usageShop) []commands.UsageRecord { return []commands.UsageRecord{u.seen[0], u.seen[1]} }},
		{name: "the last subscription only duplicates", accepted: 1, dups: 1,
			records: func(u *usageShop) []commands.UsageRecord { return []commands.UsageRecord{u.record(0), u.seen[1]} }},
		{name: "the first subscription only duplicates", accepted: 1, dups: 1,
			records: func(u *usageShop) []commands.UsageRecord { return []commands.UsageRecord{u.seen[0], u.record(1)} }},
		{name: "new records on two subscriptions", accepted: 2, dups: 0,
			records: func(u *usageShop) []commands.UsageRecord { return []commands.UsageRecord{u.record(0), u.record(1)} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := newUsageShop(t)
			ctx := context.Background()
			req := keyedReq(u.req(u.operator), "usage-"+uuid.NewString())
			body := commands.RecordUsage{Records: tc.records(u)}
			first, err := u.svc.RecordUsage(ctx, req, body)
			if err != nil || first.Replayed || first.Accepted != tc.accepted || first.Duplicates != tc.dups || first.Position == 0 {
				t.Fatalf("first = %+v, %v; want %d accepted, %d duplicates at a position", first, err, tc.accepted, tc.dups)
			}
			if tc.atSetupPosition && first.Position != u.setup {
				t.Fatalf("a request of duplicates answered position %d, want %d where they were recorded", first.Position, u.setup)
			}
			if !tc.atSetupPosition && first.Position != logHead(t, u.store) {
				t.Fatalf("position %d, want the log's head %d, the request's last event", first.Position, logHead(t, u.store))
			}
			events := u.usageEvents(t)
			again, err := u.svc.RecordUsage(ctx, req, body)
			if err != nil || !again.Replayed || again.Accepted != first.Accepted || again.Duplicates != first.Duplicates || again.Position != first.Position {
				t.Fatalf("retry = %+v, %v; want the first answer %+v replayed", again, err, first)
			}
			other := commands.RecordUsage{Records: append(tc.records(u)[:1:1], u.record(0))}
			_, err = u.svc.RecordUsage(ctx, req, other)
			wantCode(t, err, domain.ErrRule, domain.CodeIdempotencyKeyReused)
			if n := u.usageEvents(t); n != events {
				t.Fatalf("the retry and the refused reuse appended: %d usage events, want %d", n, events)
			}
		})
	}
}

// TestKeyedNoOpAnswersItsState repeats a revocation and an update of
// billing to what it is: each changes nothing and answers the position
// of the event that recorded the state it answers from, keyed or not, and
// a keyed one replays it.
func TestKeyedNoOpAnswersItsState(t *testing.T) {
	t.Parallel()
	w := newPostgresWorld(t)
	ctx := context.Background()
	w.grant(t, domain.RolePartnerOperator)
	revoked, err := w.svc.RevokePartnerAccess(ctx, w.req(w.admin), w.partner, "")
	if err != nil {
		t.Fatal(err)
	}
	billing := commands.Billing{ContactName: "Ada", Email: "ada@example.com"}
	acc, err := w.svc.CreateAccount(ctx, w.req(w.admin), commands.CreateAccount{Name: "C", Currency: "EUR", Billing: billing})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		do   func(req commands.Request) (uint64, eventstore.Position, bool, error)
	}{
		{name: "repeated revoke", do: func(req commands.Request) (uint64, eventstore.Position, bool, error) {
			out, err := w.svc.RevokePartnerAccess(ctx, req, w.partner, "")
			return out.Version, out.Position, out.Replayed, err
		}},
		{name: "billing as it is", do: func(req commands.Request) (uint64, eventstore.Position, bool, error) {
			out, err := w.svc.UpdateBilling(ctx, req, acc.State.ID, billing)
			return out.Version, out.Position, out.Replayed, err
		}},
	}
	wants := map[string][2]uint64{
		"repeated revoke":  {revoked.Version, uint64(revoked.Position)},
		"billing as it is": {acc.Version, uint64(acc.Position)},
	}
	for _, tc := range cases {
		want := wants[tc.name]
		for _, key := range []string{"", "noop-" + uuid.NewString()} {
			req := keyedReq(w.req(w.admin), key)
			for attempt := range 2 {
				version, position, replayed, err := tc.do(req)
				if err != nil || version != want[0] || uint64(position) != want[1] || replayed != (key != "" && attempt == 1) {
					t.Fatalf("%s (key %q, attempt %d) = version %d at %d, replayed %v, %v; want version %d at %d",
						tc.name, key, attempt, version, position, replayed, err, want[0], want[1])
				}
			}
		}
	}
}

// TestKeyedGrantReplaysWhetherItCreated grants access with a key, then
// puts the same terms with another: the first created the grant, the
// second changed nothing, and each retry says what its first did.
func TestKeyedGrantReplaysWhetherItCreated(t *testing.T) {
	t.Parallel()
	w := newPostgresWorld(t)
	ctx := context.Background()
	terms := commands.PutAccess{Role: domain.RolePartnerOperator, AllAccounts: true}
	var granted commands.AccessPut
	for i, created := range []bool{true, false} {
		req := keyedReq(w.req(w.admin), "grant-"+uuid.NewString())
		first, err := w.svc.PutPartnerAccess(ctx, req, w.partner, terms)
		if err != nil || first.Created != created || first.Replayed {
			t.Fatalf("put %d = created %v, replayed %v, %v; want created %v", i, first.Created, first.Replayed, err, created)
		}
		if i == 0 {
			granted = first
		}
		if first.Version != granted.Version || first.Position != granted.Position {
			t.Fatalf("put %d answered version %d at %d, want the grant's %d at %d", i, first.Version, first.Position, granted.Version, granted.Position)
		}
		again, err := w.svc.PutPartnerAccess(ctx, req, w.partner, terms)
		if err != nil || !again.Replayed || again.Created != created || again.Version != first.Version || again.Position != first.Position {
			t.Fatalf("retry of put %d = created %v, replayed %v, version %d at %d, %v; want the first answer, created %v",
				i, again.Created, again.Replayed, again.Version, again.Position, err, created)
		}
	}
}
