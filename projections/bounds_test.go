package projections

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/internal/pgtest"
)

// The bounds of api.md, and below the codes of their refusals, written
// out here rather than read from the domain, so that the test states the
// contract the domain must keep.
var (
	boundsFirstDay = domain.NewDate(1900, time.January, 1)
	boundsLastDay  = domain.NewDate(9999, time.December, 31)
)

// boundsInRange reports whether d lies in boundsFirstDay..boundsLastDay.
func boundsInRange(d domain.Date) bool { return !d.Before(boundsFirstDay) && !d.After(boundsLastDay) }

// TestBoundsStoredAndReadBack draws names, emails, dates, prices and
// usage quantities across and beyond each bound of api.md, and decides
// with them, through the domain, a tenant, a partner, an account, a
// product, a subscription, usage, an amendment and a cancellation. The
// domain must accept a value exactly when it lies inside its bound, and
// whatever it accepts, every projection must store and every query read
// back as the domain holds it: the tenant's and partner's names, the
// account, the product, the subscription on several dates, its MRR by
// partner, its usage summary and the audit log.
func TestBoundsStoredAndReadBack(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDatabase(t, 4)
	if err := Setup(t.Context(), pool, All()); err != nil {
		t.Fatal(err)
	}
	w := &subsWorld{pool: pool, versions: map[string]uint64{}}
	rapid.Check(t, func(rt *rapid.T) {
		b := &boundsRun{w: w, rt: rt, tenant: uuid.New(), partner: uuid.New(), usage: map[uuid.UUID]decimal.Decimal{}}
		b.by = domain.Actor{Type: domain.ActorPartnerUser, ID: uuid.New(), PartnerID: b.partner}
		b.now = boundsNoon(domain.NewDate(2025, time.March, 1))
		b.createTenantAndPartner()
		b.createAccount()
		b.createProduct()
		if b.createSubscription() {
			b.recordUsage()
			b.amend()
			b.cancel()
		}
		b.flush(rapid.SliceOfN(rapid.IntRange(1, 5), 0, 4).Draw(rt, "batches"))
		b.check()
	})
}

// boundsRun is one draw of the property: the aggregates as the domain
// holds them, and the usage accepted, summed per item.
type boundsRun struct {
	w               *subsWorld
	rt              *rapid.T
	tenant, partner uuid.UUID
	tenantName      string
	partnerName     string
	by              domain.Actor
	now             time.Time
	account         *domain.Account
	product         *domain.Product
	sub             *domain.Subscription
	usage           map[uuid.UUID]decimal.Decimal
	events          []eventstore.Event
}

// boundsMust returns a function that returns a decision's events,
// failing rt on a refusal.
func boundsMust(rt *rapid.T) func([]domain.Event, error) []domain.Event {
	return func(events []domain.Event, err error) []domain.Event {
		rt.Helper()
		return subsMust(rt, events, err)
	}
}

func boundsNoon(d domain.Date) time.Time { return d.Time().Add(12 * time.Hour) }

// record records events of stream as the store would, with metadata
// naming the tenant (but for the partner's platform-level stream), and
// applies them to agg.
func (b *boundsRun) record(stream string, tenant bool, agg interface{ Apply(domain.Event) }, events []domain.Event) {
	from := len(b.w.pending)
	b.w.record(b.rt, stream, events...)
	for i := from; i < len(b.w.pending); i++ {
		e := &b.w.pending[i]
		e.Metadata = eventstore.Metadata{Actor: eventstore.Actor{Type: string(b.by.Type), ID: b.by.ID.String(),
			PartnerID: b.partner.String()}, OccurredAt: b.now}
		if tenant {
			e.Metadata.TenantID = b.tenant.String()
			b.events = append(b.events, *e)
		}
	}
	for _, e := range events {
		agg.Apply(e)
	}
}

