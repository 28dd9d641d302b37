package domain

import (
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

func fxProductCmd(charges ...ChargeInput) CreateProduct {
	return CreateProduct{ProductID: fxProduct, TenantID: fxTenant, Name: "Suite", SKU: "SUITE-1", Charges: charges, NewID: fxIDs(101)}
}

func TestCreateProduct(t *testing.T) {
	t.Parallel()
	var p Product
	events := fxMust(t)(p.Create(fxProductCmd(
		ChargeInput{Name: "Seat", Type: "recurring", Price: "10.00", Currency: "EUR", BillingPeriod: "quarter"},
		ChargeInput{Name: "Calls", Type: "usage", Price: "0.0025", Currency: "USD", Unit: "call"},
		ChargeInput{Name: "Setup", Type: "one_time", Price: "0", Currency: "JPY"},
	), fxActor, fxAt("2025-01-01")))
	for _, e := range events {
		p.Apply(e)
	}
	seat, ok := p.Charge(fxID(101))
	if !ok || seat.Name != "Seat" || !seat.Price.Equal(decimal.NewFromInt(10)) || seat.BillingPeriod.Months() != 3 {
		t.Fatalf("seat %+v %v", seat, ok)
	}
	calls, ok := p.Charge(fxID(102))
	if !ok || calls.Unit != "call" || calls.Currency != "USD" || calls.Price.String() != "0.0025" {
		t.Fatalf("calls %+v", calls)
	}
	if _, ok := p.Charge(fxID(999)); ok {
		t.Fatal("unknown charge found")
	}
	if p.SKU != "SUITE-1" || p.CreatedBy != fxActor || len(p.Charges) != 3 {
		t.Fatalf("product %+v", p)
	}
	fxCheckReplay[Product](t, events, &p)
	_, err := p.Create(fxProductCmd(ChargeInput{Name: "X", Type: "one_time", Price: "1", Currency: "EUR"}), fxActor, fxAt("2025-01-02"))
	fxWantErr(t, err, ErrConflict, CodeConflict, "")
}

func TestBillingPeriodMonths(t *testing.T) {
	t.Parallel()
	for p, want := range map[BillingPeriod]int{PeriodMonth: 1, PeriodQuarter: 3, PeriodYear: 12, "week": 0, "": 0} {
		if got := p.Months(); got != want {
			t.Errorf("%q.Months() = %d, want %d", p, got, want)
		}
	}
}

func TestCreateProductInvalid(t *testing.T) {
	t.Parallel()
	ok := ChargeInput{Name: "Seat", Type: "recurring", Price: "10", Currency: "EUR", BillingPeriod: "month"}
	with := func(edit func(c *ChargeInput)) ChargeInput { c := ok; edit(&c); return c }
	tests := []struct {
		name  string
		cmd   CreateProduct
		field string
	}{
		{"no name", CreateProduct{ProductID: fxProduct, TenantID: fxTenant, SKU: "A", Charges: []ChargeInput{ok}}, "name"},
		{"bad sku", CreateProduct{ProductID: fxProduct, TenantID: fxTenant, Name: "A", SKU: "a b", Charges: []ChargeInput{ok}}, "sku"},
		{"no sku", CreateProduct{ProductID: fxProduct, TenantID: fxTenant, Name: "A", Charges: []ChargeInput{ok}}, "sku"},
		{"no id", CreateProduct{TenantID: fxTenant, Name: "A", SKU: "A", Charges: []ChargeInput{ok}}, "product_id"},
		{"no charges", fxProductCmd(), "charges"},
		{"too many charges", fxProductCmd(make([]ChargeInput, MaxCharges+1)...), "charges"},
		{"charge name", fxProductCmd(ok, with(func(c *ChargeInput) { c.Name = "" })), "charges[1].name"},
		{"type", fxProductCmd(with(func(c *ChargeInput) { c.Type = "monthly" })), "charges[0].type"},
		{"price", fxProductCmd(with(func(c *ChargeInput) { c.Price = "ten" })), "charges[0].price"},
		{"negative price", fxProductCmd(with(func(c *ChargeInput) { c.Price = "-1.00" })), "charges[0].price"},
		{"no price", fxProductCmd(with(func(c *ChargeInput) { c.Price = "" })), "charges[0].price"},
		{"currency", fxProductCmd(with(func(c *ChargeInput) { c.Currency = "EURO" })), "charges[0].currency"},
		{"recurring without period", fxProductCmd(with(func(c *ChargeInput) { c.BillingPeriod = "" })), "charges[0].billing_period"},
		{"unknown period", fxProductCmd(with(func(c *ChargeInput) { c.BillingPeriod = "week" })), "charges[0].billing_period"},
		{"one-time with period", fxProductCmd(with(func(c *ChargeInput) { c.Type = "one_time" })), "charges[0].billing_period"},
		{"usage without unit", fxProductCmd(with(func(c *ChargeInput) { c.Type, c.BillingPeriod = "usage", "" })), "charges[0].unit"},
		{"recurring with unit", fxProductCmd(with(func(c *ChargeInput) { c.Unit = "seat" })), "charges[0].unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var p Product
			events, err := p.Create(tt.cmd, fxActor, fxAt("2025-01-01"))
			fxWantErr(t, err, ErrInvalid, CodeInvalid, tt.field)
			if events != nil {
				t.Fatal("a refusal decided events")
			}
		})
	}
}

func TestProductReplayProperty(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(0, 4).Draw(rt, "charges")
		charges := make([]ChargeInput, n)
		for i := range charges {
			charges[i] = ChargeInput{
				Name:          rapid.SampledFrom([]string{"Seat", ""}).Draw(rt, "name"),
				Type:          rapid.SampledFrom([]string{"recurring", "one_time", "usage"}).Draw(rt, "type"),
				Price:         rapid.SampledFrom([]string{"10.00", "0.0025", "1.50", "100", "0", "-1"}).Draw(rt, "price"),
				Currency:      rapid.SampledFrom([]string{"EUR", "JPY", "KWD"}).Draw(rt, "currency"),
				BillingPeriod: rapid.SampledFrom([]string{"", "month", "quarter", "year"}).Draw(rt, "period"),
				Unit:          rapid.SampledFrom([]string{"", "call"}).Draw(rt, "unit"),
			}
		}
		var p Product
		cmd := fxProductCmd(charges...)
		cmd.NewID = func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
		events, err := p.Create(cmd, fxActor, fxAt("2025-01-01"))
		if err != nil {
			return
		}
		for _, e := range events {
			p.Apply(e)
		}
		fxCheckReplay[Product](rt, events, &p)
		for _, c := range p.Charges {
			if got, ok := p.Charge(c.ID); !ok || got.ID != c.ID || c.Price.IsNegative() {
				rt.Fatalf("charge %+v", c)
			}
		}
	})
}
