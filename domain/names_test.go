package domain

import (
	"testing"
)

// TestNamesRefuseHiddenCharacters checks the one rule of names on every
// name a user supplies: a control or bidirectional-control character is
// 422 invalid_text, naming the field.
func TestNamesRefuseHiddenCharacters(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"NUL":            "Ada\x00Lovelace",
		"newline":        "Ada\nLovelace",
		"ANSI escape":    "Ada\x1b[31mLovelace",
		"RLO U+202E":     "Ada\u202eecalevoL",
		"isolate U+2066": "Ada\u2066Lovelace",
		"RLM U+200F":     "Ada\u200fLovelace",
		"DEL":            "Ada\x7fLovelace",
	}
	user := func(name string) NewUser { return NewUser{ID: iamID(2), Name: name, Role: RoleAuditor, KeyHash: "h2"} }
	puser := func(name string) NewUser {
		return NewUser{ID: iamID(2), Name: name, Role: RolePartnerOperator, KeyHash: "p2"}
	}
	recurring := func(name string) ChargeInput {
		return ChargeInput{Name: name, Type: "recurring", Price: "10", Currency: "EUR", BillingPeriod: "month"}
	}
	decide := []struct {
		name  string
		field string
		try   func(t *testing.T, s string) error
	}{
		{"tenant name", "name", func(_ *testing.T, s string) error {
			var ten Tenant
			_, err := ten.Create(CreateTenant{TenantID: iamTenant, Name: s,
				Admin: NewUser{ID: iamID(1), Name: "Ada", Role: RoleTenantAdmin, KeyHash: "h1"}}, iamOp, iamNow)
			return err
		}},
		{"tenant user", "name", func(t *testing.T, s string) error {
			ten, _ := iamNewTenant(t)
			_, err := ten.AddUser(user(s), iamOp, iamNow)
			return err
		}},
		{"partner name", "name", func(_ *testing.T, s string) error {
			var p Partner
			_, err := p.Create(CreatePartner{PartnerID: iamPartner, Name: s,
				Admin: NewUser{ID: iamID(1), Name: "Pat", Role: RolePartnerAdmin, KeyHash: "p1"}}, iamOp, iamNow)
			return err
		}},
		{"partner user", "name", func(t *testing.T, s string) error {
			_, err := iamNewPartner(t).AddUser(puser(s), iamOp, iamNow)
			return err
		}},
		{"account name", "name", func(_ *testing.T, s string) error {
			var a Account
			_, err := a.Create(CreateAccount{AccountID: fxAcct, TenantID: fxTenant, Name: s, Currency: "EUR", Billing: fxBilling()}, fxActor, fxAt("2025-01-01"))
			return err
		}},
		{"contact name", "billing.contact_name", func(_ *testing.T, s string) error {
			var a Account
			b := fxBilling()
			b.ContactName = s
			_, err := a.Create(CreateAccount{AccountID: fxAcct, TenantID: fxTenant, Name: "Acme", Currency: "EUR", Billing: b}, fxActor, fxAt("2025-01-01"))
			return err
		}},
		{"product name", "name", func(_ *testing.T, s string) error {
			var p Product
			cmd := fxProductCmd(recurring("Seat"))
			cmd.Name = s
			_, err := p.Create(cmd, fxActor, fxAt("2025-01-01"))
			return err
		}},
		{"charge name", "charges[1].name", func(_ *testing.T, s string) error {
			var p Product
			_, err := p.Create(fxProductCmd(recurring("Seat"), recurring(s)), fxActor, fxAt("2025-01-01"))
			return err
		}},
	}
	for _, d := range decide {
		for what, s := range bad {
			t.Run(d.name+"/"+what, func(t *testing.T) {
				t.Parallel()
				iamWantErr(t, d.try(t, s), ErrRule, CodeInvalidText, d.field)
			})
		}
		t.Run(d.name+"/plain", func(t *testing.T) {
			t.Parallel()
			if err := d.try(t, "Ada Lovelace-Åström (EU)"); err != nil {
				t.Fatalf("a plain name: %v", err)
			}
		})
	}
}
