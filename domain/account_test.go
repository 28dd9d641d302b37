package domain

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"
)

func fxBilling() BillingInput {
	return BillingInput{ContactName: " Ada Lovelace ", Email: "Ada@Acme.EXAMPLE"}
}

func TestCreateAccount(t *testing.T) {
	t.Parallel()
	var a Account
	cmd := CreateAccount{AccountID: fxAcct, TenantID: fxTenant, Name: " Acme ", Currency: "JPY", Billing: fxBilling()}
	events := fxMust(t)(a.Create(cmd, fxPartner, fxAt("2025-01-01")))
	for _, e := range events {
		a.Apply(e)
	}
	want := Billing{ContactName: "Ada Lovelace", Email: "Ada@acme.example", PaymentTermsDays: 30, InvoiceDelivery: DeliverByEmail}
	if a.Name != "Acme" || a.Currency != "JPY" || a.Billing != want || a.Status != AccountStatusActive {
		t.Fatalf("unexpected account %+v", a)
	}
	if a.CreatedByPartner() != fxPartner.PartnerID || !a.CreatedAt.Equal(fxAt("2025-01-01")) {
		t.Fatalf("creator not recorded: %+v", a)
	}
	fxCheckReplay[Account](t, events, &a)
	_, err := a.Create(cmd, fxActor, fxAt("2025-01-02"))
	fxWantErr(t, err, ErrConflict, CodeConflict, "")
	if direct := fxAccount(t, "EUR"); direct.CreatedByPartner() != fxPartner.PartnerID {
		t.Fatal("partner creator lost")
	}
	var b Account
	for _, e := range fxMust(t)(b.Create(cmd, fxActor, fxAt("2025-01-01"))) {
		b.Apply(e)
	}
	if b.CreatedByPartner() != uuid.Nil {
		t.Fatalf("a tenant user's account is attributed to partner %s", b.CreatedByPartner())
	}
}

func TestCreateAccountInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(c *CreateAccount)
		field string
	}{
		{"no name", func(c *CreateAccount) { c.Name = "  " }, "name"},
		{"currency", func(c *CreateAccount) { c.Currency = "eur" }, "currency"},
		{"no currency", func(c *CreateAccount) { c.Currency = "" }, "currency"},
		{"billing", func(c *CreateAccount) { c.Billing.Email = "nobody" }, "billing.email"},
		{"no id", func(c *CreateAccount) { c.AccountID = uuid.Nil }, "account_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := CreateAccount{AccountID: fxAcct, TenantID: fxTenant, Name: "Acme", Currency: "EUR", Billing: fxBilling()}
			tt.edit(&cmd)
			var a Account
			events, err := a.Create(cmd, fxActor, fxAt("2025-01-01"))
			fxWantErr(t, err, ErrInvalid, CodeInvalid, tt.field)
			if events != nil {
				t.Fatal("a refusal decided events")
			}
		})
	}
}

func TestNormalizeBilling(t *testing.T) {
	t.Parallel()
	days := func(n int) *int { return &n }
	tests := []struct {
		name  string
		in    BillingInput
		field string
		check func(b Billing) bool
	}{
		{"defaults", BillingInput{ContactName: "Ada", Email: "ada@x.io"}, "",
			func(b Billing) bool { return b.PaymentTermsDays == 30 && b.InvoiceDelivery == DeliverByEmail }},
		{"zero days", BillingInput{ContactName: "Ada", Email: "ada@x.io", PaymentTermsDays: days(0)}, "",
			func(b Billing) bool { return b.PaymentTermsDays == 0 }},
		{"120 days, portal", BillingInput{ContactName: "Ada", Email: "ada@x.io", PaymentTermsDays: days(120), InvoiceDelivery: "portal"}, "",
			func(b Billing) bool { return b.PaymentTermsDays == 120 && b.InvoiceDelivery == DeliverByPortal }},
		{"address lines", BillingInput{ContactName: "Ada", Email: "ada@x.io", Address: " 1 Main St\r\nSpringfield ", TaxID: " DE123 "}, "",
			func(b Billing) bool { return b.Address == "1 Main St\nSpringfield" && b.TaxID == "DE123" }},
		{"plus address", BillingInput{ContactName: "Ada", Email: "ada+billing@mail.x.io"}, "",
			func(b Billing) bool { return b.Email == "ada+billing@mail.x.io" }},
		{"no contact", BillingInput{Email: "ada@x.io"}, "billing.contact_name", nil},
		{"no email", BillingInput{ContactName: "Ada"}, "billing.email", nil},
		{"no at", BillingInput{ContactName: "Ada", Email: "ada.x.io"}, "billing.email", nil},
		{"no domain dot", BillingInput{ContactName: "Ada", Email: "ada@localhost"}, "billing.email", nil},
		{"display name", BillingInput{ContactName: "Ada", Email: "Ada <ada@x.io>"}, "billing.email", nil},
		{"two ats", BillingInput{ContactName: "Ada", Email: "a@b@x.io"}, "billing.email", nil},
		{"space", BillingInput{ContactName: "Ada", Email: "a da@x.io"}, "billing.email", nil},
		{"empty label", BillingInput{ContactName: "Ada", Email: "ada@x..io"}, "billing.email", nil},
		{"negative days", BillingInput{ContactName: "Ada", Email: "ada@x.io", PaymentTermsDays: days(-1)}, "billing.payment_terms_days", nil},
		{"121 days", BillingInput{ContactName: "Ada", Email: "ada@x.io", PaymentTermsDays: days(121)}, "billing.payment_terms_days", nil},
		{"delivery", BillingInput{ContactName: "Ada", Email: "ada@x.io", InvoiceDelivery: "fax"}, "billing.invoice_delivery", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := NormalizeBilling("billing.", tt.in)
			if tt.field != "" {
				fxWantErr(t, err, ErrInvalid, CodeInvalid, tt.field)
				return
			}
			if err != nil || !tt.check(b) {
				t.Fatalf("NormalizeBilling = %+v, %v", b, err)
			}
		})
	}
}

