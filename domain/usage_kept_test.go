package domain

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// fxUsage records one usage of each item on its day, on s, and returns
// the usage stream's state.
func fxUsage(t *testing.T, s fxSubscription, days map[uuid.UUID]string) *SubscriptionUsage {
	t.Helper()
	u := &SubscriptionUsage{}
	n := 900
	for item, day := range days {
		n++
		r := UsageRecord{ID: fxID(n), SubscriptionID: s.ID, ItemID: item, Quantity: decimal.NewFromInt(5000),
			OccurredAt: fxDate(day).Time().Add(9 * time.Hour)}
		events, _, err := u.Record([]UsageRecord{r}, s.Subscription, fxActor, fxAt(day))
		for _, e := range fxMust(t)(events, err) {
			u.Apply(e)
		}
	}
	return u
}

func TestUsageKeepsItsItemsAndDays(t *testing.T) {
	t.Parallel()
	calls := fxID(203)
	type decide func(s fxSubscription) ([]Event, error)
	remove := func(eff string) decide {
		return func(s fxSubscription) ([]Event, error) {
			return s.Amend(AmendSubscription{EffectiveDate: fxDate(eff), Changes: []ChangeInput{fxRemove(calls)}},
				fxCatalog(t), fxActor, fxAt("2025-06-20"))
		}
	}
	cancel := func(cmd CancelSubscription, today string) decide {
		return func(s fxSubscription) ([]Event, error) { return s.Cancel(cmd, fxActor, fxAt(today)) }
	}
	tests := []struct {
		name   string
		usage  map[uuid.UUID]string
		decide decide
		field  string // "": accepted
	}{
		{"removed before the usage", map[uuid.UUID]string{calls: "2025-06-10"}, remove("2025-03-01"), "changes[0].item_id"},
		{"removed on the usage's day", map[uuid.UUID]string{calls: "2025-06-10"}, remove("2025-06-10"), "effective_date"},
		{"removed the day after", map[uuid.UUID]string{calls: "2025-06-10"}, remove("2025-06-11"), ""},
		{"removed, its usage is of others", map[uuid.UUID]string{}, remove("2025-03-01"), ""},
		{"cancelled on the usage's day", map[uuid.UUID]string{calls: "2025-06-10"},
			cancel(CancelSubscription{Policy: "immediate"}, "2025-06-10"), "policy"},
		{"cancelled on the day after", map[uuid.UUID]string{calls: "2025-06-10"},
			cancel(CancelSubscription{Policy: "specific_date", Date: fxDate("2025-06-11")}, "2025-06-10"), ""},
		{"cancelled at the end of term", map[uuid.UUID]string{calls: "2025-06-10"},
			cancel(CancelSubscription{Policy: "end_of_term"}, "2025-06-10"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := fxNewSub(t, fxCreateCmd())
			u := fxUsage(t, s, tt.usage)
			events, err := tt.decide(s)
			fxMust(t)(events, err)
			err = CheckUsageKept(s.Subscription, u, events)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			fxWantErr(t, err, ErrRule, CodeUsageRecordedAfter, tt.field)
			if !strings.Contains(err.Error(), tt.usage[calls]) {
				t.Fatalf("refusal %v does not name the last usage date %s", err, tt.usage[calls])
			}
		})
	}
	s := fxNewSub(t, fxCreateCmd())
	events := fxMust(t)(s.Cancel(CancelSubscription{Policy: "immediate"}, fxActor, fxAt("2025-06-10")))
	if err := CheckUsageKept(s.Subscription, nil, events); err != nil {
		t.Fatalf("no usage: %v", err)
	}
}

func TestUsageKeepsItsLastDay(t *testing.T) {
	t.Parallel()
	s := fxNewSub(t, fxCreateCmd())
	calls := fxID(203)
	u := &SubscriptionUsage{}
	for i, day := range []string{"2025-06-10", "2025-06-12", "2025-06-11"} {
		r := UsageRecord{ID: fxID(900 + i), SubscriptionID: s.ID, ItemID: calls, Quantity: decimal.NewFromInt(1),
			OccurredAt: fxDate(day).Time()}
		events, _, err := u.Record([]UsageRecord{r}, s.Subscription, fxActor, fxAt("2025-06-12"))
		for _, e := range fxMust(t)(events, err) {
			u.Apply(e)
		}
	}
	if got := u.LastUsed[calls]; got != fxDate("2025-06-12") {
		t.Fatalf("last used %s, want 2025-06-12", got)
	}
	if c := u.Clone(); c.LastUsed[calls] != u.LastUsed[calls] {
		t.Fatalf("clone lost the last usage: %+v", c.LastUsed)
	}
}

func TestWithdrawalKeepsUsage(t *testing.T) {
	t.Parallel()
	// An item added from tomorrow can have usage today, within the clock
	// skew usage allows, once it is tomorrow somewhere.
	s := fxNewSub(t, fxCreateCmd()).schedule(t, "2025-02-10", "2025-02-11", fxAdd(fxCalls, 1))
	added := s.Items[4].ID
	u := &SubscriptionUsage{}
	r := UsageRecord{ID: fxID(900), SubscriptionID: s.ID, ItemID: added, Quantity: decimal.NewFromInt(1),
		OccurredAt: fxDate("2025-02-11").Time().Add(time.Minute)}
	events, _, err := u.Record([]UsageRecord{r}, s.Subscription, fxActor, fxDate("2025-02-10").Time().Add(24*time.Hour-time.Minute))
	for _, e := range fxMust(t)(events, err) {
		u.Apply(e)
	}
	events = fxMust(t)(s.WithdrawScheduledChange(s.scheduledID(2), fxActor, fxDate("2025-02-10").Time().Add(24*time.Hour-time.Second)))
	fxWantErr(t, CheckUsageKept(s.Subscription, u, events), ErrRule, CodeUsageRecordedAfter, "change_id")
}
