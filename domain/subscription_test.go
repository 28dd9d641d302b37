package domain

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Fixtures: a tenant, an EUR account, and one product whose charges are
// fxSeat (10/month EUR), fxSupport (30/quarter), fxPlatform (120/year),
// fxSetup (50 once), fxCalls (0.002/call, usage) and fxSeatUSD (12/month
// USD).
var (
	fxTenant   = fxID(1)
	fxActor    = Actor{Type: ActorTenantUser, ID: fxID(2)}
	fxPartner  = Actor{Type: ActorPartnerUser, ID: fxID(3), PartnerID: fxID(4)}
	fxAcct     = fxID(10)
	fxProduct  = fxID(100)
	fxSeat     = fxID(101)
	fxSupport  = fxID(102)
	fxPlatform = fxID(103)
	fxSetup    = fxID(104)
	fxCalls    = fxID(105)
	fxSeatUSD  = fxID(106)
	fxSubID    = fxID(20)
)

func fxID(n int) uuid.UUID {
	return uuid.MustParse(fmt.Sprintf("00000000-0000-7000-8000-%012d", n))
}

// fxIDs returns a source of the ids fxID(from), fxID(from+1)...
func fxIDs(from int) func() uuid.UUID {
	return func() uuid.UUID { from++; return fxID(from - 1) }
}

func fxDate(s string) Date {
	d, err := ParseDate("date", s)
	if err != nil {
		panic(err)
	}
	return d
}

// fxAt returns noon UTC of date s.
func fxAt(s string) time.Time { return fxDate(s).Time().Add(12 * time.Hour) }

type fxTB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// fxWantErr checks err is an *Error of kind and code that names field
// (when field is not empty).
func fxWantErr(t fxTB, err error, kind error, code, field string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, kind) || e.Code != code {
		t.Fatalf("got error %v, want kind %v code %s", err, kind, code)
	}
	if field != "" && !slices.ContainsFunc(e.Fields, func(f FieldError) bool { return f.Field == field }) {
		t.Fatalf("error %v names fields %+v, not %s", err, e.Fields, field)
	}
}

// fxMust returns a function that returns a decision's events, failing t
// on a refusal: fxMust(t)(s.Cancel(...)).
func fxMust(t fxTB) func([]Event, error) []Event {
	return func(events []Event, err error) []Event {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected refusal: %v", err)
		}
		return events
	}
}

// fxReplay applies events in order to a new state.
func fxReplay[S any, P interface {
	*S
	Apply(Event)
}](events []Event) *S {
	s := P(new(S))
	for _, e := range events {
		s.Apply(e)
	}
	return (*S)(s)
}

// fxRoundTrip passes events through MarshalEvent and UnmarshalEvent.
func fxRoundTrip(t fxTB, events []Event) []Event {
	t.Helper()
	out := make([]Event, 0, len(events))
	for _, e := range events {
		name, version, data, err := MarshalEvent(e)
		if err != nil {
			t.Fatalf("marshal %T: %v", e, err)
		}
		back, err := UnmarshalEvent(name, version, data)
		if err != nil {
			t.Fatalf("unmarshal %s %s: %v", name, data, err)
		}
		out = append(out, back)
	}
	return out
}

// fxCheckReplay checks that events, applied directly and after a JSON
// round trip, rebuild want.
func fxCheckReplay[S any, P interface {
	*S
	Apply(Event)
}](t fxTB, events []Event, want *S) {
	t.Helper()
	if got := fxReplay[S, P](events); !reflect.DeepEqual(got, want) {
		t.Fatalf("replay differs:\n got %+v\nwant %+v", got, want)
	}
	if got := fxReplay[S, P](fxRoundTrip(t, events)); !reflect.DeepEqual(got, want) {
		t.Fatalf("replay after JSON differs:\n got %+v\nwant %+v", got, want)
	}
}

func fxAccount(t fxTB, currency string) *Account {
	t.Helper()
	var a Account
	cmd := CreateAccount{AccountID: fxAcct, TenantID: fxTenant, Name: "Acme", Currency: currency,
		Billing: BillingInput{ContactName: "Ada", Email: "ada@acme.example"}}
	for _, e := range fxMust(t)(a.Create(cmd, fxPartner, fxAt("2025-01-01"))) {
		a.Apply(e)
	}
	return &a
}

