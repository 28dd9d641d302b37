package projections

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"

	"ledger/commands"
	"ledger/domain"
)

// mrrMoveApply applies to the mrr_movements read model, in batches of
// the given sizes (the rest in one), the events of w that it has not
// applied yet (applied is how many it had), and returns how many it has.
func mrrMoveApply(t subsT, w *subsWorld, applied int, sizes ...int) int {
	t.Helper()
	for applied < len(w.applied) {
		n := len(w.applied) - applied
		if len(sizes) > 0 {
			n, sizes = min(n, max(1, sizes[0])), sizes[1:]
		}
		if err := applyBatch(t.Context(), w.pool, LiveSchema, MRRHistory{}, w.applied[applied:applied+n]); err != nil {
			t.Fatalf("apply mrr_movements: %v", err)
		}
		applied += n
	}
	return applied
}

// mrrMoveNewWorld is a subsWorld with the mrr_movements read model too.
func mrrMoveNewWorld(t *testing.T) *subsWorld {
	t.Helper()
	w := subsNewWorld(t)
	if err := Setup(t.Context(), w.pool, []Projection{MRRHistory{}}); err != nil {
		t.Fatal(err)
	}
	return w
}

// mrrMoveFixture is the world of testdata/mrr_movements/README.md.
type mrrMoveFixture struct {
	w       *subsWorld
	tn      subsTenant
	c       *domain.Account // granted to partner P
	subs    []*domain.Subscription
	applied int
}

func mrrMoveNewFixture(t *testing.T) *mrrMoveFixture {
	t.Helper()
	w := mrrMoveNewWorld(t)
	f := &mrrMoveFixture{w: w, tn: w.tenant(t, 1)}
	w.partner(t, subsPartnerP, "Peak Partners", subsPartnerP1)
	w.partner(t, subsPartnerQ, "Quay", subsPartnerQ1)
	a := w.account(t, f.tn, subsID(11), "Alpha", "EUR", subsTenantUser)
	b := w.account(t, f.tn, subsID(12), "Beta", "EUR", subsPartnerP1)
	f.c = w.account(t, f.tn, subsID(13), "Gamma", "EUR", subsTenantUser)
	d := w.account(t, f.tn, subsID(14), "Delta", "USD", subsTenantUser)
	e := w.account(t, f.tn, subsID(15), "Epsilon", "EUR", subsTenantUser)
	evergreen := domain.TermInput{Type: "evergreen"}
	s4 := w.subscribe(t, f.tn, f.c, subsID(34), subsPartnerQ1, subsAt("2024-11-01"), "2024-11-01", evergreen, subsPlatform, 1)
	f.cancel(t, s4, subsPartnerQ1, "2025-01-02", "2025-01-15")
	s1 := w.subscribe(t, f.tn, a, subsID(31), subsTenantUser, subsAt("2025-01-01"), "2025-01-10", evergreen, subsSeat, 3)
	f.quantity(t, s1, "2025-01-10", "2025-03-05", 5)
	f.quantity(t, s1, "2025-01-10", "2025-05-20", 2)
	s2 := w.subscribe(t, f.tn, b, subsID(32), subsPartnerP1, subsAt("2025-01-20"), "2025-02-01",
		domain.TermInput{Type: "termed", Months: 2}, subsSeat, 2, subsSupport, 1)
	s6 := w.subscribe(t, f.tn, d, subsID(36), subsTenantUser, subsAt("2025-02-01"), "2025-02-14",
		domain.TermInput{Type: "termed", Months: 1, AutoRenew: true}, subsSeatUSD, 1)
	f.quantity(t, s6, "2025-02-20", "2025-04-01", 2)
	f.quantity(t, s6, "2025-02-20", "2025-06-01", 5)
	events, err := s6.WithdrawScheduledChange(s6.Scheduled[1].ID, subsTenantUser, subsAt("2025-03-01"))
	w.apply(t, subsStream(f.tn, s6), s6, subsMust(t, events, err))
	s5 := w.subscribe(t, f.tn, f.c, subsID(35), subsPartnerQ1, subsAt("2025-02-15"), "2025-03-01", evergreen, subsSeat, 2)
	s3 := w.subscribe(t, f.tn, b, subsID(33), subsPartnerP1, subsAt("2025-05-01"), "2025-06-01", evergreen, subsSeat, 1)
	s7 := f.priced(t, e, subsID(37), "2025-01-01", "3.345")
	s8 := f.priced(t, e, subsID(38), "2025-05-01", "3.345")
	f.subs = []*domain.Subscription{s1, s2, s3, s4, s5, s6, s7, s8}
	for _, s := range []*domain.Subscription{s2, s6} {
		today := subsDay("2025-06-30")
		w.apply(t, subsStream(f.tn, s), s, s.RecordTermEnds(today, today.Time().Add(subsNoon)))
	}
	if !s2.TermEnded || s6.TermsRenewed < 4 {
		t.Fatalf("the fixture's terms: %v, %d renewals", s2.TermEnded, s6.TermsRenewed)
	}
	w.flush(t, 3, 1, 5, 2)
	f.applied = mrrMoveApply(t, w, 0, 4, 1, 7, 2, 3)
	return f
}

