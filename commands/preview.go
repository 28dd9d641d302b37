package commands

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/domain"
	"ledger/eventstore"
)

// Preview is what an amendment or a cancellation would do, decided with
// every check of the command and appended nowhere: the subscription as it
// would leave it, and the credits and charges it would add to periods
// already invoiced (domain.AccountInvoices.Proration).
type Preview struct {
	Subscription *domain.Subscription
	Proration    []domain.InvoiceLine
	Total        decimal.Decimal
	// Position is where the state the preview was decided on was
	// recorded: a read at it sees what the preview saw.
	Position eventstore.Position
}

// preview runs change on subscription id through the command path, as a
// decision to change nothing: a refusal is the command's own, audited
// the same way; an idempotency key means nothing to it.
func (s *Service) preview(ctx context.Context, req Request, name string, id uuid.UUID, input any, perm domain.Permission, change subscriptionChange) (Preview, error) {
	req.IdempotencyKey = ""
	var out Preview
	res, err := s.onSubscription(ctx, req, name, id, input, perm, change.overrides, change.reads,
		func(ctx context.Context, v *view, req Request, sub *domain.Subscription, now time.Time) ([]domain.Event, error) {
			events, err := change.decide(ctx, v, req, sub, now)
			if err != nil {
				return nil, err
			}
			out, err = prorate(ctx, v, req, sub, events)
			return nil, err
		})
	out.Position = res.Position
	return out, err
}

// prorate previews events decided on sub against its account's invoices.
func prorate(ctx context.Context, v *view, req Request, sub *domain.Subscription, events []domain.Event) (Preview, error) {
	after := sub.Clone()
	for _, e := range events {
		after.Apply(e)
	}
	invoices, _, err := load[domain.AccountInvoices](ctx, v, InvoicesStream(req.TenantID, sub.AccountID))
	if err != nil {
		return Preview{}, err
	}
	usage, _, err := load[domain.SubscriptionUsage](ctx, v, UsageStream(req.TenantID, sub.ID))
	if err != nil {
		return Preview{}, err
	}
	lines, total := invoices.Proration(domain.Billable{Subscription: sub, Usage: usage}, domain.Billable{Subscription: after, Usage: usage})
	return Preview{Subscription: after, Proration: lines, Total: total}, nil
}
