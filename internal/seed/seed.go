// Package seed writes a realistic event log through the command layer, for
// tests and benchmarks: tenants with catalogs and accounts, partners with
// grants, subscriptions created, amended and cancelled by partner and
// tenant users, and usage. Every event goes through the same validation,
// authorization and append as a real request.
package seed

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
)

// Shape sizes the seeded world; events beyond it are usage.
type Shape struct {
	Tenants              int
	PartnersPerTenant    int
	AccountsPerTenant    int
	SubscriptionsPerAcct int
	UsageBatch           int
}

// DefaultShape is a small world whose bulk is usage.
var DefaultShape = Shape{Tenants: 3, PartnersPerTenant: 2, AccountsPerTenant: 40, SubscriptionsPerAcct: 3, UsageBatch: 500}

// Result is what Run wrote: how many events, and the tenants it seeded.
type Result struct {
	Events  int64
	Tenants []uuid.UUID
}

// Run writes at least events events through svc, telling progress how many
// are written. The history it writes is billable: subscriptions started
// on every day of the month, evergreen and termed, with monthly, yearly,
// one-time and usage charges, amended and cancelled, with usage.
func Run(ctx context.Context, svc *commands.Service, events int, shape Shape, progress func(done, total int64)) (Result, error) {
	s := &seeder{svc: svc, rng: rand.New(rand.NewPCG(1, 2)), target: int64(events), progress: progress}
	var tenants []*tenant
	var res Result
	for i := range shape.Tenants {
		t, err := s.tenant(ctx, i, shape)
		if err != nil {
			res.Events = s.done
			return res, err
		}
		tenants = append(tenants, t)
		res.Tenants = append(res.Tenants, t.req.TenantID)
	}
	for s.done < s.target {
		t := tenants[s.rng.IntN(len(tenants))]
		if err := s.step(ctx, t, shape); err != nil {
			res.Events = s.done
			return res, err
		}
	}
	res.Events = s.done
	return res, nil
}

type seeder struct {
	svc      *commands.Service
	rng      *rand.Rand
	done     int64
	target   int64
	progress func(done, total int64)
}

func (s *seeder) count(n int) {
	s.done += int64(n)
	if s.progress != nil {
		s.progress(min(s.done, s.target), s.target)
	}
}

// tenant is a seeded tenant: who acts in it and what it holds.
type tenant struct {
	req         commands.Request
	operators   []actor
	seat, meter domain.Product
	subs        []*domain.Subscription
}

// actor is a partner operator with the accounts its grant names.
type actor struct {
	req   commands.Request
	scope map[uuid.UUID]bool
}

// actorFor returns a partner operator who may act on account, or the
// tenant admin when none may, at random.
func (s *seeder) actorFor(t *tenant, account uuid.UUID) commands.Request {
	for _, i := range s.rng.Perm(len(t.operators)) {
		if op := t.operators[i]; op.scope[account] && s.rng.IntN(3) > 0 {
			return op.req
		}
	}
	return t.req
}

