package domain

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// boundsWant checks the outcome of a decision at a bound: accepted when
// code is empty, else refused with the rule code naming field (or, for
// CodeInvalid, as malformed input).
func boundsWant(t *testing.T, err error, code, field string) {
	t.Helper()
	switch {
	case code == "" && err != nil:
		t.Fatalf("refused: %v", err)
	case code == CodeInvalid:
		fxWantErr(t, err, ErrInvalid, CodeInvalid, field)
	case code != "":
		fxWantErr(t, err, ErrRule, code, field)
	}
}

func TestParseDateBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		code string
	}{
		{"1900-01-01", ""},
		{"1899-12-31", CodeDateOutOfRange},
		{"0001-01-01", CodeDateOutOfRange},
		{"0000-01-01", CodeDateOutOfRange},
		{"9999-12-31", ""},
		{"10000-01-01", CodeDateOutOfRange},
		{"10000-01-15", CodeDateOutOfRange},
		{"123456789-02-29", CodeDateOutOfRange},
		{"10000-13-01", CodeInvalid},
		{"10000-1-01", CodeInvalid},
		{"010000-01-01", CodeInvalid},
		{"+10000-01-01", CodeInvalid},
		{"-0001-01-01", CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			d, err := ParseDate("start_date", tt.in)
			boundsWant(t, err, tt.code, "start_date")
			if tt.code == "" && (d.String() != tt.in || !d.InBounds()) {
				t.Fatalf("ParseDate(%q) = %s, in bounds %v", tt.in, d, d.InBounds())
			}
		})
	}
}

// TestDateJSONReadsEveryRecordedDate decodes the dates an event may hold,
// those recorded before the bounds included, and refuses a year of five
// digits with the rule's code, naming no field it cannot know.
func TestDateJSONReadsEveryRecordedDate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		code string
	}{
		{`"1850-06-01"`, "1850-06-01", ""},
		{`"0001-01-01"`, "0001-01-01", ""},
		{`"9999-12-31"`, "9999-12-31", ""},
		{`"10000-01-15"`, "", CodeDateOutOfRange},
		{`"0000-01-01"`, "", CodeDateOutOfRange},
		{`"2025-02-30"`, "", CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			var d Date
			err := json.Unmarshal([]byte(tt.in), &d)
			if tt.code == "" {
				if err != nil || d.String() != tt.want {
					t.Fatalf("Unmarshal(%s) = %s, %v; want %s", tt.in, d, err, tt.want)
				}
				return
			}
			boundsWant(t, err, tt.code, "")
		})
	}
}

func TestParsePriceBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, code string
	}{
		{"12 digits and 10 places", "999999999999.9999999999", ""},
		{"13 digits", "1000000000000", CodeInvalidPrice},
		{"13 digits with places", "1000000000000.5", CodeInvalidPrice},
		{"11 places", "0.00000000001", CodeInvalidPrice},
		{"11 places, trailing zero", "1.00000000000", CodeInvalidPrice},
		{"leading zeros", "0000000000000000000049.50", ""},
		{"zero", "0", ""},
		{"131,080 digits", strings.Repeat("9", 131_080), CodeInvalidPrice},
		{"a million digits", "1" + strings.Repeat("0", 1_000_000) + ".5", CodeInvalidPrice},
		{"negative", "-1", CodeInvalid},
		{"malformed", "12x", CodeInvalid},
		{"long and malformed", strings.Repeat("x", 40), CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePrice("unit_price", tt.in)
			boundsWant(t, err, tt.code, "unit_price")
			if tt.code == "" && !p.Equal(decimal.RequireFromString(tt.in)) {
				t.Fatalf("ParsePrice(%q) = %s", tt.in, p)
			}
		})
	}
}

