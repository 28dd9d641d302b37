package domain

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Status is a subscription's status on a date.
type Status string

// The statuses of a subscription.
const (
	StatusActive              Status = "active"
	StatusPendingCancellation Status = "pending_cancellation"
	StatusCancelled           Status = "cancelled"
)

// Limits of a subscription's quantities; its items and dates are
// bounded in bounds.go.
const (
	MinQuantity = 1
	MaxQuantity = 1_000_000
)

// ItemSpec is what an item is when it is added, by a subscription's
// creation or by an amendment: its charge, resolved from the catalog, and
// its quantity and unit price.
type ItemSpec struct {
	ID            uuid.UUID       `json:"id"`
	ProductID     uuid.UUID       `json:"product_id"`
	ChargeID      uuid.UUID       `json:"charge_id"`
	Name          string          `json:"name"`
	Type          ChargeType      `json:"type"`
	Quantity      int             `json:"quantity"`
	UnitPrice     decimal.Decimal `json:"unit_price"`
	BillingPeriod BillingPeriod   `json:"billing_period,omitempty"`
	Unit          string          `json:"unit,omitempty"`
}

// QuantityChange is an item's quantity from a date on.
type QuantityChange struct {
	From     Date `json:"from"`
	Quantity int  `json:"quantity"`
}

// Item is a subscription item: in effect from EffectiveFrom (inclusive)
// until EffectiveTo (exclusive; zero while never removed). An item keeps
// its id when its quantity changes: Quantities holds the history, oldest
// first, starting at EffectiveFrom, and Quantity is the latest.
type Item struct {
	ItemSpec
	EffectiveFrom Date
	EffectiveTo   Date
	Quantities    []QuantityChange
}

// InEffectOn reports whether the item is in effect on date d.
func (i Item) InEffectOn(d Date) bool {
	return !d.Before(i.EffectiveFrom) && (i.EffectiveTo.IsZero() || d.Before(i.EffectiveTo))
}

// QuantityOn returns the item's quantity on date d: that of the last
// change on or before d, or the first quantity when d precedes them all.
func (i Item) QuantityOn(d Date) int {
	q := i.Quantity
	if len(i.Quantities) > 0 {
		q = i.Quantities[0].Quantity
	}
	for _, c := range i.Quantities {
		if c.From.After(d) {
			break
		}
		q = c.Quantity
	}
	return q
}

// Subscription is the state of a subscription. LastChangeDate is the
// effective date of its latest change: the start date, or the last
// amendment's; amendments take effect in order, never before it.
type Subscription struct {
	ID             uuid.UUID
	TenantID       uuid.UUID
	AccountID      uuid.UUID
	Currency       Currency
	StartDate      Date
	Term           Term
	Items          []Item
	LastChangeDate Date
	CancelDate     Date
	CancelPolicy   CancelPolicy
	CancelReason   string
	CreatedBy      Actor
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Version        uint64
	// Scheduled, ItemsBefore and ChangeDateBefore are what withdrawing a
	// scheduled change needs (see subscription_scheduled.go).
	Scheduled        []ScheduledChange
	ItemsBefore      []Item
	ChangeDateBefore Date
	// TermsRenewed counts the renewals recorded, and TermEnded says that
	// the end of the term was (term_events.go).
	TermsRenewed int
	TermEnded    bool
}

