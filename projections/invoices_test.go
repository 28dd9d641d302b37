package projections

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/domain"
	"ledger/eventstore"
)

// invFixture is subsFixture with invoices, issued in number order:
//
//	1 A1 2025-01-01 issued by the domain from S1 and S5 (direct)
//	2 A2 2025-01-01 P's line: 2 seats × 10.00 = 20.00
//	3 A3 2025-02-01 Q's line: 3.35, and a credit of -1.10: 2.25
//	4 A4 2025-02-01 direct, USD 12.00
//	5 A2 2025-03-01 P's line: 20.00, then voided
//	6 A1 2025-03-01 direct: 40.00, and a credit of -5.00 on a product
//	  the catalog does not know: 35.00
//
// and in tenant 2, invoice 1 of B1 2025-01-01: 70.00.
type invFixture struct {
	*subsFixture
	states map[uuid.UUID]*domain.AccountInvoices
	issued []*domain.InvoiceIssued // tenant 1's, by number
	x1inv  *domain.InvoiceIssued
}

// invNewFixture builds the fixture and applies its events in batches of
// the given sizes.
func invNewFixture(t *testing.T, sizes ...int) *invFixture {
	t.Helper()
	f := &invFixture{subsFixture: subsNewFixture(t), states: map[uuid.UUID]*domain.AccountInvoices{}}
	if err := Setup(t.Context(), f.w.pool, []Projection{Invoices{}}); err != nil {
		t.Fatal(err)
	}
	events, err := f.state(f.a1).Issue(domain.IssueInvoice{InvoiceID: subsID(501), BillRunID: subsID(500), Number: 1, Account: f.a1,
		Subscriptions: []domain.Billable{{Subscription: f.s1}, {Subscription: f.s5}}, Target: subsDay("2025-01-01"),
		NewID: invIDs(600)}, subsTenantUser, subsAt("2025-01-01"))
	f.record(t, f.t1.id, f.a1, subsMust(t, events, err))
	f.issue(t, f.a2, 2, "2025-01-01", invLine(f.s2, subsPartnerP, subsProduct, domain.LineRecurring, "2", "10.00", "1", "20.00"))
	f.issue(t, f.a3, 3, "2025-02-01", invLine(f.s3, subsPartnerQ, subsProduct, domain.LineRecurring, "1", "3.345", "1", "3.35"),
		invLine(f.s3, subsPartnerQ, subsProduct, domain.LineCredit, "1", "3.345", "0.328767123", "-1.10"))
	f.issue(t, f.a4, 4, "2025-02-01", invLine(f.s4, uuid.Nil, subsProduct, domain.LineRecurring, "1", "12.00", "1", "12.00"))
	f.issue(t, f.a2, 5, "2025-03-01", invLine(f.s2, subsPartnerP, subsProduct, domain.LineRecurring, "2", "10.00", "1", "20.00"))
	events, err = f.state(f.a2).Void(subsID(505), "issued twice", subsTenantUser, subsAt("2025-03-02"))
	f.record(t, f.t1.id, f.a2, subsMust(t, events, err))
	f.issue(t, f.a1, 6, "2025-03-01", invLine(f.s1, uuid.Nil, subsProduct, domain.LineRecurring, "4", "10.00", "1", "40.00"),
		invLine(f.s1, uuid.Nil, subsID(200), domain.LineCredit, "1", "10.00", "0.500000000", "-5.00"))
	f.x1inv = f.issueIn(t, f.t2.id, 1000, f.b1, 1, "2025-01-01", invLine(f.x1, uuid.Nil, subsProduct, domain.LineRecurring, "7", "10.00", "1", "70.00"))
	invFlush(t, f.w, sizes...)
	return f
}

// invIDs returns a source of the ids n, n+1, ….
func invIDs(n int) func() uuid.UUID {
	return func() uuid.UUID { n++; return subsID(n - 1) }
}

func (f *invFixture) state(a *domain.Account) *domain.AccountInvoices {
	if f.states[a.ID] == nil {
		f.states[a.ID] = &domain.AccountInvoices{}
	}
	return f.states[a.ID]
}

// record records events of a's invoice stream and folds them.
func (f *invFixture) record(t *testing.T, tenant uuid.UUID, a *domain.Account, events []domain.Event) {
	t.Helper()
	f.w.apply(t, invStream(tenant, a.ID), f.state(a), events)
	for _, e := range events {
		if is, ok := e.(*domain.InvoiceIssued); ok && tenant == f.t1.id {
			f.issued = append(f.issued, is)
		}
	}
}