// flush applies the pending events to every projection, in batches of
// the given sizes (the rest in one).
func (b *boundsRun) flush(sizes []int) {
	w := b.w
	for len(w.pending) > 0 {
		n := len(w.pending)
		if len(sizes) > 0 {
			n, sizes = min(n, sizes[0]), sizes[1:]
		}
		for _, p := range All() {
			if err := applyBatch(b.rt.Context(), w.pool, LiveSchema, p, w.pending[:n]); err != nil {
				b.rt.Fatalf("apply %s: %v", p.Name(), err)
			}
		}
		w.applied, w.pending = append(w.applied, w.pending[:n]...), w.pending[n:]
	}
}

// decided checks a decision against what the bounds say of it: refused
// with one of codes when want is false, accepted when true.
func (b *boundsRun) decided(what string, err error, want bool, codes ...string) bool {
	b.rt.Helper()
	var derr *domain.Error
	switch {
	case want && err != nil:
		b.rt.Fatalf("%s: refused values inside the bounds: %v", what, err)
	case !want && err == nil:
		b.rt.Fatalf("%s: accepted values beyond the bounds", what)
	case !want && (!errors.As(err, &derr) || !boundsOneOf(derr.Code, codes)):
		b.rt.Fatalf("%s: refused with %v, want one of %v", what, err, codes)
	}
	return err == nil
}

func boundsOneOf(code string, codes []string) bool {
	for _, c := range codes {
		if c == code {
			return true
		}
	}
	return false
}

// boundsDrawText draws text of about max characters, at max and just
// past it, or far inside or beyond; its characters take one to four
// bytes. It reports whether the text fits max.
func boundsDrawText(rt *rapid.T, label string, max int) (string, bool) {
	n := rapid.SampledFrom([]int{1, 7, max - 1, max, max + 1, 10_000}).Draw(rt, label+" length")
	r := rapid.SampledFrom([]string{"a", "é", "漢", "😀"}).Draw(rt, label+" character")
	return "N" + strings.Repeat(r, n-1), n <= max
}

// boundsDrawEmail draws an address of about 254 characters, or a short
// one, and reports whether it fits.
func boundsDrawEmail(rt *rapid.T) (string, bool) {
	n := rapid.SampledFrom([]int{12, 253, 254, 255, 10_000}).Draw(rt, "email length")
	return strings.Repeat("b", n-len("@x.example")) + "@x.example", n <= 254
}

// boundsDrawDate draws a date in a year near, at or beyond either bound.
func boundsDrawDate(rt *rapid.T, label string) domain.Date {
	year := rapid.SampledFrom([]int{1, 1850, 1899, 1900, 1901, 2025, 9998, 9999, 10000, 123456}).Draw(rt, label+" year")
	month := time.Month(rapid.IntRange(1, 12).Draw(rt, label+" month"))
	return domain.NewDate(year, month, rapid.IntRange(1, 31).Draw(rt, label+" day"))
}

// boundsDrawDecimal draws a decimal string with whole digits before its
// point (no leading zero) and frac after it (the last not zero), the
// lengths drawn from the lists.
func boundsDrawDecimal(rt *rapid.T, label string, wholes, fracs []int) (s string, whole, frac int) {
	whole = rapid.SampledFrom(wholes).Draw(rt, label+" digits")
	frac = rapid.SampledFrom(fracs).Draw(rt, label+" places")
	digit := rapid.SampledFrom([]string{"1", "5", "9"}).Draw(rt, label+" digit")
	s = digit + strings.Repeat("0", whole-1)
	if frac > 0 {
		s += "." + strings.Repeat("0", frac-1) + digit
	}
	return s, whole, frac
}

// boundsDrawPrice draws a price and reports whether it fits: at most 12
// digits before the point and 10 after.
func boundsDrawPrice(rt *rapid.T, label string) (string, bool) {
	s, whole, frac := boundsDrawDecimal(rt, label, []int{1, 2, 11, 12, 13, 20, 131_080}, []int{0, 2, 9, 10, 11})
	return s, whole <= 12 && frac <= 10
}

