package commands_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
)

// The shop's clock says 2026-11-25; its subscriptions start on 2026-11-01
// with 3 seats (item 0) and a metered item (item 1).

// recordOn records 5,000 GB of usage of item on day, at 09:00.
func (s *shop) recordOn(t *testing.T, sub commands.Outcome[domain.Subscription], item uuid.UUID, day domain.Date) {
	t.Helper()
	_, err := s.svc.RecordUsage(context.Background(), s.req(s.operator), commands.RecordUsage{Records: []commands.UsageRecord{{
		ID: uuid.New(), SubscriptionID: sub.State.ID, ItemID: item, Quantity: decimal.NewFromInt(5000),
		OccurredAt: day.Time().Add(9 * time.Hour)}}})
	if err != nil {
		t.Fatalf("record usage on %s: %v", day, err)
	}
}

// eventsIn returns how many events stream holds.
func eventsIn(t *testing.T, store eventstore.Store, stream string) int {
	t.Helper()
	events, err := store.ReadStream(context.Background(), stream, 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(events)
}

func removal(item uuid.UUID, eff domain.Date) commands.AmendSubscription {
	return commands.AmendSubscription{EffectiveDate: eff, Changes: []commands.Change{{Type: "remove_item", ItemID: item}}}
}

// TestUsageRecordedAfter refuses, on Postgres, to remove a usage item or
// cancel its subscription on or before a day with usage, naming that day,
// and appends nothing; the day after is fine.
func TestUsageRecordedAfter(t *testing.T) {
	t.Parallel()
	s := stock(t, newPostgresWorld(t))
	ctx := context.Background()
	day := func(d int) domain.Date { return domain.NewDate(2026, 11, d) }
	type decide func(id, meter uuid.UUID) error
	remove := func(eff domain.Date) decide {
		return func(id, meter uuid.UUID) error {
			_, err := s.svc.AmendSubscription(ctx, s.req(s.operator), id, removal(meter, eff))
			return err
		}
	}
	cancel := func(cmd commands.CancelSubscription) decide {
		return func(id, _ uuid.UUID) error {
			_, err := s.svc.CancelSubscription(ctx, s.req(s.operator), id, cmd)
			return err
		}
	}
	tests := []struct {
		name    string
		used    domain.Date
		decide  decide
		refused bool
	}{
		{"remove before the usage", day(20), remove(day(10)), true},
		{"remove on the usage's day", day(20), remove(day(20)), true},
		{"remove the day after", day(20), remove(day(21)), false},
		{"cancel at once, usage today", day(25), cancel(commands.CancelSubscription{Policy: "immediate"}), true},
		{"cancel at once, usage before", day(24), cancel(commands.CancelSubscription{Policy: "immediate"}), false},
		{"cancel the day after", day(25), cancel(commands.CancelSubscription{Policy: "specific_date", Date: day(26)}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := s.subscribe(t, s.operator, s.accA, nil)
			if err != nil {
				t.Fatal(err)
			}
			meter, stream := sub.State.Items[1].ID, commands.SubscriptionStream(s.tenant, sub.State.ID)
			s.recordOn(t, sub, meter, tt.used)
			before := eventsIn(t, s.store, stream)
			err = tt.decide(sub.State.ID, meter)
			if !tt.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantCode(t, err, domain.ErrRule, domain.CodeUsageRecordedAfter)
			if !strings.Contains(err.Error(), tt.used.String()) {
				t.Errorf("refusal %v does not name the last usage date %s", err, tt.used)
			}
			if after := eventsIn(t, s.store, stream); after != before {
				t.Errorf("the refusal appended %d events", after-before)
			}
		})
	}
}

// slipsIn is a store that, on the first append to the subscription
// stream it watches, first lets usage be recorded by someone else.
type slipsIn struct {
	eventstore.Store
	stream string
	record func()
	once   sync.Once
}

func (s *slipsIn) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	for _, w := range req.Streams {
		if w.Stream == s.stream {
			s.once.Do(s.record)
		}
	}
	return s.Store.Append(ctx, req)
}

