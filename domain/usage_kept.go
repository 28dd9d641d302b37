package domain

import (
	"fmt"
	"slices"

	"github.com/google/uuid"
)

// noteUsed keeps the latest day with usage of the item that e records.
func (u *SubscriptionUsage) noteUsed(e *UsageRecorded) {
	if u.LastUsed == nil {
		u.LastUsed = map[uuid.UUID]Date{}
	}
	if day := DateOf(e.OccurredAt); day.After(u.LastUsed[e.ItemID]) {
		u.LastUsed[e.ItemID] = day
	}
}

// lastUsedOn returns the latest day with usage of any item, and whether
// there is any usage.
func (u *SubscriptionUsage) lastUsedOn() (Date, bool) {
	var last Date
	for _, d := range u.LastUsed {
		if d.After(last) {
			last = d
		}
	}
	return last, !last.IsZero()
}

// CheckUsageKept refuses events decided on sub that would leave usage
// recorded on it, in usage (the state of its usage stream), outside the
// items and days it belongs to: removing an item on or before the last
// day with usage of it, cancelling on or before the last day with any
// usage, or withdrawing the scheduled change that added an item with
// usage. The refusal is CodeUsageRecordedAfter, naming that day. The
// command layer checks every decision that ends an item or the
// subscription, conditioned on the usage stream, so that no usage
// recorded meanwhile slips past the check.
func CheckUsageKept(sub *Subscription, usage *SubscriptionUsage, decided []Event) error {
	if usage == nil || len(usage.LastUsed) == 0 {
		return nil
	}
	for _, e := range decided {
		if err := checkUsageKept(sub, usage, e); err != nil {
			return err
		}
	}
	return nil
}

func checkUsageKept(sub *Subscription, usage *SubscriptionUsage, e Event) *Error {
	switch e := e.(type) {
	case *SubscriptionAmended:
		for i, c := range e.Changes {
			last, used := usage.LastUsed[c.ItemID]
			if c.Type == ChangeRemoveItem && used && !e.EffectiveDate.After(last) {
				return RuleError(CodeUsageRecordedAfter, "usage of item %s is recorded up to %s; remove it after that day",
					c.ItemID, last).AtField(fmt.Sprintf("changes[%d].item_id", i)).AtField("effective_date")
			}
		}
	case *SubscriptionCancelled:
		if last, used := usage.lastUsedOn(); used && !e.CancelDate.After(last) {
			field := "policy"
			if e.Policy == CancelSpecificDate {
				field = "date"
			}
			return RuleError(CodeUsageRecordedAfter, "usage is recorded up to %s; cancel after that day", last).AtField(field)
		}
	case *ScheduledChangeWithdrawn:
		i := slices.IndexFunc(sub.Scheduled, func(c ScheduledChange) bool { return c.ID == e.ChangeID })
		if i < 0 {
			return nil
		}
		for _, c := range sub.Scheduled[i].Changes {
			if c.Type != ChangeAddItem || c.Item == nil {
				continue
			}
			if last, used := usage.LastUsed[c.Item.ID]; used {
				return RuleError(CodeUsageRecordedAfter, "usage of item %s, which scheduled change %s adds, is recorded up to %s",
					c.Item.ID, e.ChangeID, last).AtField("change_id")
			}
		}
	}
	return nil
}
