package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
)

// Billing is an account's billing details as api.md's bodies carry them.
type Billing struct {
	ContactName      string `json:"contact_name"`
	Email            string `json:"email"`
	Address          string `json:"address,omitempty"`
	TaxID            string `json:"tax_id,omitempty"`
	PaymentTermsDays *int   `json:"payment_terms_days,omitempty"`
	InvoiceDelivery  string `json:"invoice_delivery,omitempty"`
}

func (b Billing) input() domain.BillingInput {
	return domain.BillingInput{
		ContactName: b.ContactName, Email: b.Email, Address: b.Address, TaxID: b.TaxID,
		PaymentTermsDays: b.PaymentTermsDays, InvoiceDelivery: b.InvoiceDelivery,
	}
}

// CreateAccount is the command to open a customer account.
type CreateAccount struct {
	Name     string  `json:"name"`
	Currency string  `json:"currency"`
	Billing  Billing `json:"billing"`
}

// CreateAccount opens a customer account in req's tenant (accounts.create).
// An account a partner creates is in that partner's scope from then on.
func (s *Service) CreateAccount(ctx context.Context, req Request, cmd CreateAccount) (Outcome[domain.Account], error) {
	id := s.newID()
	return run(ctx, s, req, plan[domain.Account]{
		name: "CreateAccount", input: cmd,
		stream: AccountStream(req.TenantID, id),
		decide: func(ctx context.Context, v *view, req Request, a *domain.Account, _ uint64, now time.Time) ([]domain.Event, error) {
			if _, err := s.authorize(ctx, v, req, access{perm: domain.PermAccountsCreate, resource: "accounts"}, now); err != nil {
				return nil, err
			}
			return a.Create(domain.CreateAccount{
				AccountID: id, TenantID: req.TenantID, Name: cmd.Name, Currency: cmd.Currency, Billing: cmd.Billing.input(),
			}, req.Principal.Actor(), now)
		},
	})
}

// UpdateBilling replaces an account's billing details (billing.update).
func (s *Service) UpdateBilling(ctx context.Context, req Request, accountID uuid.UUID, cmd Billing) (Outcome[domain.Account], error) {
	return run(ctx, s, req, plan[domain.Account]{
		name: "UpdateBilling", input: struct {
			Account uuid.UUID
			Billing Billing
		}{accountID, cmd},
		stream: AccountStream(req.TenantID, accountID),
		decide: func(ctx context.Context, v *view, req Request, a *domain.Account, _ uint64, now time.Time) ([]domain.Event, error) {
			if _, err := s.authorizeAccount(ctx, v, req, a, domain.PermBillingUpdate, uuid.Nil, now); err != nil {
				return nil, err
			}
			return a.UpdateBilling(cmd.input(), req.Principal.Actor(), now)
		},
	})
}

// authorizeAccount authorizes perm on account a, which must exist (else
// not found, with no audit: there is nothing to be refused). A
// subscription, when given, names the resource more precisely. It returns
// the caller's grant, nil for tenant users.
func (s *Service) authorizeAccount(ctx context.Context, v *view, req Request, a *domain.Account, perm domain.Permission, subscription uuid.UUID, now time.Time) (*domain.PartnerAccess, error) {
	if !a.Exists() {
		return nil, domain.NotFound("account")
	}
	return s.authorize(ctx, v, req, accountAccess(a, perm, subscription), now)
}

func accountAccess(a *domain.Account, perm domain.Permission, subscription uuid.UUID) access {
	acc := access{perm: perm, target: domain.AccountTarget(a.ID, a.CreatedByPartner()), resource: "accounts/" + a.ID.String()}
	if subscription != uuid.Nil {
		acc.resource, acc.subscriptionID = "subscriptions/"+subscription.String(), subscription
	}
	return acc
}

// loadAccount loads an account of req's tenant.
func loadAccount(ctx context.Context, v *view, req Request, id uuid.UUID) (*domain.Account, error) {
	a, _, err := load[domain.Account](ctx, v, AccountStream(req.TenantID, id))
	return a, err
}
