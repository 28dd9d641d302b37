package commands_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore/memory"
)

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := commands.New(memory.New())
	op := commands.Request{Principal: operator}
	tb, err := svc.CreateTenant(ctx, op, commands.CreateTenant{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := svc.CreatePartner(ctx, op, commands.CreatePartner{Name: "Resell"})
	if err != nil {
		t.Fatal(err)
	}
	admin := domain.Principal{Type: domain.ActorTenantUser, ID: tb.AdminUserID, TenantID: tb.ID, Role: domain.RoleTenantAdmin}
	padmin := domain.Principal{Type: domain.ActorPartnerUser, ID: pb.AdminUserID, PartnerID: pb.ID, Role: domain.RolePartnerAdmin}
	fin, err := svc.AddTenantUser(ctx, commands.Request{Principal: admin, TenantID: tb.ID}, commands.AddUser{Name: "Fin", Role: domain.RoleFinance})
	if err != nil {
		t.Fatal(err)
	}
	other, err := svc.CreateTenant(ctx, op, commands.CreateTenant{Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		key  string
		want domain.Principal
	}{
		{"tenant admin", tb.AdminKey, admin},
		{"partner admin", pb.AdminKey, padmin},
		{"added user", fin.Key, domain.Principal{Type: domain.ActorTenantUser, ID: fin.State.ID, TenantID: tb.ID, Role: domain.RoleFinance}},
		{"empty", "", domain.Principal{}},
		{"garbage", "Bearer nonsense", domain.Principal{}},
		{"no prefix", strings.TrimPrefix(tb.AdminKey, "lk_"), domain.Principal{}},
		{"truncated", tb.AdminKey[:len(tb.AdminKey)-1], domain.Principal{}},
		{"one character changed", flipLast(tb.AdminKey), domain.Principal{}},
		{"another tenant's key", other.AdminKey, domain.Principal{Type: domain.ActorTenantUser, ID: other.AdminUserID, TenantID: other.ID, Role: domain.RoleTenantAdmin}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := svc.Authenticate(ctx, tt.key)
			if tt.want == (domain.Principal{}) {
				if !errors.Is(err, domain.ErrUnauthenticated) {
					t.Fatalf("Authenticate = %+v, %v; want ErrUnauthenticated", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Authenticate = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestRemovedUsersKeyStopsAtOnce(t *testing.T) {
	t.Parallel()
	w := newMemoryWorld(t)
	ctx := context.Background()
	added, err := w.svc.AddPartnerUser(ctx, w.req(w.padmin), w.partner, commands.AddUser{Name: "Op", Role: domain.RolePartnerOperator})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := w.svc.Authenticate(ctx, added.Key); err != nil || p.ID != added.State.ID || p.PartnerID != w.partner {
		t.Fatalf("Authenticate before removal = %+v, %v", p, err)
	}
	if _, err := w.svc.RemovePartnerUser(ctx, w.req(w.padmin), w.partner, added.State.ID); err != nil {
		t.Fatal(err)
	}
	if p, err := w.svc.Authenticate(ctx, added.Key); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("Authenticate after removal = %+v, %v; want ErrUnauthenticated", p, err)
	}
}

func flipLast(key string) string {
	last := key[len(key)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return key[:len(key)-1] + string(repl)
}
