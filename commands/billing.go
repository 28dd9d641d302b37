package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
)

// BillingIndex finds what a bill run looks at: a tenant's accounts, their
// subscriptions, the account of an invoice. It is an index, never the
// truth: every state found through it is read from the log, and what it
// has not seen yet is billed by the next run.
type BillingIndex interface {
	// Sync returns once the index includes every event appended before
	// the call.
	Sync(ctx context.Context) error
	// Accounts returns the ids of tenant's accounts, in a stable order.
	Accounts(ctx context.Context, tenant uuid.UUID) ([]uuid.UUID, error)
	// Subscriptions returns the ids of the subscriptions of each of
	// accounts.
	Subscriptions(ctx context.Context, tenant uuid.UUID, accounts []uuid.UUID) (map[uuid.UUID][]uuid.UUID, error)
	// InvoiceAccount returns the account of invoice, or uuid.Nil when the
	// index knows no such invoice.
	InvoiceAccount(ctx context.Context, tenant, invoice uuid.UUID) (uuid.UUID, error)
	// TermsDue returns up to limit termed subscriptions whose next term
	// end not yet recorded is on or before today.
	TermsDue(ctx context.Context, today domain.Date, limit int) ([]SubscriptionRef, error)
}

// SubscriptionRef names a subscription of a tenant.
type SubscriptionRef struct {
	TenantID       uuid.UUID
	SubscriptionID uuid.UUID
}

// WithBillingIndex sets the index bill runs and invoice commands use.
func WithBillingIndex(ix BillingIndex) Option { return func(s *Service) { s.index = ix } }

// errNoIndex: the service was built without a BillingIndex.
var errNoIndex = errors.New("billing: no billing index configured")

// CodeUnknownAccount refuses a bill run naming an account the tenant does
// not have.
const CodeUnknownAccount = "unknown_account"

// RunBill is the command to bill a tenant's accounts, all of them or
// those listed, for everything due up to and including TargetDate.
type RunBill struct {
	TargetDate domain.Date `json:"target_date"`
	AccountIDs []uuid.UUID `json:"account_ids,omitempty"`
}

// Progress reports how many of a long command's steps are done.
type Progress func(done, total int)

// billChunk is how many accounts one append of a bill run invoices.
const billChunk = 50

// RunBill runs a bill run (billing.run): it records its start, invoices
// the accounts chunk by chunk, each chunk one append with the invoices'
// numbers, and records its completion with every invoice it issued. Two
// runs racing on the same accounts never bill anything twice: each chunk
// is decided on the accounts' invoices and appended only if none of the
// streams it read moved. A run replayed by its idempotency key, or
// resumed after a crash, bills only what is still due and lists every
// invoice it issued.
func (s *Service) RunBill(ctx context.Context, req Request, cmd RunBill, progress Progress) (Outcome[domain.BillRun], error) {
	if s.index == nil {
		return Outcome[domain.BillRun]{}, errNoIndex
	}
	if err := s.index.Sync(ctx); err != nil {
		return Outcome[domain.BillRun]{}, fmt.Errorf("bill run: %w", err)
	}
	if err := s.checkAccounts(ctx, req.TenantID, cmd.AccountIDs); err != nil {
		return Outcome[domain.BillRun]{}, err
	}
	id := s.newID()
	start, err := run(ctx, s, req, plan[domain.BillRun]{
		name: "StartBillRun", input: cmd, stream: BillRunStream(req.TenantID, id), subject: id,
		decide: func(ctx context.Context, v *view, req Request, r *domain.BillRun, _ uint64, now time.Time) ([]domain.Event, error) {
			if _, err := s.authorize(ctx, v, req, access{perm: domain.PermBillingRun, resource: "bill-runs"}, now); err != nil {
				return nil, err
			}
			return r.Start(domain.StartBillRun{BillRunID: id, TenantID: req.TenantID, TargetDate: cmd.TargetDate,
				AccountIDs: cmd.AccountIDs}, req.Principal.Actor(), now)
		},
	})
	if err != nil {
		return Outcome[domain.BillRun]{}, err
	}
	req.IdempotencyKey, req.IfMatch = "", nil
	if start.Replayed {
		if start, err = s.billRunNow(ctx, req, start); err != nil || start.State.Status == domain.BillRunStatusCompleted {
			return start, err
		}
	}
	issued, err := s.billAccounts(ctx, req, start.State, progress)
	if err != nil {
		return Outcome[domain.BillRun]{}, err
	}
	return run(ctx, s, req, plan[domain.BillRun]{
		name: "CompleteBillRun", input: start.State.ID, stream: start.Stream,
		decide: func(ctx context.Context, v *view, req Request, r *domain.BillRun, _ uint64, now time.Time) ([]domain.Event, error) {
			if _, err := s.authorize(ctx, v, req, access{perm: domain.PermBillingRun, resource: "bill-runs"}, now); err != nil {
				return nil, err
			}
			return r.Complete(issued, now)
		},
	})
}

