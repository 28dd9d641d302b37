package domain

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

const (
	maxGrantAccounts     = 10000
	maxRevokeReasonChars = 500
)

// AccessStatus is a partner access grant's status at an instant.
type AccessStatus string

// The statuses of a grant. A grant that does not exist has the empty
// status.
const (
	AccessActive  AccessStatus = "active"
	AccessRevoked AccessStatus = "revoked"
	AccessExpired AccessStatus = "expired"
)

// GrantTerms is the body of a PUT of partner access: the whole of what the
// tenant grants the partner. Empty Actions leave the role's writes as they
// are; a nil ExpiresAt never expires.
type GrantTerms struct {
	TenantID    uuid.UUID
	PartnerID   uuid.UUID
	Role        Role
	AllAccounts bool
	AccountIDs  []uuid.UUID
	Actions     []Permission
	ExpiresAt   *time.Time
}

// PartnerAccess is the grant from a tenant to a partner; its stream is
// per (tenant, partner). GrantedBy and GrantedAt record who set the
// current terms, by the first grant or a later change.
type PartnerAccess struct {
	TenantID     uuid.UUID
	PartnerID    uuid.UUID
	Role         Role
	AllAccounts  bool
	AccountIDs   []uuid.UUID
	Actions      []Permission
	ExpiresAt    *time.Time
	GrantedBy    Actor
	GrantedAt    time.Time
	Revoked      bool
	RevokedBy    Actor
	RevokedAt    time.Time
	RevokeReason string
	Version      uint64
}

// PartnerAccessGranted records a tenant's first grant to a partner.
type PartnerAccessGranted struct {
	TenantID    uuid.UUID    `json:"tenant_id"`
	PartnerID   uuid.UUID    `json:"partner_id"`
	Role        Role         `json:"role"`
	AllAccounts bool         `json:"all_accounts"`
	AccountIDs  []uuid.UUID  `json:"account_ids"`
	Actions     []Permission `json:"actions"`
	ExpiresAt   *time.Time   `json:"expires_at"`
	GrantedBy   Actor        `json:"granted_by"`
	GrantedAt   time.Time    `json:"granted_at"`
}

// PartnerAccessChanged records new terms replacing a grant's terms; on a
// revoked grant it is a re-grant, which makes it active again.
type PartnerAccessChanged struct {
	TenantID    uuid.UUID    `json:"tenant_id"`
	PartnerID   uuid.UUID    `json:"partner_id"`
	Role        Role         `json:"role"`
	AllAccounts bool         `json:"all_accounts"`
	AccountIDs  []uuid.UUID  `json:"account_ids"`
	Actions     []Permission `json:"actions"`
	ExpiresAt   *time.Time   `json:"expires_at"`
	ChangedBy   Actor        `json:"changed_by"`
	ChangedAt   time.Time    `json:"changed_at"`
}

// PartnerAccessAccountAssigned records one account added to a grant's
// scope.
type PartnerAccessAccountAssigned struct {
	TenantID  uuid.UUID `json:"tenant_id"`
	PartnerID uuid.UUID `json:"partner_id"`
	AccountID uuid.UUID `json:"account_id"`
	By        Actor     `json:"by"`
	At        time.Time `json:"at"`
}

// PartnerAccessAccountUnassigned records one account taken out of a
// grant's scope.
type PartnerAccessAccountUnassigned struct {
	TenantID  uuid.UUID `json:"tenant_id"`
	PartnerID uuid.UUID `json:"partner_id"`
	AccountID uuid.UUID `json:"account_id"`
	By        Actor     `json:"by"`
	At        time.Time `json:"at"`
}

// PartnerAccessRevoked records the end of a grant, effective at once.
type PartnerAccessRevoked struct {
	TenantID  uuid.UUID `json:"tenant_id"`
	PartnerID uuid.UUID `json:"partner_id"`
	RevokedBy Actor     `json:"revoked_by"`
	RevokedAt time.Time `json:"revoked_at"`
	Reason    string    `json:"reason"`
}

// EventType implements Event.
func (*PartnerAccessGranted) EventType() string { return "PartnerAccessGranted" }

