package projections

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/domain"
)

// MRRMovementsView is the MRR movements report of api.md: per month and
// currency (and group), how MRR moved from the end of the month before
// to the end of the month.
type MRRMovementsView struct {
	Months []MRRMovement `json:"months"`
}

// MRRMovement is one month of one currency (and group): StartingMRR at
// the end of the month before, EndingMRR at the end of the month, and
// the movements between, every amount positive or zero, so that
// EndingMRR = StartingMRR + New + Expansion + Reactivation − Contraction
// − Churn exactly as presented. Key and Name are those of the group, as
// in the MRR report (MRRGroup), and absent when not grouped.
type MRRMovement struct {
	Month        string          `json:"month"`
	Key          string          `json:"key,omitempty"`
	Name         string          `json:"name,omitempty"`
	Currency     domain.Currency `json:"currency"`
	StartingMRR  string          `json:"starting_mrr"`
	New          string          `json:"new"`
	Expansion    string          `json:"expansion"`
	Contraction  string          `json:"contraction"`
	Churn        string          `json:"churn"`
	Reactivation string          `json:"reactivation"`
	EndingMRR    string          `json:"ending_mrr"`
}

// MaxMovementMonths is the longest range of months the report covers.
const MaxMovementMonths = 120

// mrrMoveGroupings are the key and name of a step's group: $3, when
// present, is a partner caller's id.
var mrrMoveGroupings = map[string]reportGrouping{
	MRRGroupNone: {key: "''", name: "''"},
	MRRGroupPartner: {
		key: "COALESCE(s.partner_id::text, 'direct')",
		name: `CASE WHEN s.partner_id IS NULL THEN 'Direct'
    ELSE COALESCE(p.name, s.partner_id::text) END`,
		joins: "LEFT JOIN {partners} p ON p.partner_id = s.partner_id",
	},
}

// mrrMovePartnersSeenBy is the partner grouping for a partner caller
// whose id is $n, as mrrPartnersSeenBy: other partners under "other",
// unnamed.
func mrrMovePartnersSeenBy(n int) reportGrouping {
	return reportGrouping{
		key: fmt.Sprintf(`CASE WHEN s.partner_id IS NULL THEN 'direct'
    WHEN s.partner_id = $%[1]d THEN s.partner_id::text ELSE '%[2]s' END`, n, MRRGroupOther),
		name: fmt.Sprintf(`CASE WHEN s.partner_id IS NULL THEN 'Direct'
    WHEN s.partner_id = $%[1]d THEN COALESCE(p.name, s.partner_id::text) ELSE 'Other' END`, n),
		joins: fmt.Sprintf("LEFT JOIN {partners} p ON p.partner_id = s.partner_id AND p.partner_id = $%d", n),
	}
}

// mrrMoveSQL reads the steps of tenant $1 up to date $2 in the caller's
// scope, each with its group, a subscription's steps in date order.
const mrrMoveSQL = `SELECT s.account_id, {key}, {name}, s.currency, s.subscription_id, s.effective, s.mrr::text
FROM {steps} s
{joins}
WHERE {where}
ORDER BY s.subscription_id, s.effective`

// MRRMovements returns the tenant's MRR movements for each month from
// from to to (YYYY-MM, at most MaxMovementMonths), over the
// subscriptions in the caller's scope, grouped by groupBy: "none" (or
// "") or "partner" (as MRRReport groups them). As ChartMogul defines
// them, per account (and group): its MRR at the end of a month (on the
// month's last day, summed over its subscriptions and rounded half-up to
// the currency's minor unit) is compared with that at the end of the
// month before: new when it had none at any month end before, churn when
// it falls to zero, reactivation when it comes back after that, else
// expansion or contraction. Months before from count for whether an
// account is new. Rows come by month, currency and key; a currency (and
// group) with nothing in the range has none.
//
// It is a *StaleError while events of the tenant are parked in the
// mrr_movements read model.
func MRRMovements(ctx context.Context, db Querier, tenant uuid.UUID, scope Scope, groupBy string, from, to string) (MRRMovementsView, error) {
	first, last, err := mrrMoveRange(from, to)
	if err != nil {
		return MRRMovementsView{}, err
	}
	if groupBy == "" {
		groupBy = MRRGroupNone
	}
	g, ok := mrrMoveGroupings[groupBy]
	if !ok {
		return MRRMovementsView{}, domain.Invalid("group_by", "must be \"none\" or \"partner\"")
	}
	if err := staleTenant(ctx, db, MRRHistory{}.Name(), tenant); err != nil {
		return MRRMovementsView{}, err
	}
	conds, args := []string{"s.tenant_id = $1", "s.effective <= $2::date"}, []any{tenant, subsDate(last.end())}
	joins := subsScope(scope, "s", &conds, &args)
	if groupBy == MRRGroupPartner && scope.PartnerID != uuid.Nil {
		args = append(args, scope.PartnerID)
		g = mrrMovePartnersSeenBy(len(args))
	}
	sql := subsTables(LiveSchema).expand(mrrMoveTables(LiveSchema).expand(strings.NewReplacer("{key}", g.key, "{name}", g.name,
		"{joins}", joins+"\n"+g.joins, "{where}", strings.Join(conds, " AND ")).Replace(mrrMoveSQL)))
	units, err := mrrMoveReadUnits(ctx, db, sql, args)
	if err != nil {
		return MRRMovementsView{}, err
	}
	return mrrMoveReport(units, first, last, groupBy != MRRGroupNone), nil
}

