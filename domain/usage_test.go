package domain

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

// fxUsageSub is fxCreateCmd's subscription (its API calls item is
// fxID(203)) with the calls removed on 2025-05-01 and re-added as
// fxID(310), and cancelled on 2025-06-30.
func fxUsageSub(t fxTB) fxSubscription {
	t.Helper()
	s := fxNewSub(t, fxCreateCmd())
	s = s.amend(t, "2025-05-01", fxRemove(fxID(203)), fxAdd(fxCalls, 1))
	return s.cancel(t, "2025-06-01", CancelSubscription{Policy: "end_of_term"})
}

func fxRecord(i, id int, item uuid.UUID, qty string, at string) UsageRecord {
	return UsageRecord{Index: i, ID: fxID(id), SubscriptionID: fxSubID, ItemID: item,
		Quantity: decimal.RequireFromString(qty), OccurredAt: fxAt(at)}
}

func TestRecordUsage(t *testing.T) {
	t.Parallel()
	s := fxUsageSub(t)
	if s.Items[4].ID != fxID(310) {
		t.Fatalf("fixture: re-added calls item is %s", s.Items[4].ID)
	}
	var u SubscriptionUsage
	now := fxAt("2025-07-10")
	records := []UsageRecord{
		fxRecord(0, 900, fxID(203), "1000", "2025-02-01"),
		fxRecord(1, 901, fxID(310), "0.5", "2025-06-29"),
		fxRecord(2, 900, fxID(203), "1000", "2025-02-01"),
	}
	events, dups, err := u.Record(records, s.Subscription, fxActor, now)
	if err != nil || dups != 1 || len(events) != 2 {
		t.Fatalf("Record = %d events, %d duplicates, %v", len(events), dups, err)
	}
	e := events[0].(*UsageRecorded)
	if e.RecordID != fxID(900) || e.ChargeID != fxCalls || e.Unit != "call" || e.AccountID != fxAcct ||
		e.RecordedBy != fxActor || !e.RecordedAt.Equal(now) || !e.Quantity.Equal(decimal.NewFromInt(1000)) {
		t.Fatalf("event %+v", e)
	}
	for _, e := range events {
		u.Apply(e)
	}
	fxCheckReplay[SubscriptionUsage](t, events, &u)
	again, dups, err := u.Record(records[:2], s.Subscription, fxActor, now.Add(time.Hour))
	if err != nil || dups != 2 || again != nil {
		t.Fatalf("a retried batch = %v, %d duplicates, %v", again, dups, err)
	}
}

func TestRecordUsageRules(t *testing.T) {
	t.Parallel()
	seat, calls, callsAgain := fxID(200), fxID(203), fxID(310)
	tests := []struct {
		name   string
		record UsageRecord
		kind   error
		code   string
		field  string
	}{
		{"unknown item", fxRecord(0, 1, fxID(999), "1", "2025-03-01"), ErrRule, CodeUnknownItem, "records[0].item_id"},
		{"not a usage item", fxRecord(1, 1, seat, "1", "2025-03-01"), ErrRule, CodeUnknownItem, "records[1].item_id"},
		{"removed item", fxRecord(2, 1, calls, "1", "2025-05-01"), ErrRule, CodeUnknownItem, "records[2].item_id"},
		{"item not yet added", fxRecord(3, 1, callsAgain, "1", "2025-04-30"), ErrRule, CodeUnknownItem, "records[3].item_id"},
		{"cancelled", fxRecord(4, 1, callsAgain, "1", "2025-06-30"), ErrRule, CodeSubscriptionNotActive, "records[4].occurred_at"},
		{"not started", fxRecord(5, 1, calls, "1", "2025-01-30"), ErrRule, CodeSubscriptionNotActive, "records[5].occurred_at"},
		{"zero quantity", fxRecord(6, 1, calls, "0", "2025-03-01"), ErrRule, CodeInvalidQuantity, "records[6].quantity"},
		{"negative quantity", fxRecord(7, 1, calls, "-2", "2025-03-01"), ErrRule, CodeInvalidQuantity, "records[7].quantity"},
		{"too precise", fxRecord(8, 1, calls, "0.00000000001", "2025-03-01"), ErrRule, CodeInvalidQuantity, "records[8].quantity"},
		{"absurd", fxRecord(9, 1, calls, "1e999999999", "2025-03-01"), ErrRule, CodeInvalidQuantity, "records[9].quantity"},
		{"no id", UsageRecord{Index: 10, SubscriptionID: fxSubID, ItemID: calls, Quantity: decimal.NewFromInt(1), OccurredAt: fxAt("2025-03-01")},
			ErrInvalid, CodeInvalid, "records[10].id"},
		{"other subscription", UsageRecord{Index: 11, ID: fxID(1), SubscriptionID: fxID(21), ItemID: calls, Quantity: decimal.NewFromInt(1), OccurredAt: fxAt("2025-03-01")},
			ErrInvalid, CodeInvalid, "records[11].subscription_id"},
		{"no time", UsageRecord{Index: 12, ID: fxID(1), SubscriptionID: fxSubID, ItemID: calls, Quantity: decimal.NewFromInt(1)},
			ErrInvalid, CodeInvalid, "records[12].occurred_at"},
		{"future", fxRecord(13, 1, callsAgain, "1", "2025-07-11"), ErrInvalid, CodeInvalid, "records[13].occurred_at"},
	}
	s := fxUsageSub(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var u SubscriptionUsage
			good := fxRecord(99, 2, calls, "3", "2025-03-01")
			events, dups, err := u.Record([]UsageRecord{good, tt.record}, s.Subscription, fxActor, fxAt("2025-07-10"))
			fxWantErr(t, err, tt.kind, tt.code, tt.field)
			if events != nil || dups != 0 {
				t.Fatalf("a refused batch decided %v, %d duplicates", events, dups)
			}
		})
	}
}