// issue records invoice number n of tenant 1 to a (id 500 + n) with
// lines.
func (f *invFixture) issue(t *testing.T, a *domain.Account, n int, date string, lines ...domain.InvoiceLine) {
	t.Helper()
	f.issueIn(t, f.t1.id, 0, a, n, date, lines...)
}

// issueIn records invoice number n of tenant to a, its id and those of
// its lines offset by base.
func (f *invFixture) issueIn(t *testing.T, tenant uuid.UUID, base int, a *domain.Account, n int, date string,
	lines ...domain.InvoiceLine) *domain.InvoiceIssued {
	t.Helper()
	total := decimal.Zero
	for i := range lines {
		lines[i].ID = subsID(base + 700 + 10*n + i)
		total = total.Add(lines[i].Amount)
	}
	issue := subsDay(date)
	ev := &domain.InvoiceIssued{Invoice: domain.Invoice{ID: subsID(base + 500 + n), Number: domain.InvoiceNumber(n),
		AccountID: a.ID, Currency: a.Currency, Status: domain.InvoicePosted, IssueDate: issue,
		DueDate: issue.AddDays(a.Billing.PaymentTermsDays), Billing: a.Billing, Lines: lines, Total: total, BillRunID: subsID(500)},
		TenantID: tenant, IssuedBy: subsTenantUser, IssuedAt: subsAt(date)}
	f.record(t, tenant, a, []domain.Event{ev})
	return ev
}

// invLine is a line of s's first item for the period of a month from
// 2025-01-01.
func invLine(s *domain.Subscription, partner, product uuid.UUID, typ domain.LineType, qty, price, factor, amount string) domain.InvoiceLine {
	return domain.InvoiceLine{SubscriptionID: s.ID, ItemID: s.Items[0].ID, ProductID: product, PartnerID: partner,
		ChargeID: s.Items[0].ChargeID, Type: typ, Description: "Seat", ServiceFrom: subsDay("2025-01-01"),
		PeriodFrom: subsDay("2025-01-01"), PeriodTo: subsDay("2025-02-01"), Quantity: decimal.RequireFromString(qty),
		UnitPrice: decimal.RequireFromString(price), ProrationFactor: decimal.RequireFromString(factor), Amount: decimal.RequireFromString(amount)}
}

// invFlush applies the world's pending events to its projections and
// the invoices projection, in batches of the given sizes (the rest in
// one).
func invFlush(t *testing.T, w *subsWorld, sizes ...int) {
	t.Helper()
	for len(w.pending) > 0 {
		n := len(w.pending)
		if len(sizes) > 0 {
			n, sizes = min(n, max(1, sizes[0])), sizes[1:]
		}
		for _, p := range append(slices.Clip(subsProjections), Invoices{}) {
			if err := applyBatch(t.Context(), w.pool, LiveSchema, p, w.pending[:n]); err != nil {
				t.Fatalf("apply %s: %v", p.Name(), err)
			}
		}
		w.applied, w.pending = append(w.applied, w.pending[:n]...), w.pending[n:]
	}
}

// invWant is the view of inv as the domain's state of its stream says.
func invWant(inv domain.Invoice) InvoiceView {
	c, b := inv.Currency, inv.Billing
	v := InvoiceView{ID: inv.ID, Number: inv.Number, AccountID: inv.AccountID, Currency: c, Status: inv.Status,
		IssueDate: inv.IssueDate, DueDate: inv.DueDate, Total: c.Present(inv.Total), BillRunID: inv.BillRunID,
		Version: inv.Version, VoidReason: inv.VoidReason, Lines: []InvoiceLineView{},
		Billing: BillingView{ContactName: b.ContactName, Email: b.Email, Address: subsText(b.Address), TaxID: subsText(b.TaxID),
			PaymentTermsDays: b.PaymentTermsDays, InvoiceDelivery: b.InvoiceDelivery}}
	for _, l := range inv.Lines {
		v.Lines = append(v.Lines, InvoiceLineView{ID: l.ID, SubscriptionID: l.SubscriptionID, ItemID: l.ItemID, ChargeID: l.ChargeID,
			Type: l.Type, Description: l.Description, PeriodFrom: l.PeriodFrom, PeriodTo: l.PeriodTo, Quantity: l.Quantity.String(),
			UnitPrice: l.UnitPrice.StringFixed(max(2, -l.UnitPrice.Exponent())), ProrationFactor: l.ProrationFactor.StringFixed(domain.ProrationScale),
			Amount: c.Present(l.Amount)})
	}
	return v
}

