package domain

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// iamMatrix is api.md's role table as Authorize must apply it on a tenant,
// written out by hand and independent of permissions.go: for each of the
// 17 permissions, the outcome for tenant_admin, finance, auditor,
// partner_admin, partner_operator and partner_viewer on a target in scope
// under an active grant of role partner_admin with no actions. "ok" is
// allowed, "403" Forbidden with code forbidden. users.manage on a tenant
// is over the tenant's users, which partner_admin (whose users.manage is
// over its own partner's users) does not reach.
var iamMatrix = []struct {
	perm                   Permission
	write                  bool
	ta, fi, au, pa, po, pv string
}{
	{"accounts.create", true, "ok", "403", "403", "ok", "403", "403"},
	{"billing.update", true, "ok", "403", "403", "ok", "403", "403"},
	{"subscriptions.create", true, "ok", "403", "403", "ok", "ok", "403"},
	{"subscriptions.amend", true, "ok", "403", "403", "ok", "ok", "403"},
	{"subscriptions.cancel", true, "ok", "403", "403", "ok", "ok", "403"},
	{"usage.record", true, "ok", "403", "403", "ok", "ok", "403"},
	{"catalog.manage", true, "ok", "403", "403", "403", "403", "403"},
	{"partners.manage", true, "ok", "403", "403", "403", "403", "403"},
	{"users.manage", true, "ok", "403", "403", "403", "403", "403"},
	{"billing.run", true, "ok", "ok", "403", "403", "403", "403"},
	{"accounts.read", false, "ok", "ok", "ok", "ok", "ok", "ok"},
	{"catalog.read", false, "ok", "ok", "ok", "ok", "ok", "ok"},
	{"subscriptions.read", false, "ok", "ok", "ok", "ok", "ok", "ok"},
	{"usage.read", false, "ok", "ok", "ok", "ok", "ok", "ok"},
	{"invoices.read", false, "ok", "ok", "ok", "ok", "ok", "ok"},
	{"revenue.read", false, "ok", "ok", "ok", "ok", "ok", "ok"},
	{"audit.read", false, "ok", "ok", "ok", "ok", "403", "403"},
}

var (
	iamOtherTenant  = uuid.MustParse("33333333-3333-4333-8333-333333333333")
	iamOtherPartner = uuid.MustParse("44444444-4444-4444-8444-444444444444")
	iamListed       = iamID(20)
	iamUnlisted     = iamID(21)
)

// iamTargets are where a permission is exercised; in says whether a
// partner with the grant of iamGrantIn has it in scope.
var iamTargets = []struct {
	name   string
	target Target
	in     bool
}{
	{"tenant-wide", Target{}, true},
	{"listed account", Target{AccountID: iamListed}, true},
	{"account created by the partner", Target{AccountID: iamUnlisted, AccountCreatedByPartner: iamPartner}, true},
	{"unlisted account", Target{AccountID: iamUnlisted}, false},
	{"account created by another partner", Target{AccountID: iamUnlisted, AccountCreatedByPartner: iamOtherPartner}, false},
}

// iamGrantIn returns a grant of role to iamPartner on iamTenant over
// iamListed, in status ("active", "revoked", "expired", or "absent" for
// nil), as of iamNow.
func iamGrantIn(t *testing.T, role Role, status string, actions ...Permission) *PartnerAccess {
	t.Helper()
	terms := iamTerms(role, false, iamListed)
	terms.Actions = actions
	terms.ExpiresAt = iamTime(time.Hour)
	steps := []func(g *PartnerAccess) ([]Event, error){iamPut(terms, iamNow.Add(-time.Hour))}
	switch status {
	case "absent":
		return nil
	case "revoked":
		steps = append(steps, iamRevoke(iamNow.Add(-time.Minute)))
	case "expired":
		terms.ExpiresAt = iamTime(-time.Minute)
		steps[0] = iamPut(terms, iamNow.Add(-time.Hour))
	}
	return iamGrant(t, steps...)
}

