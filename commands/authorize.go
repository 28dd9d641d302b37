package commands

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
)

// access is one authorization: the permission asked for, on what, and how
// to name it in the audit log.
type access struct {
	perm           domain.Permission
	target         domain.Target
	resource       string
	subscriptionID uuid.UUID
	// viaInvoice says the caller named an invoice, not its account: the
	// account was looked up, and is not the caller's to learn.
	viaInvoice bool
}

// denied is a refusal of access that the tenant's audit log records: the
// refusal the caller gets, and the AccessDenied event. The command path
// records the event, conditioned on the states the refusal was decided
// on, once the refusal stands.
type denied struct {
	err   error
	event *domain.AccessDenied
}

func (d *denied) Error() string { return d.err.Error() }
func (d *denied) Unwrap() error { return d.err }

// authorize decides whether req's principal holds a's permission, on the
// state of the caller's grant in v (never a read model), at now. A
// refusal of a caller known to the tenant is a *denied, to be audited. It
// returns the caller's grant, nil for tenant users.
func (s *Service) authorize(ctx context.Context, v *view, req Request, a access, now time.Time) (*domain.PartnerAccess, error) {
	grant, err := grantOf(ctx, v, req)
	if err != nil {
		return nil, err
	}
	if refusal := domain.Authorize(req.Principal, req.TenantID, grant, a.perm, a.target, now); refusal != nil {
		req.authorized(false)
		return nil, deny(req, grant, a, refusal)
	}
	req.authorized(true)
	return grant, nil
}

// deny returns refusal, as a *denied when the tenant audits it: a refusal
// of one of its users, or of a partner that holds or held a grant on it.
// The AccessDenied event names only what the caller sent: the account of
// a subscription the caller named is never recorded.
func deny(req Request, grant *domain.PartnerAccess, a access, refusal error) error {
	known := false
	switch req.Principal.Type {
	case domain.ActorTenantUser:
		known = req.Principal.TenantID == req.TenantID
	case domain.ActorPartnerUser:
		known = grant != nil
	}
	if !known {
		return refusal
	}
	reason := domain.CodeForbidden
	var derr *domain.Error
	if errors.As(refusal, &derr) {
		reason = derr.Code
		if errors.Is(refusal, domain.ErrNotFound) {
			reason = "out_of_scope"
		}
	}
	account, subscription, resource := a.target.AccountID, a.subscriptionID, a.resource
	switch {
	case a.perm == domain.PermSubscriptionsCreate:
		// The caller named the account in its body; the subscription's
		// id is the ledger's own, unknown to the caller.
		subscription, resource = uuid.Nil, "accounts/"+account.String()+"/subscriptions"
	case subscription != uuid.Nil, a.viaInvoice:
		// The caller named the subscription or invoice: its account was
		// looked up, and is not the caller's to learn.
		account = uuid.Nil
	}
	return &denied{err: refusal, event: &domain.AccessDenied{
		Permission: string(a.perm), Resource: resource, Reason: reason, Actor: req.Principal.Actor(),
		AccountID: account, SubscriptionID: subscription,
	}}
}

// grantOf loads the grant of a partner user's partner on req's tenant; nil
// for other principals and for a partner with no grant there.
func grantOf(ctx context.Context, v *view, req Request) (*domain.PartnerAccess, error) {
	stream := grantStream(req)
	if stream == "" {
		return nil, nil
	}
	grant, _, err := load[domain.PartnerAccess](ctx, v, stream)
	if err != nil || !grant.Exists() {
		return nil, err
	}
	return grant, nil
}
