package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/domain"
	"ledger/eventstore"
)

// UsageRecord is one usage record as api.md's body carries it.
type UsageRecord struct {
	ID             uuid.UUID       `json:"id"`
	SubscriptionID uuid.UUID       `json:"subscription_id"`
	ItemID         uuid.UUID       `json:"item_id"`
	Quantity       decimal.Decimal `json:"quantity"`
	OccurredAt     time.Time       `json:"occurred_at"`
}

// RecordUsage is the command to record usage, at most 1000 records.
type RecordUsage struct {
	Records []UsageRecord `json:"records"`
}

// UsageRecorded is the result of RecordUsage: how many records were new
// and how many had been seen before.
type UsageRecorded struct {
	Accepted   int                 `json:"accepted"`
	Duplicates int                 `json:"duplicates"`
	Position   eventstore.Position `json:"position"`
	Replayed   bool                `json:"-"`
}

// usageGroup is the records of one subscription, decided together.
type usageGroup struct {
	subscription uuid.UUID
	records      []domain.UsageRecord
	version      uint64
	events       []domain.Event
	duplicates   int
}

// RecordUsage records usage (usage.record on each subscription's account).
// A record id seen before is a duplicate and changes nothing. Every record
// is validated before any is written: one invalid record refuses them all.
// Records of several subscriptions are appended to each one's usage stream
// in turn; a retry after a failure half way appends only what is missing.
func (s *Service) RecordUsage(ctx context.Context, req Request, cmd RecordUsage) (UsageRecorded, error) {
	key, err := idempotencyKey(req, "RecordUsage", cmd)
	if err != nil {
		return UsageRecorded{}, err
	}
	if key != nil {
		if found, ok, err := s.store.LookupKey(ctx, *key); err != nil || ok {
			return usageReplay(found, err)
		}
	}
	if len(cmd.Records) == 0 || len(cmd.Records) > domain.MaxUsageRecords {
		return UsageRecorded{}, domain.Invalid("records", "must hold 1 to %d records", domain.MaxUsageRecords)
	}
	groups := groupUsage(cmd.Records)
	now := s.now().UTC()
	if err := s.decideUsage(ctx, req, groups, now); err != nil {
		return UsageRecorded{}, err
	}
	var out UsageRecorded
	for i, g := range groups {
		last := key != nil && i == len(groups)-1
		if err := s.appendUsage(ctx, req, g, now, last, key, &out); err != nil {
			return UsageRecorded{}, err
		}
	}
	return out, nil
}

func groupUsage(records []UsageRecord) []*usageGroup {
	var groups []*usageGroup
	bySub := map[uuid.UUID]*usageGroup{}
	for i, r := range records {
		g := bySub[r.SubscriptionID]
		if g == nil {
			g = &usageGroup{subscription: r.SubscriptionID}
			bySub[r.SubscriptionID] = g
			groups = append(groups, g)
		}
		g.records = append(g.records, domain.UsageRecord{
			Index: i, ID: r.ID, SubscriptionID: r.SubscriptionID, ItemID: r.ItemID, Quantity: r.Quantity, OccurredAt: r.OccurredAt,
		})
	}
	return groups
}

// decideUsage decides every group, and refuses with every group's faults
// at once if any group is refused; a fault of a whole group names its
// first record's subscription_id.
func (s *Service) decideUsage(ctx context.Context, req Request, groups []*usageGroup, now time.Time) error {
	var refused *domain.Error
	for _, g := range groups {
		err := s.decideUsageGroup(ctx, req, g, now)
		if err == nil {
			continue
		}
		var derr *domain.Error
		if !errors.As(err, &derr) {
			return err
		}
		if len(derr.Fields) == 0 {
			derr = derr.AtField(fmt.Sprintf("records[%d].subscription_id", g.records[0].Index))
		}
		if refused == nil {
			first := *derr
			refused = &first
			continue
		}
		refused.Fields = append(refused.Fields, derr.Fields...)
	}
	if refused != nil {
		return refused
	}
	return nil
}

func (s *Service) decideUsageGroup(ctx context.Context, req Request, g *usageGroup, now time.Time) error {
	sub, _, err := load[domain.Subscription](ctx, s, SubscriptionStream(req.TenantID, g.subscription), 0)
	if err != nil {
		return err
	}
	if !sub.Exists() {
		return domain.NotFound("subscription")
	}
	account, err := s.loadAccount(ctx, req, sub.AccountID)
	if err != nil {
		return err
	}
	if _, err := s.authorizeAccount(ctx, req, account, domain.PermUsageRecord, g.subscription, now); err != nil {
		return err
	}
	usage, version, err := load[domain.SubscriptionUsage](ctx, s, UsageStream(req.TenantID, g.subscription), 0)
	if err != nil {
		return err
	}
	g.version = version
	g.events, g.duplicates, err = usage.Record(g.records, sub, req.Principal.Actor(), now)
	return err
}

// appendUsage appends one group's events, deciding it again on fresh state
// when a concurrent writer won. The last group records the idempotency key
// with the whole request's result.
func (s *Service) appendUsage(ctx context.Context, req Request, g *usageGroup, now time.Time, last bool, key *eventstore.IdempotencyKey, out *UsageRecorded) error {
	for attempt := 0; ; attempt++ {
		var keyed *eventstore.IdempotencyKey
		if last {
			keyed = key
		}
		res, err := s.appendUsageOnce(ctx, req, g, now, keyed, *out)
		if err == nil {
			if res.Replayed {
				*out, err = usageReplay(res, nil)
				return err
			}
			out.Accepted += len(g.events)
			out.Duplicates += g.duplicates
			out.Position = max(out.Position, res.Append.Position)
			return nil
		}
		if !errors.Is(err, eventstore.ErrConcurrency) || attempt == s.maxRetries {
			return err
		}
		if err := s.decideUsageGroup(ctx, req, g, now); err != nil {
			return err
		}
	}
}

func (s *Service) appendUsageOnce(ctx context.Context, req Request, g *usageGroup, now time.Time, key *eventstore.IdempotencyKey, sofar UsageRecorded) (eventstore.KeyedResult, error) {
	stream := UsageStream(req.TenantID, g.subscription)
	if len(g.events) == 0 && key == nil {
		return eventstore.KeyedResult{}, nil
	}
	events, err := s.envelope(req, now, g.events)
	if err != nil {
		return eventstore.KeyedResult{}, err
	}
	if key == nil {
		res, err := s.store.Append(ctx, stream, eventstore.Exact(g.version), events...)
		return eventstore.KeyedResult{Append: res}, err
	}
	if len(events) == 0 {
		return eventstore.KeyedResult{}, nil // nothing new to append: a key needs an append to go with
	}
	render := func(r eventstore.AppendResult) ([]byte, error) {
		return json.Marshal(UsageRecorded{Accepted: sofar.Accepted + len(g.events), Duplicates: sofar.Duplicates + g.duplicates,
			Position: max(sofar.Position, r.Position)})
	}
	return s.store.AppendKeyed(ctx, stream, eventstore.Exact(g.version), *key, render, events...)
}

func usageReplay(found eventstore.KeyedResult, err error) (UsageRecorded, error) {
	if err != nil {
		return UsageRecorded{}, keyErr(err)
	}
	var out UsageRecorded
	if err := json.Unmarshal(found.Result, &out); err != nil {
		return UsageRecorded{}, fmt.Errorf("decode recorded usage result: %w", err)
	}
	out.Replayed = true
	return out, nil
}