// iamWantOutcome checks err against an outcome: "ok", "404", "403",
// "403 revoked" or "403 expired".
func iamWantOutcome(t *testing.T, err error, want string) {
	t.Helper()
	switch want {
	case "ok":
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
	case "404":
		iamWantErr(t, err, ErrNotFound, "not_found", "")
	case "403":
		iamWantErr(t, err, ErrForbidden, "forbidden", "")
	case "403 revoked":
		iamWantErr(t, err, ErrForbidden, "partner_access_revoked", "")
	case "403 expired":
		iamWantErr(t, err, ErrForbidden, "partner_access_expired", "")
	default:
		t.Fatalf("bad outcome %q", want)
	}
}

func TestAuthorizeTenantUsers(t *testing.T) {
	t.Parallel()
	roles := []Role{"tenant_admin", "finance", "auditor"}
	for _, row := range iamMatrix {
		for i, want := range []string{row.ta, row.fi, row.au} {
			for _, tenant := range []uuid.UUID{iamTenant, iamOtherTenant} {
				for _, tg := range iamTargets {
					p := Principal{Type: ActorTenantUser, ID: iamID(1), TenantID: tenant, Role: roles[i]}
					expect := want
					if tenant != iamTenant {
						expect = "404"
					}
					name := string(roles[i]) + "/" + string(row.perm) + "/" + tenant.String()[:4] + "/" + tg.name
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						err := Authorize(p, iamTenant, nil, row.perm, tg.target, iamNow)
						iamWantOutcome(t, err, expect)
					})
				}
			}
		}
	}
}

func TestAuthorizePartnerUsers(t *testing.T) {
	t.Parallel()
	roles := []Role{"partner_admin", "partner_operator", "partner_viewer"}
	grants := map[string]*PartnerAccess{}
	for _, status := range []string{"active", "revoked", "expired", "absent"} {
		grants[status] = iamGrantIn(t, RolePartnerAdmin, status)
	}
	for _, row := range iamMatrix {
		for i, want := range []string{row.pa, row.po, row.pv} {
			for status, grant := range grants {
				for _, tg := range iamTargets {
					expect := map[string]string{"absent": "404", "revoked": "403 revoked", "expired": "403 expired"}[status]
					if status == "active" {
						expect = want
						if !tg.in {
							expect = "404"
						}
					}
					p := Principal{Type: ActorPartnerUser, ID: iamID(2), PartnerID: iamPartner, Role: roles[i]}
					t.Run(string(roles[i])+"/"+string(row.perm)+"/"+status+"/"+tg.name, func(t *testing.T) {
						t.Parallel()
						iamWantOutcome(t, Authorize(p, iamTenant, grant, row.perm, tg.target, iamNow), expect)
					})
				}
			}
		}
	}
}

func TestAuthorizePlatformPrincipals(t *testing.T) {
	t.Parallel()
	for _, typ := range []ActorType{ActorOperator, ActorSystem} {
		for _, row := range iamMatrix {
			for _, tg := range iamTargets {
				p := Principal{Type: typ}
				if err := Authorize(p, iamTenant, nil, row.perm, tg.target, iamNow); err != nil {
					t.Errorf("%s %s on %s: %v", typ, row.perm, tg.name, err)
				}
			}
		}
	}
}

