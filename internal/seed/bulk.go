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
	"ledger/eventstore"
)

// bulkStreams bounds the streams of one set-based append: each takes an
// advisory lock, and Postgres' lock table is shared by every connection.
const bulkStreams = 400

// bulk is one set-based append being gathered: new streams, and the
// streams their decisions read, at the versions read.
type bulk struct {
	streams    []eventstore.StreamEvents
	conditions map[string]uint64
	events     int
}

// add adds stream, new, with events decided by by for t at now.
func (b *bulk) add(stream string, t *tenant, by domain.Principal, now time.Time, decided []domain.Event) error {
	events, err := envelope(t, by, now, decided)
	if err != nil {
		return err
	}
	b.streams = append(b.streams, eventstore.StreamEvents{Stream: stream, Expected: eventstore.NoStream(), Events: events})
	b.events += len(events)
	return nil
}

func (b *bulk) read(stream string, version uint64) { b.conditions[stream] = version }

// open opens n accounts of t, each with its first subscriptions, decided
// by the domain in memory (authorization included) and appended many
// streams at a time, conditioned on the tenant, catalog and grant streams
// the decisions read: what the command layer would append, one account
// or subscription per request.
func (s *seeder) open(ctx context.Context, rng *rand.Rand, t *tenant, n int) error {
	b := &bulk{conditions: map[string]uint64{}}
	for range n {
		if err := s.openAccount(rng, t, b); err != nil {
			return err
		}
		if len(b.streams) >= bulkStreams {
			if err := s.flush(ctx, t, b); err != nil {
				return err
			}
			b = &bulk{conditions: map[string]uint64{}}
		}
	}
	return s.flush(ctx, t, b)
}

func (s *seeder) flush(ctx context.Context, t *tenant, b *bulk) error {
	if len(b.streams) == 0 {
		return nil
	}
	req := eventstore.AppendRequest{Streams: b.streams}
	for stream, version := range b.conditions {
		req.Conditions = append(req.Conditions, eventstore.Condition{Stream: stream, Version: version})
	}
	if _, err := s.store.Append(ctx, req); err != nil {
		return fmt.Errorf("seed: append %d accounts and subscriptions of tenant %s: %w", len(b.streams), t.id, err)
	}
	s.count(t, b.events, true)
	return nil
}

// openAccount decides an account of t, opened by its admin or by a
// partner admin under a grant to the accounts it opens, and its first
// subscriptions.
func (s *seeder) openAccount(rng *rand.Rand, t *tenant, b *bulk) error {
	now := s.clock.Now()
	by, g := t.admin.Principal, pickGrant(rng, t, false)
	if g != nil && rng.IntN(10) < 3 {
		by = g.partner.admin
	} else {
		g = nil
	}
	if err := s.authorize(t, b, by, g, domain.PermAccountsCreate, domain.Target{}, now); err != nil {
		return err
	}
	id := uuid.Must(uuid.NewV7())
	var acc domain.Account
	events, err := acc.Create(domain.CreateAccount{AccountID: id, TenantID: t.id, Name: fmt.Sprintf("Customer %d-%d", t.index+1, len(t.accountIDs)+1),
		Currency: "EUR", Billing: domain.BillingInput{ContactName: "Billing desk", Email: fmt.Sprintf("billing%d@customer%d.example", len(t.accountIDs), t.index)}}, by.Actor(), now)
	if err != nil {
		return fmt.Errorf("seed account: %w", err)
	}
	for _, e := range events {
		acc.Apply(e)
	}
	if err := b.add(commands.AccountStream(t.id, id), t, by, now, events); err != nil {
		return err
	}
	t.accountIDs = append(t.accountIDs, id)
	if g != nil {
		g.opened = append(g.opened, id)
	}
	for range s.shape.SubscriptionsPerAcct {
		if err := s.subscribeBulk(rng, t, b, &acc, g, now); err != nil {
			return err
		}
	}
	return nil
}