// mrrMonth is a month, counted from year 0.
type mrrMonth int

func mrrMonthOf(t time.Time) mrrMonth { return mrrMonth(t.Year()*12 + int(t.Month()) - 1) }

func mrrMonthOfDate(d domain.Date) mrrMonth { return mrrMonthOf(d.Time()) }

// end returns the month's last day.
func (m mrrMonth) end() domain.Date {
	return domain.DateOf(time.Date(int(m)/12, time.Month(int(m)%12+2), 0, 0, 0, 0, 0, time.UTC))
}

// String returns the month as YYYY-MM.
func (m mrrMonth) String() string { return fmt.Sprintf("%04d-%02d", int(m)/12, int(m)%12+1) }

// mrrMoveRange reads the months from and to, and checks that from is
// not after to and that they span at most MaxMovementMonths.
func mrrMoveRange(from, to string) (mrrMonth, mrrMonth, error) {
	first, err := mrrParseMonth("from", from)
	if err != nil {
		return 0, 0, err
	}
	last, err := mrrParseMonth("to", to)
	if err != nil {
		return 0, 0, err
	}
	if first > last {
		return 0, 0, domain.Invalid("to", "must not be before from")
	}
	if last-first >= MaxMovementMonths {
		return 0, 0, domain.Invalid("to", "must be at most %d months from from", MaxMovementMonths)
	}
	return first, last, nil
}

// mrrParseMonth reads s, a month as YYYY-MM within the ledger's dates,
// or refuses it naming field.
func mrrParseMonth(field, s string) (mrrMonth, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil || t.Format("2006-01") != s {
		return 0, domain.Invalid(field, "must be a month as YYYY-MM")
	}
	if d := domain.DateOf(t); !d.InBounds() {
		return 0, domain.Invalid(field, "must be from %s to %s", domain.MinDate.String()[:7], domain.MaxDate.String()[:7])
	}
	return mrrMonthOf(t), nil
}

// mrrUnitKey is what movements are counted per: an account, in a group,
// in a currency.
type mrrUnitKey struct {
	account  uuid.UUID
	key      string
	currency domain.Currency
}

// mrrUnit is the MRR of one account (and group) as the changes of the sum
// of its subscriptions' steps.
type mrrUnit struct {
	name   string
	deltas []mrrDelta
}

// mrrDelta is a change of MRR on a date.
type mrrDelta struct {
	on     domain.Date
	amount decimal.Decimal
}

// mrrMoveReadUnits runs sql and turns each subscription's steps into the
// changes of its account's MRR.
func mrrMoveReadUnits(ctx context.Context, db Querier, sql string, args []any) (map[mrrUnitKey]*mrrUnit, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("query mrr movements: %w", err)
	}
	defer rows.Close()
	units := map[mrrUnitKey]*mrrUnit{}
	var lastSub uuid.UUID
	prev := decimal.Zero
	for rows.Next() {
		var k mrrUnitKey
		var name, mrrText string
		var sub uuid.UUID
		var on time.Time
		if err := rows.Scan(&k.account, &k.key, &name, &k.currency, &sub, &on, &mrrText); err != nil {
			return nil, fmt.Errorf("scan mrr movements: %w", err)
		}
		mrr, err := decimal.NewFromString(mrrText)
		if err != nil {
			return nil, fmt.Errorf("read mrr %q: %w", mrrText, err)
		}
		if sub != lastSub {
			lastSub, prev = sub, decimal.Zero
		}
		u := units[k]
		if u == nil {
			u = &mrrUnit{name: name}
			units[k] = u
		}
		u.deltas, prev = append(u.deltas, mrrDelta{on: domain.DateOf(on), amount: mrr.Sub(prev)}), mrr
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query mrr movements: %w", err)
	}
	return units, nil
}

