package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
)

func TestBootstrapIsForTheOperatorOnly(t *testing.T) {
	t.Parallel()
	w := newMemoryWorld(t)
	_, err := w.svc.CreateTenant(context.Background(), w.req(w.admin), commands.CreateTenant{Name: "Other"})
	wantCode(t, err, domain.ErrForbidden, domain.CodeForbidden)
}

func TestTenantUsers(t *testing.T) {
	t.Parallel()
	w := newMemoryWorld(t)
	ctx := context.Background()
	added, err := w.svc.AddTenantUser(ctx, w.req(w.admin), commands.AddUser{Name: "Fin", Role: domain.RoleFinance})
	if err != nil {
		t.Fatalf("add user: %v", err)
	}
	if added.Key == "" || added.State.KeyHash != commands.HashAPIKey(added.Key) || added.State.Role != domain.RoleFinance {
		t.Fatalf("added = %+v, want a finance user whose stored hash is its key's", added.State)
	}
	finance := domain.Principal{Type: domain.ActorTenantUser, ID: added.State.ID, TenantID: w.tenant, Role: domain.RoleFinance}
	_, err = w.svc.AddTenantUser(ctx, w.req(finance), commands.AddUser{Name: "Eve", Role: domain.RoleTenantAdmin})
	wantCode(t, err, domain.ErrForbidden, domain.CodeForbidden)
	if d := w.denials(t); len(d) != 1 || d[0].Permission != string(domain.PermUsersManage) || d[0].Actor.ID != finance.ID {
		t.Fatalf("denials = %+v, want one users.manage refusal of the finance user", d)
	}
	if _, err := w.svc.RemoveTenantUser(ctx, w.req(w.admin), added.State.ID); err != nil {
		t.Fatalf("remove user: %v", err)
	}
	_, err = w.svc.RemoveTenantUser(ctx, w.req(w.admin), added.State.ID)
	wantCode(t, err, domain.ErrNotFound, domain.CodeNotFound)
}

func TestAnotherTenantsUserSeesNothingAndIsNotAudited(t *testing.T) {
	t.Parallel()
	w := newMemoryWorld(t)
	stranger := domain.Principal{Type: domain.ActorTenantUser, ID: uuid.New(), TenantID: uuid.New(), Role: domain.RoleTenantAdmin}
	_, err := w.svc.AddTenantUser(context.Background(), w.req(stranger), commands.AddUser{Name: "x", Role: domain.RoleAuditor})
	wantCode(t, err, domain.ErrNotFound, domain.CodeNotFound)
	if d := w.denials(t); len(d) != 0 {
		t.Fatalf("a caller unknown to the tenant was audited: %+v", d)
	}
}

func TestPartnerAccessLifecycle(t *testing.T) {
	t.Parallel()
	w := newMemoryWorld(t)
	ctx := context.Background()
	first, err := w.svc.PutPartnerAccess(ctx, w.req(w.admin), w.partner, commands.PutAccess{Role: domain.RolePartnerOperator, AllAccounts: true})
	if err != nil || !first.Created || first.State.Role != domain.RolePartnerOperator {
		t.Fatalf("grant = %+v, %v; want a new operator grant", first, err)
	}
	changed, err := w.svc.PutPartnerAccess(ctx, w.req(w.admin), w.partner, commands.PutAccess{Role: domain.RolePartnerViewer, AllAccounts: true})
	if err != nil || changed.Created || changed.State.Role != domain.RolePartnerViewer || changed.Version != first.Version+1 {
		t.Fatalf("change = %+v, %v; want the grant changed to viewer", changed, err)
	}
	_, err = w.svc.PutPartnerAccess(ctx, w.req(w.padmin), w.partner, commands.PutAccess{Role: domain.RolePartnerAdmin, AllAccounts: true})
	wantCode(t, err, domain.ErrForbidden, domain.CodeForbidden)

	if _, err := w.svc.RevokePartnerAccess(ctx, w.req(w.admin), w.partner, "contract ended"); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	_, err = w.svc.PutPartnerAccess(ctx, w.req(w.padmin), w.partner, commands.PutAccess{Role: domain.RolePartnerAdmin, AllAccounts: true})
	wantCode(t, err, domain.ErrForbidden, domain.CodePartnerAccessRevoked)
	d := w.denials(t)
	if len(d) != 2 || d[1].Reason != domain.CodePartnerAccessRevoked || d[1].Actor.PartnerID != w.partner {
		t.Fatalf("denials = %+v, want the partner's two refusals, the last for revoked access", d)
	}
}