func TestAuthorizeMismatches(t *testing.T) {
	t.Parallel()
	active := iamGrantIn(t, RolePartnerAdmin, "active")
	viewer := Principal{Type: ActorPartnerUser, ID: iamID(2), PartnerID: iamPartner, Role: RolePartnerViewer}
	tests := []struct {
		name   string
		p      Principal
		tenant uuid.UUID
		grant  *PartnerAccess
		perm   Permission
		want   string
	}{
		{"grant of another tenant", viewer, iamOtherTenant, active, "accounts.read", "404"},
		{"grant of another partner", Principal{Type: ActorPartnerUser, PartnerID: iamOtherPartner,
			Role: RolePartnerViewer}, iamTenant, active, "accounts.read", "404"},
		{"partner user without partner", Principal{Type: ActorPartnerUser, Role: RolePartnerViewer},
			iamTenant, active, "accounts.read", "404"},
		{"empty grant", viewer, iamTenant, &PartnerAccess{}, "accounts.read", "404"},
		{"partner user with a tenant role", Principal{Type: ActorPartnerUser, PartnerID: iamPartner,
			Role: RoleTenantAdmin}, iamTenant, active, "accounts.read", "403"},
		{"tenant user with a partner role", Principal{Type: ActorTenantUser, TenantID: iamTenant,
			Role: RolePartnerAdmin}, iamTenant, nil, "accounts.read", "403"},
		{"tenant user of no tenant", Principal{Type: ActorTenantUser, Role: RoleTenantAdmin},
			uuid.Nil, nil, "accounts.read", "404"},
		{"unknown principal type", Principal{Type: "robot", TenantID: iamTenant, Role: RoleTenantAdmin},
			iamTenant, nil, "accounts.read", "404"},
		{"unknown permission", Principal{Type: ActorOperator}, iamTenant, nil, "accounts.delete", "403"},
		{"no permission", Principal{Type: ActorTenantUser, TenantID: iamTenant, Role: RoleTenantAdmin},
			iamTenant, nil, "", "403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iamWantOutcome(t, Authorize(tt.p, tt.tenant, tt.grant, tt.perm, Target{}, iamNow), tt.want)
		})
	}
}

func TestAuthorizeEffectiveRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		user, grant Role
		perm        Permission
		want        string
	}{
		{"partner_admin", "partner_operator", "subscriptions.amend", "ok"},
		{"partner_admin", "partner_operator", "accounts.create", "403"},
		{"partner_admin", "partner_operator", "billing.update", "403"},
		{"partner_admin", "partner_operator", "audit.read", "403"},
		{"partner_admin", "partner_viewer", "subscriptions.amend", "403"},
		{"partner_admin", "partner_viewer", "revenue.read", "ok"},
		{"partner_operator", "partner_admin", "accounts.create", "403"},
		{"partner_operator", "partner_admin", "usage.record", "ok"},
		{"partner_operator", "partner_viewer", "usage.record", "403"},
		{"partner_viewer", "partner_admin", "subscriptions.amend", "403"},
		{"partner_viewer", "partner_operator", "subscriptions.cancel", "403"},
		{"partner_viewer", "partner_admin", "audit.read", "403"},
	}
	for _, tt := range tests {
		grant := iamGrantIn(t, tt.grant, "active")
		p := Principal{Type: ActorPartnerUser, PartnerID: iamPartner, Role: tt.user}
		t.Run(string(tt.user)+"/"+string(tt.grant)+"/"+string(tt.perm), func(t *testing.T) {
			t.Parallel()
			iamWantOutcome(t, Authorize(p, iamTenant, grant, tt.perm, Target{AccountID: iamListed}, iamNow), tt.want)
		})
	}
}

func TestAuthorizeActionsNarrowWrites(t *testing.T) {
	t.Parallel()
	grant := iamGrantIn(t, RolePartnerAdmin, "active", "subscriptions.amend", "catalog.manage")
	p := Principal{Type: ActorPartnerUser, PartnerID: iamPartner, Role: RolePartnerAdmin}
	tests := []struct {
		perm Permission
		want string
	}{
		{"subscriptions.amend", "ok"},
		{"subscriptions.create", "403"},
		{"subscriptions.cancel", "403"},
		{"accounts.create", "403"},
		{"billing.update", "403"},
		{"usage.record", "403"},
		{"catalog.manage", "403"},
		{"accounts.read", "ok"},
		{"audit.read", "ok"},
		{"invoices.read", "ok"},
	}
	for _, tt := range tests {
		t.Run(string(tt.perm), func(t *testing.T) {
			t.Parallel()
			iamWantOutcome(t, Authorize(p, iamTenant, grant, tt.perm, Target{AccountID: iamListed}, iamNow), tt.want)
			iamWantOutcome(t, Authorize(p, iamTenant, grant, tt.perm, Target{AccountID: iamUnlisted}, iamNow), "404")
		})
	}
}