func (b *boundsRun) createTenantAndPartner() {
	name, ok := boundsDrawText(b.rt, "tenant name", 200)
	op := domain.Actor{Type: domain.ActorOperator}
	admin := domain.NewUser{ID: uuid.New(), Name: "Ada", Role: domain.RoleTenantAdmin, KeyHash: uuid.NewString()}
	t := &domain.Tenant{}
	events, err := t.Create(domain.CreateTenant{TenantID: b.tenant, Name: name, Admin: admin}, op, b.now)
	if !b.decided("tenant", err, ok, "value_too_long") {
		events = boundsMust(b.rt)(t.Create(domain.CreateTenant{TenantID: b.tenant, Name: "Acme", Admin: admin}, op, b.now))
	}
	b.record(commands.TenantStream(b.tenant), true, t, events)
	b.tenantName = t.Name

	name, ok = boundsDrawText(b.rt, "partner name", 200)
	padmin := domain.NewUser{ID: b.by.ID, Name: "Pat", Role: domain.RolePartnerAdmin, KeyHash: uuid.NewString()}
	p := &domain.Partner{}
	events, err = p.Create(domain.CreatePartner{PartnerID: b.partner, Name: name, Admin: padmin}, op, b.now)
	if !b.decided("partner", err, ok, "value_too_long") {
		events = boundsMust(b.rt)(p.Create(domain.CreatePartner{PartnerID: b.partner, Name: "Peak", Admin: padmin}, op, b.now))
	}
	b.record(commands.PartnerStream(b.partner), false, p, events)
	b.partnerName = p.Name
}

func (b *boundsRun) createAccount() {
	name, nameOK := boundsDrawText(b.rt, "account name", 200)
	contact, contactOK := boundsDrawText(b.rt, "contact name", 200)
	email, emailOK := boundsDrawEmail(b.rt)
	cmd := domain.CreateAccount{AccountID: uuid.New(), TenantID: b.tenant, Name: name, Currency: "EUR",
		Billing: domain.BillingInput{ContactName: contact, Email: email}}
	b.account = &domain.Account{}
	events, err := b.account.Create(cmd, b.by, b.now)
	if !b.decided("account", err, nameOK && contactOK && emailOK, "value_too_long") {
		cmd.Name, cmd.Billing = "Alpha", domain.BillingInput{ContactName: "Ann", Email: "ann@example.com"}
		events = boundsMust(b.rt)(b.account.Create(cmd, b.by, b.now))
	}
	b.record(commands.AccountStream(b.tenant, cmd.AccountID), true, b.account, events)
}

func (b *boundsRun) createProduct() {
	name, nameOK := boundsDrawText(b.rt, "product name", 200)
	seat, seatOK := boundsDrawPrice(b.rt, "seat price")
	calls, callsOK := boundsDrawPrice(b.rt, "calls price")
	cmd := domain.CreateProduct{ProductID: uuid.New(), TenantID: b.tenant, Name: name, SKU: "suite", Charges: []domain.ChargeInput{
		{Name: "Seat", Type: "recurring", Price: seat, Currency: "EUR", BillingPeriod: "month"},
		{Name: "Calls", Type: "usage", Price: calls, Currency: "EUR", Unit: "call"}}}
	b.product = &domain.Product{}
	events, err := b.product.Create(cmd, b.by, b.now)
	if !b.decided("product", err, nameOK && seatOK && callsOK, "value_too_long", "invalid_price") {
		cmd.Name, cmd.Charges[0].Price, cmd.Charges[1].Price = "Suite", "10.00", "0.002"
		events = boundsMust(b.rt)(b.product.Create(cmd, b.by, b.now))
	}
	b.record(commands.ProductStream(b.tenant, cmd.ProductID), true, b.product, events)
}

