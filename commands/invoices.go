package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
)

// VoidInvoice is the command to void a posted invoice.
type VoidInvoice struct {
	Reason string `json:"reason"`
}

// VoidInvoice voids an invoice (billing.run on its account): only one
// that no later invoice credits; its lines then count as never billed.
// The outcome is the account's invoices; Subject is the invoice.
func (s *Service) VoidInvoice(ctx context.Context, req Request, id uuid.UUID, cmd VoidInvoice) (Outcome[domain.AccountInvoices], error) {
	if s.index == nil {
		return Outcome[domain.AccountInvoices]{}, errNoIndex
	}
	if err := s.index.Sync(ctx); err != nil {
		return Outcome[domain.AccountInvoices]{}, fmt.Errorf("void invoice: %w", err)
	}
	account, err := s.index.InvoiceAccount(ctx, req.TenantID, id)
	if err != nil {
		return Outcome[domain.AccountInvoices]{}, err
	}
	// If-Match names the invoice's version, not its stream's: it is
	// compared once the caller is authorized.
	expected := req.IfMatch
	req.IfMatch = nil
	out, err := run(ctx, s, req, plan[domain.AccountInvoices]{
		name: "VoidInvoice", input: struct {
			Invoice uuid.UUID
			Command VoidInvoice
		}{id, cmd},
		stream: InvoicesStream(req.TenantID, account), subject: id,
		reads: []string{AccountStream(req.TenantID, account)},
		decide: func(ctx context.Context, v *view, req Request, invoices *domain.AccountInvoices, _ uint64, now time.Time) ([]domain.Event, error) {
			if _, err := s.authorizeInvoice(ctx, v, req, account, id, domain.PermBillingRun, now); err != nil {
				return nil, err
			}
			if inv, ok := invoices.Invoice(id); ok && expected != nil && *expected != inv.Version && !req.replaying() {
				return nil, precondition(inv.Version, *expected)
			}
			return invoices.Void(id, cmd.Reason, req.Principal.Actor(), now)
		},
	})
	out.Subject = id
	return out, err
}

// authorizeInvoice authorizes perm on invoice id of account (uuid.Nil when
// the index knows no such invoice: not found, as one out of scope is).
func (s *Service) authorizeInvoice(ctx context.Context, v *view, req Request, account, id uuid.UUID, perm domain.Permission, now time.Time) (*domain.PartnerAccess, error) {
	acc, err := loadAccount(ctx, v, req, account)
	if err != nil {
		return nil, err
	}
	if account == uuid.Nil || !acc.Exists() {
		return nil, domain.NotFound("invoice")
	}
	a := accountAccess(acc, perm, uuid.Nil)
	a.resource, a.viaInvoice = "invoices/"+id.String(), true
	return s.authorize(ctx, v, req, a, now)
}

// AuthorizeInvoiceRead authorizes perm on invoice id of req's tenant, on
// its account's current state: an invoice the index does not know, or of
// an account outside the caller's scope, is not found alike, and the
// refusal of a caller the tenant knows is audited naming the invoice
// only. It returns the caller's grant, nil for tenant users.
func (s *Service) AuthorizeInvoiceRead(ctx context.Context, req Request, id uuid.UUID, perm domain.Permission) (*domain.PartnerAccess, error) {
	if s.index == nil {
		return nil, errNoIndex
	}
	account, err := s.index.InvoiceAccount(ctx, req.TenantID, id)
	if err != nil {
		return nil, err
	}
	var grant *domain.PartnerAccess
	err = s.query(ctx, req, func(ctx context.Context, v *view, now time.Time) (err error) {
		grant, err = s.authorizeInvoice(ctx, v, req, account, id, perm, now)
		return err
	}, AccountStream(req.TenantID, account))
	return grant, err
}

// BillRun returns a bill run (invoices.read on the tenant).
func (s *Service) BillRun(ctx context.Context, req Request, id uuid.UUID) (Outcome[domain.BillRun], error) {
	stream := BillRunStream(req.TenantID, id)
	var out Outcome[domain.BillRun]
	err := s.query(ctx, req, func(ctx context.Context, v *view, now time.Time) error {
		if _, err := s.authorize(ctx, v, req, access{perm: domain.PermInvoicesRead, resource: "bill-runs/" + id.String()}, now); err != nil {
			return err
		}
		r, version, err := load[domain.BillRun](ctx, v, stream)
		if err != nil {
			return err
		}
		if !r.Exists() || req.Principal.Type == domain.ActorPartnerUser {
			return domain.NotFound("bill run")
		}
		out = Outcome[domain.BillRun]{State: r, Stream: stream, Version: version, Position: v.position(stream)}
		return nil
	}, stream)
	return out, err
}