func fxCatalog(t fxTB) map[uuid.UUID]*Product {
	t.Helper()
	var p Product
	cmd := CreateProduct{ProductID: fxProduct, TenantID: fxTenant, Name: "Suite", SKU: "SUITE-1", NewID: fxIDs(101),
		Charges: []ChargeInput{
			{Name: "Seat", Type: "recurring", Price: "10.00", Currency: "EUR", BillingPeriod: "month"},
			{Name: "Support", Type: "recurring", Price: "30", Currency: "EUR", BillingPeriod: "quarter"},
			{Name: "Platform", Type: "recurring", Price: "120.00", Currency: "EUR", BillingPeriod: "year"},
			{Name: "Setup", Type: "one_time", Price: "50", Currency: "EUR"},
			{Name: "API calls", Type: "usage", Price: "0.002", Currency: "EUR", Unit: "call"},
			{Name: "Seat (US)", Type: "recurring", Price: "12", Currency: "USD", BillingPeriod: "month"},
		}}
	for _, e := range fxMust(t)(p.Create(cmd, fxActor, fxAt("2025-01-01"))) {
		p.Apply(e)
	}
	return map[uuid.UUID]*Product{fxProduct: &p}
}

func fxItem(charge uuid.UUID, qty int64) ItemInput {
	return ItemInput{ProductID: fxProduct, ChargeID: charge, Quantity: decimal.NewFromInt(qty)}
}

// fxCreateCmd orders, from 2025-01-31 and evergreen, 5 seats, 2 support,
// 1 platform and the API calls; item ids are fxID(200) on.
func fxCreateCmd() CreateSubscription {
	return CreateSubscription{
		SubscriptionID: fxSubID, TenantID: fxTenant, AccountID: fxAcct, StartDate: fxDate("2025-01-31"),
		Term:  TermInput{Type: "evergreen"},
		Items: []ItemInput{fxItem(fxSeat, 5), fxItem(fxSupport, 2), fxItem(fxPlatform, 1), fxItem(fxCalls, 1)},
		NewID: fxIDs(200),
	}
}

// fxSubscription is a subscription with the events that built it.
type fxSubscription struct {
	*Subscription
	log []Event
}

func fxNewSub(t fxTB, cmd CreateSubscription) fxSubscription {
	t.Helper()
	s := fxSubscription{Subscription: &Subscription{}}
	return s.apply(fxMust(t)(s.Create(cmd, fxAccount(t, "EUR"), fxCatalog(t), fxPartner, fxAt("2025-01-20"))))
}

func (s fxSubscription) apply(events []Event) fxSubscription {
	for _, e := range events {
		s.Apply(e)
	}
	s.log = append(s.log, events...)
	return s
}

func (s fxSubscription) amend(t fxTB, eff string, changes ...ChangeInput) fxSubscription {
	t.Helper()
	cmd := AmendSubscription{EffectiveDate: fxDate(eff), Changes: changes, NewID: fxIDs(300 + len(s.log)*10)}
	return s.apply(fxMust(t)(s.Amend(cmd, fxCatalog(t), fxActor, fxAt(eff))))
}

func (s fxSubscription) cancel(t fxTB, today string, cmd CancelSubscription) fxSubscription {
	t.Helper()
	return s.apply(fxMust(t)(s.Cancel(cmd, fxActor, fxAt(today))))
}

func fxAdd(charge uuid.UUID, qty int64) ChangeInput {
	return ChangeInput{Type: "add_item", ProductID: fxProduct, ChargeID: charge, Quantity: decimal.NewFromInt(qty)}
}

func fxRemove(item uuid.UUID) ChangeInput { return ChangeInput{Type: "remove_item", ItemID: item} }

func fxQty(item uuid.UUID, qty int64) ChangeInput {
	return ChangeInput{Type: "change_quantity", ItemID: item, Quantity: decimal.NewFromInt(qty)}
}