// SubscriptionCreated records a new subscription with its first items,
// all in effect from the start date.
type SubscriptionCreated struct {
	SubscriptionID uuid.UUID  `json:"subscription_id"`
	TenantID       uuid.UUID  `json:"tenant_id"`
	AccountID      uuid.UUID  `json:"account_id"`
	Currency       Currency   `json:"currency"`
	StartDate      Date       `json:"start_date"`
	Term           Term       `json:"term"`
	Items          []ItemSpec `json:"items"`
	CreatedBy      Actor      `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
}

// EventType implements Event.
func (*SubscriptionCreated) EventType() string { return "SubscriptionCreated" }

func init() {
	register(
		func() Event { return &SubscriptionCreated{} },
		func() Event { return &SubscriptionAmended{} },
		func() Event { return &SubscriptionCancelled{} },
	)
}

// ItemInput is an item as a caller orders it. Quantity is a decimal so
// that 1.5 is refused as invalid_quantity rather than as malformed JSON;
// UnitPrice, a decimal string, overrides the charge's price when not nil
// (whether the caller may override is the command layer's check).
type ItemInput struct {
	ProductID uuid.UUID
	ChargeID  uuid.UUID
	Quantity  decimal.Decimal
	UnitPrice *string
}

// CreateSubscription is the command to create a subscription. NewID gives
// the items their ids, in order; nil means random UUID v7s.
type CreateSubscription struct {
	SubscriptionID uuid.UUID
	TenantID       uuid.UUID
	AccountID      uuid.UUID
	StartDate      Date
	Term           TermInput
	Items          []ItemInput
	NewID          func() uuid.UUID
}

// Exists reports whether the subscription was created.
func (s *Subscription) Exists() bool { return s.ID != uuid.Nil }

// CreatedByPartner returns the partner whose user created the
// subscription, or uuid.Nil: reports attribute its revenue to it.
func (s *Subscription) CreatedByPartner() uuid.UUID {
	if s.CreatedBy.Type != ActorPartnerUser {
		return uuid.Nil
	}
	return s.CreatedBy.PartnerID
}

// Item returns the subscription's item with id id.
func (s *Subscription) Item(id uuid.UUID) (Item, bool) {
	i := slices.IndexFunc(s.Items, func(it Item) bool { return it.ID == id })
	if i < 0 {
		return Item{}, false
	}
	return s.Items[i], true
}

// ItemsOn returns the items in effect on date d, each with Quantity set to
// its quantity on d.
func (s *Subscription) ItemsOn(d Date) []Item {
	var items []Item
	for _, it := range s.Items {
		if it.InEffectOn(d) {
			it.Quantity = it.QuantityOn(d)
			items = append(items, it)
		}
	}
	return items
}

// Apply evolves the subscription by one of its events. It never writes
// to slices it shares with a copy of the state or with the event.
func (s *Subscription) Apply(e Event) {
	s.Version++
	switch e := e.(type) {
	case *SubscriptionCreated:
		s.ID, s.TenantID, s.AccountID, s.Currency = e.SubscriptionID, e.TenantID, e.AccountID, e.Currency
		s.StartDate, s.Term, s.LastChangeDate = e.StartDate, e.Term, e.StartDate
		s.Items = nil
		for _, spec := range e.Items {
			s.Items = append(s.Items, newItem(spec, e.StartDate))
		}
		s.CreatedBy, s.CreatedAt, s.UpdatedAt = e.CreatedBy, e.CreatedAt, e.CreatedAt
	case *SubscriptionAmended:
		s.applyAmended(e)
	case *ScheduledChangeWithdrawn:
		s.applyWithdrawn(e)
	case *SubscriptionCancelled:
		s.CancelDate, s.CancelPolicy, s.CancelReason = e.CancelDate, e.Policy, e.Reason
		s.UpdatedAt = e.CancelledAt
	case *SubscriptionRenewed, *SubscriptionTermEnded:
		s.applyTermEvent(e)
	}
}

func newItem(spec ItemSpec, from Date) Item {
	return Item{ItemSpec: spec, EffectiveFrom: from, Quantities: []QuantityChange{{From: from, Quantity: spec.Quantity}}}
}

// applyChange applies one change of an amendment effective on date d; the
// caller has cloned s.Items.
func (s *Subscription) applyChange(c Change, d Date) {
	if c.Type == ChangeAddItem && c.Item != nil {
		s.Items = append(s.Items, newItem(*c.Item, d))
		return
	}
	i := slices.IndexFunc(s.Items, func(it Item) bool { return it.ID == c.ItemID })
	if i < 0 {
		return
	}
	it := &s.Items[i]
	switch c.Type {
	case ChangeRemoveItem:
		it.EffectiveTo = d
	case ChangeQuantity:
		it.Quantity = c.Quantity
		hist := slices.Clone(it.Quantities)
		if n := len(hist); n > 0 && hist[n-1].From == d {
			hist = hist[:n-1]
		}
		it.Quantities = append(hist, QuantityChange{From: d, Quantity: c.Quantity})
	}
}

// Create decides the subscription: account and products are the facts it
// refers to, loaded by the command layer (nil or absent when unknown).
// Every item is checked, and every fault reported with its field path.
func (s *Subscription) Create(cmd CreateSubscription, account *Account, products map[uuid.UUID]*Product, by Actor, now time.Time) ([]Event, error) {
	if s.Exists() {
		return nil, Conflict("subscription already exists")
	}
	if cmd.SubscriptionID == uuid.Nil || cmd.TenantID == uuid.Nil {
		return nil, Invalid("subscription_id", "subscription and tenant ids are required")
	}
	if account == nil || !account.Exists() || account.ID != cmd.AccountID || account.TenantID != cmd.TenantID {
		return nil, NotFound("account")
	}
	if account.Status != AccountStatusActive {
		return nil, RuleError(CodeAccountNotActive, "the account is closed")
	}
	var f faults
	if cmd.StartDate.IsZero() {
		f.add(Invalid("start_date", "is required"))
	}
	f.add(checkDate("start_date", "the start date", cmd.StartDate))
	term, err := newTerm(cmd.Term)
	f.add(err)
	if err == nil {
		f.add(checkTermEnd(cmd.StartDate, term))
	}
	switch n := len(cmd.Items); {
	case n == 0:
		f.add(RuleError(CodeNoItems, "a subscription needs at least one item").AtField("items"))
	case n > MaxItems:
		f.add(tooManyItems("items", n))
	}
	newID := idSource(cmd.NewID)
	specs := make([]ItemSpec, 0, len(cmd.Items))
	for i, in := range cmd.Items {
		spec, err := resolveItem(fmt.Sprintf("items[%d].", i), in, account.Currency, cmd.TenantID, products)
		f.add(err)
		spec.ID = newID()
		specs = append(specs, spec)
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	return []Event{&SubscriptionCreated{
		SubscriptionID: cmd.SubscriptionID, TenantID: cmd.TenantID, AccountID: account.ID,
		Currency: account.Currency, StartDate: cmd.StartDate, Term: term, Items: specs,
		CreatedBy: by, CreatedAt: now.UTC(),
	}}, nil
}

// resolveItem checks an ordered item against the catalog and currency;
// field paths begin with prefix. The spec's ID is left for the caller.
func resolveItem(prefix string, in ItemInput, cur Currency, tenant uuid.UUID, products map[uuid.UUID]*Product) (ItemSpec, *Error) {
	var f faults
	spec := ItemSpec{ProductID: in.ProductID, ChargeID: in.ChargeID}
	p := products[in.ProductID]
	c, found := Charge{}, false
	switch {
	case p == nil || !p.Exists() || p.ID != in.ProductID || p.TenantID != tenant:
		f.add(RuleError(CodeUnknownProduct, "no product %s in the catalog", in.ProductID).AtField(prefix + "product_id"))
	default:
		if c, found = p.Charge(in.ChargeID); !found {
			f.add(RuleError(CodeUnknownCharge, "product %s has no charge %s", p.ID, in.ChargeID).AtField(prefix + "charge_id"))
		} else if c.Currency != cur {
			f.add(RuleError(CodeCurrencyMismatch, "the charge is in %s, the account in %s", c.Currency, cur).AtField(prefix + "charge_id"))
		}
	}
	q, ok := wholeQuantity(in.Quantity)
	if !ok {
		f.add(quantityError(prefix + "quantity"))
	}
	price := c.Price
	if in.UnitPrice != nil {
		override, err := ParsePrice(prefix+"unit_price", *in.UnitPrice)
		f.addErr(err)
		price = override
	} else if found {
		f.add(checkPrice(prefix+"charge_id", price))
	}
	if f.first != nil {
		return spec, f.err().(*Error)
	}
	spec.Name, spec.Type, spec.Quantity, spec.UnitPrice = c.Name, c.Type, q, canonicalDecimal(price)
	spec.BillingPeriod, spec.Unit = c.BillingPeriod, c.Unit
	return spec, nil
}

// wholeQuantity returns d as a quantity if it is a whole number from
// MinQuantity to MaxQuantity. It looks at the exponent first, so that an
// absurd one (1e999999999) costs nothing.
func wholeQuantity(d decimal.Decimal) (int, bool) {
	if d.Exponent() > 6 || d.Exponent() < -30 || !d.IsInteger() {
		return 0, false
	}
	if d.LessThan(decimal.NewFromInt(MinQuantity)) || d.GreaterThan(decimal.NewFromInt(MaxQuantity)) {
		return 0, false
	}
	return int(d.IntPart()), true
}

func quantityError(field string) *Error {
	return RuleError(CodeInvalidQuantity, "a quantity is a whole number from %d to %d", MinQuantity, MaxQuantity).AtField(field)
}

// ARR returns the subscription's annual recurring revenue on date d: the
// sum over recurring items in effect on d of quantity × unit price × the
// periods in a year (12, 4 or 1). It is exact, and zero when the
// subscription is cancelled on d (or not yet started).
func (s *Subscription) ARR(d Date) decimal.Decimal {
	sum := decimal.Zero
	if !s.Exists() || s.StatusOn(d) == StatusCancelled {
		return sum
	}
	for _, it := range s.Items {
		months := it.BillingPeriod.Months()
		if it.Type != ChargeRecurring || months == 0 || !it.InEffectOn(d) {
			continue
		}
		perYear := decimal.NewFromInt(int64(it.QuantityOn(d) * (12 / months)))
		sum = sum.Add(it.UnitPrice.Mul(perYear))
	}
	return sum
}

// mrrScale is the decimal places MRR keeps; presentation rounds further.
const mrrScale = 20

// MRR returns the monthly recurring revenue on date d: the sum over
// recurring items in effect on d of quantity × unit price ÷ the months in
// the billing period (1, 3 or 12). It is ARR(d) ÷ 12, exact to 20 decimal
// places and otherwise unrounded, and zero when cancelled on d.
func (s *Subscription) MRR(d Date) decimal.Decimal {
	return s.ARR(d).DivRound(decimal.NewFromInt(12), mrrScale)
}
