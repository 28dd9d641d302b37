package domain

import (
	"fmt"
	"slices"
	"testing"
)

// teSummary formats a term event: "renewed 2 2026-01-01..2027-01-01" or
// "ended 2025-04-15".
func teSummary(t *testing.T, e Event, today string) string {
	t.Helper()
	switch e := e.(type) {
	case *SubscriptionRenewed:
		if e.SubscriptionID != fxSubID || e.AccountID != fxAcct || !e.RenewedAt.Equal(fxAt(today)) {
			t.Fatalf("renewal %+v: wrong subscription, account or time", e)
		}
		return fmt.Sprintf("renewed %d %s..%s", e.Term, e.TermStart, e.TermEnd)
	case *SubscriptionTermEnded:
		if e.SubscriptionID != fxSubID || e.AccountID != fxAcct || !e.EndedAt.Equal(fxAt(today)) {
			t.Fatalf("term end %+v: wrong subscription, account or time", e)
		}
		return fmt.Sprintf("ended %s", e.EndedOn)
	}
	t.Fatalf("unexpected event %T", e)
	return ""
}

// teDecide records the term ends by today, applies them and checks that
// deciding again, on the same day, then later still on the same day's
// state, records nothing more: each term end once.
func teDecide(t *testing.T, s fxSubscription, today string) (fxSubscription, []string) {
	t.Helper()
	events := s.RecordTermEnds(fxDate(today), fxAt(today))
	got := make([]string, 0, len(events))
	for _, e := range events {
		got = append(got, teSummary(t, e, today))
	}
	s = s.apply(events)
	if again := s.RecordTermEnds(fxDate(today), fxAt(today).Add(1)); len(again) != 0 && len(events) < maxTermEventsAtOnce {
		t.Fatalf("deciding again on %s records %d more events", today, len(again))
	}
	fxCheckReplay[Subscription](t, s.log, s.Subscription)
	return s, got
}