func TestRecordUsageReportsEveryRecord(t *testing.T) {
	t.Parallel()
	s := fxUsageSub(t)
	var u SubscriptionUsage
	records := []UsageRecord{
		fxRecord(0, 1, fxID(203), "1", "2025-03-01"),
		fxRecord(1, 2, fxID(200), "1", "2025-03-01"),
		fxRecord(2, 3, fxID(203), "0", "2025-03-01"),
		fxRecord(3, 4, fxID(310), "1", "2025-07-01"),
	}
	_, _, err := u.Record(records, s.Subscription, fxActor, fxAt("2025-07-02"))
	fxWantErr(t, err, ErrRule, CodeUnknownItem, "records[1].item_id")
	fxWantErr(t, err, ErrRule, CodeUnknownItem, "records[2].quantity")
	fxWantErr(t, err, ErrRule, CodeUnknownItem, "records[3].occurred_at")
	_, _, err = u.Record(records, nil, fxActor, fxAt("2025-07-02"))
	fxWantErr(t, err, ErrNotFound, CodeNotFound, "")
	_, _, err = u.Record(make([]UsageRecord, MaxUsageRecords+1), s.Subscription, fxActor, fxAt("2025-07-02"))
	fxWantErr(t, err, ErrInvalid, CodeInvalid, "records")
}

func TestUsageReplayProperty(t *testing.T) {
	t.Parallel()
	s := fxUsageSub(t)
	rapid.Check(t, func(rt *rapid.T) {
		var u SubscriptionUsage
		var log []Event
		accepted := map[uuid.UUID]bool{}
		for range rapid.IntRange(1, 5).Draw(rt, "batches") {
			n := rapid.IntRange(0, 6).Draw(rt, "records")
			records := make([]UsageRecord, n)
			for i := range records {
				records[i] = UsageRecord{Index: i, ID: fxID(rapid.IntRange(1, 8).Draw(rt, "id")), SubscriptionID: fxSubID,
					ItemID:     rapid.SampledFrom([]uuid.UUID{fxID(203), fxID(310), fxID(200)}).Draw(rt, "item"),
					Quantity:   decimal.New(rapid.Int64Range(-1, 5000).Draw(rt, "qty"), -rapid.Int32Range(0, 3).Draw(rt, "scale")),
					OccurredAt: fxAt("2025-01-25").Add(time.Duration(rapid.IntRange(0, 180*24).Draw(rt, "hours")) * time.Hour)}
			}
			events, dups, err := u.Record(records, s.Subscription, fxActor, fxAt("2025-08-01"))
			if err != nil {
				continue
			}
			if len(events)+dups != n {
				rt.Fatalf("%d records gave %d events and %d duplicates", n, len(events), dups)
			}
			for _, e := range events {
				id := e.(*UsageRecorded).RecordID
				if accepted[id] {
					rt.Fatalf("record %s accepted twice", id)
				}
				accepted[id] = true
				u.Apply(e)
			}
			log = append(log, events...)
			fxCheckReplay[SubscriptionUsage](rt, log, &u)
		}
	})
}