// EventType implements Event.
func (*PartnerAccessChanged) EventType() string { return "PartnerAccessChanged" }

// EventType implements Event.
func (*PartnerAccessAccountAssigned) EventType() string { return "PartnerAccessAccountAssigned" }

// EventType implements Event.
func (*PartnerAccessAccountUnassigned) EventType() string { return "PartnerAccessAccountUnassigned" }

// EventType implements Event.
func (*PartnerAccessRevoked) EventType() string { return "PartnerAccessRevoked" }

func init() {
	register(
		func() Event { return &PartnerAccessGranted{} },
		func() Event { return &PartnerAccessChanged{} },
		func() Event { return &PartnerAccessAccountAssigned{} },
		func() Event { return &PartnerAccessAccountUnassigned{} },
		func() Event { return &PartnerAccessRevoked{} },
	)
}

// Exists reports whether the grant was ever made.
func (g *PartnerAccess) Exists() bool { return g.TenantID != uuid.Nil }

// StatusAt returns the grant's status at instant now: revoked, else
// expired when expires_at <= now, else active. It is monotonic in now.
func (g *PartnerAccess) StatusAt(now time.Time) AccessStatus {
	switch {
	case !g.Exists():
		return ""
	case g.Revoked:
		return AccessRevoked
	case g.ExpiresAt != nil && !now.Before(*g.ExpiresAt):
		return AccessExpired
	}
	return AccessActive
}

// Apply evolves the grant by one of its events.
func (g *PartnerAccess) Apply(e Event) {
	g.Version++
	switch e := e.(type) {
	case *PartnerAccessGranted:
		g.TenantID, g.PartnerID = e.TenantID, e.PartnerID
		g.setTerms(e.Role, e.AllAccounts, e.AccountIDs, e.Actions, e.ExpiresAt)
		g.GrantedBy, g.GrantedAt = e.GrantedBy, e.GrantedAt
	case *PartnerAccessChanged:
		g.setTerms(e.Role, e.AllAccounts, e.AccountIDs, e.Actions, e.ExpiresAt)
		g.GrantedBy, g.GrantedAt = e.ChangedBy, e.ChangedAt
		g.Revoked, g.RevokedBy, g.RevokedAt, g.RevokeReason = false, Actor{}, time.Time{}, ""
	case *PartnerAccessAccountAssigned:
		ids := append(slices.Clone(g.AccountIDs), e.AccountID)
		slices.SortFunc(ids, compareUUID)
		g.AccountIDs = ids
	case *PartnerAccessAccountUnassigned:
		g.AccountIDs = slices.DeleteFunc(slices.Clone(g.AccountIDs), func(id uuid.UUID) bool { return id == e.AccountID })
	case *PartnerAccessRevoked:
		g.Revoked, g.RevokedBy, g.RevokedAt, g.RevokeReason = true, e.RevokedBy, e.RevokedAt, e.Reason
	}
}

func (g *PartnerAccess) setTerms(role Role, all bool, ids []uuid.UUID, actions []Permission, exp *time.Time) {
	g.Role, g.AllAccounts = role, all
	g.AccountIDs, g.Actions = slices.Clone(ids), slices.Clone(actions)
	g.ExpiresAt = nil
	if exp != nil {
		t := *exp
		g.ExpiresAt = &t
	}
}

// Put decides a PUT of partner access: Grant when there is no grant yet,
// else Change.
func (g *PartnerAccess) Put(terms GrantTerms, by Actor, now time.Time) ([]Event, error) {
	if !g.Exists() {
		return g.Grant(terms, by, now)
	}
	return g.Change(terms, by, now)
}

// Grant decides the first grant of a tenant to a partner. A grant that
// already exists is a Conflict (use Change).
func (g *PartnerAccess) Grant(terms GrantTerms, by Actor, now time.Time) ([]Event, error) {
	if g.Exists() {
		return nil, Conflict("partner access already granted")
	}
	t, err := normalizeGrantTerms(terms, now)
	if err != nil {
		return nil, err
	}
	return []Event{&PartnerAccessGranted{
		TenantID: t.TenantID, PartnerID: t.PartnerID, Role: t.Role, AllAccounts: t.AllAccounts,
		AccountIDs: t.AccountIDs, Actions: t.Actions, ExpiresAt: t.ExpiresAt,
		GrantedBy: by, GrantedAt: now.UTC(),
	}}, nil
}