// createSubscription decides a subscription from a drawn start date and
// term with a seat at a drawn price, and the calls; it reports whether
// the domain accepted it. Commands after it are decided on a day up to
// two years later, at the latest on the last day a clock can read.
func (b *boundsRun) createSubscription() bool {
	start := boundsDrawDate(b.rt, "start")
	term := rapid.SampledFrom([]domain.TermInput{{Type: "evergreen"}, {Type: "termed", Months: 1, AutoRenew: true},
		{Type: "termed", Months: 12}, {Type: "termed", Months: 120, AutoRenew: true}}).Draw(b.rt, "term")
	price, priceOK := boundsDrawPrice(b.rt, "override")
	items := []domain.ItemInput{
		{ProductID: b.product.ID, ChargeID: b.product.Charges[0].ID, Quantity: decimal.NewFromInt(3), UnitPrice: &price},
		{ProductID: b.product.ID, ChargeID: b.product.Charges[1].ID, Quantity: decimal.NewFromInt(1)},
	}
	cmd := domain.CreateSubscription{SubscriptionID: uuid.New(), TenantID: b.tenant, AccountID: b.account.ID,
		StartDate: start, Term: term, Items: items}
	want := boundsInRange(start) && priceOK && (term.Type == "evergreen" || boundsInRange(start.AddMonths(term.Months)))
	s := &domain.Subscription{}
	events, err := s.Create(cmd, b.account, map[uuid.UUID]*domain.Product{b.product.ID: b.product}, b.by, b.now)
	if !b.decided("subscription", err, want, "date_out_of_range", "invalid_price") {
		return false
	}
	b.sub = s
	b.record(commands.SubscriptionStream(b.tenant, cmd.SubscriptionID), true, s, events)
	on := start.AddDays(rapid.IntRange(0, 730).Draw(b.rt, "days on"))
	if on.After(boundsLastDay) { // no clock reads a later day
		on = boundsLastDay
	}
	b.now = boundsNoon(on)
	return true
}

// recordUsage records the calls on a day from the start to now, with a
// drawn quantity of up to 21 digits before the point and 11 after.
func (b *boundsRun) recordUsage() {
	q, whole, frac := boundsDrawDecimal(b.rt, "usage", []int{1, 14, 15, 16, 21}, []int{0, 3, 10, 11})
	days := int(b.now.Sub(b.sub.StartDate.Time()).Hours() / 24)
	at := boundsNoon(b.sub.StartDate.AddDays(rapid.IntRange(0, days).Draw(b.rt, "usage day")))
	calls := b.sub.Items[1].ID
	rec := domain.UsageRecord{ID: uuid.New(), SubscriptionID: b.sub.ID, ItemID: calls, Quantity: decimal.RequireFromString(q), OccurredAt: at}
	u := &domain.SubscriptionUsage{}
	events, _, err := u.Record([]domain.UsageRecord{rec}, b.sub, b.by, b.now)
	var derr *domain.Error
	if errors.As(err, &derr) && derr.Code != "invalid_quantity" {
		return // refused for a rule other than the bounds (a term ended)
	}
	if !b.decided("usage "+q, err, whole <= 15 && frac <= 10, "invalid_quantity") {
		return
	}
	b.usage[calls] = b.usage[calls].Add(rec.Quantity)
	b.record(commands.UsageStream(b.tenant, b.sub.ID), true, u, events)
}

// amend adds a seat at a drawn price from a drawn date on. Other rules
// may refuse it; the bounds must not refuse what lies inside them, nor
// let through what lies beyond.
func (b *boundsRun) amend() {
	eff := b.sub.LastChangeDate.AddDays(rapid.IntRange(0, 400).Draw(b.rt, "effective"))
	price, priceOK := boundsDrawPrice(b.rt, "added price")
	add := domain.ChangeInput{Type: "add_item", ProductID: b.product.ID, ChargeID: b.product.Charges[0].ID,
		Quantity: decimal.NewFromInt(2), UnitPrice: &price}
	events, err := b.sub.Amend(domain.AmendSubscription{EffectiveDate: eff, Changes: []domain.ChangeInput{add}},
		map[uuid.UUID]*domain.Product{b.product.ID: b.product}, b.by, b.now)
	var derr *domain.Error
	switch {
	case err == nil && (!boundsInRange(eff) || !priceOK):
		b.rt.Fatalf("amendment from %s at %s accepted", eff, price)
	case errors.As(err, &derr) && derr.Code == "date_out_of_range" && boundsInRange(eff):
		b.rt.Fatalf("amendment from %s refused: %v", eff, err)
	case errors.As(err, &derr) && derr.Code == "invalid_price" && priceOK:
		b.rt.Fatalf("amendment at %s refused: %v", price, err)
	case err == nil:
		b.record(commands.SubscriptionStream(b.tenant, b.sub.ID), true, b.sub, events)
	}
}

