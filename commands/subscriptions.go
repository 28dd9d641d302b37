package commands

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/domain"
)

// SubscriptionItem is an item to subscribe to, as api.md's bodies carry
// it. A unit price overrides the charge's price; only some roles may.
type SubscriptionItem struct {
	ProductID uuid.UUID       `json:"product_id"`
	ChargeID  uuid.UUID       `json:"charge_id"`
	Quantity  decimal.Decimal `json:"quantity"`
	UnitPrice *string         `json:"unit_price,omitempty"`
}

// Term is a subscription's term: evergreen, or termed for some months.
type Term struct {
	Type      string `json:"type"`
	Months    int    `json:"months,omitempty"`
	AutoRenew bool   `json:"auto_renew,omitempty"`
}

// CreateSubscription is the command to subscribe an account.
type CreateSubscription struct {
	AccountID uuid.UUID          `json:"account_id"`
	StartDate domain.Date        `json:"start_date"`
	Term      Term               `json:"term"`
	Items     []SubscriptionItem `json:"items"`
}

// Change is one change of an amendment: add_item, remove_item or
// change_quantity.
type Change struct {
	Type      string          `json:"type"`
	ProductID uuid.UUID       `json:"product_id,omitzero"`
	ChargeID  uuid.UUID       `json:"charge_id,omitzero"`
	Quantity  decimal.Decimal `json:"quantity,omitzero"`
	UnitPrice *string         `json:"unit_price,omitempty"`
	ItemID    uuid.UUID       `json:"item_id,omitzero"`
}

// AmendSubscription is the command to change a subscription's items, all
// changes or none, from an effective date.
type AmendSubscription struct {
	EffectiveDate domain.Date `json:"effective_date"`
	Changes       []Change    `json:"changes"`
}

// CancelSubscription is the command to cancel a subscription.
// WithdrawScheduled withdraws, in the same append, the scheduled changes
// that would take effect after the cancel date.
type CancelSubscription struct {
	Policy            string      `json:"policy"`
	Date              domain.Date `json:"date,omitzero"`
	Reason            string      `json:"reason,omitempty"`
	WithdrawScheduled bool        `json:"withdraw_scheduled,omitempty"`
}

// CreateSubscription subscribes an account of req's tenant
// (subscriptions.create on the account).
func (s *Service) CreateSubscription(ctx context.Context, req Request, cmd CreateSubscription) (Outcome[domain.Subscription], error) {
	id := s.newID()
	items := make([]domain.ItemInput, len(cmd.Items))
	productIDs := make([]uuid.UUID, len(cmd.Items))
	overrides := false
	for i, it := range cmd.Items {
		items[i] = domain.ItemInput{ProductID: it.ProductID, ChargeID: it.ChargeID, Quantity: it.Quantity, UnitPrice: it.UnitPrice}
		productIDs[i], overrides = it.ProductID, overrides || it.UnitPrice != nil
	}
	return run(ctx, s, req, plan[domain.Subscription]{
		name: "CreateSubscription", input: cmd,
		stream: SubscriptionStream(req.TenantID, id),
		reads:  append(productStreams(req, productIDs), AccountStream(req.TenantID, cmd.AccountID)),
		decide: func(ctx context.Context, v *view, req Request, sub *domain.Subscription, _ uint64, now time.Time) ([]domain.Event, error) {
			account, err := loadAccount(ctx, v, req, cmd.AccountID)
			if err != nil {
				return nil, err
			}
			if err := s.authorizeWrite(ctx, v, req, account, domain.PermSubscriptionsCreate, id, overrides, now); err != nil {
				return nil, err
			}
			products, err := loadProducts(ctx, v, req, productIDs)
			if err != nil {
				return nil, err
			}
			return sub.Create(domain.CreateSubscription{
				SubscriptionID: id, TenantID: req.TenantID, AccountID: cmd.AccountID, StartDate: cmd.StartDate,
				Term:  domain.TermInput{Type: cmd.Term.Type, Months: cmd.Term.Months, AutoRenew: cmd.Term.AutoRenew},
				Items: items, NewID: s.newID,
			}, account, products, req.Principal.Actor(), now)
		},
	})
}