// Change decides new terms for an existing grant, replacing role, scope,
// actions and expiry. On a revoked or expired grant it is a re-grant that
// makes the grant active again. New terms equal to those of an active
// grant change nothing: no events.
func (g *PartnerAccess) Change(terms GrantTerms, by Actor, now time.Time) ([]Event, error) {
	if !g.Exists() {
		return nil, NotFound("partner access")
	}
	t, err := normalizeGrantTerms(terms, now)
	if err != nil {
		return nil, err
	}
	if t.TenantID != g.TenantID || t.PartnerID != g.PartnerID {
		return nil, Invalid("partner_id", "does not match the grant's tenant and partner")
	}
	if g.StatusAt(now) == AccessActive && g.sameTerms(t) {
		return nil, nil
	}
	return []Event{&PartnerAccessChanged{
		TenantID: t.TenantID, PartnerID: t.PartnerID, Role: t.Role, AllAccounts: t.AllAccounts,
		AccountIDs: t.AccountIDs, Actions: t.Actions, ExpiresAt: t.ExpiresAt,
		ChangedBy: by, ChangedAt: now.UTC(),
	}}, nil
}

func (g *PartnerAccess) sameTerms(t GrantTerms) bool {
	sameExpiry := (g.ExpiresAt == nil) == (t.ExpiresAt == nil) &&
		(g.ExpiresAt == nil || g.ExpiresAt.Equal(*t.ExpiresAt))
	return g.Role == t.Role && g.AllAccounts == t.AllAccounts && sameExpiry &&
		slices.Equal(g.AccountIDs, t.AccountIDs) && slices.Equal(g.Actions, t.Actions)
}

// AssignAccount decides adding account accountID to the grant's scope. An
// account already in the list, or a grant of all accounts, changes
// nothing: no events. A revoked grant refuses with the rule
// CodePartnerAccessRevoked (re-grant it first).
func (g *PartnerAccess) AssignAccount(accountID uuid.UUID, by Actor, now time.Time) ([]Event, error) {
	if err := g.checkScopeChange(accountID); err != nil {
		return nil, err
	}
	if g.AllAccounts || slices.Contains(g.AccountIDs, accountID) {
		return nil, nil
	}
	if len(g.AccountIDs) >= maxGrantAccounts {
		return nil, Invalid("account_id", "a grant lists at most %d accounts", maxGrantAccounts)
	}
	return []Event{&PartnerAccessAccountAssigned{
		TenantID: g.TenantID, PartnerID: g.PartnerID, AccountID: accountID, By: by, At: now.UTC(),
	}}, nil
}

// UnassignAccount decides taking account accountID out of the grant's
// list. An account not in the list changes nothing: no events. A grant of
// all accounts refuses with the rule CodeAllAccountsGrant. An account the
// partner created stays in its scope regardless.
func (g *PartnerAccess) UnassignAccount(accountID uuid.UUID, by Actor, now time.Time) ([]Event, error) {
	if err := g.checkScopeChange(accountID); err != nil {
		return nil, err
	}
	if g.AllAccounts {
		return nil, RuleError(CodeAllAccountsGrant, "the grant covers all accounts; change it to a list first")
	}
	if !slices.Contains(g.AccountIDs, accountID) {
		return nil, nil
	}
	return []Event{&PartnerAccessAccountUnassigned{
		TenantID: g.TenantID, PartnerID: g.PartnerID, AccountID: accountID, By: by, At: now.UTC(),
	}}, nil
}

func (g *PartnerAccess) checkScopeChange(accountID uuid.UUID) error {
	switch {
	case !g.Exists():
		return NotFound("partner access")
	case accountID == uuid.Nil:
		return Invalid("account_id", "must be a UUID")
	case g.Revoked:
		return RuleError(CodePartnerAccessRevoked, "the partner's access is revoked")
	}
	return nil
}

