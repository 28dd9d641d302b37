package projections

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"ledger/domain"
	"ledger/internal/pgtest"
)

// termsWantDue returns the subscriptions of subs that RecordTermEnds
// would record something for on today, in the order DueTermEnds gives
// them: oldest term end first, then by id.
func termsWantDue(tn subsTenant, subs []*domain.Subscription, today domain.Date) []TermDue {
	var due []*domain.Subscription
	for _, s := range subs {
		if len(s.Clone().RecordTermEnds(today, today.Time().Add(subsNoon))) > 0 {
			due = append(due, s)
		}
	}
	slices.SortFunc(due, func(a, b *domain.Subscription) int {
		if c := a.NextTermEnd().Compare(b.NextTermEnd()); c != 0 {
			return c
		}
		return slices.Compare(a.ID[:], b.ID[:])
	})
	out := []TermDue{}
	for _, s := range due {
		out = append(out, TermDue{TenantID: tn.id, SubscriptionID: s.ID})
	}
	return out
}

// termsCheckDue compares DueTermEnds on today with the domain.
func termsCheckDue(t *testing.T, w *subsWorld, tn subsTenant, subs []*domain.Subscription, today domain.Date) {
	t.Helper()
	got, err := DueTermEnds(t.Context(), w.pool, today, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil {
		got = []TermDue{}
	}
	if want := termsWantDue(tn, subs, today); !slices.Equal(got, want) {
		t.Fatalf("due on %s: got %v, want %v", today, got, want)
	}
}

// TestDueTermEnds checks the term scheduler's query against the domain
// on dates around term ends, before and after the term events are
// recorded: an auto-renewing monthly term from Jan 31 (its ends clamp to
// the month's end, anchored to the start), a yearly term that does not
// renew, a quarterly term cancelled at its end, a subscription cancelled
// mid-term, and an evergreen one. It also checks that the subscriptions
// read model applies the term events as the domain does (version,
// updated_at, cancel date, status), and keeps their columns.
func TestDueTermEnds(t *testing.T) {
	t.Parallel()
	w := subsNewWorld(t)
	tn := w.tenant(t, 1)
	a := w.account(t, tn, subsID(11), "Alpha", "EUR", subsTenantUser)
	jan := subsAt("2025-01-01")
	termed := func(months int, renew bool) domain.TermInput {
		return domain.TermInput{Type: "termed", Months: months, AutoRenew: renew}
	}
	monthly := w.subscribe(t, tn, a, subsID(31), subsTenantUser, jan, "2025-01-31", termed(1, true), subsSeat, 1)
	yearly := w.subscribe(t, tn, a, subsID(32), subsTenantUser, jan, "2025-01-01", termed(12, false), subsSeat, 2)
	quarterly := w.subscribe(t, tn, a, subsID(33), subsTenantUser, jan, "2025-01-15", termed(3, true), subsSeat, 3)
	midTerm := w.subscribe(t, tn, a, subsID(34), subsTenantUser, jan, "2025-01-01", termed(6, true), subsSeat, 4)
	evergreen := w.subscribe(t, tn, a, subsID(35), subsTenantUser, jan, "2025-01-01", domain.TermInput{Type: "evergreen"}, subsSeat, 5)
	events, err := quarterly.Cancel(domain.CancelSubscription{Policy: "end_of_term"}, subsTenantUser, subsAt("2025-02-01"))
	w.apply(t, subsStream(tn, quarterly), quarterly, subsMust(t, events, err))
	events, err = midTerm.Cancel(domain.CancelSubscription{Policy: "specific_date", Date: subsDay("2025-03-10")}, subsTenantUser, subsAt("2025-02-01"))
	w.apply(t, subsStream(tn, midTerm), midTerm, subsMust(t, events, err))
	w.flush(t, 4, 3)
	subs := []*domain.Subscription{monthly, yearly, quarterly, midTerm, evergreen}
	days := []string{"2025-02-27", "2025-02-28", "2025-03-31", "2025-04-15", "2025-07-01", "2025-12-31", "2026-01-01", "2026-03-01"}
	for _, day := range days {
		termsCheckDue(t, w, tn, subs, subsDay(day))
	}
	for _, day := range []string{"2025-02-28", "2025-04-29", "2025-04-30", "2026-01-05"} {
		today := subsDay(day)
		for _, s := range subs {
			if events := s.RecordTermEnds(today, today.Time().Add(subsNoon)); len(events) > 0 {
				w.apply(t, subsStream(tn, s), s, events)
			}
		}
		w.flush(t, 2)
		for _, d := range days {
			termsCheckDue(t, w, tn, subs, subsDay(d))
		}
		for _, s := range subs {
			for _, d := range []string{"2025-04-30", "2025-12-31", "2026-01-01", "2026-02-01"} {
				w.checkView(t, tn, s, subsDay(d))
			}
		}
	}
	termsCheckColumns(t, w, subs)
	w.checkRebuild(t)
}

// termsCheckColumns checks terms_renewed and term_ended against the
// domain.
func termsCheckColumns(t *testing.T, w *subsWorld, subs []*domain.Subscription) {
	t.Helper()
	for _, s := range subs {
		var renewed int
		var ended bool
		err := w.pool.QueryRow(t.Context(), `SELECT terms_renewed, term_ended FROM `+table(LiveSchema, "subscriptions")+
			` WHERE subscription_id = $1`, s.ID).Scan(&renewed, &ended)
		if err != nil {
			t.Fatal(err)
		}
		if renewed != s.TermsRenewed || ended != s.TermEnded {
			t.Errorf("%s: terms_renewed %d, term_ended %v; want %d, %v", s.ID, renewed, ended, s.TermsRenewed, s.TermEnded)
		}
	}
	if !subs[0].Exists() || subs[0].TermsRenewed < 3 || !subs[1].TermEnded {
		t.Fatalf("the fixture recorded no renewals or no term end: %+v", subs[:2])
	}
}

// TestDueTermEndsClampsAsTheDomain checks that Postgres's date +
// interval, which the query and its index compute term ends with, is
// domain.Date.AddMonths, month ends and leap years included.
func TestDueTermEndsClampsAsTheDomain(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDatabase(t, 2)
	starts := []string{"2024-01-31", "2023-01-31", "2024-02-29", "2025-03-31", "2025-05-30", "2025-08-31", "1999-12-31"}
	for _, start := range starts {
		for _, months := range []int{1, 2, 3, 6, 12, 13, 24, 48, 120, 1199} {
			var got time.Time
			err := pool.QueryRow(t.Context(), `SELECT ($1::date + make_interval(months => $2))::date`, start, months).Scan(&got)
			if err != nil {
				t.Fatal(err)
			}
			if want := subsDay(start).AddMonths(months); domain.DateOf(got) != want {
				t.Errorf("%s + %d months: Postgres %s, domain %s", start, months, domain.DateOf(got), want)
			}
		}
	}
}

// TestDueTermEndsUsesItsIndex fills the subscriptions table with 100,000
// rows, most of them evergreen, ended or cancelled, and checks that the
// scheduler's query reads the partial index rather than the table.
func TestDueTermEndsUsesItsIndex(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDatabase(t, 2)
	if err := Setup(t.Context(), pool, []Projection{Accounts{}, Subscriptions{}}); err != nil {
		t.Fatal(err)
	}
	_, err := pool.Exec(t.Context(), `INSERT INTO `+table(LiveSchema, "subscriptions")+` (subscription_id, tenant_id,
    account_id, currency, start_date, term_type, term_months, auto_renew, end_date, terms_renewed, term_ended, version,
    created_by, created_at, updated_at, position)
SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'EUR', date '2020-01-01' + (g % 1000),
    CASE WHEN g % 50 = 0 THEN 'termed' ELSE 'evergreen' END, CASE WHEN g % 50 = 0 THEN 12 ELSE 0 END,
    true, NULL, g % 7, g % 100 = 0, 1, '{}', now(), now(), g
FROM generate_series(1, 100000) g;
ANALYZE `+table(LiveSchema, "subscriptions"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(t.Context(), `EXPLAIN `+subsTables(LiveSchema).expand(dueTermEndsSQL), subsDate(subsDay("2026-01-01")), 100, subsDate(domain.MaxDate))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if text := strings.Join(plan, "\n"); !strings.Contains(text, "subscriptions_term_due") || strings.Contains(text, "Seq Scan") {
		t.Fatalf("the plan does not read the index subscriptions_term_due:\n%s", text)
	}
	if due, err := DueTermEnds(t.Context(), pool, subsDay("2026-01-01"), 100); err != nil || len(due) != 100 {
		t.Fatalf("DueTermEnds = %d rows, %v; want 100", len(due), err)
	}
}

// TestUpgradeFindsSubscriptionsOfTheOlderShape checks that a
// subscriptions read model made before the term columns is outdated, so
// that an upgrade rebuilds it.
func TestUpgradeFindsSubscriptionsOfTheOlderShape(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDatabase(t, 2)
	ps := []Projection{Accounts{}, Subscriptions{}}
	if err := Setup(t.Context(), pool, ps); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), `ALTER TABLE `+table(LiveSchema, "subscriptions")+` DROP COLUMN terms_renewed, DROP COLUMN term_ended`); err != nil {
		t.Fatal(err)
	}
	outdated, err := Outdated(t.Context(), pool, ps)
	if err != nil || len(outdated) != 1 || outdated[0].Name() != "subscriptions" {
		t.Fatalf("Outdated = %v, %v; want subscriptions", outdated, err)
	}
}

// TestDueTermEndsRefusesNoLimit refuses a limit below 1.
func TestDueTermEndsRefusesNoLimit(t *testing.T) {
	t.Parallel()
	if _, err := DueTermEnds(t.Context(), nil, subsDay("2025-01-01"), 0); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("got %v, want invalid", err)
	}
}
