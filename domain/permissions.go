package domain

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// Permission is one thing a principal may do on a tenant, as api.md names
// it: a write (a command) or a read (a query).
type Permission string

// The write permissions of api.md.
const (
	PermAccountsCreate      Permission = "accounts.create"
	PermBillingUpdate       Permission = "billing.update"
	PermSubscriptionsCreate Permission = "subscriptions.create"
	PermSubscriptionsAmend  Permission = "subscriptions.amend"
	PermSubscriptionsCancel Permission = "subscriptions.cancel"
	PermUsageRecord         Permission = "usage.record"
	PermCatalogManage       Permission = "catalog.manage"
	PermPartnersManage      Permission = "partners.manage"
	PermUsersManage         Permission = "users.manage"
	PermBillingRun          Permission = "billing.run"
)

// The read permissions of api.md.
const (
	PermAccountsRead      Permission = "accounts.read"
	PermCatalogRead       Permission = "catalog.read"
	PermSubscriptionsRead Permission = "subscriptions.read"
	PermUsageRead         Permission = "usage.read"
	PermInvoicesRead      Permission = "invoices.read"
	PermRevenueRead       Permission = "revenue.read"
	PermAuditRead         Permission = "audit.read"
)

var (
	permWrites = []Permission{
		PermAccountsCreate, PermBillingUpdate, PermSubscriptionsCreate, PermSubscriptionsAmend,
		PermSubscriptionsCancel, PermUsageRecord, PermCatalogManage, PermPartnersManage,
		PermUsersManage, PermBillingRun,
	}
	permReadsButAudit = []Permission{
		PermAccountsRead, PermCatalogRead, PermSubscriptionsRead, PermUsageRead,
		PermInvoicesRead, PermRevenueRead,
	}
	permReads = concatPerms(permReadsButAudit, []Permission{PermAuditRead})
	permAll   = concatPerms(permWrites, permReads)
)

// rolePermTable is the role table of api.md, row by row.
var rolePermTable = map[Role][]Permission{
	RoleTenantAdmin: permAll,
	RoleFinance:     concatPerms(permReads, []Permission{PermBillingRun}),
	RoleAuditor:     permReads,
	RolePartnerAdmin: concatPerms(permReads, []Permission{
		PermAccountsCreate, PermBillingUpdate, PermSubscriptionsCreate, PermSubscriptionsAmend,
		PermSubscriptionsCancel, PermUsageRecord, PermUsersManage,
	}),
	RolePartnerOperator: concatPerms(permReadsButAudit, []Permission{
		PermSubscriptionsCreate, PermSubscriptionsAmend, PermSubscriptionsCancel, PermUsageRecord,
	}),
	RolePartnerViewer: permReadsButAudit,
}

// partnerRank orders the partner roles: viewer < operator < admin. Any
// other role ranks 0.
var partnerRank = map[Role]int{RolePartnerViewer: 1, RolePartnerOperator: 2, RolePartnerAdmin: 3}

func concatPerms(lists ...[]Permission) []Permission {
	return slices.Concat(lists...)
}

// AllPermissions returns every permission: the writes, then the reads.
func AllPermissions() []Permission { return slices.Clone(permAll) }

// Valid reports whether p is one of the permissions of api.md.
func (p Permission) Valid() bool { return slices.Contains(permAll, p) }

// IsWrite reports whether p is a write permission.
func (p Permission) IsWrite() bool { return slices.Contains(permWrites, p) }

// IsTenantRole reports whether r is a tenant user's role.
func (r Role) IsTenantRole() bool {
	return r == RoleTenantAdmin || r == RoleFinance || r == RoleAuditor
}

// IsPartnerRole reports whether r is a partner user's (or a grant's) role.
func (r Role) IsPartnerRole() bool { return partnerRank[r] > 0 }