func TestCreateSubscription(t *testing.T) {
	t.Parallel()
	s := fxNewSub(t, fxCreateCmd())
	if s.Currency != "EUR" || s.AccountID != fxAcct || s.StartDate != fxDate("2025-01-31") || len(s.Items) != 4 {
		t.Fatalf("unexpected state %+v", s.Subscription)
	}
	seat := s.Items[0]
	if seat.ID != fxID(200) || seat.Name != "Seat" || seat.Quantity != 5 || !seat.UnitPrice.Equal(decimal.NewFromInt(10)) ||
		seat.BillingPeriod != PeriodMonth || seat.EffectiveFrom != s.StartDate || !seat.EffectiveTo.IsZero() {
		t.Fatalf("unexpected seat %+v", seat)
	}
	if calls := s.Items[3]; calls.Type != ChargeUsage || calls.Unit != "call" || calls.BillingPeriod != "" {
		t.Fatalf("unexpected usage item %+v", calls)
	}
	if s.CreatedBy != fxPartner || s.CreatedByPartner() != fxPartner.PartnerID || !s.UpdatedAt.Equal(s.CreatedAt) {
		t.Fatalf("creation not recorded: %+v", s.Subscription)
	}
	fxCheckReplay[Subscription](t, s.log, s.Subscription)
	_, err := s.Create(fxCreateCmd(), fxAccount(t, "EUR"), fxCatalog(t), fxActor, fxAt("2025-01-20"))
	fxWantErr(t, err, ErrConflict, CodeConflict, "")
}

func TestCreateSubscriptionRules(t *testing.T) {
	t.Parallel()
	price := func(s string) *string { return &s }
	tests := []struct {
		name  string
		edit  func(c *CreateSubscription, a *Account)
		kind  error
		code  string
		field string
	}{
		{"account closed", func(_ *CreateSubscription, a *Account) { a.Status = AccountStatusClosed },
			ErrRule, CodeAccountNotActive, ""},
		{"account of another tenant", func(_ *CreateSubscription, a *Account) { a.TenantID = fxID(9) },
			ErrNotFound, CodeNotFound, ""},
		{"other account", func(c *CreateSubscription, _ *Account) { c.AccountID = fxID(11) },
			ErrNotFound, CodeNotFound, ""},
		{"currency mismatch", func(c *CreateSubscription, _ *Account) { c.Items[1] = fxItem(fxSeatUSD, 1) },
			ErrRule, CodeCurrencyMismatch, "items[1].charge_id"},
		{"unknown product", func(c *CreateSubscription, _ *Account) { c.Items[0].ProductID = fxID(999) },
			ErrRule, CodeUnknownProduct, "items[0].product_id"},
		{"unknown charge", func(c *CreateSubscription, _ *Account) { c.Items[2].ChargeID = fxID(999) },
			ErrRule, CodeUnknownCharge, "items[2].charge_id"},
		{"zero quantity", func(c *CreateSubscription, _ *Account) { c.Items[0] = fxItem(fxSeat, 0) },
			ErrRule, CodeInvalidQuantity, "items[0].quantity"},
		{"negative quantity", func(c *CreateSubscription, _ *Account) { c.Items[0] = fxItem(fxSeat, -3) },
			ErrRule, CodeInvalidQuantity, "items[0].quantity"},
		{"too many", func(c *CreateSubscription, _ *Account) { c.Items[3] = fxItem(fxSeat, 1_000_001) },
			ErrRule, CodeInvalidQuantity, "items[3].quantity"},
		{"fractional quantity", func(c *CreateSubscription, _ *Account) {
			c.Items[0].Quantity = decimal.RequireFromString("1.5")
		}, ErrRule, CodeInvalidQuantity, "items[0].quantity"},
		{"absurd exponent", func(c *CreateSubscription, _ *Account) {
			c.Items[0].Quantity = decimal.RequireFromString("1e999999999")
		}, ErrRule, CodeInvalidQuantity, "items[0].quantity"},
		{"missing quantity", func(c *CreateSubscription, _ *Account) { c.Items[0].Quantity = decimal.Decimal{} },
			ErrRule, CodeInvalidQuantity, "items[0].quantity"},
		{"no items", func(c *CreateSubscription, _ *Account) { c.Items = nil },
			ErrRule, CodeNoItems, "items"},
		{"termed without months", func(c *CreateSubscription, _ *Account) { c.Term = TermInput{Type: "termed"} },
			ErrRule, CodeInvalidTerm, "term.months"},
		{"termed too long", func(c *CreateSubscription, _ *Account) { c.Term = TermInput{Type: "termed", Months: 121} },
			ErrRule, CodeInvalidTerm, "term.months"},
		{"evergreen with months", func(c *CreateSubscription, _ *Account) { c.Term.Months = 12 },
			ErrRule, CodeInvalidTerm, "term.months"},
		{"evergreen renewing", func(c *CreateSubscription, _ *Account) { c.Term.AutoRenew = true },
			ErrRule, CodeInvalidTerm, "term.auto_renew"},
		{"unknown term type", func(c *CreateSubscription, _ *Account) { c.Term.Type = "forever" },
			ErrInvalid, CodeInvalid, "term.type"},
		{"missing start", func(c *CreateSubscription, _ *Account) { c.StartDate = Date{} },
			ErrInvalid, CodeInvalid, "start_date"},
		{"negative override", func(c *CreateSubscription, _ *Account) { c.Items[1].UnitPrice = price("-1") },
			ErrInvalid, CodeInvalid, "items[1].unit_price"},
		{"malformed override", func(c *CreateSubscription, _ *Account) { c.Items[1].UnitPrice = price("1e3") },
			ErrInvalid, CodeInvalid, "items[1].unit_price"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd, account := fxCreateCmd(), fxAccount(t, "EUR")
			tt.edit(&cmd, account)
			var s Subscription
			events, err := s.Create(cmd, account, fxCatalog(t), fxActor, fxAt("2025-01-20"))
			fxWantErr(t, err, tt.kind, tt.code, tt.field)
			if events != nil {
				t.Fatalf("a refusal decided events: %v", events)
			}
		})
	}
}