func (s *seeder) tenant(ctx context.Context, i int, shape Shape) (*tenant, error) {
	op := commands.Request{Principal: domain.Principal{Type: domain.ActorOperator, ID: uuid.New()}}
	tb, err := s.svc.CreateTenant(ctx, op, commands.CreateTenant{Name: fmt.Sprintf("Tenant %d", i+1)})
	if err != nil {
		return nil, fmt.Errorf("seed tenant: %w", err)
	}
	s.count(2)
	t := &tenant{req: commands.Request{TenantID: tb.ID, Principal: domain.Principal{
		Type: domain.ActorTenantUser, ID: tb.AdminUserID, TenantID: tb.ID, Role: domain.RoleTenantAdmin}}}
	if err := s.catalog(ctx, t); err != nil {
		return nil, err
	}
	var accounts []uuid.UUID
	for a := range shape.AccountsPerTenant {
		acc, err := s.svc.CreateAccount(ctx, t.req, commands.CreateAccount{Name: fmt.Sprintf("Customer %d-%d", i+1, a+1), Currency: "EUR",
			Billing: commands.Billing{ContactName: "Billing desk", Email: fmt.Sprintf("billing%d@customer%d.example", a, i)}})
		if err != nil {
			return nil, fmt.Errorf("seed account: %w", err)
		}
		s.count(1)
		accounts = append(accounts, acc.State.ID)
	}
	for range shape.PartnersPerTenant {
		a, err := s.partner(ctx, op, t, accounts)
		if err != nil {
			return nil, err
		}
		t.operators = append(t.operators, a)
	}
	for _, acc := range accounts {
		for range shape.SubscriptionsPerAcct {
			if err := s.subscribe(ctx, t, acc); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

func (s *seeder) catalog(ctx context.Context, t *tenant) error {
	seat, err := s.svc.CreateProduct(ctx, t.req, commands.CreateProduct{Name: "Platform", SKU: "PLAT", Charges: []commands.Charge{
		{Name: "Seat", Type: "recurring", Price: "49.00", Currency: "EUR", BillingPeriod: "month"},
		{Name: "Support", Type: "recurring", Price: "1200.00", Currency: "EUR", BillingPeriod: "year"},
		{Name: "Setup", Type: "one_time", Price: "250.00", Currency: "EUR"},
	}})
	if err != nil {
		return fmt.Errorf("seed product: %w", err)
	}
	meter, err := s.svc.CreateProduct(ctx, t.req, commands.CreateProduct{Name: "Storage", SKU: "STOR", Charges: []commands.Charge{
		{Name: "Per GB", Type: "usage", Price: "0.10", Currency: "EUR", Unit: "GB"},
	}})
	if err != nil {
		return fmt.Errorf("seed product: %w", err)
	}
	s.count(4) // each product with the reservation of its SKU
	t.seat, t.meter = *seat.State, *meter.State
	return nil
}

// partner creates a partner with an operator, granted about half the
// accounts, and returns the operator.
func (s *seeder) partner(ctx context.Context, op commands.Request, t *tenant, accounts []uuid.UUID) (actor, error) {
	pb, err := s.svc.CreatePartner(ctx, op, commands.CreatePartner{Name: "Reseller " + uuid.NewString()[:8]})
	if err != nil {
		return actor{}, fmt.Errorf("seed partner: %w", err)
	}
	padmin := commands.Request{Principal: domain.Principal{Type: domain.ActorPartnerUser, ID: pb.AdminUserID, PartnerID: pb.ID, Role: domain.RolePartnerAdmin}}
	user, err := s.svc.AddPartnerUser(ctx, padmin, pb.ID, commands.AddUser{Name: "Operator", Role: domain.RolePartnerOperator})
	if err != nil {
		return actor{}, fmt.Errorf("seed partner user: %w", err)
	}
	a := actor{scope: map[uuid.UUID]bool{}}
	var ids []uuid.UUID
	for _, acc := range accounts {
		if s.rng.IntN(2) == 0 {
			a.scope[acc], ids = true, append(ids, acc)
		}
	}
	if _, err := s.svc.PutPartnerAccess(ctx, t.req, pb.ID, commands.PutAccess{Role: domain.RolePartnerOperator, AccountIDs: ids}); err != nil {
		return actor{}, fmt.Errorf("seed grant: %w", err)
	}
	s.count(4)
	a.req = commands.Request{TenantID: t.req.TenantID, Principal: domain.Principal{
		Type: domain.ActorPartnerUser, ID: user.State.ID, PartnerID: pb.ID, Role: domain.RolePartnerOperator}}
	return a, nil
}

// subscribe subscribes account to a seat and storage, with yearly
// support and a setup fee now and then, evergreen or for a year, from a
// day of the last twelve months.
func (s *seeder) subscribe(ctx context.Context, t *tenant, account uuid.UUID) error {
	items := []commands.SubscriptionItem{
		{ProductID: t.seat.ID, ChargeID: t.seat.Charges[0].ID, Quantity: decimal.NewFromInt(int64(1 + s.rng.IntN(20)))},
		{ProductID: t.meter.ID, ChargeID: t.meter.Charges[0].ID, Quantity: decimal.NewFromInt(1)},
	}
	if s.rng.IntN(4) == 0 {
		items = append(items, commands.SubscriptionItem{ProductID: t.seat.ID, ChargeID: t.seat.Charges[1].ID, Quantity: decimal.NewFromInt(1)})
	}
	if s.rng.IntN(5) == 0 {
		items = append(items, commands.SubscriptionItem{ProductID: t.seat.ID, ChargeID: t.seat.Charges[2].ID, Quantity: decimal.NewFromInt(1)})
	}
	term := commands.Term{Type: "evergreen"}
	if s.rng.IntN(4) == 0 {
		term = commands.Term{Type: "termed", Months: 12, AutoRenew: s.rng.IntN(2) == 0}
	}
	start := domain.DateOf(time.Now()).AddDays(-4 - s.rng.IntN(362))
	out, err := s.svc.CreateSubscription(ctx, s.actorFor(t, account), commands.CreateSubscription{
		AccountID: account, StartDate: start, Term: term, Items: items,
	})
	if err != nil {
		return fmt.Errorf("seed subscription: %w", err)
	}
	s.count(1)
	t.subs = append(t.subs, out.State)
	return nil
}

// step takes one action on a random subscription of t: mostly a batch of
// usage, sometimes an amendment, a cancellation or a new subscription.
func (s *seeder) step(ctx context.Context, t *tenant, shape Shape) error {
	if len(t.subs) == 0 {
		return fmt.Errorf("seed: every subscription of the tenant is cancelled")
	}
	i := s.rng.IntN(len(t.subs))
	sub := t.subs[i]
	req := s.actorFor(t, sub.AccountID)
	today := time.Now().UTC()
	switch roll := s.rng.IntN(100); {
	case roll < 10:
		return s.subscribe(ctx, t, sub.AccountID)
	case roll < 13:
		if _, err := s.svc.CancelSubscription(ctx, req, sub.ID, commands.CancelSubscription{Policy: "end_of_term", Reason: "seeded"}); err != nil {
			return fmt.Errorf("seed cancel: %w", err)
		}
		t.subs = append(t.subs[:i], t.subs[i+1:]...)
		s.count(1)
	case roll < 40:
		out, err := s.svc.AmendSubscription(ctx, req, sub.ID, commands.AmendSubscription{
			EffectiveDate: domain.DateOf(today),
			Changes:       []commands.Change{{Type: "change_quantity", ItemID: sub.Items[0].ID, Quantity: decimal.NewFromInt(int64(1 + s.rng.IntN(50)))}},
		})
		if err != nil {
			return fmt.Errorf("seed amendment: %w", err)
		}
		t.subs[i] = out.State
		s.count(1)
	default:
		return s.usage(ctx, req, sub, shape.UsageBatch, today)
	}
	return nil
}

func (s *seeder) usage(ctx context.Context, req commands.Request, sub *domain.Subscription, n int, now time.Time) error {
	n = int(min(int64(n), max(s.target-s.done, 1)))
	records := make([]commands.UsageRecord, n)
	for r := range records {
		records[r] = commands.UsageRecord{ID: uuid.New(), SubscriptionID: sub.ID, ItemID: sub.Items[1].ID,
			Quantity: decimal.New(int64(1+s.rng.IntN(1000)), -2), OccurredAt: now.Add(-time.Duration(s.rng.IntN(72)) * time.Hour)}
	}
	out, err := s.svc.RecordUsage(ctx, req, commands.RecordUsage{Records: records})
	if err != nil {
		return fmt.Errorf("seed usage: %w", err)
	}
	s.count(out.Accepted)
	return nil
}
