package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/eventstore"
)

// Subscription returns a subscription rebuilt from its events: as it
// stands now when at is zero, else as it stood at instant at, from the
// events recorded at or before it (subscriptions.read on its account).
func (s *Service) Subscription(ctx context.Context, req Request, id uuid.UUID, at time.Time) (Outcome[domain.Subscription], error) {
	stream := SubscriptionStream(req.TenantID, id)
	sub, version, _, err := s.authorizeSubscriptionRead(ctx, req, id, domain.PermSubscriptionsRead)
	if err != nil {
		return Outcome[domain.Subscription]{}, err
	}
	if !at.IsZero() {
		sub, version, err = loadAsOf[domain.Subscription](ctx, s.store, stream, at)
	}
	if err != nil {
		return Outcome[domain.Subscription]{}, err
	}
	if !sub.Exists() {
		return Outcome[domain.Subscription]{}, domain.NotFound("subscription")
	}
	return Outcome[domain.Subscription]{State: sub, Stream: stream, Version: version}, nil
}

// SubscriptionHistory returns a subscription's events in order, with who
// acted and why (subscriptions.read on its account), as req's principal
// may see them: the metadata of an action it may not see in full
// (domain.SeesActionInFull) is reduced to the actor's type (VisibleTo).
func (s *Service) SubscriptionHistory(ctx context.Context, req Request, id uuid.UUID) ([]eventstore.Event, error) {
	if _, _, _, err := s.authorizeSubscriptionRead(ctx, req, id, domain.PermSubscriptionsRead); err != nil {
		return nil, err
	}
	var all []eventstore.Event
	for {
		events, err := s.store.ReadStream(ctx, SubscriptionStream(req.TenantID, id), uint64(len(all))+1, readLimit)
		if err != nil {
			return nil, err
		}
		for _, e := range events {
			e.Metadata = VisibleTo(req.Principal, e.Metadata)
			all = append(all, e)
		}
		if len(events) < readLimit {
			return all, nil
		}
	}
}

// VisibleTo returns what viewer may see of metadata m: all of it, or,
// for an action it may not see in full (domain.SeesActionInFull), only
// the tenant, the actor's type and when it happened: no actor id, no
// partner id, no idempotency key, no request, correlation or causation
// id. It keeps only what it names, so a field added to the metadata is
// left out until it is judged safe to show.
func VisibleTo(viewer domain.Principal, m eventstore.Metadata) eventstore.Metadata {
	actor := domain.Actor{Type: domain.ActorType(m.Actor.Type)}
	actor.ID, _ = uuid.Parse(m.Actor.ID)
	actor.PartnerID, _ = uuid.Parse(m.Actor.PartnerID)
	if domain.SeesActionInFull(viewer, actor) {
		return m
	}
	return eventstore.Metadata{TenantID: m.TenantID, Actor: eventstore.Actor{Type: m.Actor.Type}, OccurredAt: m.OccurredAt}
}