func TestUsageQuantityBounds(t *testing.T) {
	t.Parallel()
	s := fxUsageSub(t)
	calls := fxID(203)
	tests := []struct {
		name, quantity, code string
	}{
		{"15 digits and 10 places", "999999999999999.9999999999", ""},
		{"smallest", "0.0000000001", ""},
		{"trailing zeros", "2.500000000000000", ""},
		{"16 digits", "1000000000000000", CodeInvalidQuantity},
		{"10^20", "100000000000000000000", CodeInvalidQuantity},
		{"1e20", "1e20", CodeInvalidQuantity},
		{"11 places", "0.00000000001", CodeInvalidQuantity},
		{"zero", "0", CodeInvalidQuantity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var u SubscriptionUsage
			rec := fxRecord(4, 1, calls, "1", "2025-03-01")
			rec.Quantity = decimal.RequireFromString(tt.quantity)
			events, _, err := u.Record([]UsageRecord{rec}, s.Subscription, fxActor, fxAt("2025-07-10"))
			boundsWant(t, err, tt.code, "records[4].quantity")
			if tt.code == "" && !events[0].(*UsageRecorded).Quantity.Equal(rec.Quantity) {
				t.Fatalf("recorded %s, want %s", events[0].(*UsageRecorded).Quantity, rec.Quantity)
			}
		})
	}
}

// boundsText returns n characters, some of two bytes: the bounds count
// characters.
func boundsText(n int) string { return strings.Repeat("é", n/2) + strings.Repeat("x", n-n/2) }

// boundsEmail returns an email address of n characters.
func boundsEmail(n int) string { return strings.Repeat("a", n-len("@x.io")) + "@x.io" }

func TestTextBounds(t *testing.T) {
	t.Parallel()
	account := func(edit func(*CreateAccount)) error {
		cmd := CreateAccount{AccountID: fxAcct, TenantID: fxTenant, Name: "Acme", Currency: "EUR", Billing: fxBilling()}
		edit(&cmd)
		_, err := (&Account{}).Create(cmd, fxActor, fxAt("2025-01-01"))
		return err
	}
	product := func(edit func(*CreateProduct)) error {
		cmd := CreateProduct{ProductID: fxProduct, TenantID: fxTenant, Name: "Suite", SKU: "S-1",
			Charges: []ChargeInput{{Name: "Seat", Type: "recurring", Price: "10", Currency: "EUR", BillingPeriod: "month"}}}
		edit(&cmd)
		_, err := (&Product{}).Create(cmd, fxActor, fxAt("2025-01-01"))
		return err
	}
	admin := func(name, hash string) NewUser {
		return NewUser{ID: fxID(9), Name: name, Role: RoleTenantAdmin, KeyHash: hash}
	}
	tenant := func(name string, user NewUser) error {
		_, err := (&Tenant{}).Create(CreateTenant{TenantID: fxTenant, Name: name, Admin: user}, fxActor, fxAt("2025-01-01"))
		return err
	}
	partner := func(name string) error {
		_, err := (&Partner{}).Create(CreatePartner{PartnerID: fxID(4), Name: name,
			Admin: NewUser{ID: fxID(9), Name: "Pat", Role: RolePartnerAdmin, KeyHash: "h"}}, fxActor, fxAt("2025-01-01"))
		return err
	}
	tests := []struct {
		name   string
		decide func(n int) error
		max    int
		field  string
	}{
		{"account name", func(n int) error { return account(func(c *CreateAccount) { c.Name = boundsText(n) }) }, 200, "name"},
		{"contact name", func(n int) error {
			return account(func(c *CreateAccount) { c.Billing.ContactName = boundsText(n) })
		}, 200, "billing.contact_name"},
		{"email", func(n int) error { return account(func(c *CreateAccount) { c.Billing.Email = boundsEmail(n) }) }, 254, "billing.email"},
		{"tax id", func(n int) error { return account(func(c *CreateAccount) { c.Billing.TaxID = boundsText(n) }) }, 64, "billing.tax_id"},
		{"address", func(n int) error { return account(func(c *CreateAccount) { c.Billing.Address = boundsText(n) }) }, 1000, "billing.address"},
		{"product name", func(n int) error { return product(func(c *CreateProduct) { c.Name = boundsText(n) }) }, 200, "name"},
		{"charge name", func(n int) error {
			return product(func(c *CreateProduct) { c.Charges[0].Name = boundsText(n) })
		}, 200, "charges[0].name"},
		{"tenant name", func(n int) error { return tenant(boundsText(n), admin("Ada", "h")) }, 200, "name"},
		{"tenant admin name", func(n int) error { return tenant("Acme", admin(boundsText(n), "h")) }, 200, "admin.name"},
		{"key hash", func(n int) error { return tenant("Acme", admin("Ada", boundsText(n))) }, 255, "admin.key_hash"},
		{"partner name", func(n int) error { return partner(boundsText(n)) }, 200, "name"},
		{"revoke reason", func(n int) error {
			_, err := iamGrant(t, iamPut(iamTerms(RolePartnerOperator, true), iamNow)).Revoke(boundsText(n), iamAdmin, iamNow)
			return err
		}, 500, "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			boundsWant(t, tt.decide(tt.max), "", "")
			boundsWant(t, tt.decide(tt.max+1), CodeValueTooLong, tt.field)
			boundsWant(t, tt.decide(10_000), CodeValueTooLong, tt.field)
		})
	}
}

func TestProductPriceBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		price, code string
	}{
		{"999999999999.9999999999", ""},
		{"0.0000000001", ""},
		{"1000000000000", CodeInvalidPrice},
		{"0.00000000001", CodeInvalidPrice},
		{strings.Repeat("1", 131_080), CodeInvalidPrice},
	}
	for _, tt := range tests {
		t.Run(tt.price[:min(len(tt.price), 30)], func(t *testing.T) {
			t.Parallel()
			cmd := CreateProduct{ProductID: fxProduct, TenantID: fxTenant, Name: "Suite", SKU: "S-1", Charges: []ChargeInput{
				{Name: "Seat", Type: "recurring", Price: "10", Currency: "EUR", BillingPeriod: "month"},
				{Name: "Calls", Type: "usage", Price: tt.price, Currency: "EUR", Unit: "call"}}}
			var p Product
			events, err := p.Create(cmd, fxActor, fxAt("2025-01-01"))
			boundsWant(t, err, tt.code, "charges[1].price")
			if tt.code == "" {
				p.Apply(events[0])
				if got := p.Charges[1].Price; !got.Equal(decimal.RequireFromString(tt.price)) {
					t.Fatalf("price %s, want %s", got, tt.price)
				}
			}
		})
	}
}

// boundsCreate decides cmd, from fxCreateCmd with edit applied, against
// a catalog whose seat costs seatPrice (when not empty: a price recorded
// before the bounds), as of now.
func boundsCreate(t *testing.T, edit func(*CreateSubscription), seatPrice string, now time.Time) (*Subscription, error) {
	t.Helper()
	cmd := fxCreateCmd()
	edit(&cmd)
	catalog := fxCatalog(t)
	if seatPrice != "" {
		p := *catalog[fxProduct]
		p.Charges = append([]Charge(nil), p.Charges...)
		p.Charges[0].Price = decimal.RequireFromString(seatPrice)
		catalog[fxProduct] = &p
	}
	s := &Subscription{}
	events, err := s.Create(cmd, fxAccount(t, "EUR"), catalog, fxActor, now)
	for _, e := range events {
		s.Apply(e)
	}
	return s, err
}

func boundsItems(n int) []ItemInput {
	items := make([]ItemInput, n)
	for i := range items {
		items[i] = fxItem(fxSeat, 1)
	}
	return items
}