func TestNormalizeBillingReportsEveryField(t *testing.T) {
	t.Parallel()
	_, err := NormalizeBilling("", BillingInput{InvoiceDelivery: "fax"})
	for _, field := range []string{"contact_name", "email", "invoice_delivery"} {
		fxWantErr(t, err, ErrInvalid, CodeInvalid, field)
	}
}

func TestUpdateBillingAndClose(t *testing.T) {
	t.Parallel()
	a := &Account{}
	log := fxMust(t)(a.Create(CreateAccount{AccountID: fxAcct, TenantID: fxTenant, Name: "Acme", Currency: "EUR",
		Billing: fxBilling()}, fxActor, fxAt("2025-01-01")))
	a.Apply(log[0])
	in := fxBilling()
	in.InvoiceDelivery = "portal"
	events := fxMust(t)(a.UpdateBilling(in, fxActor, fxAt("2025-02-01")))
	if len(events) != 1 {
		t.Fatalf("events %v", events)
	}
	a.Apply(events[0])
	log = append(log, events...)
	if a.Billing.InvoiceDelivery != DeliverByPortal || !a.UpdatedAt.Equal(fxAt("2025-02-01")) {
		t.Fatalf("billing not updated: %+v", a)
	}
	if again := fxMust(t)(a.UpdateBilling(in, fxActor, fxAt("2025-02-02"))); again != nil {
		t.Fatalf("the same billing decided %v", again)
	}
	_, err := a.UpdateBilling(BillingInput{ContactName: "Ada", Email: "bad"}, fxActor, fxAt("2025-02-02"))
	fxWantErr(t, err, ErrInvalid, CodeInvalid, "email")
	closed := fxMust(t)(a.Close("moved away", fxActor, fxAt("2025-03-01")))
	a.Apply(closed[0])
	log = append(log, closed...)
	if a.Status != AccountStatusClosed {
		t.Fatalf("status %s", a.Status)
	}
	fxCheckReplay[Account](t, log, a)
	_, err = a.UpdateBilling(fxBilling(), fxActor, fxAt("2025-03-02"))
	fxWantErr(t, err, ErrRule, CodeAccountNotActive, "")
	_, err = a.Close("", fxActor, fxAt("2025-03-02"))
	fxWantErr(t, err, ErrRule, CodeAccountNotActive, "")
	var none Account
	_, err = none.UpdateBilling(fxBilling(), fxActor, fxAt("2025-03-02"))
	fxWantErr(t, err, ErrNotFound, CodeNotFound, "")
}

func TestAccountReplayProperty(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		var a Account
		var log []Event
		now := fxAt("2025-01-01")
		cmd := CreateAccount{AccountID: fxAcct, TenantID: fxTenant,
			Name:     rapid.SampledFrom([]string{"Acme", " Acme ", ""}).Draw(rt, "name"),
			Currency: rapid.SampledFrom([]string{"EUR", "JPY", "KWD", "XXX"}).Draw(rt, "currency"),
			Billing:  fxDrawBilling(rt)}
		steps := rapid.IntRange(0, 6).Draw(rt, "steps")
		for i := 0; i <= steps; i++ {
			var events []Event
			var err error
			switch op := rapid.IntRange(0, 2).Draw(rt, "op"); {
			case i == 0:
				events, err = a.Create(cmd, fxActor, now)
			case op < 2:
				events, err = a.UpdateBilling(fxDrawBilling(rt), fxActor, now)
			default:
				events, err = a.Close("", fxActor, now)
			}
			if err != nil && events != nil {
				rt.Fatalf("refusal %v with events", err)
			}
			for _, e := range events {
				a.Apply(e)
			}
			log = append(log, events...)
			fxCheckReplay[Account](rt, log, &a)
			now = now.Add(24 * time.Hour)
		}
	})
}

func fxDrawBilling(rt *rapid.T) BillingInput {
	days := rapid.IntRange(-5, 125).Draw(rt, "days")
	return BillingInput{
		ContactName:      rapid.SampledFrom([]string{"Ada", "", " Bob "}).Draw(rt, "contact"),
		Email:            rapid.SampledFrom([]string{"a@b.io", "A@B.IO", "bad", ""}).Draw(rt, "email"),
		Address:          rapid.SampledFrom([]string{"", "1 Main St\nTown"}).Draw(rt, "address"),
		PaymentTermsDays: &days,
		InvoiceDelivery:  rapid.SampledFrom([]string{"", "email", "portal", "fax"}).Draw(rt, "delivery"),
	}
}
