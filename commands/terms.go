package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
)

// RecordTermEnds records, as the system, the renewals or the end of the
// term of a subscription of tenant whose term ends fell on or before
// today (domain.Subscription.RecordTermEnds). Every replica may call it
// for the same subscription at once: the append is conditioned on the
// version decided on, so each term end is recorded exactly once, and a
// call with nothing left to record appends nothing. It returns how many
// events it appended.
func (s *Service) RecordTermEnds(ctx context.Context, tenant, id uuid.UUID, today domain.Date) (int, error) {
	req := Request{Principal: domain.Principal{Type: domain.ActorSystem}, TenantID: tenant}
	n := 0
	_, err := run(ctx, s, req, plan[domain.Subscription]{
		name: "RecordTermEnds", input: struct {
			Subscription uuid.UUID
			Today        domain.Date
		}{id, today},
		stream: SubscriptionStream(tenant, id),
		decide: func(_ context.Context, _ *view, _ Request, sub *domain.Subscription, _ uint64, now time.Time) ([]domain.Event, error) {
			if !sub.Exists() {
				return nil, domain.NotFound("subscription")
			}
			events := sub.RecordTermEnds(today, now)
			n = len(events)
			return events, nil
		},
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// termBatch is how many subscriptions RecordDueTermEnds asks the index
// for at a time.
const termBatch = 500

// RecordDueTermEnds records the term ends due by today of every
// subscription the index names, and returns how many events it appended.
// A subscription it cannot decide on is logged and left for the next
// call; a lagging index only delays a term end, since every decision is
// made on the log.
func (s *Service) RecordDueTermEnds(ctx context.Context, today domain.Date) (int, error) {
	if s.index == nil {
		return 0, errNoIndex
	}
	total := 0
	for {
		due, err := s.index.TermsDue(ctx, today, termBatch)
		if err != nil {
			return total, fmt.Errorf("term ends due by %s: %w", today, err)
		}
		appended := 0
		for _, d := range due {
			n, err := s.RecordTermEnds(ctx, d.TenantID, d.SubscriptionID, today)
			if err != nil {
				if ctx.Err() != nil {
					return total + appended, ctx.Err()
				}
				s.logger.Warn("record term ends", "tenant_id", d.TenantID, "subscription_id", d.SubscriptionID, "error", err)
				continue
			}
			appended += n
		}
		total += appended
		if len(due) < termBatch || appended == 0 {
			return total, nil
		}
		if err := s.index.Sync(ctx); err != nil {
			return total, err
		}
	}
}
