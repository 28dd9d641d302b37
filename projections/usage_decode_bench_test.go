package projections

import (
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/domain"
)

// BenchmarkDecodeUsageRecorded compares the projections' fast decoding of
// UsageRecorded, most of a log, with strict domain.UnmarshalEvent.
func BenchmarkDecodeUsageRecorded(b *testing.B) {
	_, version, data, err := domain.MarshalEvent(&domain.UsageRecorded{RecordID: uuid.New(), SubscriptionID: uuid.New(),
		AccountID: uuid.New(), ItemID: uuid.New(), ChargeID: uuid.New(), Unit: "GB", Quantity: decimal.RequireFromString("6.8"),
		OccurredAt: audT0, RecordedBy: domain.Actor{Type: domain.ActorPartnerUser, ID: uuid.New(), PartnerID: uuid.New()},
		RecordedAt: audT0})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeUsageRecorded(version, data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("strict", func(b *testing.B) {
		for b.Loop() {
			if _, err := domain.UnmarshalEvent("UsageRecorded", version, data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