func TestCreateSubscriptionReportsEveryFault(t *testing.T) {
	t.Parallel()
	cmd := fxCreateCmd()
	cmd.Items[0] = fxItem(fxSeat, 0)
	cmd.Items[2].ProductID = fxID(999)
	cmd.Term = TermInput{Type: "termed", Months: 0}
	var s Subscription
	_, err := s.Create(cmd, fxAccount(t, "EUR"), fxCatalog(t), fxActor, fxAt("2025-01-20"))
	fxWantErr(t, err, ErrRule, CodeInvalidTerm, "term.months")
	fxWantErr(t, err, ErrRule, CodeInvalidTerm, "items[0].quantity")
	fxWantErr(t, err, ErrRule, CodeInvalidTerm, "items[2].product_id")
}

func TestCreateSubscriptionOverridesPrice(t *testing.T) {
	t.Parallel()
	cmd := fxCreateCmd()
	over := "7.50"
	cmd.Items[0].UnitPrice = &over
	cmd.Items[1] = fxItem(fxSeat, 1_000_000)
	cmd.Term = TermInput{Type: "termed", Months: 12, AutoRenew: true}
	s := fxNewSub(t, cmd)
	if !s.Items[0].UnitPrice.Equal(decimal.RequireFromString("7.5")) || !s.Items[1].UnitPrice.Equal(decimal.NewFromInt(10)) {
		t.Fatalf("override not applied: %v, %v", s.Items[0].UnitPrice, s.Items[1].UnitPrice)
	}
	if s.Term != (Term{Type: TermTermed, Months: 12, AutoRenew: true}) || s.Items[1].Quantity != 1_000_000 {
		t.Fatalf("unexpected %+v", s.Subscription)
	}
	fxCheckReplay[Subscription](t, s.log, s.Subscription)
}

func TestAmendSubscription(t *testing.T) {
	t.Parallel()
	s := fxNewSub(t, fxCreateCmd())
	s = s.amend(t, "2025-03-01", fxQty(fxID(200), 8), fxRemove(fxID(202)), fxAdd(fxSetup, 1))
	s = s.amend(t, "2025-03-01", fxQty(fxID(200), 9), fxQty(fxID(200), 10))
	s = s.amend(t, "2025-04-15", fxQty(fxID(201), 3))
	seat, _ := s.Item(fxID(200))
	wantHist := []QuantityChange{{fxDate("2025-01-31"), 5}, {fxDate("2025-03-01"), 10}}
	if seat.Quantity != 10 || !reflect.DeepEqual(seat.Quantities, wantHist) {
		t.Fatalf("seat history %+v", seat)
	}
	if seat.QuantityOn(fxDate("2025-02-28")) != 5 || seat.QuantityOn(fxDate("2025-03-01")) != 10 || seat.QuantityOn(fxDate("2024-01-01")) != 5 {
		t.Fatal("QuantityOn reads the history wrongly")
	}
	platform, _ := s.Item(fxID(202))
	if platform.EffectiveTo != fxDate("2025-03-01") || platform.InEffectOn(fxDate("2025-03-01")) || !platform.InEffectOn(fxDate("2025-02-28")) {
		t.Fatalf("removal: %+v", platform)
	}
	setup, found := s.Item(fxID(300 + 10))
	if !found || setup.EffectiveFrom != fxDate("2025-03-01") || setup.Type != ChargeOneTime {
		t.Fatalf("added item %+v (found %v) among %+v", setup, found, s.Items)
	}
	if got := len(s.ItemsOn(fxDate("2025-02-01"))); got != 4 {
		t.Fatalf("ItemsOn(2025-02-01) has %d items", got)
	}
	if s.LastChangeDate != fxDate("2025-04-15") || !s.UpdatedAt.Equal(fxAt("2025-04-15")) {
		t.Fatalf("last change %s, updated %s", s.LastChangeDate, s.UpdatedAt)
	}
	fxCheckReplay[Subscription](t, s.log, s.Subscription)
}