// cancel cancels s on date, decided on day.
func (f *mrrMoveFixture) cancel(t *testing.T, s *domain.Subscription, by domain.Actor, day, date string) {
	t.Helper()
	events, err := s.Cancel(domain.CancelSubscription{Policy: "specific_date", Date: subsDay(date)}, by, subsAt(day))
	f.w.apply(t, subsStream(f.tn, s), s, subsMust(t, events, err))
}

// quantity changes the quantity of s's first item to q from date,
// decided on day.
func (f *mrrMoveFixture) quantity(t *testing.T, s *domain.Subscription, day, date string, q int64) {
	t.Helper()
	events, err := s.Amend(domain.AmendSubscription{EffectiveDate: subsDay(date), Changes: []domain.ChangeInput{
		{Type: "change_quantity", ItemID: s.Items[0].ID, Quantity: decimal.NewFromInt(q)}}}, f.tn.catalog, subsTenantUser, subsAt(day))
	f.w.apply(t, subsStream(f.tn, s), s, subsMust(t, events, err))
}

// priced creates an evergreen subscription of one seat at price from
// start, by a tenant user.
func (f *mrrMoveFixture) priced(t *testing.T, a *domain.Account, id uuid.UUID, start, price string) *domain.Subscription {
	t.Helper()
	s := &domain.Subscription{}
	events, err := s.Create(domain.CreateSubscription{SubscriptionID: id, TenantID: f.tn.id, AccountID: a.ID,
		StartDate: subsDay(start), Term: domain.TermInput{Type: "evergreen"},
		Items: []domain.ItemInput{{ProductID: subsProduct, ChargeID: subsSeat, Quantity: decimal.NewFromInt(1), UnitPrice: &price}},
	}, a, f.tn.catalog, subsTenantUser, subsAt("2025-01-01"))
	f.w.apply(t, subsStream(f.tn, s), s, subsMust(t, events, err))
	return s
}

// mrrMoveExpected is testdata/mrr_movements/expected.json.
type mrrMoveExpected struct {
	From    string                `json:"from"`
	To      string                `json:"to"`
	Reports map[string][][]string `json:"reports"`
}

// mrrMoveRows returns the report's rows as expected.json writes them.
func mrrMoveRows(v MRRMovementsView) [][]string {
	out := [][]string{}
	for _, m := range v.Months {
		out = append(out, []string{m.Month, m.Key, m.Name, string(m.Currency), m.StartingMRR, m.New, m.Expansion,
			m.Contraction, m.Churn, m.Reactivation, m.EndingMRR})
	}
	return out
}

