package domain

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"pgregory.net/rapid"
)

// schedule amends s on day today, ahead of eff.
func (s fxSubscription) schedule(t fxTB, today, eff string, changes ...ChangeInput) fxSubscription {
	t.Helper()
	cmd := AmendSubscription{EffectiveDate: fxDate(eff), Changes: changes, NewID: fxIDs(300 + len(s.log)*10)}
	return s.apply(fxMust(t)(s.Amend(cmd, fxCatalog(t), fxActor, fxAt(today))))
}

// scheduledID is the id of the scheduled change made by s's event at
// version.
func (s fxSubscription) scheduledID(version uint64) uuid.UUID {
	return ScheduledChangeID(s.ID, version)
}

// without replays s's log without the events at versions.
func (s fxSubscription) without(versions ...uint64) *Subscription {
	var log []Event
	for i, e := range s.log {
		if !slices.Contains(versions, uint64(i+1)) {
			log = append(log, e)
		}
	}
	return fxReplay[Subscription](log)
}

func TestScheduledChangesAreListed(t *testing.T) {
	t.Parallel()
	seat := fxID(200)
	s := fxNewSub(t, fxCreateCmd()).
		amend(t, "2025-02-10", fxQty(seat, 6)).                    // v2: in effect when made
		schedule(t, "2025-02-11", "2025-04-01", fxQty(seat, 7)).   // v3
		schedule(t, "2025-02-12", "2025-05-01", fxAdd(fxSetup, 1)) // v4
	want := []uuid.UUID{s.scheduledID(3), s.scheduledID(4)}
	if got := scheduledIDs(s.ScheduledOn(fxDate("2025-02-12"))); !slices.Equal(got, want) {
		t.Fatalf("scheduled on 2025-02-12: %v, want %v", got, want)
	}
	if got := scheduledIDs(s.ScheduledOn(fxDate("2025-04-01"))); !slices.Equal(got, want[1:]) {
		t.Fatalf("scheduled on 2025-04-01 (the first in effect): %v, want %v", got, want[1:])
	}
	c := s.Scheduled[0]
	if c.Version != 3 || c.EffectiveDate != fxDate("2025-04-01") || c.CreatedBy != fxActor || len(c.Changes) != 1 || c.Changes[0].Quantity != 7 {
		t.Fatalf("scheduled change %+v", c)
	}
	if s.ChangeDateBefore != fxDate("2025-02-10") || len(s.ItemsBefore) != 4 || s.ItemsBefore[0].Quantity != 6 {
		t.Fatalf("before the scheduled changes: %s, %+v", s.ChangeDateBefore, s.ItemsBefore)
	}
	fxCheckReplay[Subscription](t, s.log, s.Subscription)

	// An amendment in effect when made settles every earlier one.
	s = s.amend(t, "2025-05-02", fxQty(seat, 9))
	if s.Scheduled != nil || s.ItemsBefore != nil || len(s.ScheduledOn(fxDate("2025-01-01"))) != 0 {
		t.Fatalf("settled state keeps %+v, %+v", s.Scheduled, s.ItemsBefore)
	}
	fxCheckReplay[Subscription](t, s.log, s.Subscription)
}

func scheduledIDs(changes []ScheduledChange) []uuid.UUID {
	ids := make([]uuid.UUID, len(changes))
	for i, c := range changes {
		ids[i] = c.ID
	}
	return ids
}

