package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Usage and the MRR report, checked against figures computed here.

// line is a recurring item: qty × price every months months.
type line struct {
	qty    int64
	price  string
	months int64
}

// revenue computes by hand, in cents, the MRR and ARR of lines as api.md
// presents them: ARR is exact (12 / months periods a year of qty ×
// price); MRR is ARR ÷ 12, rounded half-up to the cent only at the end.
func revenue(t *testing.T, lines ...line) (mrr, arr string) {
	t.Helper()
	var arrCents int64
	for _, l := range lines {
		arrCents += l.qty * cents(t, l.price) * (12 / l.months)
	}
	return money((arrCents + 6) / 12), money(arrCents)
}

func cents(t *testing.T, price string) int64 {
	t.Helper()
	whole, frac, ok := strings.Cut(price, ".")
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if !ok || len(frac) != 2 || err != nil {
		t.Fatalf("price %q: want a whole number of cents", price)
	}
	return n
}

func money(cents int64) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

func TestRevenue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		lines    []line
		mrr, arr string
	}{
		{lines: []line{{8, "49.00", 1}, {1, "1200.00", 12}}, mrr: "492.00", arr: "5904.00"},
		{lines: []line{{3, "49.00", 1}, {1, "100.00", 3}}, mrr: "180.33", arr: "2164.00"},
		{lines: []line{{1, "0.10", 3}}, mrr: "0.03", arr: "0.40"},      // 0.0333… rounds down
		{lines: []line{{1, "0.30", 12}}, mrr: "0.03", arr: "0.30"},     // 0.025 rounds half up
		{lines: []line{{2, "100.00", 3}}, mrr: "66.67", arr: "800.00"}, // 66.666… rounds up
	}
	for _, tt := range tests {
		if mrr, arr := revenue(t, tt.lines...); mrr != tt.mrr || arr != tt.arr {
			t.Errorf("revenue(%v) = %s, %s; want %s, %s", tt.lines, mrr, arr, tt.mrr, tt.arr)
		}
	}
}

func (s *scenario) recordUsage(t *testing.T) {
	item := s.s2.item(s.charge["storage"].ID)
	start, err := time.Parse(time.DateOnly, s.start)
	if err != nil {
		t.Fatal(err)
	}
	day := func(n int) time.Time { return start.AddDate(0, 0, n).Add(10 * time.Hour) }
	record := func(qty string, at time.Time) map[string]any {
		return map[string]any{"id": uuid.NewString(), "subscription_id": s.s2.ID, "item_id": item.ID,
			"quantity": json.Number(qty), "occurred_at": at.Format(time.RFC3339)}
	}
	r1, r2, r3 := record("12.5", day(1)), record("7.25", day(2)), record("1", time.Now().UTC().Add(-time.Hour).Truncate(time.Second))

	var res usageResultJSON
	s.operator.post(t, s.tp("/usage"), map[string]any{"records": []any{r1, r2}}).wantJSON(t, 200, &res)
	if res != (usageResultJSON{Accepted: 2}) {
		t.Errorf("first post of usage = %+v, want 2 accepted, 0 duplicates", res)
	}
	s.operator.post(t, s.tp("/usage"), map[string]any{"records": []any{r1, r2, r3}}).wantJSON(t, 200, &res)
	if res != (usageResultJSON{Accepted: 1, Duplicates: 2}) {
		t.Errorf("second post of usage = %+v, want 1 accepted, 2 duplicates", res)
	}
	s.expectAudit["UsageRecorded"] += 3

	// A record on a recurring item refuses the whole request, by index.
	bad := record("5", day(3))
	bad["item_id"] = s.s2.item(s.charge["seat"].ID).ID
	p := s.operator.post(t, s.tp("/usage"), map[string]any{"records": []any{record("100", day(3)), bad}}).problem(t, 422, "")
	if !slices.ContainsFunc(p.Errors, func(e fieldErrorJSON) bool { return strings.HasPrefix(e.Field, "records[1]") }) {
		t.Errorf("refused usage: errors %+v, want one at records[1]", p.Errors)
	}

	dayOf := func(n int) string { return day(n).Format(time.DateOnly) }
	for _, c := range []struct{ query, want string }{
		{query: "", want: "20.75"},
		{query: "&from=" + dayOf(2), want: "8.25"},
		{query: "&from=" + dayOf(2) + "&to=" + dayOf(3), want: "7.25"},
	} {
		var sum usageSummaryJSON
		s.operator.get(t, s.tp("/usage/summary?subscription_id=%s%s", s.s2.ID, c.query)).wantJSON(t, 200, &sum)
		want := usageLineJSON{ItemID: item.ID, ChargeID: item.ChargeID, Unit: "GB", Quantity: c.want}
		if len(sum.Items) != 1 || !sameUsage(sum.Items[0], want) {
			t.Errorf("usage summary%s = %+v, want %+v", c.query, sum.Items, want)
		}
	}
}

