package commands_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/eventstore/memory"
)

// world is a tenant with its admin, and a partner with its admin, on one
// store, at a fixed instant.
type world struct {
	svc     *commands.Service
	store   eventstore.Store
	now     time.Time
	tenant  uuid.UUID
	admin   domain.Principal
	partner uuid.UUID
	padmin  domain.Principal
}

var operator = domain.Principal{Type: domain.ActorOperator, ID: uuid.MustParse("00000000-0000-7000-8000-0000000000aa")}

// newWorld builds a world on the store that open returns, given the
// world's clock.
func newWorld(t *testing.T, open func(clock func() time.Time) eventstore.Store) *world {
	t.Helper()
	w := &world{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return w.now }
	w.store = open(clock)
	w.svc = commands.New(w.store, commands.WithClock(clock))
	ctx := context.Background()
	tb, err := w.svc.CreateTenant(ctx, commands.Request{Principal: operator}, commands.CreateTenant{Name: "Acme"})
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	pb, err := w.svc.CreatePartner(ctx, commands.Request{Principal: operator}, commands.CreatePartner{Name: "Resell Co"})
	if err != nil {
		t.Fatalf("create partner: %v", err)
	}
	w.tenant, w.partner = tb.ID, pb.ID
	w.admin = domain.Principal{Type: domain.ActorTenantUser, ID: tb.AdminUserID, TenantID: tb.ID, Role: domain.RoleTenantAdmin}
	w.padmin = domain.Principal{Type: domain.ActorPartnerUser, ID: pb.AdminUserID, PartnerID: pb.ID, Role: domain.RolePartnerAdmin}
	return w
}

func newMemoryWorld(t *testing.T) *world {
	t.Helper()
	return newWorld(t, func(clock func() time.Time) eventstore.Store { return memory.New(memory.WithClock(clock)) })
}

func (w *world) req(p domain.Principal) commands.Request {
	return commands.Request{Principal: p, TenantID: w.tenant, RequestID: "req-" + uuid.NewString()}
}

// partnerUser adds a user with role to the world's partner.
func (w *world) partnerUser(t *testing.T, role domain.Role) domain.Principal {
	t.Helper()
	added, err := w.svc.AddPartnerUser(context.Background(), w.req(w.padmin), w.partner, commands.AddUser{Name: string(role), Role: role})
	if err != nil {
		t.Fatalf("add partner user: %v", err)
	}
	return domain.Principal{Type: domain.ActorPartnerUser, ID: added.State.ID, PartnerID: w.partner, Role: role}
}

// grant gives the world's partner access with role to accounts (all when
// none are named).
func (w *world) grant(t *testing.T, role domain.Role, accounts ...uuid.UUID) {
	t.Helper()
	cmd := commands.PutAccess{Role: role, AllAccounts: len(accounts) == 0, AccountIDs: accounts}
	if _, err := w.svc.PutPartnerAccess(context.Background(), w.req(w.admin), w.partner, cmd); err != nil {
		t.Fatalf("grant: %v", err)
	}
}

// denials returns the AccessDenied events of the world's tenant.
func (w *world) denials(t *testing.T) []*domain.AccessDenied {
	t.Helper()
	evs, err := w.store.ReadStream(context.Background(), commands.AuditStream(w.tenant), 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []*domain.AccessDenied
	for _, e := range evs {
		decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, decoded.(*domain.AccessDenied))
	}
	return out
}

func wantCode(t *testing.T, err error, kind error, code string) {
	t.Helper()
	var derr *domain.Error
	if !errors.Is(err, kind) || !errors.As(err, &derr) || derr.Code != code {
		t.Fatalf("err = %v, want %v with code %s", err, kind, code)
	}
}