// TestUsageRecordedDuringRemoval records usage between the decision to
// remove its item and the removal's append: the append, conditioned on
// the usage stream the decision read, does not land, and the removal,
// decided again, is refused. On a store that drops conditions the same
// race lands the removal before the usage it orphans: the condition is
// what keeps it out.
func TestUsageRecordedDuringRemoval(t *testing.T) {
	t.Parallel()
	for _, conditioned := range []bool{true, false} {
		t.Run(map[bool]string{true: "conditioned", false: "unconditioned"}[conditioned], func(t *testing.T) {
			t.Parallel()
			base := postgresStore(t)
			s := stock(t, newWorld(t, func(func() time.Time) eventstore.Store { return base }))
			sub, err := s.subscribe(t, s.operator, s.accA, nil)
			if err != nil {
				t.Fatal(err)
			}
			meter, stream := sub.State.Items[1].ID, commands.SubscriptionStream(s.tenant, sub.State.ID)
			watched := &slipsIn{Store: base, stream: stream, record: func() { s.recordOn(t, sub, meter, domain.NewDate(2026, 11, 20)) }}
			var store eventstore.Store = watched
			if !conditioned {
				store = &unconditioned{Store: watched}
			}
			remover := commands.New(store, commands.WithClock(func() time.Time { return s.now }))
			before := eventsIn(t, base, stream)
			_, err = remover.AmendSubscription(context.Background(), s.req(s.operator), sub.State.ID, removal(meter, domain.NewDate(2026, 11, 10)))
			landed := eventsIn(t, base, stream) - before
			if conditioned {
				wantCode(t, err, domain.ErrRule, domain.CodeUsageRecordedAfter)
				if landed != 0 {
					t.Fatalf("the removal landed (%d events) before usage it orphans", landed)
				}
				return
			}
			if err != nil || landed != 1 {
				t.Fatalf("without conditions: %v, %d events; want the removal landed", err, landed)
			}
		})
	}
}

