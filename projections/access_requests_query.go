package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/domain"
)

// AccessRequestView is a partner's access request as api.md represents
// it, with its status at the instant the query was asked. Decided ones
// say who decided and when; an approval, what it granted; a rejection,
// its reason.
type AccessRequestView struct {
	ID           uuid.UUID                  `json:"id"`
	PartnerID    uuid.UUID                  `json:"partner_id"`
	TenantID     uuid.UUID                  `json:"tenant_id"`
	Role         domain.Role                `json:"role"`
	AllAccounts  bool                       `json:"all_accounts"`
	AccountIDs   []uuid.UUID                `json:"account_ids"`
	Actions      []domain.Permission        `json:"actions"`
	DurationDays int                        `json:"duration_days"`
	Message      *string                    `json:"message"`
	Status       domain.AccessRequestStatus `json:"status"`
	RequestedBy  AuditActor                 `json:"requested_by"`
	CreatedAt    time.Time                  `json:"created_at"`
	ExpiresAt    time.Time                  `json:"expires_at"`
	DecidedBy    *AuditActor                `json:"decided_by"`
	DecidedAt    *time.Time                 `json:"decided_at"`
	Reason       *string                    `json:"reason"`
	Granted      *AccessGrantedView         `json:"granted"`
	Version      uint64                     `json:"version"`
}

// AccessGrantedView is what an approval granted: the terms of the grant
// it set, and when that grant expires.
type AccessGrantedView struct {
	Role         domain.Role         `json:"role"`
	AllAccounts  bool                `json:"all_accounts"`
	AccountIDs   []uuid.UUID         `json:"account_ids"`
	Actions      []domain.Permission `json:"actions"`
	DurationDays int                 `json:"duration_days"`
	ExpiresAt    time.Time           `json:"expires_at"`
}

// AccessRequestStatuses are the values of the status filter of the
// tenant's list.
var AccessRequestStatuses = []domain.AccessRequestStatus{
	domain.RequestPending, domain.RequestApproved, domain.RequestRejected, domain.RequestExpired,
}

// AccessRequestViewOf returns request r with its status at now, as the
// lists give it. r must exist.
func AccessRequestViewOf(r *domain.AccessRequest, now time.Time) AccessRequestView {
	v := AccessRequestView{
		ID: r.ID, PartnerID: r.PartnerID, TenantID: r.TenantID, Role: r.Terms.Role, AllAccounts: r.Terms.AllAccounts,
		AccountIDs: nonNilUUIDs(slices.Clone(r.Terms.AccountIDs)), Actions: actionsOf(r.Terms.Actions),
		DurationDays: r.Terms.DurationDays, Message: subsText(r.Message), RequestedBy: viewActor(r.RequestedBy),
		CreatedAt: viewTime(r.RequestedAt), ExpiresAt: viewTime(r.ExpiresAt), Version: r.Version,
	}
	kept := domain.AccessRequest{ID: r.ID, Decision: r.Decision, ExpiresAt: v.ExpiresAt}
	v.Status = kept.StatusAt(now)
	if r.Decision == "" {
		return v
	}
	by, at := viewActor(r.DecidedBy), viewTime(r.DecidedAt)
	v.DecidedBy, v.DecidedAt, v.Reason = &by, &at, subsText(r.Reason)
	if r.Decision == domain.RequestApproved {
		g := r.Granted
		v.Granted = &AccessGrantedView{Role: g.Role, AllAccounts: g.AllAccounts,
			AccountIDs: nonNilUUIDs(slices.Clone(g.AccountIDs)), Actions: actionsOf(g.Actions),
			DurationDays: g.DurationDays, ExpiresAt: viewTime(r.GrantExpiresAt)}
	}
	return v
}

// accessRequestColumns are the columns scanAccessRequest reads, in its
// order.
const accessRequestColumns = `request_id, partner_id, tenant_id, role, all_accounts, account_ids, actions, duration_days,
    message, requested_by, created_at, expires_at, decision, granted, decided_by, decided_at, reason, version`

// ListPartnerAccessRequests returns one page of the requests partner
// made, to every tenant named, existing or not, ordered by id (which
// orders them by creation), with each status at now
// (GET /v1/partners/{p}/access-requests).
func ListPartnerAccessRequests(ctx context.Context, db Querier, partner uuid.UUID, page Page, now time.Time) (List[AccessRequestView], error) {
	t := table(LiveSchema, "access_requests")
	err := staleCheck(ctx, db, &StaleError{Projection: AccessRequests{}.Name()},
		`SELECT EXISTS (SELECT 1 FROM `+table(LiveSchema, parkedTable)+` p JOIN `+t+` r
    ON p.stream = 'accessrequest-' || r.tenant_id || '-' || r.request_id
    WHERE p.projection = $1 AND r.partner_id = $2)`, AccessRequests{}.Name(), partner)
	if err != nil {
		return List[AccessRequestView]{}, err
	}
	return listAccessRequests(ctx, db, `partner_id = $1`, []any{partner}, page, now)
}