// Revoke decides the end of the grant, effective at once. Revoking a
// grant already revoked changes nothing: no events, no error (DELETE is
// idempotent).
func (g *PartnerAccess) Revoke(reason string, by Actor, now time.Time) ([]Event, error) {
	if !g.Exists() {
		return nil, NotFound("partner access")
	}
	reason = strings.TrimSpace(reason)
	if err := checkLength("reason", reason, maxRevokeReasonChars); err != nil {
		return nil, err
	}
	if g.Revoked {
		return nil, nil
	}
	return []Event{&PartnerAccessRevoked{
		TenantID: g.TenantID, PartnerID: g.PartnerID, RevokedBy: by, RevokedAt: now.UTC(), Reason: reason,
	}}, nil
}

// normalizeGrantTerms validates t at instant now and returns it with
// account ids and actions sorted, never nil, and the expiry in UTC. Every
// field at fault is reported.
func normalizeGrantTerms(t GrantTerms, now time.Time) (GrantTerms, error) {
	var bad []FieldError
	fail := func(field, format string, args ...any) {
		bad = append(bad, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if t.TenantID == uuid.Nil {
		fail("tenant_id", "must be a UUID")
	}
	if t.PartnerID == uuid.Nil {
		fail("partner_id", "must be a UUID")
	}
	if !t.Role.IsPartnerRole() {
		fail("role", "%q is not a partner role (partner_admin, partner_operator, partner_viewer)", t.Role)
	}
	switch {
	case t.AllAccounts && len(t.AccountIDs) > 0:
		fail("account_ids", "must be empty when all_accounts is true")
	case len(t.AccountIDs) > maxGrantAccounts:
		fail("account_ids", "at most %d accounts", maxGrantAccounts)
	}
	for i, id := range t.AccountIDs {
		if j := slices.Index(t.AccountIDs[:i], id); id == uuid.Nil || j >= 0 {
			fail(fmt.Sprintf("account_ids[%d]", i), "must be a distinct account id")
		}
	}
	for i, a := range t.Actions {
		if j := slices.Index(t.Actions[:i], a); !a.IsWrite() || j >= 0 {
			fail(fmt.Sprintf("actions[%d]", i), "%q is not a distinct write permission", a)
		}
	}
	if t.ExpiresAt != nil && !t.ExpiresAt.After(now) {
		fail("expires_at", "must be in the future")
	}
	if len(bad) > 0 {
		return t, &Error{Kind: ErrInvalid, Code: CodeInvalid, Message: bad[0].Field + ": " + bad[0].Message, Fields: bad}
	}
	t.AccountIDs = append([]uuid.UUID{}, t.AccountIDs...)
	slices.SortFunc(t.AccountIDs, compareUUID)
	t.Actions = append([]Permission{}, t.Actions...)
	slices.Sort(t.Actions)
	if t.ExpiresAt != nil {
		exp := t.ExpiresAt.UTC()
		t.ExpiresAt = &exp
	}
	return t, nil
}

func compareUUID(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }

// AccountScope is the set of a tenant's accounts a partner may see and
// act on under its grant: all of them, or those listed, plus those its
// users created. The query layer filters partner reads by it.
type AccountScope struct {
	All        bool
	AccountIDs map[uuid.UUID]struct{}
	PartnerID  uuid.UUID
}

// Scope returns the account scope of grant, whatever its status (check
// Authorize first); a nil grant's scope holds nothing.
func Scope(grant *PartnerAccess) AccountScope {
	if grant == nil || !grant.Exists() {
		return AccountScope{}
	}
	ids := make(map[uuid.UUID]struct{}, len(grant.AccountIDs))
	for _, id := range grant.AccountIDs {
		ids[id] = struct{}{}
	}
	return AccountScope{All: grant.AllAccounts, AccountIDs: ids, PartnerID: grant.PartnerID}
}

// Includes reports whether account accountID, created by a user of
// partner createdByPartner (uuid.Nil when none), is in scope.
func (s AccountScope) Includes(accountID, createdByPartner uuid.UUID) bool {
	if accountID == uuid.Nil {
		return false
	}
	if _, listed := s.AccountIDs[accountID]; s.All || listed {
		return true
	}
	return s.PartnerID != uuid.Nil && createdByPartner == s.PartnerID
}