// cancel cancels by a drawn policy: the cancel date, as api.md derives
// it, is accepted when inside the bounds and refused beyond them.
func (b *boundsRun) cancel() {
	cmd := domain.CancelSubscription{Policy: rapid.SampledFrom([]string{"immediate", "end_of_term", "specific_date"}).Draw(b.rt, "policy")}
	today := domain.DateOf(b.now)
	want := today
	switch cmd.Policy {
	case "immediate":
		if today.Before(b.sub.StartDate) {
			want = b.sub.StartDate
		}
	case "end_of_term":
		want = boundsTermEnd(b.sub, today)
	default:
		cmd.Date = today.AddDays(rapid.IntRange(0, 4000).Draw(b.rt, "cancel in"))
		want = cmd.Date
	}
	events, err := b.sub.Cancel(cmd, b.by, b.now)
	var derr *domain.Error
	switch {
	case err == nil && (events[0].(*domain.SubscriptionCancelled).CancelDate != want || !boundsInRange(want)):
		b.rt.Fatalf("%s on %s: cancel date %s accepted, want %s inside the bounds", cmd.Policy, today,
			events[0].(*domain.SubscriptionCancelled).CancelDate, want)
	case err == nil:
		b.record(commands.SubscriptionStream(b.tenant, b.sub.ID), true, b.sub, events)
	case !boundsInRange(want):
	case errors.As(err, &derr) && derr.Code == "date_out_of_range":
		b.rt.Fatalf("%s on %s: cancel date %s refused: %v", cmd.Policy, today, want, err)
	}
}

// boundsTermEnd is where end_of_term cancels on today, as api.md says:
// the end of the current term of a termed subscription, the next monthly
// anniversary of an evergreen one's start date.
func boundsTermEnd(s *domain.Subscription, today domain.Date) domain.Date {
	months := 1
	if s.Term.Type == domain.TermTermed {
		months = s.Term.Months
		if !s.Term.AutoRenew {
			return s.StartDate.AddMonths(months)
		}
	}
	k := 1
	for !s.StartDate.AddMonths(k * months).After(today) {
		k++
	}
	return s.StartDate.AddMonths(k * months)
}

// check reads everything back through the queries and compares it with
// what the domain holds.
func (b *boundsRun) check() {
	ctx, pool := b.rt.Context(), b.w.pool
	for _, n := range []struct{ table, key, want string }{
		{"tenants", b.tenant.String(), b.tenantName}, {"partners", b.partner.String(), b.partnerName},
	} {
		var got string
		err := pool.QueryRow(ctx, `SELECT name FROM `+table(LiveSchema, n.table)+` WHERE `+strings.TrimSuffix(n.table, "s")+`_id = $1`, n.key).Scan(&got)
		if err != nil || got != n.want {
			b.rt.Fatalf("%s: name %q (%v), want %q", n.table, got, err, n.want)
		}
	}
	account, err := GetAccount(ctx, pool, b.tenant, Scope{All: true}, b.account.ID)
	if err != nil {
		b.rt.Fatal(err)
	}
	viewSame(b.rt, "account", account, AccountViewOf(b.account))
	product, err := GetProduct(ctx, pool, b.tenant, b.product.ID)
	want, werr := ProductViewOf(b.product)
	if err != nil || werr != nil {
		b.rt.Fatal(err, werr)
	}
	viewSame(b.rt, "product", product, want)
	if b.sub != nil {
		for _, d := range b.readDates() {
			b.checkSubscription(d)
		}
		b.checkUsage()
	}
	b.checkAudit()
}

