package projections

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"ledger/eventstore"
)

// audSkewedLog is n events of two tenants whose occurred_at wander over
// a week and back: a tenth of them are hours or days off the clock of
// the events around them, as events of a replica with a wrong clock, or
// recorded late, would be.
func audSkewedLog(n int, tenants [2]uuid.UUID, t0 time.Time) []eventstore.Event {
	rng := rand.New(rand.NewPCG(7, 11))
	events := make([]eventstore.Event, n)
	clock := t0
	for i := range events {
		clock = clock.Add(time.Duration(rng.IntN(100)) * time.Minute)
		at := clock
		if rng.IntN(10) == 0 {
			at = clock.Add(time.Duration(rng.IntN(96)-48) * time.Hour)
		}
		if rng.IntN(20) == 0 {
			at = at.Truncate(24 * time.Hour) // on midnight itself
		}
		events[i] = eventstore.Event{ID: uuid.New(), Stream: fmt.Sprintf("noted-%d", i), Version: 1,
			Position: eventstore.Position(3*i + 1), Type: "Noted", SchemaVersion: 1, Data: json.RawMessage(`{}`),
			Metadata: eventstore.Metadata{TenantID: tenants[rng.IntN(2)].String(), OccurredAt: at.UTC(),
				Actor: eventstore.Actor{Type: "system"}}, RecordedAt: clock}
	}
	return events
}

// TestAuditDateRangeIsExactWhateverTheOrderOfTheLog: the range of
// positions a date filter reads from the days table holds every event of
// the range, even those recorded out of order, in batches that widen
// days that earlier batches wrote.
func TestAuditDateRangeIsExactWhateverTheOrderOfTheLog(t *testing.T) {
	t.Parallel()
	pool := audDB(t)
	tenants := [2]uuid.UUID{uuid.New(), uuid.New()}
	t0 := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	log := audSkewedLog(400, tenants, t0)
	for rest := log; len(rest) > 0; {
		n := min(len(rest), 1+len(rest)%37)
		audApply(t, pool, rest[:n])
		rest = rest[n:]
	}
	instant := func(t *rapid.T, label string) *time.Time {
		if rapid.IntRange(0, 5).Draw(t, label+" absent") == 0 {
			return nil
		}
		at := t0.Add(time.Duration(rapid.IntRange(-3*24, 40*24).Draw(t, label+" hours")) * time.Hour)
		switch rapid.IntRange(0, 3).Draw(t, label+" precision") {
		case 0:
			at = at.Truncate(24 * time.Hour)
		case 1:
			at = at.Truncate(24 * time.Hour).Add(time.Duration(rapid.IntRange(1, 1000).Draw(t, label+" µs after midnight")) * time.Microsecond)
		case 2:
			at = at.Add(time.Duration(rapid.IntRange(0, 3599e6).Draw(t, label+" µs")) * time.Microsecond)
		}
		return &at
	}
	rapid.Check(t, func(rt *rapid.T) {
		tenant := tenants[rapid.IntRange(0, 1).Draw(rt, "tenant")]
		f := AuditFilter{From: instant(rt, "from"), To: instant(rt, "to")}
		if f.From != nil && f.To != nil && f.To.Before(*f.From) {
			f.From, f.To = f.To, f.From
		}
		var want []eventstore.Position
		for _, e := range log {
			at := e.Metadata.OccurredAt
			if e.Metadata.TenantID == tenant.String() && (f.From == nil || !at.Before(*f.From)) && (f.To == nil || at.Before(*f.To)) {
				want = append(want, e.Position)
			}
		}
		var got []eventstore.Position
		page := Page{Limit: 9}
		for {
			list, err := AuditEvents(t.Context(), pool, tenant, AuditViewer{}, f, page)
			if err != nil {
				rt.Fatal(err)
			}
			got = append(got, audPositions(list.Items)...)
			if list.NextCursor == nil {
				break
			}
			page.Cursor = *list.NextCursor
		}
		if !slices.Equal(got, want) {
			rt.Fatalf("from %v to %v: %d events %v, want %d %v", f.From, f.To, len(got), got, len(want), want)
		}
	})
}