func TestRecordTermEnds(t *testing.T) {
	t.Parallel()
	type decision struct {
		today string
		want  []string
	}
	tests := []struct {
		name      string
		create    CreateSubscription
		cancel    *CancelSubscription // decided on the start date
		decisions []decision
		status    map[string]Status // the status on dates after the decisions
		reason    string            // the cancel reason after them
	}{
		{
			name:   "auto-renew: one renewal per elapsed term",
			create: blTermed("2025-01-01", 12, true, fxItem(fxSeat, 1)),
			decisions: []decision{
				{"2024-12-31", nil},
				{"2025-12-31", nil},
				{"2026-01-01", []string{"renewed 2 2026-01-01..2027-01-01"}},
				{"2026-06-30", nil},
				{"2027-01-01", []string{"renewed 3 2027-01-01..2028-01-01"}},
			},
			status: map[string]Status{"2027-06-01": StatusActive},
		},
		{
			name:   "auto-renew: catch-up after a downtime of several terms",
			create: blTermed("2025-01-01", 12, true, fxItem(fxSeat, 1)),
			decisions: []decision{
				{"2029-06-01", []string{
					"renewed 2 2026-01-01..2027-01-01",
					"renewed 3 2027-01-01..2028-01-01",
					"renewed 4 2028-01-01..2029-01-01",
					"renewed 5 2029-01-01..2030-01-01",
				}},
				{"2029-12-31", nil},
				{"2030-01-01", []string{"renewed 6 2030-01-01..2031-01-01"}},
			},
		},
		{
			name:   "auto-renew: monthly terms from the 31st are anchored to the start",
			create: blTermed("2025-01-31", 1, true, fxItem(fxSeat, 1)),
			decisions: []decision{
				{"2025-04-30", []string{
					"renewed 2 2025-02-28..2025-03-31",
					"renewed 3 2025-03-31..2025-04-30",
					"renewed 4 2025-04-30..2025-05-31",
				}},
			},
		},
		{
			name:   "without auto-renew: the term ends once, cancelled from its end",
			create: blTermed("2025-01-15", 3, false, fxItem(fxSeat, 1)),
			decisions: []decision{
				{"2025-04-14", nil},
				{"2025-04-15", []string{"ended 2025-04-15"}},
				{"2025-04-16", nil},
				{"2027-01-01", nil},
			},
			status: map[string]Status{"2025-04-15": StatusCancelled, "2030-01-01": StatusCancelled},
			reason: TermEndedReason,
		},
		{
			name:   "without auto-renew: recorded late, after a long downtime, still once",
			create: blTermed("2025-01-15", 3, false, fxItem(fxSeat, 1)),
			decisions: []decision{
				{"2028-02-29", []string{"ended 2025-04-15"}},
				{"2029-01-01", nil},
			},
			status: map[string]Status{"2025-04-15": StatusCancelled},
			reason: TermEndedReason,
		},
		{
			name:      "evergreen: nothing",
			create:    blCreate("2025-01-01", fxItem(fxSeat, 1)),
			decisions: []decision{{"2025-01-01", nil}, {"2026-01-01", nil}, {"2099-12-31", nil}},
			status:    map[string]Status{"2099-12-31": StatusActive},
		},
		{
			name:      "auto-renew, cancelled before the term end: nothing",
			create:    blTermed("2025-01-01", 12, true, fxItem(fxSeat, 1)),
			cancel:    &CancelSubscription{Policy: "specific_date", Date: fxDate("2025-06-01")},
			decisions: []decision{{"2026-01-01", nil}, {"2030-01-01", nil}},
			status:    map[string]Status{"2026-01-01": StatusCancelled},
		},
		{
			name:   "auto-renew, cancelled in its second term: renewed once, then nothing",
			create: blTermed("2025-01-01", 12, true, fxItem(fxSeat, 1)),
			cancel: &CancelSubscription{Policy: "specific_date", Date: fxDate("2026-06-01")},
			decisions: []decision{
				{"2026-01-01", []string{"renewed 2 2026-01-01..2027-01-01"}},
				{"2027-01-01", nil},
			},
			status: map[string]Status{"2026-05-31": StatusPendingCancellation, "2026-06-01": StatusCancelled},
		},
		{
			name:      "auto-renew, cancelled at the term end: nothing",
			create:    blTermed("2025-01-01", 12, true, fxItem(fxSeat, 1)),
			cancel:    &CancelSubscription{Policy: "end_of_term"},
			decisions: []decision{{"2026-01-01", nil}, {"2027-01-01", nil}},
			status:    map[string]Status{"2025-12-31": StatusPendingCancellation, "2026-01-01": StatusCancelled},
		},
		{
			name:      "without auto-renew, cancelled before the term end: nothing",
			create:    blTermed("2025-01-15", 3, false, fxItem(fxSeat, 1)),
			cancel:    &CancelSubscription{Policy: "specific_date", Date: fxDate("2025-03-01"), Reason: "too expensive"},
			decisions: []decision{{"2025-04-15", nil}, {"2026-04-15", nil}},
			status:    map[string]Status{"2025-03-01": StatusCancelled},
			reason:    "too expensive",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := fxSubscription{Subscription: &Subscription{}}
			s = s.apply(fxMust(t)(s.Create(tc.create, fxAccount(t, "EUR"), fxCatalog(t), fxActor, fxAt("2024-12-01"))))
			if tc.cancel != nil {
				s = s.cancel(t, tc.create.StartDate.String(), *tc.cancel)
			}
			for _, d := range tc.decisions {
				var got []string
				s, got = teDecide(t, s, d.today)
				if !slices.Equal(got, d.want) {
					t.Fatalf("on %s recorded %q, want %q", d.today, got, d.want)
				}
			}
			for day, want := range tc.status {
				if got := s.StatusOn(fxDate(day)); got != want {
					t.Errorf("status on %s = %s, want %s", day, got, want)
				}
			}
			if s.CancelReason != tc.reason {
				t.Errorf("cancel reason %q, want %q", s.CancelReason, tc.reason)
			}
		})
	}
}

// TestRecordTermEndsBounded: after a downtime of more terms than one
// decision records, the next decisions record the rest, each once.
func TestRecordTermEndsBounded(t *testing.T) {
	t.Parallel()
	s := fxSubscription{Subscription: &Subscription{}}
	s = s.apply(fxMust(t)(s.Create(blTermed("2010-01-01", 1, true, fxItem(fxSeat, 1)), fxAccount(t, "EUR"), fxCatalog(t), fxActor, fxAt("2010-01-01"))))
	// Feb 2010 .. Jan 2026: 16 × 12 = 192 monthly term ends.
	today := "2026-01-15"
	for _, want := range []int{maxTermEventsAtOnce, 192 - maxTermEventsAtOnce, 0} {
		events := s.RecordTermEnds(fxDate(today), fxAt(today))
		if len(events) != want {
			t.Fatalf("recorded %d events, want %d", len(events), want)
		}
		s = s.apply(events)
	}
	if s.TermsRenewed != 192 || s.CurrentTermEnd(fxDate(today)) != fxDate("2026-02-01") {
		t.Fatalf("renewed %d times, term ends %s", s.TermsRenewed, s.CurrentTermEnd(fxDate(today)))
	}
	last := s.log[len(s.log)-1].(*SubscriptionRenewed)
	if last.Term != 193 || last.TermStart != fxDate("2026-01-01") || last.TermEnd != fxDate("2026-02-01") {
		t.Fatalf("last renewal %+v", last)
	}
	fxCheckReplay[Subscription](t, s.log, s.Subscription)
}