func TestAuthorizeExpiryOnTheClock(t *testing.T) {
	t.Parallel()
	grant := iamGrantIn(t, RolePartnerViewer, "active")
	p := Principal{Type: ActorPartnerUser, PartnerID: iamPartner, Role: RolePartnerViewer}
	iamWantOutcome(t, Authorize(p, iamTenant, grant, "accounts.read", Target{}, iamNow.Add(time.Hour-1)), "ok")
	iamWantOutcome(t, Authorize(p, iamTenant, grant, "accounts.read", Target{}, iamNow.Add(time.Hour)), "403 expired")
}

func TestEffectivePermissionsAgreeWithAuthorize(t *testing.T) {
	t.Parallel()
	var principals []Principal
	for _, r := range []Role{"tenant_admin", "finance", "auditor", "partner_admin", "partner_operator", "partner_viewer", ""} {
		principals = append(principals,
			Principal{Type: ActorTenantUser, TenantID: iamTenant, Role: r},
			Principal{Type: ActorPartnerUser, PartnerID: iamPartner, Role: r})
	}
	principals = append(principals, Principal{Type: ActorOperator}, Principal{Type: ActorSystem})
	for _, status := range []string{"active", "revoked", "expired", "absent"} {
		for _, gr := range []Role{"partner_admin", "partner_operator", "partner_viewer"} {
			for _, actions := range [][]Permission{nil, {"usage.record", "billing.update"}} {
				grant := iamGrantIn(t, gr, status, actions...)
				for _, p := range principals {
					eff := EffectivePermissions(p, grant, iamNow)
					for _, row := range iamMatrix {
						err := Authorize(p, iamTenant, grant, row.perm, Target{AccountID: iamListed}, iamNow)
						if (err == nil) != slices.Contains(eff, row.perm) {
							t.Errorf("%+v under %s %s grant %v: Authorize(%s) = %v but EffectivePermissions = %v",
								p, status, gr, actions, row.perm, err, eff)
						}
					}
				}
			}
		}
	}
}

func TestRolePermissionsTable(t *testing.T) {
	t.Parallel()
	roles := []Role{"tenant_admin", "finance", "auditor", "partner_admin", "partner_operator", "partner_viewer"}
	for i, r := range roles {
		var want []Permission
		for _, row := range iamMatrix {
			allowed := []string{row.ta, row.fi, row.au, row.pa, row.po, row.pv}[i] == "ok"
			if allowed || (r == "partner_admin" && row.perm == "users.manage") {
				want = append(want, row.perm)
			}
		}
		if got := RolePermissions(r); !reflect.DeepEqual(got, want) {
			t.Errorf("RolePermissions(%s) = %v, want %v", r, got, want)
		}
	}
	if got := RolePermissions("boss"); got != nil {
		t.Errorf("RolePermissions(boss) = %v", got)
	}
}

func TestPermissionKinds(t *testing.T) {
	t.Parallel()
	var all []Permission
	for _, row := range iamMatrix {
		all = append(all, row.perm)
		if !row.perm.Valid() || row.perm.IsWrite() != row.write {
			t.Errorf("%s: Valid %v IsWrite %v, want write %v", row.perm, row.perm.Valid(), row.perm.IsWrite(), row.write)
		}
	}
	if !reflect.DeepEqual(AllPermissions(), all) {
		t.Errorf("AllPermissions() = %v, want %v", AllPermissions(), all)
	}
	for _, p := range []Permission{"", "accounts", "accounts.delete", "ACCOUNTS.READ"} {
		if p.Valid() || p.IsWrite() {
			t.Errorf("%q is taken for a permission", p)
		}
	}
}

