package main

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
)

// subscriptions subscribes every account, started five to ten weeks ago,
// with seats and metered storage, support and onboarding now and then,
// one in six for a twelve-month term; one account in three has a second
// subscription.
func (w *demoWorld) subscriptions(ctx context.Context) error {
	for i, acc := range w.accounts {
		c := w.charges[acc.currency]
		items := []commands.SubscriptionItem{demoItem(c.seat, 3+(i*7)%38), demoItem(c.storage, 1)}
		if i%4 == 0 {
			items = append(items, demoItem(c.support, 1))
		}
		if i%5 == 1 {
			items = append(items, demoItem(c.onboarding, 1))
		}
		term := commands.Term{Type: "evergreen"}
		if i%6 == 2 {
			term = commands.Term{Type: "termed", Months: 12, AutoRenew: true}
		}
		if err := w.subscribe(ctx, acc, w.today.AddDays(-40-(i*7)%35), term, items); err != nil {
			return err
		}
		if i%3 == 0 {
			second := []commands.SubscriptionItem{demoItem(c.seat, 2+i%5), demoItem(c.storage, 1)}
			if err := w.subscribe(ctx, acc, w.today.AddDays(-36-i%4), commands.Term{Type: "evergreen"}, second); err != nil {
				return err
			}
		}
	}
	return nil
}

func demoItem(c demoCharge, quantity int) commands.SubscriptionItem {
	return commands.SubscriptionItem{ProductID: c.product, ChargeID: c.charge, Quantity: decimal.NewFromInt(int64(quantity))}
}

func (w *demoWorld) subscribe(ctx context.Context, acc demoAccount, start domain.Date, term commands.Term, items []commands.SubscriptionItem) error {
	out, err := w.svc.CreateSubscription(ctx, w.actorFor(acc.id), commands.CreateSubscription{
		AccountID: acc.id, StartDate: start, Term: term, Items: items})
	if err != nil {
		return err
	}
	w.subs = append(w.subs, out.State)
	w.counts.Subscriptions++
	return nil
}

// amendments amends one subscription in three, effective on a day of the
// past month: more seats, or premium support added.
func (w *demoWorld) amendments(ctx context.Context) error {
	for k, sub := range w.subs {
		if k%3 != 0 {
			continue
		}
		change := commands.Change{Type: "change_quantity", ItemID: sub.Items[0].ID,
			Quantity: decimal.NewFromInt(int64(sub.Items[0].Quantity + 1 + k%6))}
		if k%2 == 1 {
			support := w.charges[string(sub.Currency)].support
			change = commands.Change{Type: "add_item", ProductID: support.product, ChargeID: support.charge, Quantity: decimal.NewFromInt(1)}
		}
		out, err := w.svc.AmendSubscription(ctx, w.actorFor(sub.AccountID), sub.ID, commands.AmendSubscription{
			EffectiveDate: w.today.AddDays(-28 + (k*5)%27), Changes: []commands.Change{change}})
		if err != nil {
			return fmt.Errorf("subscription %s: %w", sub.ID, err)
		}
		w.subs[k] = out.State
		w.counts.Amendments++
	}
	return nil
}

// usage records, for every subscription, storage used on eight days of
// the past month.
func (w *demoWorld) usage(ctx context.Context) error {
	for k, sub := range w.subs {
		records := make([]commands.UsageRecord, 8)
		for j := range records {
			day := w.today.AddDays(-29 + j*4).Time().Add(time.Duration(9+(k+j)%8) * time.Hour)
			records[j] = commands.UsageRecord{ID: uuid.New(), SubscriptionID: sub.ID, ItemID: sub.Items[1].ID,
				Quantity: decimal.New(int64(50+(k*37+j*13)%900), -1), OccurredAt: day}
		}
		out, err := w.svc.RecordUsage(ctx, w.actorFor(sub.AccountID), commands.RecordUsage{Records: records})
		if err != nil {
			return fmt.Errorf("subscription %s: %w", sub.ID, err)
		}
		w.counts.UsageRecords += out.Accepted
	}
	return nil
}

// endings cancels a direct customer's subscription, narrows Cobalt's grant
// to fewer accounts and usage only, and revokes Harbor's access.
func (w *demoWorld) endings(ctx context.Context) error {
	last := w.subs[len(w.subs)-1]
	for _, s := range w.subs {
		if w.actorFor(s.AccountID).Principal.Type == domain.ActorTenantUser {
			last = s
		}
	}
	if _, err := w.svc.CancelSubscription(ctx, w.admin.req, last.ID, commands.CancelSubscription{
		Policy: "immediate", Reason: "Customer consolidated onto another provider"}); err != nil {
		return fmt.Errorf("cancel subscription %s: %w", last.ID, err)
	}
	w.counts.Cancellations++
	cobalt, harbor := w.partners[1], w.partners[2]
	if err := w.grant(ctx, cobalt, domain.RolePartnerOperator, w.accounts[10:14], []domain.Permission{domain.PermUsageRecord}); err != nil {
		return fmt.Errorf("narrow %s's grant: %w", cobalt.name, err)
	}
	if _, err := w.svc.RevokePartnerAccess(ctx, w.admin.req, harbor.id, "Consulting engagement ended"); err != nil {
		return fmt.Errorf("revoke %s: %w", harbor.name, err)
	}
	return nil
}