func TestAmendSubscriptionRules(t *testing.T) {
	t.Parallel()
	seat, support, platform, calls := fxID(200), fxID(201), fxID(202), fxID(203)
	removeAll := []ChangeInput{fxRemove(seat), fxRemove(support), fxRemove(platform), fxRemove(calls)}
	tests := []struct {
		name    string
		prior   func(t *testing.T, s fxSubscription) fxSubscription
		eff     string
		changes []ChangeInput
		kind    error
		code    string
		field   string
	}{
		{"before start", nil, "2025-01-30", []ChangeInput{fxQty(seat, 2)},
			ErrRule, CodeEffectiveDateBeforeStart, "effective_date"},
		{"unknown item", nil, "2025-02-01", []ChangeInput{fxQty(seat, 2), fxQty(fxID(999), 2)},
			ErrRule, CodeUnknownItem, "changes[1].item_id"},
		{"remove unknown item", nil, "2025-02-01", []ChangeInput{fxRemove(fxID(999))},
			ErrRule, CodeUnknownItem, "changes[0].item_id"},
		{"removed earlier", func(t *testing.T, s fxSubscription) fxSubscription {
			return s.amend(t, "2025-02-01", fxRemove(seat))
		}, "2025-02-02", []ChangeInput{fxQty(seat, 2)}, ErrRule, CodeItemAlreadyRemoved, "changes[0].item_id"},
		{"removed twice in one amendment", nil, "2025-02-01", []ChangeInput{fxRemove(seat), fxRemove(seat)},
			ErrRule, CodeItemAlreadyRemoved, "changes[1].item_id"},
		{"changed after its removal", nil, "2025-02-01", []ChangeInput{fxRemove(seat), fxQty(seat, 3)},
			ErrRule, CodeItemAlreadyRemoved, "changes[1].item_id"},
		{"last item", nil, "2025-02-01", removeAll, ErrRule, CodeWouldRemoveLastItem, "changes[3].item_id"},
		{"last remaining item", func(t *testing.T, s fxSubscription) fxSubscription {
			return s.amend(t, "2025-02-01", fxRemove(seat), fxRemove(support), fxRemove(calls))
		}, "2025-02-01", []ChangeInput{fxRemove(platform)}, ErrRule, CodeWouldRemoveLastItem, "changes[0].item_id"},
		{"quantity zero", nil, "2025-02-01", []ChangeInput{fxQty(seat, 2), fxQty(support, 0)},
			ErrRule, CodeInvalidQuantity, "changes[1].quantity"},
		{"added quantity too big", nil, "2025-02-01", []ChangeInput{fxAdd(fxSeat, 1_000_001)},
			ErrRule, CodeInvalidQuantity, "changes[0].quantity"},
		{"unknown product", nil, "2025-02-01", []ChangeInput{{Type: "add_item", ProductID: fxID(998), ChargeID: fxSeat, Quantity: decimal.NewFromInt(1)}},
			ErrRule, CodeUnknownProduct, "changes[0].product_id"},
		{"unknown charge", nil, "2025-02-01", []ChangeInput{fxAdd(fxID(998), 1)},
			ErrRule, CodeUnknownCharge, "changes[0].charge_id"},
		{"currency mismatch", nil, "2025-02-01", []ChangeInput{fxQty(seat, 1), fxAdd(fxSeatUSD, 1)},
			ErrRule, CodeCurrencyMismatch, "changes[1].charge_id"},
		{"pending cancellation", func(t *testing.T, s fxSubscription) fxSubscription {
			return s.cancel(t, "2025-02-10", CancelSubscription{Policy: "end_of_term"})
		}, "2025-02-15", []ChangeInput{fxQty(seat, 2)}, ErrRule, CodeSubscriptionNotActive, ""},
		{"cancelled", func(t *testing.T, s fxSubscription) fxSubscription {
			return s.cancel(t, "2025-02-10", CancelSubscription{Policy: "immediate"})
		}, "2025-02-15", []ChangeInput{fxQty(seat, 2)}, ErrRule, CodeSubscriptionNotActive, ""},
		{"before an earlier amendment", func(t *testing.T, s fxSubscription) fxSubscription {
			return s.amend(t, "2025-03-01", fxQty(seat, 4))
		}, "2025-02-28", []ChangeInput{fxQty(seat, 2)}, ErrInvalid, CodeInvalid, "effective_date"},
		{"no effective date", nil, "", []ChangeInput{fxQty(seat, 2)}, ErrInvalid, CodeInvalid, "effective_date"},
		{"no changes", nil, "2025-02-01", nil, ErrInvalid, CodeInvalid, "changes"},
		{"unknown change", nil, "2025-02-01", []ChangeInput{{Type: "swap_item", ItemID: seat}},
			ErrInvalid, CodeInvalid, "changes[0].type"},
		{"remove without item", nil, "2025-02-01", []ChangeInput{{Type: "remove_item"}},
			ErrInvalid, CodeInvalid, "changes[0].item_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := fxNewSub(t, fxCreateCmd())
			if tt.prior != nil {
				s = tt.prior(t, s)
			}
			before := fxReplay[Subscription](s.log)
			cmd := AmendSubscription{Changes: tt.changes, NewID: fxIDs(500)}
			if tt.eff != "" {
				cmd.EffectiveDate = fxDate(tt.eff)
			}
			events, err := s.Amend(cmd, fxCatalog(t), fxActor, fxAt("2025-02-20"))
			fxWantErr(t, err, tt.kind, tt.code, tt.field)
			if events != nil || !reflect.DeepEqual(before, s.Subscription) {
				t.Fatalf("a refusal decided events %v or changed the state", events)
			}
		})
	}
}

