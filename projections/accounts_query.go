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

// AccountView is a customer account as api.md represents it.
type AccountView struct {
	ID        uuid.UUID            `json:"id"`
	Name      string               `json:"name"`
	Currency  domain.Currency      `json:"currency"`
	Status    domain.AccountStatus `json:"status"`
	Billing   BillingView          `json:"billing"`
	Version   uint64               `json:"version"`
	CreatedBy AuditActor           `json:"created_by"`
	CreatedAt time.Time            `json:"created_at"`
}

// BillingView is an account's billing details; the address and tax id
// are null when the account has none.
type BillingView struct {
	ContactName      string                 `json:"contact_name"`
	Email            string                 `json:"email"`
	Address          *string                `json:"address"`
	TaxID            *string                `json:"tax_id"`
	PaymentTermsDays int                    `json:"payment_terms_days"`
	InvoiceDelivery  domain.InvoiceDelivery `json:"invoice_delivery"`
}

// accountColumns are the columns acctScan reads, in its order.
const accountColumns = `account_id, name, currency, status, billing, version, created_by, created_at`

// ListAccounts returns one page of tenant's accounts in the caller's
// scope, ordered by id: a partner sees the accounts its grant lists and
// those its users created. It is a *StaleError while events of an account
// of the tenant are parked.
func ListAccounts(ctx context.Context, db Querier, tenant uuid.UUID, scope Scope, page Page) (List[AccountView], error) {
	if err := staleTenant(ctx, db, Accounts{}.Name(), tenant); err != nil {
		return List[AccountView]{}, err
	}
	cond, args := scope.where("account_id", "created_by_partner", 2)
	return keysetList[AccountView]{
		what: "list accounts",
		sql:  `SELECT ` + accountColumns + ` FROM ` + table(LiveSchema, "accounts") + ` WHERE tenant_id = $1 AND ` + cond,
		args: append([]any{tenant}, args...), key: "account_id",
		scan: acctScan, keyOf: func(v AccountView) uuid.UUID { return v.ID },
	}.run(ctx, db, page)
}

// GetAccount returns tenant's account id, or domain.NotFound when it does
// not exist or is outside the caller's scope; a *StaleError when events of
// the account are parked.
func GetAccount(ctx context.Context, db Querier, tenant uuid.UUID, scope Scope, id uuid.UUID) (AccountView, error) {
	cond, args := scope.where("account_id", "created_by_partner", 3)
	row := db.QueryRow(ctx, `SELECT `+accountColumns+` FROM `+table(LiveSchema, "accounts")+`
WHERE tenant_id = $1 AND account_id = $2 AND `+cond, append([]any{tenant, id}, args...)...)
	v, err := acctScan(row)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return AccountView{}, fmt.Errorf("get account: %w", err)
	}
	if err := staleSeen(ctx, db, err == nil || scope.All, Accounts{}.Name(), streamName("account", tenant, id)); err != nil {
		return AccountView{}, err
	}
	if err != nil {
		return AccountView{}, domain.NotFound("account")
	}
	return v, nil
}

// acctScan reads a row of accountColumns.
func acctScan(row pgx.Row) (AccountView, error) {
	var (
		v       AccountView
		billing domain.Billing
		by      domain.Actor
		version int64
	)
	if err := row.Scan(&v.ID, &v.Name, &v.Currency, &v.Status, &billing, &version, &by, &v.CreatedAt); err != nil {
		return AccountView{}, err
	}
	v.Billing = BillingView{ContactName: billing.ContactName, Email: billing.Email, Address: subsText(billing.Address),
		TaxID: subsText(billing.TaxID), PaymentTermsDays: billing.PaymentTermsDays, InvoiceDelivery: billing.InvoiceDelivery}
	v.Version, v.CreatedBy, v.CreatedAt = uint64(version), viewActor(by), v.CreatedAt.UTC()
	return v, nil
}

// viewActor is who acted as api.md shows it: the ids null when the actor
// has none.
func viewActor(a domain.Actor) AuditActor {
	return AuditActor{Type: string(a.Type), ID: nullUUID(a.ID), PartnerID: nullUUID(a.PartnerID)}
}