// TestWithdrawScheduledChange withdraws one scheduled change and checks
// that the subscription is as if its amendment had never been made.
func TestWithdrawScheduledChange(t *testing.T) {
	t.Parallel()
	seat, support, platform := fxID(200), fxID(201), fxID(202)
	future := func() CreateSubscription { c := fxCreateCmd(); c.StartDate = fxDate("2025-03-01"); return c }
	tests := []struct {
		name     string
		sub      CreateSubscription
		prior    func(t *testing.T, s fxSubscription) fxSubscription
		withdraw uint64 // the version of the amendment withdrawn
	}{
		{"an added item", fxCreateCmd(), func(t *testing.T, s fxSubscription) fxSubscription {
			return s.schedule(t, "2025-02-10", "2025-04-01", fxAdd(fxSetup, 1), fxQty(seat, 8))
		}, 2},
		{"a removal", fxCreateCmd(), func(t *testing.T, s fxSubscription) fxSubscription {
			return s.schedule(t, "2025-02-10", "2025-04-01", fxRemove(platform))
		}, 2},
		{"the first of two, on one date", fxCreateCmd(), func(t *testing.T, s fxSubscription) fxSubscription {
			return s.schedule(t, "2025-02-10", "2025-04-01", fxQty(seat, 8)).schedule(t, "2025-02-11", "2025-04-01", fxQty(seat, 9))
		}, 2},
		{"the second of two, on one date", fxCreateCmd(), func(t *testing.T, s fxSubscription) fxSubscription {
			return s.schedule(t, "2025-02-10", "2025-04-01", fxQty(seat, 8)).schedule(t, "2025-02-11", "2025-04-01", fxQty(seat, 9))
		}, 3},
		{"the first of two, on two dates", fxCreateCmd(), func(t *testing.T, s fxSubscription) fxSubscription {
			return s.schedule(t, "2025-02-10", "2025-04-01", fxRemove(support)).schedule(t, "2025-02-11", "2025-05-01", fxQty(seat, 9))
		}, 2},
		{"after a change in effect", fxCreateCmd(), func(t *testing.T, s fxSubscription) fxSubscription {
			return s.amend(t, "2025-02-10", fxQty(seat, 3)).schedule(t, "2025-02-10", "2025-04-01", fxQty(seat, 4))
		}, 3},
		{"on the start date, before the start", future(), func(t *testing.T, s fxSubscription) fxSubscription {
			return s.schedule(t, "2025-02-10", "2025-03-01", fxQty(seat, 8), fxQty(seat, 2))
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.prior(t, fxNewSub(t, tt.sub))
			id := s.scheduledID(tt.withdraw)
			want := s.without(tt.withdraw)
			s = s.apply(fxMust(t)(s.WithdrawScheduledChange(id, fxPartner, fxAt("2025-02-20"))))
			w := s.log[len(s.log)-1].(*ScheduledChangeWithdrawn)
			if w.ChangeID != id || w.AmendmentVersion != tt.withdraw || w.SubscriptionID != s.ID || w.AccountID != s.AccountID ||
				w.WithdrawnBy != fxPartner || !w.WithdrawnAt.Equal(fxAt("2025-02-20")) {
				t.Fatalf("withdrawal %+v", w)
			}
			if !reflect.DeepEqual(s.Items, want.Items) || s.LastChangeDate != want.LastChangeDate {
				t.Fatalf("after the withdrawal:\n items %+v, last change %s\nwant %+v, %s", s.Items, s.LastChangeDate, want.Items, want.LastChangeDate)
			}
			if slices.Contains(scheduledIDs(s.Scheduled), id) || len(s.Scheduled) != len(want.Scheduled) {
				t.Fatalf("scheduled %+v, want %d without %s", s.Scheduled, len(want.Scheduled), id)
			}
			if !s.UpdatedAt.Equal(fxAt("2025-02-20")) || s.Version != uint64(len(s.log)) {
				t.Fatalf("updated %s, version %d", s.UpdatedAt, s.Version)
			}
			fxCheckReplay[Subscription](t, s.log, s.Subscription)
		})
	}
}