// billRunNow returns the bill run of a replayed start as it stands now.
func (s *Service) billRunNow(ctx context.Context, req Request, start Outcome[domain.BillRun]) (Outcome[domain.BillRun], error) {
	v := s.newView()
	r, version, err := load[domain.BillRun](ctx, v, start.Stream)
	if err != nil {
		return Outcome[domain.BillRun]{}, err
	}
	start.State, start.Version, start.Position = r, version, v.position(start.Stream)
	return start, nil
}

// checkAccounts refuses a bill run naming an account the index does not
// know in tenant (CodeUnknownAccount, naming each).
func (s *Service) checkAccounts(ctx context.Context, tenant uuid.UUID, ids []uuid.UUID) error {
	if len(ids) == 0 || len(ids) > domain.MaxBillRunAccounts {
		return nil // none, or too many: the domain refuses that
	}
	known, err := s.index.Accounts(ctx, tenant)
	if err != nil {
		return fmt.Errorf("bill run: accounts of %s: %w", tenant, err)
	}
	set := make(map[uuid.UUID]bool, len(known))
	for _, id := range known {
		set[id] = true
	}
	var refusal *domain.Error
	for i, id := range ids {
		if set[id] {
			continue
		}
		field := fmt.Sprintf("account_ids[%d]", i)
		if refusal == nil {
			refusal = domain.RuleError(CodeUnknownAccount, "no account %s", id).AtField(field)
			continue
		}
		refusal.Fields = append(refusal.Fields, domain.FieldError{Field: field, Message: "no account " + id.String()})
	}
	if refusal != nil {
		return refusal
	}
	return nil
}

// billAccounts invoices the accounts of bill run r, chunk by chunk, and
// returns every invoice of r, issued now or by an earlier attempt.
func (s *Service) billAccounts(ctx context.Context, req Request, r *domain.BillRun, progress Progress) ([]domain.BillRunInvoice, error) {
	accounts := r.AccountIDs
	if len(accounts) == 0 {
		var err error
		if accounts, err = s.index.Accounts(ctx, r.TenantID); err != nil {
			return nil, fmt.Errorf("bill run %s: accounts: %w", r.ID, err)
		}
	}
	issued := []domain.BillRunInvoice{}
	for from := 0; from < len(accounts); from += billChunk {
		chunk := accounts[from:min(from+billChunk, len(accounts))]
		subs, err := s.index.Subscriptions(ctx, r.TenantID, chunk)
		if err != nil {
			return nil, fmt.Errorf("bill run %s: subscriptions: %w", r.ID, err)
		}
		got, err := s.billChunk(ctx, req, r, chunk, subs)
		if err != nil {
			return nil, fmt.Errorf("bill run %s: %w", r.ID, err)
		}
		issued = append(issued, got...)
		if progress != nil {
			progress(from+len(chunk), len(accounts))
		}
	}
	return issued, nil
}