// TestScheduledChangeWithdrawn schedules changes, lists them, withdraws
// one with If-Match and an idempotency key, and is refused where api.md
// says.
func TestScheduledChangeWithdrawn(t *testing.T) {
	t.Parallel()
	s := stock(t, newPostgresWorld(t))
	ctx := context.Background()
	sub, err := s.subscribe(t, s.operator, s.accA, nil)
	if err != nil {
		t.Fatal(err)
	}
	seat := sub.State.Items[0].ID
	amended, err := s.svc.AmendSubscription(ctx, s.req(s.operator), sub.State.ID, commands.AmendSubscription{
		EffectiveDate: domain.NewDate(2026, 12, 1),
		Changes:       []commands.Change{{Type: "change_quantity", ItemID: seat, Quantity: decimal.NewFromInt(10)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	scheduled := amended.State.ScheduledOn(domain.DateOf(s.now))
	if len(scheduled) != 1 || scheduled[0].ID != domain.ScheduledChangeID(sub.State.ID, amended.Version) {
		t.Fatalf("scheduled changes %+v, want the amendment at version %d", scheduled, amended.Version)
	}
	id := scheduled[0].ID

	_, err = s.svc.WithdrawScheduledChange(ctx, s.req(s.viewer), sub.State.ID, id)
	wantCode(t, err, domain.ErrForbidden, domain.CodeForbidden)
	stale := s.req(s.operator)
	stale.IfMatch = new(amended.Version - 1)
	_, err = s.svc.WithdrawScheduledChange(ctx, stale, sub.State.ID, id)
	wantCode(t, err, domain.ErrPrecondition, domain.CodePreconditionFailed)
	_, err = s.svc.WithdrawScheduledChange(ctx, s.req(s.operator), sub.State.ID, uuid.New())
	wantCode(t, err, domain.ErrNotFound, domain.CodeNotFound)

	req := s.req(s.operator)
	req.IfMatch, req.IdempotencyKey = new(amended.Version), "withdraw-1"
	first, err := s.svc.WithdrawScheduledChange(ctx, req, sub.State.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.State.Scheduled) != 0 || first.State.Items[0].Quantity != 3 || first.Version != amended.Version+1 {
		t.Fatalf("after the withdrawal: %+v at version %d, want 3 seats, nothing scheduled, version %d",
			first.State, first.Version, amended.Version+1)
	}
	again, err := s.svc.WithdrawScheduledChange(ctx, req, sub.State.ID, id)
	if err != nil || !again.Replayed || again.Position != first.Position || again.Version != first.Version {
		t.Fatalf("retry = %+v, %v; want the first answer replayed", again, err)
	}
	_, err = s.svc.WithdrawScheduledChange(ctx, s.req(s.operator), sub.State.ID, id)
	wantCode(t, err, domain.ErrNotFound, domain.CodeNotFound)
	history, err := s.svc.SubscriptionHistory(ctx, s.req(s.admin), sub.State.ID)
	if err != nil || len(history) != 3 || history[2].Type != "ScheduledChangeWithdrawn" {
		t.Fatalf("history = %d events, %v; want created, amended, withdrawn", len(history), err)
	}
}

// TestCancelWithScheduledChanges: a cancellation before a scheduled change
// is refused naming it, unless it withdraws it, in the same append.
func TestCancelWithScheduledChanges(t *testing.T) {
	t.Parallel()
	rec := &recording{Store: postgresStore(t)}
	s := stock(t, newWorld(t, func(func() time.Time) eventstore.Store { return rec }))
	ctx := context.Background()
	sub, err := s.subscribe(t, s.operator, s.accA, nil)
	if err != nil {
		t.Fatal(err)
	}
	amended, err := s.svc.AmendSubscription(ctx, s.req(s.operator), sub.State.ID, commands.AmendSubscription{
		EffectiveDate: domain.NewDate(2027, 1, 1),
		Changes:       []commands.Change{{Type: "change_quantity", ItemID: sub.State.Items[0].ID, Quantity: decimal.NewFromInt(10)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := domain.ScheduledChangeID(sub.State.ID, amended.Version)
	_, err = s.svc.CancelSubscription(ctx, s.req(s.operator), sub.State.ID, commands.CancelSubscription{Policy: "end_of_term"})
	wantCode(t, err, domain.ErrRule, domain.CodeScheduledChangePending)
	if !strings.Contains(err.Error(), id.String()) {
		t.Fatalf("refusal %v does not name scheduled change %s", err, id)
	}
	cancelled, err := s.svc.CancelSubscription(ctx, s.req(s.operator), sub.State.ID,
		commands.CancelSubscription{Policy: "end_of_term", WithdrawScheduled: true})
	if err != nil {
		t.Fatal(err)
	}
	stream := commands.SubscriptionStream(s.tenant, sub.State.ID)
	events, err := s.store.ReadStream(ctx, stream, amended.Version+1, 10)
	if err != nil || len(events) != 2 || events[0].Type != "ScheduledChangeWithdrawn" || events[1].Type != "SubscriptionCancelled" {
		t.Fatalf("appended %+v, %v; want the withdrawal, then the cancellation", events, err)
	}
	if last := rec.last(stream); !slices.Equal(last, []string{"ScheduledChangeWithdrawn", "SubscriptionCancelled"}) || cancelled.Position != events[1].Position {
		t.Fatalf("the last append to the subscription carried %v, want the withdrawal and the cancellation together", last)
	}
	if cancelled.State.Items[0].QuantityOn(domain.NewDate(2027, 1, 1)) != 3 || cancelled.State.CancelDate != domain.NewDate(2026, 12, 1) {
		t.Fatalf("cancelled state %+v", cancelled.State)
	}
}

// recording is a store that keeps the types of the events of each append,
// by stream.
type recording struct {
	eventstore.Store
	mu      sync.Mutex
	appends map[string][][]string
}

func (s *recording) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	s.mu.Lock()
	if s.appends == nil {
		s.appends = map[string][][]string{}
	}
	for _, w := range req.Streams {
		var types []string
		for _, e := range w.Events {
			types = append(types, e.Type)
		}
		s.appends[w.Stream] = append(s.appends[w.Stream], types)
	}
	s.mu.Unlock()
	return s.Store.Append(ctx, req)
}

// last returns the event types of the last append to stream.
func (s *recording) last(stream string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.appends[stream]); n > 0 {
		return s.appends[stream][n-1]
	}
	return nil
}