// sameUsage compares usage lines, their quantities as numbers.
func sameUsage(got, want usageLineJSON) bool {
	q, err := decimal.NewFromString(got.Quantity)
	return err == nil && q.Equal(decimal.RequireFromString(want.Quantity)) &&
		got.ItemID == want.ItemID && got.ChargeID == want.ChargeID && got.Unit == want.Unit
}

func (s *scenario) checkMRR(t *testing.T) {
	// S1: 8 seats at 49.00 a month and support at 1200.00 a year: 492.00.
	// S2: 3 seats and a 100.00 quarterly health check: 180.33…; its usage
	// and one-time setup are not recurring. Both by the partner's operator.
	// S3: 2 seats, by the tenant admin: 98.00, direct.
	s1 := []line{{8, "49.00", 1}, {1, "1200.00", 12}}
	s2 := []line{{3, "49.00", 1}, {1, "100.00", 3}}
	s3 := []line{{2, "49.00", 1}}
	totalMRR, totalARR := revenue(t, slices.Concat(s1, s2, s3)...)
	partnerMRR, partnerARR := revenue(t, slices.Concat(s1, s2)...)
	directMRR, directARR := revenue(t, s3...)

	for _, c := range []struct {
		who  *caller
		mrr  string
		arr  string
		note string
	}{{s.admin, totalMRR, totalARR, "every subscription"}, {s.operator, partnerMRR, partnerARR, "the partner's scope only"}} {
		var none mrrJSON
		c.who.get(t, s.tp("/reports/mrr?group_by=none")).wantJSON(t, 200, &none)
		want := mrrJSON{AsOf: s.today, Totals: []mrrTotalJSON{{Currency: "USD", MRR: c.mrr, ARR: c.arr}}, Groups: []mrrGroupJSON{}}
		if !reflect.DeepEqual(none, want) {
			t.Errorf("MRR report for the %s = %+v, want %+v (%s)", c.who.name, none, want, c.note)
		}
	}

	var byPartner mrrJSON
	s.admin.get(t, s.tp("/reports/mrr?group_by=partner")).wantJSON(t, 200, &byPartner)
	if want := []mrrTotalJSON{{Currency: "USD", MRR: totalMRR, ARR: totalARR}}; byPartner.AsOf != s.today || !reflect.DeepEqual(byPartner.Totals, want) {
		t.Errorf("MRR by partner: as of %s, totals %+v; want %s, %+v", byPartner.AsOf, byPartner.Totals, s.today, want)
	}
	groups := map[string]mrrGroupJSON{}
	for _, g := range byPartner.Groups {
		groups[g.Key] = g
	}
	direct := groups["direct"]
	wantGroups := map[string]mrrGroupJSON{
		s.partner: {Key: s.partner, Name: "Northwind Resellers", Currency: "USD", MRR: partnerMRR, ARR: partnerARR},
		"direct":  {Key: "direct", Name: direct.Name, Currency: "USD", MRR: directMRR, ARR: directARR},
	}
	if !reflect.DeepEqual(groups, wantGroups) || len(byPartner.Groups) != 2 || direct.Name == "" {
		t.Errorf("MRR groups by partner = %+v, want %+v", byPartner.Groups, wantGroups)
	}

	for _, c := range []struct {
		sub   subscriptionJSON
		lines []line
	}{{s.s1, s1}, {s.s2, s2}, {s.s3, s3}} {
		var got subscriptionJSON
		s.admin.get(t, s.tp("/subscriptions/%s", c.sub.ID)).wantJSON(t, 200, &got)
		if mrr, _ := revenue(t, c.lines...); got.MRR != mrr {
			t.Errorf("subscription %s: mrr %s, want %s", got.ID, got.MRR, mrr)
		}
	}
}
