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
}

// usageResult is what an idempotency key records of RecordUsage.
type usageResult struct {
	Accepted   int    `json:"accepted"`
	Duplicates int    `json:"duplicates"`
	Position   uint64 `json:"position,omitempty"`
}

// RecordUsage records usage (usage.record on each subscription's account).
// A record id seen before is a duplicate and changes nothing. Every record
// is validated before any is written: one invalid record refuses them all.
// The records of every subscription are appended to their usage streams
// together, atomically.
func (s *Service) RecordUsage(ctx context.Context, req Request, cmd RecordUsage) (UsageRecorded, error) {
	if len(cmd.Records) == 0 || len(cmd.Records) > domain.MaxUsageRecords {
		return UsageRecorded{}, domain.Invalid("records", "must hold 1 to %d records", domain.MaxUsageRecords)
	}
	groups := groupUsage(cmd.Records)
	var writes, reads []string
	for _, g := range groups {
		stream := SubscriptionStream(req.TenantID, g.subscription)
		writes = append(writes, UsageStream(req.TenantID, g.subscription))
		reads = append(reads, stream, s.accountOfKept(req.TenantID, stream))
	}
	var duplicates int
	c := command{
		name: "RecordUsage", input: cmd, scope: TenantStream(req.TenantID),
		writes: writes,
		reads:  append(reads, writes...),
		decide: func(ctx context.Context, v *view, req Request, now time.Time) (d decision, err error) {
			d, duplicates, err = s.decideUsage(ctx, v, req, groups, now)
			return d, err
		},
		record: func(v *view, d decision) ([]byte, error) {
			res := usageResult{Accepted: accepted(d), Duplicates: duplicates}
			if d.empty() {
				res.Position = uint64(lastPosition(v, writes))
			}
			return json.Marshal(res)
		},
	}
	v := s.newView()
	ex, err := s.execute(ctx, v, req, c)
	switch {
	case err != nil:
		return UsageRecorded{}, err
	case ex.res.Replayed:
		return usageReplay(ex.res)
	case ex.decision.empty():
		return UsageRecorded{Duplicates: duplicates, Position: lastPosition(v, writes)}, nil
	}
	return UsageRecorded{Accepted: accepted(ex.decision), Duplicates: duplicates, Position: ex.res.Position}, nil
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
func (s *Service) decideUsage(ctx context.Context, v *view, req Request, groups []*usageGroup, now time.Time) (decision, int, error) {
	var (
		d          decision
		duplicates int
		refused    *domain.Error
	)
	for _, g := range groups {
		w, dups, err := s.decideUsageGroup(ctx, v, req, g, now)
		if err == nil {
			duplicates += dups
			if len(w.events) > 0 {
				d.writes = append(d.writes, w)
			}
			continue
		}
		var (
			derr *domain.Error
			dn   *denied
		)
		if errors.As(err, &dn) || !errors.As(err, &derr) {
			return decision{}, 0, err // a refusal of access is the whole request's, and is audited
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
		return decision{}, 0, refused
	}
	return d, duplicates, nil
}

func (s *Service) decideUsageGroup(ctx context.Context, v *view, req Request, g *usageGroup, now time.Time) (write, int, error) {
	sub, _, err := load[domain.Subscription](ctx, v, SubscriptionStream(req.TenantID, g.subscription))
	if err != nil {
		return write{}, 0, err
	}
	if !sub.Exists() {
		return write{}, 0, domain.NotFound("subscription")
	}
	account, err := loadAccount(ctx, v, req, sub.AccountID)
	if err != nil {
		return write{}, 0, err
	}
	if _, err := s.authorizeAccount(ctx, v, req, account, domain.PermUsageRecord, g.subscription, now); err != nil {
		return write{}, 0, err
	}
	stream := UsageStream(req.TenantID, g.subscription)
	usage, version, err := load[domain.SubscriptionUsage](ctx, v, stream)
	if err != nil {
		return write{}, 0, err
	}
	events, duplicates, err := usage.Record(g.records, sub, req.Principal.Actor(), now)
	return write{stream: stream, version: version, events: events}, duplicates, err
}

// accepted counts the records d appends.
func accepted(d decision) int {
	n := 0
	for _, w := range d.writes {
		n += len(w.events)
	}
	return n
}

// lastPosition is the position of the last event of streams in v: where
// the usage a request changed nothing of was recorded.
func lastPosition(v *view, streams []string) eventstore.Position {
	var last eventstore.Position
	for _, stream := range streams {
		last = max(last, v.position(stream))
	}
	return last
}

func usageReplay(res eventstore.AppendResult) (UsageRecorded, error) {
	var rec usageResult
	if err := json.Unmarshal(res.Result, &rec); err != nil {
		return UsageRecorded{}, fmt.Errorf("decode recorded usage result: %w", err)
	}
	position := res.Position
	if position == 0 {
		position = eventstore.Position(rec.Position)
	}
	return UsageRecorded{Accepted: rec.Accepted, Duplicates: rec.Duplicates, Position: position, Replayed: true}, nil
}