func TestUnknownPartnerCannotBeGranted(t *testing.T) {
	t.Parallel()
	w := newMemoryWorld(t)
	_, err := w.svc.PutPartnerAccess(context.Background(), w.req(w.admin), uuid.New(), commands.PutAccess{Role: domain.RolePartnerViewer, AllAccounts: true})
	wantCode(t, err, domain.ErrNotFound, domain.CodeNotFound)
}

func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	w := newMemoryWorld(t)
	ctx := context.Background()
	req := w.req(w.admin)
	req.IdempotencyKey = "grant-once"
	cmd := commands.PutAccess{Role: domain.RolePartnerOperator, AllAccounts: true}
	first, err := w.svc.PutPartnerAccess(ctx, req, w.partner, cmd)
	if err != nil {
		t.Fatal(err)
	}
	again, err := w.svc.PutPartnerAccess(ctx, req, w.partner, cmd)
	if err != nil || !again.Replayed || again.Version != first.Version || again.Position != first.Position {
		t.Fatalf("retry = %+v, %v; want the first result replayed", again.Outcome, err)
	}
	cmd.Role = domain.RolePartnerAdmin
	_, err = w.svc.PutPartnerAccess(ctx, req, w.partner, cmd)
	wantCode(t, err, domain.ErrRule, domain.CodeIdempotencyKeyReused)

	other := w.req(w.admin)
	other.IdempotencyKey = "grant-once"
	other.Principal.ID = uuid.New() // keys are per caller
	if _, err := w.svc.PutPartnerAccess(ctx, other, w.partner, cmd); err != nil {
		t.Fatalf("the same key of another caller: %v", err)
	}
}

func TestIfMatch(t *testing.T) {
	t.Parallel()
	w := newMemoryWorld(t)
	ctx := context.Background()
	first, err := w.svc.PutPartnerAccess(ctx, w.req(w.admin), w.partner, commands.PutAccess{Role: domain.RolePartnerOperator, AllAccounts: true})
	if err != nil {
		t.Fatal(err)
	}
	stale := first.Version - 1
	req := w.req(w.admin)
	req.IfMatch = &stale
	_, err = w.svc.RevokePartnerAccess(ctx, req, w.partner, "")
	wantCode(t, err, domain.ErrPrecondition, domain.CodePreconditionFailed)
	req.IfMatch = &first.Version
	if _, err := w.svc.RevokePartnerAccess(ctx, req, w.partner, ""); err != nil {
		t.Fatalf("revoke at the current version: %v", err)
	}
}

func TestExpiredGrantRefusesAtOnce(t *testing.T) {
	t.Parallel()
	w := newMemoryWorld(t)
	ctx := context.Background()
	expires := w.now.Add(time.Hour)
	if _, err := w.svc.PutPartnerAccess(ctx, w.req(w.admin), w.partner, commands.PutAccess{
		Role: domain.RolePartnerAdmin, AllAccounts: true, ExpiresAt: &expires,
	}); err != nil {
		t.Fatal(err)
	}
	create := commands.CreateAccount{Name: "C", Currency: "EUR", Billing: commands.Billing{ContactName: "C", Email: "c@example.com"}}
	if _, err := w.svc.CreateAccount(ctx, w.req(w.padmin), create); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	w.now = expires
	_, err := w.svc.CreateAccount(ctx, w.req(w.padmin), create)
	wantCode(t, err, domain.ErrForbidden, domain.CodePartnerAccessExpired)
}