// GetPartnerAccessRequest returns partner's request id with its status
// at now, or a domain NotFound when partner made no such request.
func GetPartnerAccessRequest(ctx context.Context, db Querier, partner, id uuid.UUID, now time.Time) (AccessRequestView, error) {
	row := db.QueryRow(ctx, `SELECT `+accessRequestColumns+` FROM `+table(LiveSchema, "access_requests")+`
WHERE partner_id = $1 AND request_id = $2`, partner, id)
	v, err := scanAccessRequest(row, now)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return AccessRequestView{}, domain.NotFound("access request")
	case err != nil:
		return AccessRequestView{}, fmt.Errorf("get access request: %w", err)
	}
	if err := staleStream(ctx, db, AccessRequests{}.Name(), streamName("accessrequest", v.TenantID, id)); err != nil {
		return AccessRequestView{}, err
	}
	return v, nil
}

// GetTenantAccessRequest returns the request id made to tenant, as
// ListTenantAccessRequests shows it (only while visible to the tenant),
// with its status at now, or a domain NotFound.
func GetTenantAccessRequest(ctx context.Context, db Querier, tenant, id uuid.UUID, now time.Time) (AccessRequestView, error) {
	if err := staleTenant(ctx, db, AccessRequests{}.Name(), tenant); err != nil {
		return AccessRequestView{}, err
	}
	row := db.QueryRow(ctx, `SELECT `+accessRequestColumns+` FROM `+table(LiveSchema, "access_requests")+`
WHERE tenant_id = $1 AND request_id = $2 AND tenant_visible`, tenant, id)
	v, err := scanAccessRequest(row, now)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return AccessRequestView{}, domain.NotFound("access request")
	case err != nil:
		return AccessRequestView{}, fmt.Errorf("get access request: %w", err)
	}
	return v, nil
}

// ListTenantAccessRequests returns one page of the requests made to
// tenant while it existed, ordered by id, with each status at now; only
// those of status when status is not empty
// (GET /v1/tenants/{t}/access-requests?status=).
func ListTenantAccessRequests(ctx context.Context, db Querier, tenant uuid.UUID, status domain.AccessRequestStatus, page Page, now time.Time) (List[AccessRequestView], error) {
	if status != "" && !slices.Contains(AccessRequestStatuses, status) {
		return List[AccessRequestView]{}, domain.Invalid("status", "must be one of pending, approved, rejected, expired")
	}
	if err := staleTenant(ctx, db, AccessRequests{}.Name(), tenant); err != nil {
		return List[AccessRequestView]{}, err
	}
	cond, args := `tenant_id = $1 AND tenant_visible`, []any{tenant}
	switch status {
	case domain.RequestPending:
		cond, args = cond+` AND decision = '' AND expires_at > $2`, append(args, now)
	case domain.RequestExpired:
		cond, args = cond+` AND decision = '' AND expires_at <= $2`, append(args, now)
	case domain.RequestApproved, domain.RequestRejected:
		cond, args = cond+` AND decision = $2`, append(args, string(status))
	}
	return listAccessRequests(ctx, db, cond, args, page, now)
}

// listAccessRequests lists the requests that cond selects, by keyset
// pagination on the request id.
func listAccessRequests(ctx context.Context, db Querier, cond string, args []any, page Page, now time.Time) (List[AccessRequestView], error) {
	list, err := keysetList[AccessRequestView]{
		what:  "list access requests",
		sql:   `SELECT ` + accessRequestColumns + ` FROM ` + table(LiveSchema, "access_requests") + ` WHERE ` + cond,
		args:  args,
		key:   "request_id",
		scan:  func(r pgx.Row) (AccessRequestView, error) { return scanAccessRequest(r, now) },
		keyOf: func(v AccessRequestView) uuid.UUID { return v.ID },
	}.run(ctx, db, page)
	if err != nil {
		return List[AccessRequestView]{}, fmt.Errorf("list access requests: %w", err)
	}
	return list, nil
}

// scanAccessRequest reads a row of accessRequestColumns and computes its
// status at now.
func scanAccessRequest(row pgx.Row, now time.Time) (AccessRequestView, error) {
	var (
		r         domain.AccessRequest
		actions   []string
		decision  string
		granted   *grantedTerms
		decidedBy *domain.Actor
		decidedAt *time.Time
		reason    *string
		version   int64
	)
	err := row.Scan(&r.ID, &r.PartnerID, &r.TenantID, &r.Terms.Role, &r.Terms.AllAccounts, &r.Terms.AccountIDs, &actions,
		&r.Terms.DurationDays, &r.Message, &r.RequestedBy, &r.RequestedAt, &r.ExpiresAt, &decision, &granted,
		&decidedBy, &decidedAt, &reason, &version)
	if err != nil {
		return AccessRequestView{}, err
	}
	for _, a := range actions {
		r.Terms.Actions = append(r.Terms.Actions, domain.Permission(a))
	}
	r.Decision, r.Version = domain.AccessRequestStatus(decision), uint64(version)
	if decidedBy != nil {
		r.DecidedBy = *decidedBy
	}
	if decidedAt != nil {
		r.DecidedAt = *decidedAt
	}
	if reason != nil {
		r.Reason = *reason
	}
	if granted != nil {
		r.Granted = domain.AccessTerms{Role: granted.Role, AllAccounts: granted.AllAccounts, AccountIDs: granted.AccountIDs,
			Actions: granted.Actions, DurationDays: granted.DurationDays}
		r.GrantExpiresAt = granted.ExpiresAt
	}
	return AccessRequestViewOf(&r, now), nil
}