// RolePermissions returns the permissions of role r as api.md's role table
// lists them, in the order of AllPermissions; none for an unknown role.
// partner_admin's users.manage is over its own partner's users only (see
// AuthorizePartnerUsers), and its audit.read over its own partner's actions
// only (see AuditScopeOwnPartnerOnly).
func RolePermissions(r Role) []Permission {
	var out []Permission
	for _, p := range permAll {
		if slices.Contains(rolePermTable[r], p) {
			out = append(out, p)
		}
	}
	return out
}

// lowerPartnerRole returns the lower of two partner roles, or "" when
// either is not a partner role.
func lowerPartnerRole(a, b Role) Role {
	if !a.IsPartnerRole() || !b.IsPartnerRole() {
		return ""
	}
	if partnerRank[a] < partnerRank[b] {
		return a
	}
	return b
}

// Target is what a permission is exercised on. The zero Target is the
// tenant as a whole (the catalog, partners, users, reports, lists). An
// account Target names the account and, when one of its users created it,
// the partner that did; subscriptions, usage and invoices are checked
// through their account.
type Target struct {
	AccountID               uuid.UUID
	AccountCreatedByPartner uuid.UUID
}

// AccountTarget returns the Target of account accountID, created by a user
// of partner createdByPartner (uuid.Nil when no partner created it).
func AccountTarget(accountID, createdByPartner uuid.UUID) Target {
	return Target{AccountID: accountID, AccountCreatedByPartner: createdByPartner}
}

// Authorize decides whether p may exercise perm on target of tenant
// tenantID at instant now. grant is the partner access of p's partner on
// the tenant as read from the event store (nil when there is none); it is
// ignored for other principals. It returns nil, or a refusal checked in
// this order:
//
//   - NotFound: a tenant user of another tenant; a partner user without a
//     grant on the tenant.
//   - Forbidden with CodePartnerAccessRevoked or CodePartnerAccessExpired.
//   - NotFound: an account target outside the grant's scope.
//   - Forbidden with CodeForbidden: the (effective) role lacks perm, or the
//     grant's actions leave the write out.
//
// The operator and the system may do anything. A partner user's role on
// the tenant is the lower of its own and the grant's, and users.manage on
// a tenant is over the tenant's users, which no partner role reaches. A
// tenant-wide read by a partner is allowed: the query layer filters what
// it returns by Scope(grant).
func Authorize(p Principal, tenantID uuid.UUID, grant *PartnerAccess, perm Permission, target Target, now time.Time) error {
	if !perm.Valid() {
		return Forbidden(CodeForbidden, "unknown permission %q", perm)
	}
	switch p.Type {
	case ActorOperator, ActorSystem:
		return nil
	case ActorTenantUser:
		if tenantID == uuid.Nil || p.TenantID != tenantID {
			return NotFound("tenant")
		}
		if !slices.Contains(tenantUserPermissions(p.Role), perm) {
			return Forbidden(CodeForbidden, "role %s lacks permission %s", p.Role, perm)
		}
		return nil
	case ActorPartnerUser:
		return authorizePartnerUser(p, tenantID, grant, perm, target, now)
	default:
		return NotFound("tenant")
	}
}

func authorizePartnerUser(p Principal, tenantID uuid.UUID, g *PartnerAccess, perm Permission, target Target, now time.Time) error {
	if !grantOf(p, g) || g.TenantID != tenantID {
		return NotFound("tenant")
	}
	switch g.StatusAt(now) {
	case AccessRevoked:
		return Forbidden(CodePartnerAccessRevoked, "the tenant revoked this partner's access")
	case AccessExpired:
		return Forbidden(CodePartnerAccessExpired, "this partner's access expired at %s", g.ExpiresAt.Format(time.RFC3339))
	}
	if target.AccountID != uuid.Nil && !Scope(g).Includes(target.AccountID, target.AccountCreatedByPartner) {
		return NotFound("account")
	}
	if !slices.Contains(partnerPermissions(p.Role, g), perm) {
		return Forbidden(CodeForbidden, "partner access lacks permission %s", perm)
	}
	return nil
}