// want is the view of tenant 1's invoice number n as the domain has it.
func (f *invFixture) want(t *testing.T, n int) InvoiceView {
	t.Helper()
	is := f.issued[n-1]
	inv, ok := f.states[is.AccountID].Invoice(is.ID)
	if !ok {
		t.Fatalf("no invoice %d", n)
	}
	return invWant(inv)
}

func invNumbers(views []InvoiceView) []string {
	out := make([]string, len(views))
	for i, v := range views {
		out[i] = v.Number
	}
	return out
}

// TestInvoicesMatchDomain checks every invoice, in batches of every
// size, against the domain's fold of its stream: the one the domain
// issued, those built by hand, and the void one (status void, version 2,
// its reason).
func TestInvoicesMatchDomain(t *testing.T) {
	t.Parallel()
	for _, sizes := range [][]int{nil, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}} {
		f := invNewFixture(t, sizes...)
		if len(f.issued[0].Lines) < 3 {
			t.Fatalf("the domain issued %d lines; want S1's and S5's", len(f.issued[0].Lines))
		}
		for n := 1; n <= len(f.issued); n++ {
			got, err := GetInvoice(t.Context(), f.w.pool, f.t1.id, Scope{All: true}, f.issued[n-1].ID)
			if want := f.want(t, n); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("sizes %v, invoice %d: got %+v, %v; want %+v", sizes, n, got, err, want)
			}
		}
		void, _ := GetInvoice(t.Context(), f.w.pool, f.t1.id, Scope{All: true}, subsID(505))
		if void.Status != domain.InvoiceVoid || void.Version != 2 || void.VoidReason != "issued twice" {
			t.Errorf("sizes %v: the void invoice: %s v%d %q", sizes, void.Status, void.Version, void.VoidReason)
		}
	}
}