func TestCreateSubscriptionBounds(t *testing.T) {
	t.Parallel()
	start := func(s string) func(*CreateSubscription) {
		return func(c *CreateSubscription) { c.StartDate = boundsDate(s) }
	}
	termed := func(s string, months int, renew bool) func(*CreateSubscription) {
		return func(c *CreateSubscription) {
			c.StartDate, c.Term = boundsDate(s), TermInput{Type: "termed", Months: months, AutoRenew: renew}
		}
	}
	items := func(n int) func(*CreateSubscription) {
		return func(c *CreateSubscription) { c.Items, c.NewID = boundsItems(n), nil }
	}
	override := func(price string) func(*CreateSubscription) {
		return func(c *CreateSubscription) { c.Items[0].UnitPrice = &price }
	}
	tests := []struct {
		name      string
		edit      func(*CreateSubscription)
		seatPrice string
		code      string
		field     string
	}{
		{"first day", start("1900-01-01"), "", "", ""},
		{"before the first day", start("1899-12-31"), "", CodeDateOutOfRange, "start_date"},
		{"evergreen on the last day", start("9999-12-31"), "", "", ""},
		{"term ends on the last day", termed("9998-12-31", 12, false), "", "", ""},
		{"term ends after it", termed("9999-01-01", 12, false), "", CodeDateOutOfRange, "term.months"},
		{"renewing term ends after it", termed("9999-12-15", 1, true), "", CodeDateOutOfRange, "term.months"},
		{"500 items", items(500), "", "", ""},
		{"501 items", items(501), "", CodeTooManyItems, "items"},
		{"override at the bound", override("999999999999.9999999999"), "", "", ""},
		{"override of 13 digits", override("1000000000000"), "", CodeInvalidPrice, "items[0].unit_price"},
		{"override of 11 places", override("0.00000000001"), "", CodeInvalidPrice, "items[0].unit_price"},
		{"catalog price past the bound", func(*CreateSubscription) {}, strings.Repeat("9", 13), CodeInvalidPrice, "items[0].charge_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := boundsCreate(t, tt.edit, tt.seatPrice, fxAt("2025-01-20"))
			boundsWant(t, err, tt.code, tt.field)
			if tt.code == "" && !s.EndDate().IsZero() && !s.EndDate().InBounds() {
				t.Fatalf("accepted a subscription that ends on %s", s.EndDate())
			}
		})
	}
}