func TestWithdrawScheduledChangeRules(t *testing.T) {
	t.Parallel()
	seat, support := fxID(200), fxID(201)
	scheduled := func(t *testing.T, s fxSubscription) fxSubscription {
		return s.schedule(t, "2025-02-10", "2025-04-01", fxQty(seat, 8))
	}
	tests := []struct {
		name    string
		prior   func(t *testing.T, s fxSubscription) fxSubscription
		version uint64
		today   string
		kind    error
		code    string
		names   uint64 // the version whose change the refusal names
	}{
		{"unknown", scheduled, 9, "2025-02-20", ErrNotFound, CodeNotFound, 0},
		{"in effect", scheduled, 2, "2025-04-01", ErrNotFound, CodeNotFound, 0},
		{"made in effect", func(t *testing.T, s fxSubscription) fxSubscription {
			return s.amend(t, "2025-02-10", fxQty(seat, 8))
		}, 2, "2025-02-09", ErrNotFound, CodeNotFound, 0},
		{"settled by a later amendment", func(t *testing.T, s fxSubscription) fxSubscription {
			return s.schedule(t, "2025-02-10", "2025-02-15", fxQty(seat, 8)).amend(t, "2025-02-16", fxQty(seat, 9))
		}, 2, "2025-02-09", ErrNotFound, CodeNotFound, 0},
		{"pending cancellation", func(t *testing.T, s fxSubscription) fxSubscription {
			return scheduled(t, s).cancel(t, "2025-02-15", CancelSubscription{Policy: "specific_date", Date: fxDate("2025-06-01")})
		}, 2, "2025-02-20", ErrRule, CodeSubscriptionNotActive, 0},
		{"a later change needs its item", func(t *testing.T, s fxSubscription) fxSubscription {
			s = s.schedule(t, "2025-02-10", "2025-04-01", fxAdd(fxSetup, 1))
			return s.schedule(t, "2025-02-11", "2025-05-01", fxQty(s.Items[4].ID, 3))
		}, 2, "2025-02-20", ErrRule, CodeScheduledChangePending, 3},
		{"a later change would leave no item", func(t *testing.T, s fxSubscription) fxSubscription {
			s = s.schedule(t, "2025-02-10", "2025-04-01", fxAdd(fxSetup, 1))
			return s.schedule(t, "2025-02-11", "2025-05-01", fxRemove(seat), fxRemove(support), fxRemove(fxID(202)), fxRemove(fxID(203)))
		}, 2, "2025-02-20", ErrRule, CodeScheduledChangePending, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.prior(t, fxNewSub(t, fxCreateCmd()))
			before := fxReplay[Subscription](s.log)
			events, err := s.WithdrawScheduledChange(s.scheduledID(tt.version), fxActor, fxAt(tt.today))
			fxWantErr(t, err, tt.kind, tt.code, "")
			if events != nil || !reflect.DeepEqual(before, s.Subscription) {
				t.Fatalf("a refusal decided events %v or changed the state", events)
			}
			if tt.names != 0 && !strings.Contains(err.Error(), s.scheduledID(tt.names).String()) {
				t.Fatalf("refusal %v does not name scheduled change %s", err, s.scheduledID(tt.names))
			}
		})
	}
	var none Subscription
	_, err := none.WithdrawScheduledChange(uuid.New(), fxActor, fxAt("2025-01-01"))
	fxWantErr(t, err, ErrNotFound, CodeNotFound, "")
}

func TestCancelBeforeScheduledChanges(t *testing.T) {
	t.Parallel()
	seat := fxID(200)
	prior := func(t *testing.T) fxSubscription {
		return fxNewSub(t, fxCreateCmd()).
			schedule(t, "2025-02-10", "2025-04-01", fxQty(seat, 8)).
			schedule(t, "2025-02-11", "2025-05-01", fxAdd(fxSetup, 1)).
			schedule(t, "2025-02-12", "2025-05-01", fxQty(seat, 9))
	}
	tests := []struct {
		name      string
		cmd       CancelSubscription
		withdrawn []uint64 // versions withdrawn, in the order of the events; nil: refused
		field     string
	}{
		{"immediate", CancelSubscription{Policy: "immediate"}, nil, "policy"},
		{"on a date between", CancelSubscription{Policy: "specific_date", Date: fxDate("2025-04-15")}, nil, "date"},
		{"immediate, withdrawing", CancelSubscription{Policy: "immediate", WithdrawScheduled: true}, []uint64{4, 3, 2}, ""},
		{"between, withdrawing", CancelSubscription{Policy: "specific_date", Date: fxDate("2025-04-15"), WithdrawScheduled: true}, []uint64{4, 3}, ""},
		{"on the last date", CancelSubscription{Policy: "specific_date", Date: fxDate("2025-05-01")}, []uint64{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := prior(t)
			events, err := s.Cancel(tt.cmd, fxActor, fxAt("2025-02-20"))
			if tt.withdrawn == nil {
				fxWantErr(t, err, ErrRule, CodeScheduledChangePending, tt.field)
				for _, v := range []uint64{3, 4} {
					if !strings.Contains(err.Error(), s.scheduledID(v).String()) {
						t.Fatalf("refusal %v does not name %s", err, s.scheduledID(v))
					}
				}
				return
			}
			fxMust(t)(events, err)
			if len(events) != len(tt.withdrawn)+1 {
				t.Fatalf("events %+v, want %d withdrawals and the cancellation", events, len(tt.withdrawn))
			}
			for i, v := range tt.withdrawn {
				if w, ok := events[i].(*ScheduledChangeWithdrawn); !ok || w.AmendmentVersion != v || w.ChangeID != s.scheduledID(v) {
					t.Fatalf("event %d is %+v, want the withdrawal of version %d", i, events[i], v)
				}
			}
			if _, ok := events[len(events)-1].(*SubscriptionCancelled); !ok {
				t.Fatalf("the last event is %T, want the cancellation", events[len(events)-1])
			}
			want := s.without(tt.withdrawn...)
			s = s.apply(events)
			if !reflect.DeepEqual(s.Items, want.Items) || s.CancelDate.IsZero() {
				t.Fatalf("items %+v, want %+v; cancel date %s", s.Items, want.Items, s.CancelDate)
			}
			fxCheckReplay[Subscription](t, s.log, s.Subscription)
		})
	}
}