// TestInvoiceViewRepresentation pins the JSON of api.md: money
// presented in the minor unit, a 9-place proration factor, a credit's
// negative amount, the billing at issue, null address and tax id.
func TestInvoiceViewRepresentation(t *testing.T) {
	t.Parallel()
	f := invNewFixture(t)
	got, err := GetInvoice(t.Context(), f.w.pool, f.t1.id, Scope{All: true}, subsID(503))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"00000000-0000-7000-8000-000000000503","number":"INV-000003","account_id":"00000000-0000-7000-8000-000000000013",` +
		`"currency":"EUR","status":"posted","issue_date":"2025-02-01","due_date":"2025-03-03",` +
		`"billing":{"contact_name":"Ann","email":"ann@example.com","address":null,"tax_id":null,"payment_terms_days":30,"invoice_delivery":"email"},` +
		`"lines":[{"id":"00000000-0000-7000-8000-000000000730","subscription_id":"00000000-0000-7000-8000-000000000033",` +
		`"item_id":"` + f.s3.Items[0].ID.String() + `","charge_id":"00000000-0000-7000-8000-000000000101","type":"recurring",` +
		`"description":"Seat","period_from":"2025-01-01","period_to":"2025-02-01","quantity":"1","unit_price":"3.345",` +
		`"proration_factor":"1.000000000","amount":"3.35"},` +
		`{"id":"00000000-0000-7000-8000-000000000731","subscription_id":"00000000-0000-7000-8000-000000000033",` +
		`"item_id":"` + f.s3.Items[0].ID.String() + `","charge_id":"00000000-0000-7000-8000-000000000101","type":"credit",` +
		`"description":"Seat","period_from":"2025-01-01","period_to":"2025-02-01","quantity":"1","unit_price":"3.345",` +
		`"proration_factor":"0.328767123","amount":"-1.10"}],` +
		`"total":"2.25","bill_run_id":"00000000-0000-7000-8000-000000000500","version":1}`
	if raw, _ := json.Marshal(got); string(raw) != want {
		t.Errorf("got  %s\nwant %s", raw, want)
	}
}

// TestListInvoicesScopeAndFilters lists by scope, account and issue
// dates (inclusive), in issue date then number order.
func TestListInvoicesScopeAndFilters(t *testing.T) {
	t.Parallel()
	f := invNewFixture(t, 4, 1, 3)
	a2 := f.a2.ID
	partnerP := Scope{PartnerID: subsPartnerP, AccountIDs: []uuid.UUID{f.a3.ID}}
	tests := []struct {
		name   string
		tenant uuid.UUID
		scope  Scope
		filter InvoiceFilter
		want   []string
	}{
		{"tenant user", f.t1.id, Scope{All: true}, InvoiceFilter{}, []string{"INV-000001", "INV-000002", "INV-000003", "INV-000004", "INV-000005", "INV-000006"}},
		{"account", f.t1.id, Scope{All: true}, InvoiceFilter{AccountID: &a2}, []string{"INV-000002", "INV-000005"}},
		{"from, inclusive", f.t1.id, Scope{All: true}, InvoiceFilter{From: subsDay("2025-02-01")}, []string{"INV-000003", "INV-000004", "INV-000005", "INV-000006"}},
		{"to, inclusive", f.t1.id, Scope{All: true}, InvoiceFilter{To: subsDay("2025-02-01")}, []string{"INV-000001", "INV-000002", "INV-000003", "INV-000004"}},
		{"one day", f.t1.id, Scope{All: true}, InvoiceFilter{From: subsDay("2025-03-01"), To: subsDay("2025-03-01")}, []string{"INV-000005", "INV-000006"}},
		{"none in range", f.t1.id, Scope{All: true}, InvoiceFilter{From: subsDay("2025-01-02"), To: subsDay("2025-01-31")}, nil},
		{"partner: created and listed", f.t1.id, partnerP, InvoiceFilter{}, []string{"INV-000002", "INV-000003", "INV-000005"}},
		{"partner: an account out of scope", f.t1.id, partnerP, InvoiceFilter{AccountID: &f.a1.ID}, nil},
		{"partner: nothing", f.t1.id, Scope{PartnerID: subsID(9)}, InvoiceFilter{}, nil},
		{"other tenant", f.t2.id, Scope{All: true}, InvoiceFilter{}, []string{"INV-000001"}},
		{"other tenant, scoped to this tenant's accounts", f.t2.id, partnerP, InvoiceFilter{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			list, err := ListInvoices(t.Context(), f.w.pool, tt.tenant, tt.scope, tt.filter, Page{})
			if err != nil {
				t.Fatal(err)
			}
			if got := invNumbers(list.Items); !slices.Equal(got, tt.want) || list.NextCursor != nil {
				t.Fatalf("got %v (next %v), want %v", got, list.NextCursor, tt.want)
			}
		})
	}
}

// TestListInvoicesPages pages through the list with every limit, with
// and without a filter, and refuses a cursor no list returned.
func TestListInvoicesPages(t *testing.T) {
	t.Parallel()
	f := invNewFixture(t)
	for _, filter := range []InvoiceFilter{{}, {From: subsDay("2025-01-01"), To: subsDay("2025-02-01")}} {
		all, err := ListInvoices(t.Context(), f.w.pool, f.t1.id, Scope{All: true}, filter, Page{})
		if err != nil {
			t.Fatal(err)
		}
		for limit := 1; limit <= len(all.Items)+1; limit++ {
			got := audPages(t, limit, func(p Page) (List[InvoiceView], error) {
				return ListInvoices(t.Context(), f.w.pool, f.t1.id, Scope{All: true}, filter, p)
			})
			if !reflect.DeepEqual(got, all.Items) {
				t.Fatalf("limit %d: got %v, want %v", limit, invNumbers(got), invNumbers(all.Items))
			}
		}
	}
	for _, cursor := range []string{"nope", "e30", "W10"} {
		_, err := ListInvoices(t.Context(), f.w.pool, f.t1.id, Scope{All: true}, InvoiceFilter{}, Page{Cursor: cursor})
		if !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("cursor %q: got %v, want invalid", cursor, err)
		}
	}
}

func TestGetInvoiceScope(t *testing.T) {
	t.Parallel()
	f := invNewFixture(t)
	partnerP := Scope{PartnerID: subsPartnerP, AccountIDs: []uuid.UUID{f.a3.ID}}
	tests := []struct {
		name   string
		tenant uuid.UUID
		scope  Scope
		id     uuid.UUID
		found  bool
	}{
		{"tenant user", f.t1.id, Scope{All: true}, subsID(501), true},
		{"partner, account it created", f.t1.id, partnerP, subsID(502), true},
		{"partner, listed account", f.t1.id, partnerP, subsID(503), true},
		{"partner, account out of scope", f.t1.id, partnerP, subsID(501), false},
		{"partner, another partner's account", f.t1.id, Scope{PartnerID: subsPartnerQ}, subsID(502), false},
		{"other tenant's invoice", f.t1.id, Scope{All: true}, f.x1inv.ID, false},
		{"other tenant asks", f.t2.id, Scope{All: true}, subsID(501), false},
		{"absent", f.t1.id, Scope{All: true}, uuid.New(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := GetInvoice(t.Context(), f.w.pool, tt.tenant, tt.scope, tt.id)
			if !tt.found {
				subsWantNotFound(t, err)
				return
			}
			if err != nil || got.ID != tt.id {
				t.Fatalf("got %v, %v; want %v", got.ID, err, tt.id)
			}
		})
	}
}

// TestInvoiceCSV checks the CSV of an invoice: a row per line under the
// header, the invoice's fields on each, and a description that would run
// as a formula made text.
func TestInvoiceCSV(t *testing.T) {
	t.Parallel()
	f := invNewFixture(t)
	v, err := GetInvoice(t.Context(), f.w.pool, f.t1.id, Scope{All: true}, subsID(503))
	if err != nil {
		t.Fatal(err)
	}
	rows := v.CSVRows()
	want := [][]string{
		{"INV-000003", v.ID.String(), f.a3.ID.String(), "posted", "2025-02-01", "2025-03-03", "EUR", subsID(730).String(), f.s3.ID.String(),
			f.s3.Items[0].ID.String(), subsSeat.String(), "recurring", "Seat", "2025-01-01", "2025-02-01", "1", "3.345", "1.000000000", "3.35", "2.25"},
		{"INV-000003", v.ID.String(), f.a3.ID.String(), "posted", "2025-02-01", "2025-03-03", "EUR", subsID(731).String(), f.s3.ID.String(),
			f.s3.Items[0].ID.String(), subsSeat.String(), "credit", "Seat", "2025-01-01", "2025-02-01", "1", "3.345", "0.328767123", "-1.10", "2.25"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("got  %q\nwant %q", rows, want)
	}
	for _, row := range rows {
		if len(row) != len(InvoiceCSVHeader) {
			t.Fatalf("a row of %d fields under a header of %d", len(row), len(InvoiceCSVHeader))
		}
	}
	v.Lines[0].Description = "=HYPERLINK(\"x\")"
	if got := v.CSVRows()[0][12]; !strings.HasPrefix(got, "'=") {
		t.Errorf("a formula description: %q; want it quoted as text", got)
	}
}

// TestVerifyInvoices plants drifts in the invoices read model that
// Verify must report, and repairs each with a rebuild: a total kept in
// value but not in scale (the replay's text differs, the domain agrees),
// a void invoice posted again, and a line's amount changed (both also
// against the domain's fold of the account's invoice stream).
func TestVerifyInvoices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := Invoices{}
	tenant, account := uuid.New(), uuid.New()
	state := &domain.AccountInvoices{}
	for n := 1; n <= 2; n++ {
		line := domain.InvoiceLine{ID: uuid.New(), SubscriptionID: uuid.New(), ItemID: uuid.New(), ProductID: uuid.New(), ChargeID: uuid.New(),
			Type: domain.LineRecurring, Description: "Seat", ServiceFrom: subsDay("2025-01-01"), PeriodFrom: subsDay("2025-01-01"),
			PeriodTo: subsDay("2025-02-01"), Quantity: decimal.NewFromInt(3), UnitPrice: decimal.RequireFromString("10.00"),
			ProrationFactor: decimal.NewFromInt(1), Amount: decimal.RequireFromString("30.00")}
		invVerifyAppend(t, e, tenant, account, state, &domain.InvoiceIssued{TenantID: tenant, IssuedBy: subsTenantUser, IssuedAt: subsAt("2025-01-01"),
			Invoice: domain.Invoice{ID: uuid.New(), Number: domain.InvoiceNumber(n), AccountID: account, Currency: "EUR", Status: domain.InvoicePosted,
				IssueDate: subsDay("2025-01-01"), DueDate: subsDay("2025-01-31"), Billing: domain.Billing{ContactName: "Ann", Email: "ann@example.com"},
				Lines: []domain.InvoiceLine{line}, Total: line.Amount, BillRunID: uuid.New()}})
	}
	first := state.Invoices[0].ID
	events, err := state.Void(first, "wrong", subsTenantUser, subsAt("2025-01-02"))
	invVerifyAppend(t, e, tenant, account, state, subsMust(t, events, err)...)
	verifyCatchUp(t, e, p)
	verifyWant(t, e, p, nil)

	invoices, lines := table(LiveSchema, "invoices"), table(LiveSchema, "invoice_lines")
	e.exec(t, `UPDATE `+invoices+` SET total = total::numeric(20, 6) WHERE invoice_id = $1`, first)
	verifyWant(t, e, p, []string{SideLive, SideRebuilt})
	verifyRebuild(t, e, p)

	e.exec(t, `UPDATE `+invoices+` SET status = 'posted', version = 1 WHERE invoice_id = $1`, first)
	diffs := verifyWant(t, e, p, []string{SideLive, SideRebuilt, SideDomain})
	if drift := diffs[2].Row; !strings.Contains(drift, first.String()) || !strings.Contains(drift, `"domain":{"status":"void","version":2`) {
		t.Errorf("the void drift: %s; want invoice %s void at version 2 in the domain", drift, first)
	}
	verifyRebuild(t, e, p)

	e.exec(t, `UPDATE `+lines+` SET amount = 31 WHERE invoice_id = $1`, first)
	diffs = verifyWant(t, e, p, []string{SideLive, SideRebuilt, SideDomain})
	if drift := diffs[2].Row; !strings.Contains(drift, `"lines_sum":"31"`) {
		t.Errorf("the line drift: %s; want the read model's lines summing to 31", drift)
	}
	verifyRebuild(t, e, p)
}

// invVerifyAppend appends events to the account's invoice stream in the
// store, and folds them into state.
func invVerifyAppend(t *testing.T, e env, tenant, account uuid.UUID, state *domain.AccountInvoices, events ...domain.Event) {
	t.Helper()
	var data []eventstore.EventData
	for _, ev := range events {
		name, version, raw, err := domain.MarshalEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: name, SchemaVersion: version, Data: raw,
			Metadata: eventstore.Metadata{TenantID: tenant.String(), OccurredAt: time.Now()}})
		state.Apply(ev)
	}
	if _, err := e.store.Append(t.Context(), eventstore.To(invStream(tenant, account), eventstore.Any(), data...)); err != nil {
		t.Fatal(err)
	}
}

// TestInvoicesStale checks that an invoice event parked in the read
// model makes the reads that could lack it stale: the invoices of its
// account, the list and the report of its tenant, and an invoice the
// read model lacks; not other accounts' invoices.
func TestInvoicesStale(t *testing.T) {
	t.Parallel()
	f := invNewFixture(t)
	ctx, db := t.Context(), f.w.pool
	_, err := db.Exec(ctx, `INSERT INTO `+table(LiveSchema, parkedTable)+` (projection, position, stream, tenant_id, event_type, error)
VALUES ('invoices', 1000000, $1, $2, 'InvoiceVoided', 'test')`, invStream(f.t1.id, f.a2.ID), f.t1.id)
	if err != nil {
		t.Fatal(err)
	}
	_, errGet := GetInvoice(ctx, db, f.t1.id, Scope{All: true}, subsID(502))
	_, errList := ListInvoices(ctx, db, f.t1.id, Scope{All: true}, InvoiceFilter{}, Page{})
	_, errReport := RevenueReport(ctx, db, f.t1.id, Scope{All: true}, "", domain.Date{}, domain.Date{})
	_, errAbsent := GetInvoice(ctx, db, f.t1.id, Scope{All: true}, uuid.New())
	for what, err := range map[string]error{"get": errGet, "list": errList, "report": errReport, "absent": errAbsent} {
		if !errors.Is(err, ErrStale) {
			t.Errorf("%s: got %v, want stale", what, err)
		}
	}
	if _, err := GetInvoice(ctx, db, f.t1.id, Scope{All: true}, subsID(501)); err != nil {
		t.Errorf("another account's invoice: %v", err)
	}
	if _, err := GetInvoice(ctx, db, f.t1.id, Scope{PartnerID: subsPartnerQ}, uuid.New()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a partner asks for an absent invoice: got %v, want not found", err)
	}
	if _, err := ListInvoices(ctx, db, f.t2.id, Scope{All: true}, InvoiceFilter{}, Page{}); err != nil {
		t.Errorf("another tenant's list: %v", err)
	}
}