func TestCanOverridePrice(t *testing.T) {
	t.Parallel()
	partner := func(r Role) Principal { return Principal{Type: ActorPartnerUser, PartnerID: iamPartner, Role: r} }
	tests := []struct {
		name  string
		p     Principal
		grant *PartnerAccess
		want  bool
	}{
		{"tenant_admin", Principal{Type: ActorTenantUser, TenantID: iamTenant, Role: RoleTenantAdmin}, nil, true},
		{"finance", Principal{Type: ActorTenantUser, TenantID: iamTenant, Role: RoleFinance}, nil, false},
		{"auditor", Principal{Type: ActorTenantUser, TenantID: iamTenant, Role: RoleAuditor}, nil, false},
		{"operator", Principal{Type: ActorOperator}, nil, true},
		{"system", Principal{Type: ActorSystem}, nil, true},
		{"partner_admin under admin grant", partner(RolePartnerAdmin), iamGrantIn(t, RolePartnerAdmin, "active"), true},
		{"partner_admin under narrowed admin grant", partner(RolePartnerAdmin),
			iamGrantIn(t, RolePartnerAdmin, "active", "subscriptions.create"), true},
		{"partner_admin under operator grant", partner(RolePartnerAdmin), iamGrantIn(t, RolePartnerOperator, "active"), false},
		{"partner_operator under admin grant", partner(RolePartnerOperator), iamGrantIn(t, RolePartnerAdmin, "active"), false},
		{"partner_viewer under admin grant", partner(RolePartnerViewer), iamGrantIn(t, RolePartnerAdmin, "active"), false},
		{"partner_admin, revoked grant", partner(RolePartnerAdmin), iamGrantIn(t, RolePartnerAdmin, "revoked"), false},
		{"partner_admin, expired grant", partner(RolePartnerAdmin), iamGrantIn(t, RolePartnerAdmin, "expired"), false},
		{"partner_admin, no grant", partner(RolePartnerAdmin), nil, false},
		{"partner_admin of another partner", Principal{Type: ActorPartnerUser, PartnerID: iamOtherPartner,
			Role: RolePartnerAdmin}, iamGrantIn(t, RolePartnerAdmin, "active"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := CanOverridePrice(tt.p, tt.grant, iamNow); got != tt.want {
				t.Fatalf("CanOverridePrice = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAuditScopeOwnPartnerOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    Principal
		want bool
	}{
		{Principal{Type: ActorPartnerUser, PartnerID: iamPartner, Role: RolePartnerAdmin}, true},
		{Principal{Type: ActorTenantUser, TenantID: iamTenant, Role: RoleAuditor}, false},
		{Principal{Type: ActorTenantUser, TenantID: iamTenant, Role: RoleTenantAdmin}, false},
		{Principal{Type: ActorOperator}, false},
	}
	for _, tt := range tests {
		if got := AuditScopeOwnPartnerOnly(tt.p); got != tt.want {
			t.Errorf("AuditScopeOwnPartnerOnly(%+v) = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestAuthorizePartnerRoutes(t *testing.T) {
	t.Parallel()
	partner := func(id uuid.UUID, r Role) Principal { return Principal{Type: ActorPartnerUser, PartnerID: id, Role: r} }
	tests := []struct {
		name          string
		p             Principal
		member, users string
	}{
		{"partner_admin", partner(iamPartner, RolePartnerAdmin), "ok", "ok"},
		{"partner_operator", partner(iamPartner, RolePartnerOperator), "ok", "403"},
		{"partner_viewer", partner(iamPartner, RolePartnerViewer), "ok", "403"},
		{"admin of another partner", partner(iamOtherPartner, RolePartnerAdmin), "404", "404"},
		{"tenant_admin", Principal{Type: ActorTenantUser, TenantID: iamTenant, Role: RoleTenantAdmin}, "404", "404"},
		{"operator", Principal{Type: ActorOperator}, "ok", "ok"},
		{"system", Principal{Type: ActorSystem}, "ok", "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iamWantOutcome(t, AuthorizePartnerMember(tt.p, iamPartner), tt.member)
			iamWantOutcome(t, AuthorizePartnerUsers(tt.p, iamPartner), tt.users)
		})
	}
	if err := AuthorizePartnerMember(partner(uuid.Nil, RolePartnerAdmin), uuid.Nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("the nil partner admitted a member: %v", err)
	}
}