// TestWithdrawalProperties makes random amendments, scheduled or not, at
// random dates, then withdraws a random scheduled change: the withdrawal is
// refused only with a rule's code, and otherwise leaves the items, the
// last change date and the scheduled changes as if the amendment had never
// been made; replaying the log rebuilds the state.
func TestWithdrawalProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		catalog, ids := fxCatalog(rt), fxIDs(1000)
		now := fxAt("2025-01-01")
		s := fxSubscription{Subscription: &Subscription{}}
		cmd := fxCreateCmd()
		cmd.NewID = ids
		s = s.apply(fxMust(rt)(s.Create(cmd, fxAccount(rt, "EUR"), catalog, fxActor, now)))
		for range rapid.IntRange(1, 8).Draw(rt, "amendments") {
			now = now.Add(fxDrawDays(rt, "wait", 0, 10))
			amend := fxDrawAmend(rt, s.Subscription, ids)
			if amend.EffectiveDate.Before(DateOf(now)) && rapid.Bool().Draw(rt, "ahead") {
				amend.EffectiveDate = DateOf(now).AddDays(rapid.IntRange(0, 30).Draw(rt, "ahead by"))
			}
			if events, err := s.Amend(amend, catalog, fxActor, now); err == nil {
				s = s.apply(events)
			}
		}
		now = now.Add(fxDrawDays(rt, "then", 0, 10))
		if len(s.Scheduled) == 0 {
			return
		}
		c := rapid.SampledFrom(s.Scheduled).Draw(rt, "withdrawn")
		events, err := s.WithdrawScheduledChange(c.ID, fxActor, now)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Code != CodeScheduledChangePending && e.Code != CodeNotFound) ||
				(e.Code == CodeNotFound && c.EffectiveDate.After(DateOf(now))) {
				rt.Fatalf("withdrawal of %+v refused: %v", c, err)
			}
			return
		}
		want := s.without(c.Version)
		s = s.apply(events)
		if !reflect.DeepEqual(s.Items, want.Items) || s.LastChangeDate != want.LastChangeDate ||
			!reflect.DeepEqual(scheduledShape(s.Scheduled), scheduledShape(want.Scheduled)) {
			rt.Fatalf("after withdrawing %s: %+v\nwant %+v", c.ID, s.Subscription, want)
		}
		fxCheckReplay[Subscription](rt, s.log, s.Subscription)
		fxCheckScheduledHold(rt, s.Subscription)
	})
}

// fxCheckScheduledHold checks that every change a scheduled change names
// is of an item the subscription has, and that some item stays in effect.
func fxCheckScheduledHold(rt *rapid.T, s *Subscription) {
	for _, c := range s.Scheduled {
		for _, ch := range c.Changes {
			if _, found := s.Item(ch.ItemID); ch.Type != ChangeAddItem && !found {
				rt.Fatalf("scheduled change %s changes item %s, which the subscription lacks", c.ID, ch.ItemID)
			}
		}
	}
	if !slices.ContainsFunc(s.Items, func(it Item) bool { return it.EffectiveTo.IsZero() }) {
		rt.Fatalf("no item stays in effect: %+v", s.Items)
	}
}

// scheduledShape is what scheduled changes are but for their ids and
// versions, which a log without an event numbers otherwise.
func scheduledShape(changes []ScheduledChange) []ScheduledChange {
	out := make([]ScheduledChange, len(changes))
	for i, c := range changes {
		c.ID, c.Version = uuid.Nil, 0
		out[i] = c
	}
	return out
}