// AmendSubscription applies an amendment (subscriptions.amend). One that
// removes an item is decided on the subscription's usage too.
func (s *Service) AmendSubscription(ctx context.Context, req Request, id uuid.UUID, cmd AmendSubscription) (Outcome[domain.Subscription], error) {
	c := s.amendment(req, id, cmd)
	return s.onSubscription(ctx, req, "AmendSubscription", id, cmd, domain.PermSubscriptionsAmend, c.overrides, c.reads, c.decide)
}

// PreviewAmendment decides an amendment as AmendSubscription would, with
// the same checks, and appends nothing.
func (s *Service) PreviewAmendment(ctx context.Context, req Request, id uuid.UUID, cmd AmendSubscription) (Preview, error) {
	c := s.amendment(req, id, cmd)
	return s.preview(ctx, req, "PreviewAmendment", id, cmd, domain.PermSubscriptionsAmend, c)
}

// subscriptionChange is how a command changes a subscription: the other
// streams it reads, whether it overrides prices, and its decision.
type subscriptionChange struct {
	overrides bool
	reads     []string
	decide    func(context.Context, *view, Request, *domain.Subscription, time.Time) ([]domain.Event, error)
}

func (s *Service) amendment(req Request, id uuid.UUID, cmd AmendSubscription) subscriptionChange {
	changes := make([]domain.ChangeInput, len(cmd.Changes))
	var productIDs []uuid.UUID
	overrides, removes := false, false
	for i, c := range cmd.Changes {
		changes[i] = domain.ChangeInput{Type: c.Type, ProductID: c.ProductID, ChargeID: c.ChargeID, Quantity: c.Quantity, UnitPrice: c.UnitPrice, ItemID: c.ItemID}
		productIDs, overrides = append(productIDs, c.ProductID), overrides || c.UnitPrice != nil
		removes = removes || domain.ChangeType(c.Type) == domain.ChangeRemoveItem
	}
	reads := productStreams(req, productIDs)
	if removes {
		reads = append(reads, UsageStream(req.TenantID, id))
	}
	return subscriptionChange{overrides: overrides, reads: reads,
		decide: func(ctx context.Context, v *view, req Request, sub *domain.Subscription, now time.Time) ([]domain.Event, error) {
			products, err := loadProducts(ctx, v, req, productIDs)
			if err != nil {
				return nil, err
			}
			events, err := sub.Amend(domain.AmendSubscription{EffectiveDate: cmd.EffectiveDate, Changes: changes, NewID: s.newID},
				products, req.Principal.Actor(), now)
			if err != nil || !removes {
				return events, err
			}
			return keepUsage(ctx, v, req, sub, events)
		}}
}

// CancelSubscription cancels a subscription (subscriptions.cancel),
// decided on its usage too.
func (s *Service) CancelSubscription(ctx context.Context, req Request, id uuid.UUID, cmd CancelSubscription) (Outcome[domain.Subscription], error) {
	c := cancellation(req, id, cmd)
	return s.onSubscription(ctx, req, "CancelSubscription", id, cmd, domain.PermSubscriptionsCancel, false, c.reads, c.decide)
}

// PreviewCancellation decides a cancellation as CancelSubscription would,
// with the same checks, and appends nothing.
func (s *Service) PreviewCancellation(ctx context.Context, req Request, id uuid.UUID, cmd CancelSubscription) (Preview, error) {
	return s.preview(ctx, req, "PreviewCancellation", id, cmd, domain.PermSubscriptionsCancel, cancellation(req, id, cmd))
}

func cancellation(req Request, id uuid.UUID, cmd CancelSubscription) subscriptionChange {
	return subscriptionChange{reads: []string{UsageStream(req.TenantID, id)},
		decide: func(ctx context.Context, v *view, req Request, sub *domain.Subscription, now time.Time) ([]domain.Event, error) {
			events, err := sub.Cancel(domain.CancelSubscription{Policy: cmd.Policy, Date: cmd.Date, Reason: cmd.Reason,
				WithdrawScheduled: cmd.WithdrawScheduled}, req.Principal.Actor(), now)
			if err != nil {
				return nil, err
			}
			return keepUsage(ctx, v, req, sub, events)
		}}
}