// subscribeBulk decides a subscription of acc, by the operator of the
// partner that opened it, or of one granted every account, or by the
// tenant's admin.
func (s *seeder) subscribeBulk(rng *rand.Rand, t *tenant, b *bulk, acc *domain.Account, g *grant, now time.Time) error {
	if g == nil || rng.IntN(10) < 3 {
		g = pickGrant(rng, t, true)
	}
	by := t.admin.Principal
	if g != nil && rng.IntN(2) == 0 {
		by = g.partner.operator
	} else {
		g = nil
	}
	id := uuid.Must(uuid.NewV7())
	if err := s.authorize(t, b, by, g, domain.PermSubscriptionsCreate, domain.AccountTarget(acc.ID, acc.CreatedByPartner()), now); err != nil {
		return err
	}
	cmd := subscriptionOrder(rng, t, now)
	items := make([]domain.ItemInput, len(cmd.Items))
	for i, it := range cmd.Items {
		items[i] = domain.ItemInput{ProductID: it.ProductID, ChargeID: it.ChargeID, Quantity: it.Quantity}
		b.read(commands.ProductStream(t.id, it.ProductID), t.catalog.versions[it.ProductID])
	}
	var sub domain.Subscription
	events, err := sub.Create(domain.CreateSubscription{SubscriptionID: id, TenantID: t.id, AccountID: acc.ID, StartDate: cmd.StartDate,
		Term:  domain.TermInput{Type: cmd.Term.Type, Months: cmd.Term.Months, AutoRenew: cmd.Term.AutoRenew},
		Items: items, NewID: func() uuid.UUID { return uuid.Must(uuid.NewV7()) },
	}, acc, t.catalog.products(), by.Actor(), now)
	if err != nil {
		return fmt.Errorf("seed subscription: %w", err)
	}
	for _, e := range events {
		sub.Apply(e)
	}
	if err := b.add(commands.SubscriptionStream(t.id, id), t, by, now, events); err != nil {
		return err
	}
	t.subs = append(t.subs, &subscription{id: id, account: acc.ID, seat: sub.Items[0].ID, storage: sub.Items[1].ID,
		start: sub.StartDate, end: sub.EndDate(), seats: int64(sub.Items[0].Quantity), by: commands.Request{TenantID: t.id, Principal: by}})
	t.created++
	return nil
}

// authorize decides, with the domain's rule, whether by may exercise perm
// on target of t under g (nil for a tenant user), and notes the streams
// the decision read.
func (s *seeder) authorize(t *tenant, b *bulk, by domain.Principal, g *grant, perm domain.Permission, target domain.Target, now time.Time) error {
	b.read(commands.TenantStream(t.id), t.version)
	var state *domain.PartnerAccess
	if g != nil {
		state = g.state
		b.read(commands.AccessStream(t.id, g.partner.id), g.version)
	}
	if err := domain.Authorize(by, t.id, state, perm, target, now); err != nil {
		return fmt.Errorf("seed: %s by %s: %w", perm, by.Type, err)
	}
	return nil
}

// pickGrant picks one of t's grants to every account (all) or to the
// accounts the partner opens (!all), nil when t has none.
func pickGrant(rng *rand.Rand, t *tenant, all bool) *grant {
	var kind []*grant
	for _, g := range t.grants {
		if g.all == all {
			kind = append(kind, g)
		}
	}
	if len(kind) == 0 {
		return nil
	}
	return kind[rng.IntN(len(kind))]
}

// products is the catalog as the domain decides on it.
func (c catalog) products() map[uuid.UUID]*domain.Product {
	return map[uuid.UUID]*domain.Product{c.seat.ID: c.seat, c.meter.ID: c.meter}
}

// subscriptionOrder is a subscription to seats and storage, with yearly
// support and a setup fee now and then, evergreen or for a year, from a
// day of the last month.
func subscriptionOrder(rng *rand.Rand, t *tenant, now time.Time) commands.CreateSubscription {
	seat, meter := t.catalog.seat, t.catalog.meter
	items := []commands.SubscriptionItem{
		{ProductID: seat.ID, ChargeID: seat.Charges[0].ID, Quantity: decimal.NewFromInt(int64(1 + rng.IntN(20)))},
		{ProductID: meter.ID, ChargeID: meter.Charges[0].ID, Quantity: decimal.NewFromInt(1)},
	}
	if rng.IntN(4) == 0 {
		items = append(items, commands.SubscriptionItem{ProductID: seat.ID, ChargeID: seat.Charges[1].ID, Quantity: decimal.NewFromInt(1)})
	}
	if rng.IntN(5) == 0 {
		items = append(items, commands.SubscriptionItem{ProductID: seat.ID, ChargeID: seat.Charges[2].ID, Quantity: decimal.NewFromInt(1)})
	}
	term := commands.Term{Type: "evergreen"}
	if rng.IntN(4) == 0 {
		term = commands.Term{Type: "termed", Months: 12, AutoRenew: rng.IntN(2) == 0}
	}
	return commands.CreateSubscription{StartDate: domain.DateOf(now).AddDays(-rng.IntN(31)), Term: term, Items: items}
}

// envelope is events as the command layer records them: ids, types,
// schema versions and data, with who acted for t and when.
func envelope(t *tenant, by domain.Principal, now time.Time, events []domain.Event) ([]eventstore.EventData, error) {
	meta := eventstore.Metadata{TenantID: t.id.String(), OccurredAt: now.UTC(),
		Actor: eventstore.Actor{Type: string(by.Type), ID: by.ID.String(), PartnerID: idString(by.PartnerID)}}
	out := make([]eventstore.EventData, len(events))
	for i, e := range events {
		name, version, data, err := domain.MarshalEvent(e)
		if err != nil {
			return nil, fmt.Errorf("seed: marshal %s: %w", e.EventType(), err)
		}
		out[i] = eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: name, SchemaVersion: version, Data: data, Metadata: meta}
	}
	return out, nil
}

func idString(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	return id.String()
}