// mrrFigures are one month's movements of a currency (and group), exact
// sums of figures already rounded per account.
type mrrFigures struct {
	starting, new, expansion, contraction, churn, reactivation, ending decimal.Decimal
}

// add counts one account's move from prev, its MRR at the end of the
// month before, to cur, at the end of the month; ever says whether it
// had MRR at the end of any month before this one.
func (f *mrrFigures) add(prev, cur decimal.Decimal, ever bool) {
	f.starting, f.ending = f.starting.Add(prev), f.ending.Add(cur)
	switch {
	case prev.IsZero() && cur.IsZero():
	case prev.IsZero() && ever:
		f.reactivation = f.reactivation.Add(cur)
	case prev.IsZero():
		f.new = f.new.Add(cur)
	case cur.IsZero():
		f.churn = f.churn.Add(prev)
	case cur.GreaterThan(prev):
		f.expansion = f.expansion.Add(cur.Sub(prev))
	default:
		f.contraction = f.contraction.Add(prev.Sub(cur))
	}
}

// isZero reports whether every figure is zero.
func (f mrrFigures) isZero() bool {
	for _, d := range []decimal.Decimal{f.starting, f.new, f.expansion, f.contraction, f.churn, f.reactivation, f.ending} {
		if !d.IsZero() {
			return false
		}
	}
	return true
}

// mrrSeriesKey is a row of the report but for its month.
type mrrSeriesKey struct {
	currency domain.Currency
	key      string
}

// mrrSeries is the months of one currency (and group), from the first.
type mrrSeries struct {
	name   string
	months []mrrFigures
}

// mrrMoveReport adds up the movements of every account, month by month
// from first to last, per currency (and group), and presents them.
func mrrMoveReport(units map[mrrUnitKey]*mrrUnit, first, last mrrMonth, grouped bool) MRRMovementsView {
	series := map[mrrSeriesKey]*mrrSeries{}
	for k, u := range units {
		sk := mrrSeriesKey{currency: k.currency, key: k.key}
		s := series[sk]
		if s == nil {
			s = &mrrSeries{name: u.name, months: make([]mrrFigures, last-first+1)}
			series[sk] = s
		}
		u.move(k.currency.MinorUnits(), first, last, s.months)
	}
	keys := make([]mrrSeriesKey, 0, len(series))
	for k, s := range series {
		if slices.ContainsFunc(s.months, func(f mrrFigures) bool { return !f.isZero() }) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b mrrSeriesKey) int {
		return strings.Compare(string(a.currency)+"\x00"+a.key, string(b.currency)+"\x00"+b.key)
	})
	view := MRRMovementsView{Months: []MRRMovement{}}
	for m := first; m <= last; m++ {
		for _, k := range keys {
			row := mrrPresentMovement(m, k.currency, series[k].months[m-first])
			if grouped {
				row.Key, row.Name = k.key, series[k].name
			}
			view.Months = append(view.Months, row)
		}
	}
	return view
}

// move adds the account's movements in each month from first to last to
// months. It walks the month ends from its first change (or the month
// before first), jumping over those where its MRR cannot change.
func (u *mrrUnit) move(places int32, first, last mrrMonth, months []mrrFigures) {
	slices.SortStableFunc(u.deltas, func(a, b mrrDelta) int { return a.on.Compare(b.on) })
	m := first - 1
	if len(u.deltas) > 0 {
		m = min(m, mrrMonthOfDate(u.deltas[0].on))
	}
	value, prev, ever, i := decimal.Zero, decimal.Zero, false, 0
	for ; m <= last; m++ {
		for end := m.end(); i < len(u.deltas) && !u.deltas[i].on.After(end); i++ {
			value = value.Add(u.deltas[i].amount)
		}
		cur := value.Round(places)
		if m >= first {
			months[m-first].add(prev, cur, ever)
		}
		ever, prev = ever || !cur.IsZero(), cur
		if m+1 < first-1 { // before the range, skip to the next change
			next := first - 1
			if i < len(u.deltas) {
				next = min(next, mrrMonthOfDate(u.deltas[i].on))
			}
			m = max(m, next-1)
		}
	}
}

// mrrPresentMovement presents one month's figures in the currency's
// minor unit.
func mrrPresentMovement(m mrrMonth, cur domain.Currency, f mrrFigures) MRRMovement {
	p := func(d decimal.Decimal) string { return d.StringFixed(cur.MinorUnits()) }
	return MRRMovement{Month: m.String(), Currency: cur, StartingMRR: p(f.starting), New: p(f.new),
		Expansion: p(f.expansion), Contraction: p(f.contraction), Churn: p(f.churn),
		Reactivation: p(f.reactivation), EndingMRR: p(f.ending)}
}
