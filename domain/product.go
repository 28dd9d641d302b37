package domain

import (
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// ChargeType is how a charge is billed.
type ChargeType string

// The types of charge.
const (
	ChargeRecurring ChargeType = "recurring"
	ChargeOneTime   ChargeType = "one_time"
	ChargeUsage     ChargeType = "usage"
)

// BillingPeriod is how often a recurring charge is billed.
type BillingPeriod string

// The billing periods.
const (
	PeriodMonth   BillingPeriod = "month"
	PeriodQuarter BillingPeriod = "quarter"
	PeriodYear    BillingPeriod = "year"
)

// Months returns the months in the period: 1, 3 or 12, or 0 for no
// period.
func (p BillingPeriod) Months() int {
	switch p {
	case PeriodMonth:
		return 1
	case PeriodQuarter:
		return 3
	case PeriodYear:
		return 12
	}
	return 0
}

// Limits of the catalog.
const (
	MaxCharges    = 100
	maxUnitChars  = 50
	skuPatternDoc = "1 to 64 letters, digits, '.', '_' or '-'"
)

var skuPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Charge is one price of a product: what a subscription item bills. Price
// is per billing period for a recurring charge, once for a one-time
// charge, and per unit for a usage charge.
type Charge struct {
	ID            uuid.UUID       `json:"charge_id"`
	Name          string          `json:"name"`
	Type          ChargeType      `json:"type"`
	Price         decimal.Decimal `json:"price"`
	Currency      Currency        `json:"currency"`
	BillingPeriod BillingPeriod   `json:"billing_period,omitempty"`
	Unit          string          `json:"unit,omitempty"`
}

// Product is the state of a catalog product.
type Product struct {
	ID        uuid.UUID
	TenantID  uuid.UUID
	Name      string
	SKU       string
	Charges   []Charge
	CreatedBy Actor
	CreatedAt time.Time
	Version   uint64
}

// ProductCreated records a new product with its charges.
type ProductCreated struct {
	ProductID uuid.UUID `json:"product_id"`
	TenantID  uuid.UUID `json:"tenant_id"`
	Name      string    `json:"name"`
	SKU       string    `json:"sku"`
	Charges   []Charge  `json:"charges"`
	CreatedBy Actor     `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// EventType implements Event.
func (*ProductCreated) EventType() string { return "ProductCreated" }

func init() {
	register(func() Event { return &ProductCreated{} })
}

// ChargeInput is a charge as a caller gives it: price a decimal string,
// BillingPeriod only (and always) for recurring charges, Unit only (and
// always) for usage charges.
type ChargeInput struct {
	Name          string
	Type          string
	Price         string
	Currency      string
	BillingPeriod string
	Unit          string
}

// CreateProduct is the command to add a product to the catalog. NewID
// gives the charges their ids, in order; nil means random UUID v7s.
type CreateProduct struct {
	ProductID uuid.UUID
	TenantID  uuid.UUID
	Name      string
	SKU       string
	Charges   []ChargeInput
	NewID     func() uuid.UUID
}

// Exists reports whether the product was created.
func (p *Product) Exists() bool { return p.ID != uuid.Nil }

// Charge returns the product's charge with id id.
func (p *Product) Charge(id uuid.UUID) (Charge, bool) {
	for _, c := range p.Charges {
		if c.ID == id {
			return c, true
		}
	}
	return Charge{}, false
}

// Apply evolves the product by one of its events.
func (p *Product) Apply(e Event) {
	p.Version++
	switch e := e.(type) {
	case *ProductCreated:
		p.ID, p.TenantID, p.Name, p.SKU = e.ProductID, e.TenantID, e.Name, e.SKU
		p.Charges = append([]Charge(nil), e.Charges...)
		p.CreatedBy, p.CreatedAt = e.CreatedBy, e.CreatedAt
	}
}

// Create decides adding the product, with every field validated; field
// paths are like "charges[1].price".
func (p *Product) Create(cmd CreateProduct, by Actor, now time.Time) ([]Event, error) {
	if p.Exists() {
		return nil, Conflict("product already exists")
	}
	var f faults
	if cmd.ProductID == uuid.Nil || cmd.TenantID == uuid.Nil {
		f.add(Invalid("product_id", "product and tenant ids are required"))
	}
	name, err := cleanText("name", cmd.Name, true, maxNameChars)
	f.add(err)
	if !skuPattern.MatchString(cmd.SKU) {
		f.add(Invalid("sku", "must be %s", skuPatternDoc))
	}
	switch n := len(cmd.Charges); {
	case n == 0:
		f.add(Invalid("charges", "a product has at least one charge"))
	case n > MaxCharges:
		f.add(Invalid("charges", "a product has at most %d charges", MaxCharges))
	}
	newID := idSource(cmd.NewID)
	charges := make([]Charge, 0, len(cmd.Charges))
	for i, in := range cmd.Charges {
		c, cerr := newCharge(fmt.Sprintf("charges[%d].", i), in)
		f.add(cerr)
		c.ID = newID()
		charges = append(charges, c)
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	return []Event{&ProductCreated{
		ProductID: cmd.ProductID, TenantID: cmd.TenantID, Name: name, SKU: cmd.SKU,
		Charges: charges, CreatedBy: by, CreatedAt: now.UTC(),
	}}, nil
}

// newCharge validates one charge; field paths begin with prefix.
func newCharge(prefix string, in ChargeInput) (Charge, *Error) {
	var f faults
	var c Charge
	var err *Error
	c.Name, err = cleanText(prefix+"name", in.Name, true, maxNameChars)
	f.add(err)
	c.Type = ChargeType(in.Type)
	switch c.Type {
	case ChargeRecurring, ChargeOneTime, ChargeUsage:
	default:
		f.add(Invalid(prefix+"type", "must be \"recurring\", \"one_time\" or \"usage\""))
	}
	price, perr := ParsePrice(prefix+"price", in.Price)
	f.addErr(perr)
	c.Price = canonicalDecimal(price)
	c.Currency, err = asError(ParseCurrency(prefix+"currency", in.Currency))
	f.add(err)
	c.BillingPeriod = BillingPeriod(in.BillingPeriod)
	switch {
	case c.Type == ChargeRecurring && c.BillingPeriod.Months() == 0:
		f.add(Invalid(prefix+"billing_period", "a recurring charge needs \"month\", \"quarter\" or \"year\""))
	case c.Type != ChargeRecurring && c.BillingPeriod != "":
		f.add(Invalid(prefix+"billing_period", "only a recurring charge has a billing period"))
	}
	c.Unit, err = cleanText(prefix+"unit", in.Unit, c.Type == ChargeUsage, maxUnitChars)
	f.add(err)
	if c.Type != ChargeUsage && c.Unit != "" {
		f.add(Invalid(prefix+"unit", "only a usage charge has a unit"))
	}
	if e := f.err(); e != nil {
		return c, e.(*Error)
	}
	return c, nil
}

// asError narrows the error of a parse to *Error.
func asError[T any](v T, err error) (T, *Error) {
	if err == nil {
		return v, nil
	}
	var f faults
	f.addErr(err)
	return v, f.first
}

// canonicalDecimal returns d in the form it has after a JSON round trip,
// so that state rebuilt from stored events equals state rebuilt from the
// decided ones.
func canonicalDecimal(d decimal.Decimal) decimal.Decimal {
	return decimal.RequireFromString(d.String())
}

// idSource returns newID, or a source of random UUID v7s when nil.
func idSource(newID func() uuid.UUID) func() uuid.UUID {
	if newID != nil {
		return newID
	}
	return func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
}
