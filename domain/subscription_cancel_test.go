package domain

import (
	"reflect"
	"testing"

	"github.com/shopspring/decimal"
)

func fxTermed(months int, renew bool) CreateSubscription {
	cmd := fxCreateCmd()
	cmd.Term = TermInput{Type: "termed", Months: months, AutoRenew: renew}
	return cmd
}

func TestCancelPolicies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		sub   CreateSubscription
		today string
		cmd   CancelSubscription
		want  string
	}{
		{"immediate", fxCreateCmd(), "2025-03-10", CancelSubscription{Policy: "immediate"}, "2025-03-10"},
		{"immediate before the start", fxCreateCmd(), "2025-01-20", CancelSubscription{Policy: "immediate"}, "2025-01-31"},
		{"end of a fixed term", fxTermed(12, false), "2025-03-10", CancelSubscription{Policy: "end_of_term"}, "2026-01-31"},
		{"end of a renewed term", fxTermed(3, true), "2025-06-15", CancelSubscription{Policy: "end_of_term"}, "2025-07-31"},
		{"end of term on its last day", fxTermed(3, true), "2025-04-29", CancelSubscription{Policy: "end_of_term"}, "2025-04-30"},
		{"end of term on a renewal day", fxTermed(3, true), "2025-04-30", CancelSubscription{Policy: "end_of_term"}, "2025-07-31"},
		{"evergreen: next anniversary", fxCreateCmd(), "2025-03-30", CancelSubscription{Policy: "end_of_term"}, "2025-03-31"},
		{"evergreen: strictly after today", fxCreateCmd(), "2025-03-31", CancelSubscription{Policy: "end_of_term"}, "2025-04-30"},
		{"evergreen: clamped anniversary", fxCreateCmd(), "2025-02-01", CancelSubscription{Policy: "end_of_term"}, "2025-02-28"},
		{"evergreen not started", fxCreateCmd(), "2025-01-20", CancelSubscription{Policy: "end_of_term"}, "2025-02-28"},
		{"specific date", fxCreateCmd(), "2025-03-10", CancelSubscription{Policy: "specific_date", Date: fxDate("2025-05-05")}, "2025-05-05"},
		{"specific date today", fxCreateCmd(), "2025-03-10", CancelSubscription{Policy: "specific_date", Date: fxDate("2025-03-10")}, "2025-03-10"},
		{"specific date at the term's end", fxTermed(3, false), "2025-03-10", CancelSubscription{Policy: "specific_date", Date: fxDate("2025-04-30")}, "2025-04-30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cmd.Reason = "  too expensive "
			s := fxNewSub(t, tt.sub).cancel(t, tt.today, tt.cmd)
			if s.CancelDate != fxDate(tt.want) || s.CancelPolicy != CancelPolicy(tt.cmd.Policy) || s.CancelReason != "too expensive" {
				t.Fatalf("cancel date %s policy %s reason %q, want %s", s.CancelDate, s.CancelPolicy, s.CancelReason, tt.want)
			}
			if !s.UpdatedAt.Equal(fxAt(tt.today)) {
				t.Fatalf("updated at %s", s.UpdatedAt)
			}
			fxCheckReplay[Subscription](t, s.log, s.Subscription)
		})
	}
}

func TestCancelRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		sub   CreateSubscription
		prior func(t *testing.T, s fxSubscription) fxSubscription
		today string
		cmd   CancelSubscription
		kind  error
		code  string
		field string
	}{
		{"twice", fxCreateCmd(), func(t *testing.T, s fxSubscription) fxSubscription {
			return s.cancel(t, "2025-02-10", CancelSubscription{Policy: "end_of_term"})
		}, "2025-02-11", CancelSubscription{Policy: "immediate"}, ErrRule, CodeAlreadyCancelled, ""},
		{"twice, after it took effect", fxCreateCmd(), func(t *testing.T, s fxSubscription) fxSubscription {
			return s.cancel(t, "2025-02-10", CancelSubscription{Policy: "immediate"})
		}, "2025-04-01", CancelSubscription{Policy: "immediate"}, ErrRule, CodeAlreadyCancelled, ""},
		{"term ended", fxTermed(3, false), nil, "2025-05-01", CancelSubscription{Policy: "immediate"},
			ErrRule, CodeSubscriptionNotActive, ""},
		{"no date", fxCreateCmd(), nil, "2025-03-10", CancelSubscription{Policy: "specific_date"},
			ErrInvalid, CodeInvalid, "date"},
		{"date before start", fxCreateCmd(), nil, "2025-01-10", CancelSubscription{Policy: "specific_date", Date: fxDate("2025-01-20")},
			ErrInvalid, CodeInvalid, "date"},
		{"date in the past", fxCreateCmd(), nil, "2025-03-10", CancelSubscription{Policy: "specific_date", Date: fxDate("2025-03-09")},
			ErrInvalid, CodeInvalid, "date"},
		{"date after the term", fxTermed(3, false), nil, "2025-03-10", CancelSubscription{Policy: "specific_date", Date: fxDate("2025-05-01")},
			ErrInvalid, CodeInvalid, "date"},
		{"date with another policy", fxCreateCmd(), nil, "2025-03-10", CancelSubscription{Policy: "immediate", Date: fxDate("2025-04-01")},
			ErrInvalid, CodeInvalid, "date"},
		{"unknown policy", fxCreateCmd(), nil, "2025-03-10", CancelSubscription{Policy: "whenever"},
			ErrInvalid, CodeInvalid, "policy"},
		{"before a scheduled amendment", fxCreateCmd(), func(t *testing.T, s fxSubscription) fxSubscription {
			return s.amend(t, "2025-06-01", fxQty(fxID(200), 1))
		}, "2025-03-10", CancelSubscription{Policy: "immediate"}, ErrInvalid, CodeInvalid, "policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := fxNewSub(t, tt.sub)
			if tt.prior != nil {
				s = tt.prior(t, s)
			}
			before := fxReplay[Subscription](s.log)
			events, err := s.Cancel(tt.cmd, fxActor, fxAt(tt.today))
			fxWantErr(t, err, tt.kind, tt.code, tt.field)
			if events != nil || !reflect.DeepEqual(before, s.Subscription) {
				t.Fatalf("a refusal decided events %v or changed the state", events)
			}
		})
	}
	var none Subscription
	_, err := none.Cancel(CancelSubscription{Policy: "immediate"}, fxActor, fxAt("2025-01-01"))
	fxWantErr(t, err, ErrNotFound, CodeNotFound, "")
}

func TestStatusOn(t *testing.T) {
	t.Parallel()
	evergreen := fxNewSub(t, fxCreateCmd())
	pending := fxNewSub(t, fxCreateCmd()).cancel(t, "2025-03-10", CancelSubscription{Policy: "specific_date", Date: fxDate("2025-06-01")})
	fixed := fxNewSub(t, fxTermed(12, false))
	renewing := fxNewSub(t, fxTermed(12, true))
	tests := []struct {
		name string
		s    fxSubscription
		on   string
		want Status
	}{
		{"before start", evergreen, "2025-01-01", StatusActive},
		{"evergreen", evergreen, "2030-01-01", StatusActive},
		{"before the cancel date", pending, "2025-05-31", StatusPendingCancellation},
		{"on the cancel date", pending, "2025-06-01", StatusCancelled},
		{"after the cancel date", pending, "2026-01-01", StatusCancelled},
		{"last day of a fixed term", fixed, "2026-01-30", StatusActive},
		{"end of a fixed term", fixed, "2026-01-31", StatusCancelled},
		{"renewed term", renewing, "2027-06-01", StatusActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.s.StatusOn(fxDate(tt.on)); got != tt.want {
				t.Fatalf("StatusOn(%s) = %s, want %s", tt.on, got, tt.want)
			}
		})
	}
	if got := (&Subscription{}).StatusOn(fxDate("2025-01-01")); got != "" {
		t.Fatalf("a subscription that does not exist has status %q", got)
	}
}

func TestCurrentTermEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		months int
		renew  bool
		on     string
		want   string
	}{
		{"fixed", 12, false, "2025-03-01", "2026-01-31"},
		{"fixed, after its end", 12, false, "2027-03-01", "2026-01-31"},
		{"renewing, first term", 1, true, "2025-02-27", "2025-02-28"},
		{"renewing, on the renewal", 1, true, "2025-02-28", "2025-03-31"},
		{"renewing, clamped", 1, true, "2025-03-31", "2025-04-30"},
		{"renewing, before start", 3, true, "2024-12-01", "2025-04-30"},
		{"renewing yearly", 12, true, "2031-01-30", "2031-01-31"},
		{"renewing yearly, on the renewal", 12, true, "2031-01-31", "2032-01-31"},
		{"renewing quarterly, far", 3, true, "2035-11-15", "2036-01-31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := fxNewSub(t, fxTermed(tt.months, tt.renew))
			if got := s.CurrentTermEnd(fxDate(tt.on)); got != fxDate(tt.want) {
				t.Fatalf("CurrentTermEnd(%s) = %s, want %s", tt.on, got, tt.want)
			}
		})
	}
	if got := fxNewSub(t, fxCreateCmd()).CurrentTermEnd(fxDate("2025-03-01")); !got.IsZero() {
		t.Fatalf("an evergreen subscription has term end %s", got)
	}
}

func TestCurrentTermEndLeapDay(t *testing.T) {
	t.Parallel()
	cmd := fxTermed(12, true)
	cmd.StartDate = fxDate("2024-02-29")
	s := fxNewSub(t, cmd)
	for on, want := range map[string]string{"2025-02-27": "2025-02-28", "2025-02-28": "2026-02-28", "2027-12-31": "2028-02-29"} {
		if got := s.CurrentTermEnd(fxDate(on)); got != fxDate(want) {
			t.Errorf("CurrentTermEnd(%s) = %s, want %s", on, got, want)
		}
	}
}

func TestMRR(t *testing.T) {
	t.Parallel()
	// 5 seats × 10/month = 50, 2 support × 30/quarter = 20, 1 platform ×
	// 120/year = 10; the API calls are usage and do not count.
	s := fxNewSub(t, fxCreateCmd())
	s = s.amend(t, "2025-03-01", fxQty(fxID(200), 8), fxAdd(fxSetup, 1))     // seats: 80
	s = s.amend(t, "2025-05-01", fxRemove(fxID(202)), fxAdd(fxSupport, 1))   // -10, +10
	s = s.amend(t, "2025-05-20", fxQty(fxID(201), 5))                        // support: 50
	s = s.cancel(t, "2025-06-01", CancelSubscription{Policy: "end_of_term"}) // 2025-06-30
	tests := []struct {
		on   string
		want string
	}{
		{"2025-01-30", "0"},
		{"2025-01-31", "80"},
		{"2025-02-28", "80"},
		{"2025-03-01", "110"},
		{"2025-04-30", "110"},
		{"2025-05-01", "110"},
		{"2025-05-20", "140"},
		{"2025-06-29", "140"},
		{"2025-06-30", "0"},
	}
	for _, tt := range tests {
		if got := s.MRR(fxDate(tt.on)); !got.Equal(decimal.RequireFromString(tt.want)) {
			t.Errorf("MRR(%s) = %s, want %s", tt.on, got, tt.want)
		}
	}
	if got := s.ARR(fxDate("2025-05-20")); !got.Equal(decimal.NewFromInt(1680)) {
		t.Errorf("ARR = %s, want 1680", got)
	}
}

func TestMRRUnrounded(t *testing.T) {
	t.Parallel()
	hundred, tenth := "100", "0.10"
	cmd := fxCreateCmd()
	cmd.Items = []ItemInput{fxItem(fxSupport, 1), fxItem(fxPlatform, 1)}
	cmd.Items[0].UnitPrice, cmd.Items[1].UnitPrice = &hundred, &tenth
	s := fxNewSub(t, cmd)
	// 100/3 + 0.10/12 = 33.3416666...
	want := decimal.RequireFromString("33.34166666666666666667")
	if got := s.MRR(fxDate("2025-02-01")); !got.Equal(want) {
		t.Fatalf("MRR = %s, want %s", got, want)
	}
	if got := Currency("EUR").Present(s.MRR(fxDate("2025-02-01"))); got != "33.34" {
		t.Fatalf("presented as %s", got)
	}
}
