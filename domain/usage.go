package domain

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Limits of usage recording; its quantities are bounded in bounds.go.
const (
	MaxUsageRecords = 1000
	usageClockSkew  = 5 * time.Minute
)

// UsageRecord is one record of usage as a caller reports it. Index is its
// position in the request, for field paths ("records[3].item_id"): the
// command layer splits a request by subscription and keeps the indices.
type UsageRecord struct {
	Index          int
	ID             uuid.UUID
	SubscriptionID uuid.UUID
	ItemID         uuid.UUID
	Quantity       decimal.Decimal
	OccurredAt     time.Time
}

// UsageRecorded records one accepted usage record.
type UsageRecorded struct {
	RecordID       uuid.UUID       `json:"record_id"`
	SubscriptionID uuid.UUID       `json:"subscription_id"`
	AccountID      uuid.UUID       `json:"account_id"`
	ItemID         uuid.UUID       `json:"item_id"`
	ChargeID       uuid.UUID       `json:"charge_id"`
	Unit           string          `json:"unit"`
	Quantity       decimal.Decimal `json:"quantity"`
	OccurredAt     time.Time       `json:"occurred_at"`
	RecordedBy     Actor           `json:"recorded_by"`
	RecordedAt     time.Time       `json:"recorded_at"`
}

// EventType implements Event.
func (*UsageRecorded) EventType() string { return "UsageRecorded" }

func init() {
	register(func() Event { return &UsageRecorded{} })
}

// SubscriptionUsage is the state of a subscription's usage stream: the ids
// of the records it holds, so that a record sent again is a duplicate.
type SubscriptionUsage struct {
	SubscriptionID uuid.UUID
	Seen           map[uuid.UUID]struct{}
	Version        uint64
	// LastUsed is the latest day with usage of each item (usage_kept.go).
	LastUsed map[uuid.UUID]Date
	// Daily sums the usage of each item by the day it occurred: what a
	// bill run bills.
	Daily map[UsageDay]decimal.Decimal
}

// UsageDay is an item's usage on one day.
type UsageDay struct {
	Item uuid.UUID
	Day  Date
}

// Apply evolves the usage stream by one of its events.
func (u *SubscriptionUsage) Apply(e Event) {
	u.Version++
	switch e := e.(type) {
	case *UsageRecorded:
		if u.Seen == nil {
			u.Seen = map[uuid.UUID]struct{}{}
		}
		u.SubscriptionID = e.SubscriptionID
		u.Seen[e.RecordID] = struct{}{}
		u.noteUsed(e)
		if u.Daily == nil {
			u.Daily = map[UsageDay]decimal.Decimal{}
		}
		day := UsageDay{e.ItemID, DateOf(e.OccurredAt)}
		u.Daily[day] = u.Daily[day].Add(e.Quantity)
	}
}

// Record decides recording records against sub, the subscription
// they all name. A record whose id was seen before, in the stream or
// earlier in the batch, is a duplicate: it is counted and yields nothing,
// unchecked, so that a retried batch succeeds. Every other record must
// name a usage item of sub that is in effect when it occurred, while sub
// is active (not cancelled, and started); any fault refuses the whole
// batch, with every field at fault and the code of the first.
func (u *SubscriptionUsage) Record(records []UsageRecord, sub *Subscription, by Actor, now time.Time) (events []Event, duplicates int, err error) {
	if sub == nil || !sub.Exists() {
		return nil, 0, NotFound("subscription")
	}
	if len(records) > MaxUsageRecords {
		return nil, 0, Invalid("records", "at most %d records", MaxUsageRecords)
	}
	var f faults
	seen := map[uuid.UUID]bool{}
	for _, r := range records {
		_, before := u.Seen[r.ID]
		if r.ID != uuid.Nil && (before || seen[r.ID]) {
			duplicates++
			continue
		}
		seen[r.ID] = true
		e, rerr := usageEvent(r, sub, now)
		if rerr != nil {
			f.add(rerr)
			continue
		}
		e.RecordedBy = by
		events = append(events, e)
	}
	if err := f.err(); err != nil {
		return nil, 0, err
	}
	return events, duplicates, nil
}

// usageEvent checks one record against sub and returns its event.
func usageEvent(r UsageRecord, sub *Subscription, now time.Time) (*UsageRecorded, *Error) {
	p := fmt.Sprintf("records[%d].", r.Index)
	var f faults
	if r.ID == uuid.Nil {
		f.add(Invalid(p+"id", "is required"))
	}
	if r.SubscriptionID != sub.ID {
		f.add(Invalid(p+"subscription_id", "does not name subscription %s", sub.ID))
	}
	f.add(checkUsageQuantity(p+"quantity", r.Quantity))
	switch {
	case r.OccurredAt.IsZero():
		f.add(Invalid(p+"occurred_at", "is required"))
	case r.OccurredAt.After(now.Add(usageClockSkew)):
		f.add(Invalid(p+"occurred_at", "must not be in the future"))
	}
	if f.first != nil {
		return nil, f.err().(*Error)
	}
	day := DateOf(r.OccurredAt)
	it, found := sub.Item(r.ItemID)
	switch {
	case !found:
		return nil, RuleError(CodeUnknownItem, "the subscription has no item %s", r.ItemID).AtField(p + "item_id")
	case it.Type != ChargeUsage:
		return nil, RuleError(CodeUnknownItem, "item %s is not a usage item", r.ItemID).AtField(p + "item_id")
	case day.Before(sub.StartDate) || sub.StatusOn(day) == StatusCancelled:
		return nil, RuleError(CodeSubscriptionNotActive, "the subscription is not active on %s", day).AtField(p + "occurred_at")
	case !it.InEffectOn(day):
		return nil, RuleError(CodeUnknownItem, "item %s is not in effect on %s", r.ItemID, day).AtField(p + "item_id")
	}
	return &UsageRecorded{
		RecordID: r.ID, SubscriptionID: sub.ID, AccountID: sub.AccountID, ItemID: it.ID,
		ChargeID: it.ChargeID, Unit: it.Unit, Quantity: canonicalDecimal(r.Quantity),
		OccurredAt: r.OccurredAt.UTC(), RecordedAt: now.UTC(),
	}, nil
}