// tenantUserPermissions returns a tenant user's permissions on its tenant:
// none unless role is a tenant role.
func tenantUserPermissions(role Role) []Permission {
	if !role.IsTenantRole() {
		return nil
	}
	return RolePermissions(role)
}

// grantOf reports whether g is an existing grant to p's partner.
func grantOf(p Principal, g *PartnerAccess) bool {
	return g != nil && g.Exists() && p.PartnerID != uuid.Nil && g.PartnerID == p.PartnerID
}

// partnerPermissions returns what a partner user of role userRole may do
// on g's tenant while g is active: its effective role's permissions but
// users.manage, with writes narrowed to g.Actions when given.
func partnerPermissions(userRole Role, g *PartnerAccess) []Permission {
	var out []Permission
	for _, perm := range RolePermissions(lowerPartnerRole(userRole, g.Role)) {
		switch {
		case perm == PermUsersManage:
		case perm.IsWrite() && len(g.Actions) > 0 && !slices.Contains(g.Actions, perm):
		default:
			out = append(out, perm)
		}
	}
	return out
}

// EffectivePermissions returns what p may do on grant's tenant (for a
// tenant user, on its own tenant) at now, on targets in scope, in the
// order of AllPermissions: exactly the permissions Authorize allows there.
func EffectivePermissions(p Principal, grant *PartnerAccess, now time.Time) []Permission {
	switch p.Type {
	case ActorOperator, ActorSystem:
		return AllPermissions()
	case ActorTenantUser:
		return tenantUserPermissions(p.Role)
	case ActorPartnerUser:
		if !grantOf(p, grant) || grant.StatusAt(now) != AccessActive {
			return nil
		}
		return partnerPermissions(p.Role, grant)
	}
	return nil
}

// CanOverridePrice reports whether p may set a unit_price other than the
// catalog's: a tenant_admin, the operator or the system, or a partner user
// whose effective role under its active grant is partner_admin. The
// grant's actions do not narrow it further; the command it is part of is
// authorized on its own.
func CanOverridePrice(p Principal, grant *PartnerAccess, now time.Time) bool {
	switch p.Type {
	case ActorOperator, ActorSystem:
		return true
	case ActorTenantUser:
		return p.Role == RoleTenantAdmin
	case ActorPartnerUser:
		return grantOf(p, grant) && grant.StatusAt(now) == AccessActive &&
			lowerPartnerRole(p.Role, grant.Role) == RolePartnerAdmin
	}
	return false
}

// AuditScopeOwnPartnerOnly reports whether the audit log p may read
// (audit.read, once authorized) is limited to the actions of p's own
// partner, p.PartnerID: true for every partner user.
func AuditScopeOwnPartnerOnly(p Principal) bool { return p.Type == ActorPartnerUser }

// AuthorizePartnerMember decides whether p may read partner partnerID's
// own records (its grants, its users): any user of that partner, the
// operator or the system. Anyone else gets NotFound.
func AuthorizePartnerMember(p Principal, partnerID uuid.UUID) error {
	switch {
	case p.Type == ActorOperator || p.Type == ActorSystem:
		return nil
	case p.Type == ActorPartnerUser && partnerID != uuid.Nil && p.PartnerID == partnerID:
		return nil
	}
	return NotFound("partner")
}

// AuthorizePartnerUsers decides whether p may add or remove users of
// partner partnerID (users.manage over its own partner's users): a
// partner_admin of that partner, the operator or the system. Another user
// of the partner is Forbidden; anyone else gets NotFound.
func AuthorizePartnerUsers(p Principal, partnerID uuid.UUID) error {
	if err := AuthorizePartnerMember(p, partnerID); err != nil {
		return err
	}
	if p.Type == ActorPartnerUser && p.Role != RolePartnerAdmin {
		return Forbidden(CodeForbidden, "role %s lacks permission %s", p.Role, PermUsersManage)
	}
	return nil
}