// TestMRRMovementsFixture feeds the hand-worked fixture of
// testdata/mrr_movements through the projection, in uneven batches, and
// compares each report with the one worked out by hand there: for the
// tenant and for partner P, ungrouped and grouped by partner. Every
// report must tie.
func TestMRRMovementsFixture(t *testing.T) {
	t.Parallel()
	f := mrrMoveNewFixture(t)
	raw, err := os.ReadFile("../testdata/mrr_movements/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var want mrrMoveExpected
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	partnerP := Scope{AccountIDs: []uuid.UUID{f.c.ID}, PartnerID: subsPartnerP}
	runs := map[string]struct {
		scope   Scope
		groupBy string
	}{
		"tenant, group_by=none":       {Scope{All: true}, "none"},
		"tenant, group_by=partner":    {Scope{All: true}, "partner"},
		"partner P, group_by=none":    {partnerP, ""},
		"partner P, group_by=partner": {partnerP, "partner"},
	}
	if len(runs) != len(want.Reports) {
		t.Fatalf("expected.json has %d reports, the test runs %d", len(want.Reports), len(runs))
	}
	for name, run := range runs {
		got, err := MRRMovements(t.Context(), f.w.pool, f.tn.id, run.scope, run.groupBy, want.From, want.To)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rows := mrrMoveRows(got); !reflect.DeepEqual(rows, want.Reports[name]) {
			t.Errorf("%s:\n got %v\nwant %v", name, rows, want.Reports[name])
		}
		mrrMoveCheckTies(t, got)
	}
}

// mrrMoveCheckTies checks that every row of v ties as presented, and
// that each month starts where the month before ended.
func mrrMoveCheckTies(t subsT, v MRRMovementsView) {
	t.Helper()
	ended := map[string]decimal.Decimal{}
	for _, m := range v.Months {
		n := func(s string) decimal.Decimal {
			d, err := decimal.NewFromString(s)
			if err != nil {
				t.Fatalf("%+v: %v", m, err)
			}
			return d
		}
		sum := n(m.StartingMRR).Add(n(m.New)).Add(n(m.Expansion)).Add(n(m.Reactivation)).Sub(n(m.Contraction)).Sub(n(m.Churn))
		if !sum.Equal(n(m.EndingMRR)) {
			t.Fatalf("%+v does not tie: %s", m, sum)
		}
		series := string(m.Currency) + "/" + m.Key
		if before, ok := ended[series]; ok && !before.Equal(n(m.StartingMRR)) {
			t.Fatalf("%+v starts at %s, not where the month before ended, %s", m, m.StartingMRR, before)
		}
		ended[series] = n(m.EndingMRR)
	}
}

// TestMRRMovementsRebuildsTheSame checks that the tables the fixture's
// events make in uneven batches are those they make in one, as a rebuild
// applies them.
func TestMRRMovementsRebuildsTheSame(t *testing.T) {
	t.Parallel()
	f := mrrMoveNewFixture(t)
	err := pgx.BeginFunc(t.Context(), f.w.pool, func(tx pgx.Tx) error {
		if err := setupSchema(t.Context(), tx, "moves_scratch", []Projection{MRRHistory{}}, false); err != nil {
			return err
		}
		return MRRHistory{}.Apply(t.Context(), tx, "moves_scratch", f.w.applied)
	})
	if err != nil {
		t.Fatal(err)
	}
	if live, rebuilt := mrrMoveDump(t, f.w, LiveSchema), mrrMoveDump(t, f.w, "moves_scratch"); !reflect.DeepEqual(live, rebuilt) {
		t.Fatalf("live and rebuilt differ:\n%v\n%v", live, rebuilt)
	}
}

// mrrMoveDump returns the rows of the projection's tables in schema.
func mrrMoveDump(t *testing.T, w *subsWorld, schema string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, name := range (MRRHistory{}).Tables() {
		rows, err := w.pool.Query(t.Context(), `SELECT row_to_json(r)::text FROM `+table(schema, name)+` r ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		if out[name], err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestMRRMovementsRefusesBadRanges refuses months that are malformed,
// out of order, too many, or an unknown grouping.
func TestMRRMovementsRefusesBadRanges(t *testing.T) {
	t.Parallel()
	tests := []struct{ from, to, groupBy string }{
		{"2025-13", "2025-12", ""}, {"2025-1", "2025-02", ""}, {"2025-01-01", "2025-02", ""}, {"", "2025-02", ""},
		{"2025-03", "2025-02", ""}, {"2015-01", "2025-01", ""}, {"1899-12", "1900-01", ""}, {"2025-01", "2025-02", "product"},
	}
	for _, tt := range tests {
		_, err := MRRMovements(t.Context(), nil, uuid.New(), Scope{All: true}, tt.groupBy, tt.from, tt.to)
		if !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("%q..%q by %q: got %v, want invalid", tt.from, tt.to, tt.groupBy, err)
		}
	}
	if _, _, err := mrrMoveRange("2015-02", "2025-01"); err != nil {
		t.Errorf("120 months: %v", err)
	}
}

// TestMRRStepsMatchDomain decides random commands and term ends on a few
// subscriptions, applies them in random batches, and checks that the
// steps the read model holds are MRRSteps of the domain's state, that
// they give domain.Subscription.MRR on every day around them, and that
// the report on random ranges ties.
func TestMRRStepsMatchDomain(t *testing.T) {
	t.Parallel()
	w := mrrMoveNewWorld(t)
	n, applied := 0, 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		tn, _, subs := w.drawSubscriptions(rt, n, 3, 90)
		now := subsAt("2025-01-01")
		for range rapid.IntRange(0, 12).Draw(rt, "steps") {
			now = now.Add(time.Duration(rapid.IntRange(0, 40).Draw(rt, "wait")) * 24 * time.Hour)
			s := rapid.SampledFrom(subs).Draw(rt, "subscription")
			if events, err := mrrMoveDrawCommand(rt, s, tn, now); err == nil {
				w.apply(rt, subsStream(tn, s), s, events)
			}
		}
		w.flush(rt, rapid.SliceOfN(rapid.IntRange(1, 6), 0, 6).Draw(rt, "batches")...)
		applied = mrrMoveApply(rt, w, applied, rapid.SliceOfN(rapid.IntRange(1, 6), 0, 6).Draw(rt, "batches")...)
		for _, s := range subs {
			mrrMoveCheckSteps(rt, w, s)
		}
		from := rapid.SampledFrom([]string{"2024-12", "2025-01", "2025-03", "2025-06"}).Draw(rt, "from")
		v, err := MRRMovements(rt.Context(), w.pool, tn.id, Scope{All: true}, "none", from, "2026-06")
		if err != nil {
			rt.Fatal(err)
		}
		mrrMoveCheckTies(rt, v)
	})
}

// mrrMoveDrawCommand is subsDrawCommand, or now and then the withdrawal
// of a scheduled change or the term ends due by now.
func mrrMoveDrawCommand(rt *rapid.T, s *domain.Subscription, tn subsTenant, now time.Time) ([]domain.Event, error) {
	switch rapid.IntRange(0, 5).Draw(rt, "kind") {
	case 0:
		return s.RecordTermEnds(domain.DateOf(now), now), nil
	case 1:
		if len(s.Scheduled) > 0 {
			c := rapid.SampledFrom(s.Scheduled).Draw(rt, "withdrawn")
			return s.WithdrawScheduledChange(c.ID, subsTenantUser, now)
		}
	}
	return subsDrawCommand(rt, s, tn, now)
}

// mrrMoveCheckSteps compares the read model's steps of s with MRRSteps,
// and MRRSteps with s.MRR on every day from before its start to after
// its last step.
func mrrMoveCheckSteps(rt *rapid.T, w *subsWorld, s *domain.Subscription) {
	rows, err := w.pool.Query(rt.Context(), `SELECT effective, mrr::text FROM `+table(LiveSchema, "subscription_mrr_steps")+
		` WHERE subscription_id = $1 ORDER BY effective`, s.ID)
	if err != nil {
		rt.Fatal(err)
	}
	var got []string
	var on time.Time
	var mrr string
	if _, err := pgx.ForEachRow(rows, []any{&on, &mrr}, func() error {
		got = append(got, domain.DateOf(on).String()+" "+mrr)
		return nil
	}); err != nil {
		rt.Fatal(err)
	}
	steps := MRRSteps(s)
	var want []string
	for _, st := range steps {
		want = append(want, st.Effective.String()+" "+st.MRR.String())
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		rt.Fatalf("steps of %s: got %v, want %v", s.ID, got, want)
	}
	last := s.StartDate
	if len(steps) > 0 {
		last = steps[len(steps)-1].Effective
	}
	value, i := decimal.Zero, 0
	for d := s.StartDate.AddDays(-3); !d.After(last.AddDays(40)); d = d.AddDays(1) {
		for ; i < len(steps) && !steps[i].Effective.After(d); i++ {
			value = steps[i].MRR
		}
		if !value.Equal(s.MRR(d)) {
			rt.Fatalf("%s on %s: steps say %s, the domain %s", s.ID, d, value, s.MRR(d))
		}
	}
}

// TestVerifyChecksMRRSteps plants a drift of a step's MRR, which Verify
// reports against the rebuild and against the domain's fold of the
// stream, and repairs it with a rebuild.
func TestVerifyChecksMRRSteps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := commands.New(e.store)
	_, sub, _ := verifyWriteLog(t, svc)
	p := MRRHistory{}
	verifyCatchUp(t, e, Accounts{}, Subscriptions{}, p)
	verifyWant(t, e, p, nil)
	e.exec(t, `UPDATE `+table(LiveSchema, "subscription_mrr_steps")+` SET mrr = mrr + 1 WHERE subscription_id = $1`, sub)
	diffs := verifyWant(t, e, p, []string{SideLive, SideRebuilt, SideDomain})
	if drift := diffs[2].Row; !strings.Contains(drift, sub.String()) || !strings.Contains(drift, `"mrr":"31"`) {
		t.Errorf("the drift: %s; want subscription %s at 31 in the read model", drift, sub)
	}
	verifyRebuild(t, e, p)
}