func TestAmendMayReplaceEveryItem(t *testing.T) {
	t.Parallel()
	s := fxNewSub(t, fxCreateCmd())
	s = s.amend(t, "2025-02-01", fxRemove(fxID(200)), fxRemove(fxID(201)), fxRemove(fxID(202)),
		fxRemove(fxID(203)), fxAdd(fxPlatform, 2))
	if got := s.ItemsOn(fxDate("2025-02-01")); len(got) != 1 || got[0].Quantity != 2 {
		t.Fatalf("items in effect: %+v", got)
	}
}

func TestAmendTermedSubscription(t *testing.T) {
	t.Parallel()
	cmd := fxCreateCmd()
	cmd.Term = TermInput{Type: "termed", Months: 3}
	s := fxNewSub(t, cmd)
	_, err := s.Amend(AmendSubscription{EffectiveDate: fxDate("2025-04-30"), Changes: []ChangeInput{fxQty(fxID(200), 1)}},
		fxCatalog(t), fxActor, fxAt("2025-04-01"))
	fxWantErr(t, err, ErrRule, CodeSubscriptionNotActive, "effective_date")
	_, err = s.Amend(AmendSubscription{EffectiveDate: fxDate("2025-05-01"), Changes: []ChangeInput{fxQty(fxID(200), 1)}},
		fxCatalog(t), fxActor, fxAt("2025-05-01"))
	fxWantErr(t, err, ErrRule, CodeSubscriptionNotActive, "")
	s.amend(t, "2025-04-29", fxQty(fxID(200), 1))
}

func TestApplyLeavesCopiesAlone(t *testing.T) {
	t.Parallel()
	s := fxNewSub(t, fxCreateCmd())
	s = s.amend(t, "2025-02-01", fxQty(fxID(200), 6))
	kept := fxReplay[Subscription](s.log)
	shallow := *s.Subscription
	events := fxMust(t)(shallow.Amend(AmendSubscription{EffectiveDate: fxDate("2025-02-01"),
		Changes: []ChangeInput{fxQty(fxID(200), 7), fxRemove(fxID(201))}}, fxCatalog(t), fxActor, fxAt("2025-02-01")))
	shallow.Apply(events[0])
	if !reflect.DeepEqual(s.Subscription, kept) {
		t.Fatal("applying to a shallow copy changed the original")
	}
}