// readDates are the dates a subscription is read on: around its start,
// its last change, its cancel date and the day of its commands, and
// today, those inside the bounds.
func (b *boundsRun) readDates() []domain.Date {
	s := b.sub
	var ds []domain.Date
	for _, d := range []domain.Date{s.StartDate, s.StartDate.AddDays(-1), s.LastChangeDate, s.CancelDate,
		s.CancelDate.AddDays(-1), domain.DateOf(b.now), domain.DateOf(time.Now())} {
		if !d.IsZero() && boundsInRange(d) {
			ds = append(ds, d)
		}
	}
	return ds
}

// checkSubscription compares the subscription on date d, and its MRR by
// partner, with the domain's.
func (b *boundsRun) checkSubscription(d domain.Date) {
	ctx, pool := b.rt.Context(), b.w.pool
	got, err := GetSubscription(ctx, pool, b.tenant, Scope{All: true}, b.sub.ID, d)
	want, werr := SubscriptionViewOf(b.sub, d)
	if err != nil || werr != nil {
		b.rt.Fatal(err, werr)
	}
	viewSame(b.rt, "subscription on "+d.String(), got, want)
	stored := []domain.Date{got.StartDate, got.CancelDate}
	for _, it := range got.Items {
		stored = append(stored, it.EffectiveFrom, it.EffectiveTo)
	}
	for _, sd := range stored {
		if !sd.IsZero() && !boundsInRange(sd) {
			b.rt.Fatalf("the read model holds the date %s", sd)
		}
	}
	report, err := MRRReport(ctx, pool, b.tenant, Scope{All: true}, MRRGroupPartner, d)
	if err != nil {
		b.rt.Fatal(err)
	}
	mrr, wantMRR := domain.Currency("EUR").Present(decimal.Zero), b.sub.Currency.Present(b.sub.MRR(d))
	if len(report.Totals) > 0 {
		mrr = report.Totals[0].MRR
	}
	if mrr != wantMRR || len(report.Totals) > 1 {
		b.rt.Fatalf("MRR on %s: %+v, want %s", d, report.Totals, wantMRR)
	}
	for _, g := range report.Groups {
		if g.Key != b.partner.String() || g.Name != b.partnerName {
			b.rt.Fatalf("MRR on %s grouped as %s %q, want %s %q", d, g.Key, g.Name, b.partner, b.partnerName)
		}
	}
}

func (b *boundsRun) checkUsage() {
	lines, err := UsageSummary(b.rt.Context(), b.w.pool, b.tenant, Scope{All: true}, b.sub.ID, nil, nil)
	if err != nil {
		b.rt.Fatal(err)
	}
	if len(lines) != len(b.usage) {
		b.rt.Fatalf("usage %+v, want %v", lines, b.usage)
	}
	for _, l := range lines {
		if want, ok := b.usage[l.ItemID]; !ok || l.Quantity != want.String() {
			b.rt.Fatalf("usage of %s: %s, want %s", l.ItemID, l.Quantity, want)
		}
	}
}

// checkAudit compares the tenant's audit log with its events as
// recorded.
func (b *boundsRun) checkAudit() {
	list, err := AuditEvents(b.rt.Context(), b.w.pool, b.tenant, AuditViewer{}, AuditFilter{}, Page{Limit: 500})
	if err != nil {
		b.rt.Fatal(err)
	}
	if len(list.Items) != len(b.events) {
		b.rt.Fatalf("the audit log holds %d events, want %d", len(list.Items), len(b.events))
	}
	for i, e := range b.events {
		want, err := AuditItemOf(e)
		if err != nil {
			b.rt.Fatal(err)
		}
		viewSame(b.rt, "audit event "+e.Type, list.Items[i], want)
	}
}