// boundsDate is fxDate for any date an event may hold, so that a test
// can name one out of bounds.
func boundsDate(s string) Date {
	d, err := parseDate("date", s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestAmendBounds(t *testing.T) {
	t.Parallel()
	adds := func(n int) func(*Subscription) []ChangeInput {
		return func(*Subscription) []ChangeInput {
			out := make([]ChangeInput, n)
			for i := range out {
				out[i] = fxAdd(fxSeat, 1)
			}
			return out
		}
	}
	requantify := func(s *Subscription) []ChangeInput { return []ChangeInput{fxQty(s.Items[0].ID, 2)} }
	tests := []struct {
		name      string
		items     int
		effective string
		changes   func(*Subscription) []ChangeInput
		code      string
		field     string
	}{
		{"100 changes", 1, "2025-02-01", adds(100), "", ""},
		{"101 changes", 1, "2025-02-01", adds(101), CodeTooManyChanges, "changes"},
		{"to 500 items", 400, "2025-02-01", adds(100), "", ""},
		{"to 501 items", 401, "2025-02-01", adds(100), CodeTooManyItems, "changes"},
		{"500 items, quantity changed", 500, "2025-02-01", requantify, "", ""},
		{"on the last day", 1, "9999-12-31", requantify, "", ""},
		{"before the first day", 1, "1899-12-31", requantify, CodeDateOutOfRange, "effective_date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := boundsCreate(t, func(c *CreateSubscription) { c.Items, c.NewID = boundsItems(tt.items), nil }, "", fxAt("2025-01-20"))
			boundsWant(t, err, "", "")
			_, err = s.Amend(AmendSubscription{EffectiveDate: boundsDate(tt.effective), Changes: tt.changes(s)},
				fxCatalog(t), fxActor, fxAt("2025-01-25"))
			boundsWant(t, err, tt.code, tt.field)
		})
	}
}

func TestCancelBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(*CreateSubscription)
		today string
		cmd   CancelSubscription
		want  string
		code  string
	}{
		{"evergreen: anniversary on the last day", func(c *CreateSubscription) { c.StartDate = fxDate("9999-11-30") }, "2025-01-20",
			CancelSubscription{Policy: "end_of_term"}, "9999-12-30", ""},
		{"evergreen: anniversary after it", func(c *CreateSubscription) { c.StartDate = fxDate("9999-12-15") }, "2025-01-20",
			CancelSubscription{Policy: "end_of_term"}, "", CodeDateOutOfRange},
		{"renewal ends on the last day", func(c *CreateSubscription) {
			c.StartDate, c.Term = fxDate("9999-09-30"), TermInput{Type: "termed", Months: 3, AutoRenew: true}
		}, "2025-01-20", CancelSubscription{Policy: "end_of_term"}, "9999-12-30", ""},
		{"renewal ends after it", func(c *CreateSubscription) {
			c.StartDate, c.Term = fxDate("9999-10-15"), TermInput{Type: "termed", Months: 1, AutoRenew: true}
		}, "9999-12-20", CancelSubscription{Policy: "end_of_term"}, "", CodeDateOutOfRange},
		{"specific date, the last day", func(c *CreateSubscription) {}, "2025-01-20",
			CancelSubscription{Policy: "specific_date", Date: fxDate("9999-12-31")}, "9999-12-31", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := boundsCreate(t, tt.edit, "", fxAt("2025-01-20"))
			boundsWant(t, err, "", "")
			events, err := s.Cancel(tt.cmd, fxActor, fxAt(tt.today))
			boundsWant(t, err, tt.code, "policy")
			if tt.code == "" {
				if got := events[0].(*SubscriptionCancelled).CancelDate; got.String() != tt.want {
					t.Fatalf("cancel date %s, want %s", got, tt.want)
				}
			} else if events != nil {
				t.Fatalf("a refusal decided %v", events)
			}
		})
	}
}

// TestBoundsHoldEveryDerivedDate: whatever start date, term and day a
// subscription is cancelled on, every date the domain accepts and
// derives (start, term end, cancel date) lies inside the bounds.
func TestBoundsHoldEveryDerivedDate(t *testing.T) {
	t.Parallel()
	starts := []string{"1900-01-01", "2025-01-31", "9998-12-31", "9999-01-31", "9999-11-30", "9999-12-01", "9999-12-31"}
	terms := []TermInput{{Type: "evergreen"}, {Type: "termed", Months: 1}, {Type: "termed", Months: 1, AutoRenew: true},
		{Type: "termed", Months: 12, AutoRenew: true}, {Type: "termed", Months: 120}}
	todays := []string{"2025-01-20", "9999-06-30", "9999-12-31"}
	for _, start := range starts {
		for _, term := range terms {
			s, err := boundsCreate(t, func(c *CreateSubscription) { c.StartDate, c.Term = fxDate(start), term }, "", fxAt("2025-01-20"))
			if err != nil {
				boundsWant(t, err, CodeDateOutOfRange, "term.months")
				continue
			}
			if end := s.EndDate(); !end.IsZero() && !end.InBounds() {
				t.Fatalf("%+v from %s: ends on %s", term, start, end)
			}
			for _, today := range todays {
				for _, policy := range []string{"immediate", "end_of_term"} {
					events, err := s.Cancel(CancelSubscription{Policy: policy}, fxActor, fxAt(today))
					if err != nil {
						continue
					}
					if d := events[0].(*SubscriptionCancelled).CancelDate; !d.InBounds() {
						t.Fatalf("%+v from %s, %s on %s: cancel date %s", term, start, policy, today, d)
					}
				}
			}
		}
	}
}
