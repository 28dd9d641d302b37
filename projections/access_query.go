package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/domain"
)

// AccessView is a partner access grant as api.md represents it, with its
// status at the instant the query was asked.
type AccessView struct {
	TenantID    uuid.UUID           `json:"tenant_id"`
	PartnerID   uuid.UUID           `json:"partner_id"`
	Role        domain.Role         `json:"role"`
	AllAccounts bool                `json:"all_accounts"`
	AccountIDs  []uuid.UUID         `json:"account_ids"`
	Actions     []domain.Permission `json:"actions"`
	Status      domain.AccessStatus `json:"status"`
	ExpiresAt   *time.Time          `json:"expires_at"`
	GrantedBy   AuditActor          `json:"granted_by"`
	Version     uint64              `json:"version"`
}

// accessColumns are the columns scanAccess reads, in its order.
const accessColumns = `tenant_id, partner_id, role, all_accounts, account_ids, actions, revoked, expires_at, granted_by, version`

// ListPartnerAccess returns one page of the grants tenant made, every
// status included, ordered by partner id, with each status at now
// (GET /v1/tenants/{t}/partners).
func ListPartnerAccess(ctx context.Context, db Querier, tenant uuid.UUID, page Page, now time.Time) (List[AccessView], error) {
	if err := staleTenant(ctx, db, Partners{}.Name(), tenant); err != nil {
		return List[AccessView]{}, err
	}
	list, err := listAccess(ctx, db, "tenant_id", tenant, "partner_id", page, now)
	if err != nil {
		return List[AccessView]{}, fmt.Errorf("list partner access: %w", err)
	}
	return list, nil
}

// ListPartnerTenants returns one page of the grants partner holds, from
// every tenant and of every status, ordered by tenant id, with each
// status at now (GET /v1/partners/{p}/tenants).
func ListPartnerTenants(ctx context.Context, db Querier, partner uuid.UUID, page Page, now time.Time) (List[AccessView], error) {
	if err := stalePartnerGrants(ctx, db, partner); err != nil {
		return List[AccessView]{}, err
	}
	list, err := listAccess(ctx, db, "partner_id", partner, "tenant_id", page, now)
	if err != nil {
		return List[AccessView]{}, fmt.Errorf("list partner tenants: %w", err)
	}
	return list, nil
}

// GetPartnerAccess returns tenant's grant to partner with its status at
// now, or a domain NotFound when tenant never granted partner access. The
// reads of grants are a *StaleError while events of one they read are
// parked.
func GetPartnerAccess(ctx context.Context, db Querier, tenant, partner uuid.UUID, now time.Time) (AccessView, error) {
	row := db.QueryRow(ctx, `SELECT `+accessColumns+` FROM `+table(LiveSchema, "partner_access")+`
WHERE tenant_id = $1 AND partner_id = $2`, tenant, partner)
	v, err := scanAccess(row, now)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return AccessView{}, fmt.Errorf("get partner access: %w", err)
	}
	if err := staleStream(ctx, db, Partners{}.Name(), streamName("access", tenant, partner)); err != nil {
		return AccessView{}, err
	}
	if err != nil {
		return AccessView{}, domain.NotFound("partner access")
	}
	return v, nil
}

// listAccess lists the grants whose column fixed equals id, by keyset
// pagination on column key (the other half of the primary key).
func listAccess(ctx context.Context, db Querier, fixed string, id uuid.UUID, key string, page Page, now time.Time) (List[AccessView], error) {
	keyOf := func(v AccessView) uuid.UUID { return v.PartnerID }
	if key == "tenant_id" {
		keyOf = func(v AccessView) uuid.UUID { return v.TenantID }
	}
	return keysetList[AccessView]{
		what: "list partner access",
		sql:  `SELECT ` + accessColumns + ` FROM ` + table(LiveSchema, "partner_access") + ` WHERE ` + fixed + ` = $1`,
		args: []any{id}, key: key,
		scan:  func(r pgx.Row) (AccessView, error) { return scanAccess(r, now) },
		keyOf: keyOf,
	}.run(ctx, db, page)
}

// scanAccess reads a row of accessColumns and computes its status at now.
func scanAccess(row pgx.Row, now time.Time) (AccessView, error) {
	var (
		v       AccessView
		by      domain.Actor
		actions []string
		revoked bool
		version int64
	)
	err := row.Scan(&v.TenantID, &v.PartnerID, &v.Role, &v.AllAccounts, &v.AccountIDs, &actions,
		&revoked, &v.ExpiresAt, &by, &version)
	if err != nil {
		return AccessView{}, err
	}
	if v.AccountIDs == nil {
		v.AccountIDs = []uuid.UUID{}
	}
	v.GrantedBy = viewActor(by)
	for _, a := range actions {
		v.Actions = append(v.Actions, domain.Permission(a))
	}
	if v.ExpiresAt != nil {
		exp := v.ExpiresAt.UTC()
		v.ExpiresAt = &exp
	}
	v.Version = uint64(version)
	grant := domain.PartnerAccess{TenantID: v.TenantID, Revoked: revoked, ExpiresAt: v.ExpiresAt}
	v.Status = grant.StatusAt(now)
	return v, nil
}