// WithdrawScheduledChange withdraws a scheduled change of a subscription
// before it takes effect (subscriptions.amend), decided on the
// subscription's usage too.
func (s *Service) WithdrawScheduledChange(ctx context.Context, req Request, id, change uuid.UUID) (Outcome[domain.Subscription], error) {
	input := struct {
		Change uuid.UUID `json:"change_id"`
	}{change}
	return s.onSubscription(ctx, req, "WithdrawScheduledChange", id, input, domain.PermSubscriptionsAmend, false, []string{UsageStream(req.TenantID, id)},
		func(ctx context.Context, v *view, req Request, sub *domain.Subscription, now time.Time) ([]domain.Event, error) {
			events, err := sub.WithdrawScheduledChange(change, req.Principal.Actor(), now)
			if err != nil {
				return nil, err
			}
			return keepUsage(ctx, v, req, sub, events)
		})
}

// keepUsage refuses events decided on sub that would leave usage recorded
// on it behind (domain.CheckUsageKept). Its usage stream joins the view,
// so the append is conditioned on it: usage recorded after this read
// makes the command decide again.
func keepUsage(ctx context.Context, v *view, req Request, sub *domain.Subscription, events []domain.Event) ([]domain.Event, error) {
	usage, _, err := load[domain.SubscriptionUsage](ctx, v, UsageStream(req.TenantID, sub.ID))
	if err != nil {
		return nil, err
	}
	if err := domain.CheckUsageKept(sub, usage, events); err != nil {
		return nil, err
	}
	return events, nil
}

// onSubscription runs a command on an existing subscription, authorized
// with perm on its account; reads are the other streams it reads.
func (s *Service) onSubscription(ctx context.Context, req Request, name string, id uuid.UUID, input any, perm domain.Permission, overrides bool, reads []string,
	decide func(context.Context, *view, Request, *domain.Subscription, time.Time) ([]domain.Event, error)) (Outcome[domain.Subscription], error) {
	stream := SubscriptionStream(req.TenantID, id)
	return run(ctx, s, req, plan[domain.Subscription]{
		name: name, input: struct {
			Subscription uuid.UUID
			Command      any
		}{id, input},
		stream: stream,
		reads:  append(reads, s.accountOfKept(req.TenantID, stream)),
		decide: func(ctx context.Context, v *view, req Request, sub *domain.Subscription, _ uint64, now time.Time) ([]domain.Event, error) {
			if !sub.Exists() {
				return nil, domain.NotFound("subscription")
			}
			account, err := loadAccount(ctx, v, req, sub.AccountID)
			if err != nil {
				return nil, err
			}
			if err := s.authorizeWrite(ctx, v, req, account, perm, id, overrides, now); err != nil {
				return nil, err
			}
			return decide(ctx, v, req, sub, now)
		},
	})
}

// accountOfKept is the account stream of the subscription in stream, when
// its state is kept: a subscription's account never changes, so it can be
// named before the subscription is read. "" when it is not kept.
func (s *Service) accountOfKept(tenant uuid.UUID, stream string) string {
	snap, ok := s.snapshots.get(stream)
	if !ok {
		return ""
	}
	sub, ok := snap.state.(*domain.Subscription)
	if !ok || !sub.Exists() {
		return ""
	}
	return AccountStream(tenant, sub.AccountID)
}

// authorizeWrite authorizes perm on account for subscription and, when the
// command overrides a unit price, the caller's right to do so.
func (s *Service) authorizeWrite(ctx context.Context, v *view, req Request, account *domain.Account, perm domain.Permission, subscription uuid.UUID, overrides bool, now time.Time) error {
	grant, err := s.authorizeAccount(ctx, v, req, account, perm, subscription, now)
	if err != nil || !overrides || domain.CanOverridePrice(req.Principal, grant, now) {
		return err
	}
	refusal := domain.Forbidden(domain.CodePriceOverrideNotPermitted, "this role may not override unit prices")
	return deny(req, grant, accountAccess(account, perm, subscription), refusal)
}
