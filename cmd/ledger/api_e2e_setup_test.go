package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// The tenant admin's first steps: catalog, accounts, a partner and its
// grant, and the partner admin's users.

// catalogCharges are the charges of the one product, by short name.
var catalogCharges = []struct {
	key, name, typ, price string
	period, unit          *string
}{
	{key: "seat", name: "Seat", typ: "recurring", price: "49.00", period: str("month")},
	{key: "support", name: "Premium support", typ: "recurring", price: "1200.00", period: str("year")},
	{key: "review", name: "Health check", typ: "recurring", price: "100.00", period: str("quarter")},
	{key: "storage", name: "Storage", typ: "usage", price: "0.10", unit: str("GB")},
	{key: "setup", name: "Setup", typ: "one_time", price: "250.00"},
}

func (s *scenario) buildCatalog(t *testing.T) {
	charges := make([]map[string]any, 0, len(catalogCharges))
	for _, c := range catalogCharges {
		body := map[string]any{"name": c.name, "type": c.typ, "price": c.price, "currency": "USD"}
		if c.period != nil {
			body["billing_period"] = *c.period
		}
		if c.unit != nil {
			body["unit"] = *c.unit
		}
		charges = append(charges, body)
	}
	r := s.admin.post(t, s.tp("/products"), map[string]any{"name": "Backup Pro", "sku": "BKP-PRO", "charges": charges})
	r.wantJSON(t, 201, &s.product)
	p := s.product
	r.wantETag(t, p.Version)
	wantUUID(t, "product id", p.ID)
	wantInstant(t, "product created_at", p.CreatedAt)
	wantActor(t, "product created_by", p.CreatedBy, s.admin)
	if p.Name != "Backup Pro" || p.SKU != "BKP-PRO" || p.Version != 1 || len(p.Charges) != len(catalogCharges) {
		t.Fatalf("product = %+v, want Backup Pro, BKP-PRO, version 1 and %d charges", p, len(catalogCharges))
	}
	for i, want := range catalogCharges {
		c := p.Charges[i]
		wantUUID(t, "charge id", c.ID)
		if c.Name != want.name || c.Type != want.typ || c.Price != want.price || c.Currency != "USD" ||
			!reflect.DeepEqual(c.BillingPeriod, want.period) || !reflect.DeepEqual(c.Unit, want.unit) {
			t.Errorf("charge %d = %+v (period %s, unit %s), want %+v", i, c, deref(c.BillingPeriod), deref(c.Unit), want)
		}
		s.charge[want.key] = c
	}

	var got productJSON
	s.admin.get(t, s.tp("/products/%s", p.ID)).wantJSON(t, 200, &got).wantETag(t, p.Version)
	if !reflect.DeepEqual(got, p) {
		t.Errorf("GET product = %+v, want what POST returned, %+v", got, p)
	}
	var list listJSON[productJSON]
	s.admin.get(t, s.tp("/products")).wantJSON(t, 200, &list)
	if len(list.Items) != 1 || !reflect.DeepEqual(list.Items[0], p) || list.NextCursor != nil {
		t.Errorf("GET products = %+v, want the one product and no next cursor", list)
	}
}

// accountBody is a new account's body in USD.
func accountBody(name string, billing map[string]any) map[string]any {
	return map[string]any{"name": name, "currency": "USD", "billing": billing}
}

func (s *scenario) openAccounts(t *testing.T) {
	s.requestID = "e2e-" + uuid.NewString()
	specs := []struct {
		name    string
		billing map[string]any
		header  []string
		want    billingJSON
	}{
		{
			name: "Globex",
			billing: map[string]any{"contact_name": "Hank Scorpio", "email": "billing@globex.example", "address": "1 Cypress Creek",
				"tax_id": "US-12-3456789", "payment_terms_days": 45, "invoice_delivery": "portal"},
			want: billingJSON{ContactName: "Hank Scorpio", Email: "billing@globex.example", Address: str("1 Cypress Creek"),
				TaxID: str("US-12-3456789"), PaymentTermsDays: 45, InvoiceDelivery: "portal"},
		},
		{
			name:    "Initech",
			billing: map[string]any{"contact_name": "Bill Lumbergh", "email": "ap@initech.example", "invoice_delivery": "email"},
			want:    billingJSON{ContactName: "Bill Lumbergh", Email: "ap@initech.example", PaymentTermsDays: 30, InvoiceDelivery: "email"},
		},
		{
			name:    "Umbrella",
			billing: map[string]any{"contact_name": "Albert Wesker", "email": "finance@umbrella.example", "invoice_delivery": "email"},
			header:  []string{"X-Request-ID", s.requestID},
			want:    billingJSON{ContactName: "Albert Wesker", Email: "finance@umbrella.example", PaymentTermsDays: 30, InvoiceDelivery: "email"},
		},
	}
	for i, sp := range specs {
		a := &s.accounts[i]
		r := s.admin.post(t, s.tp("/accounts"), accountBody(sp.name, sp.billing), sp.header...).wantJSON(t, 201, a)
		r.wantETag(t, 1)
		wantUUID(t, "account id", a.ID)
		wantInstant(t, "account created_at", a.CreatedAt)
		wantActor(t, "account created_by", a.CreatedBy, s.admin)
		if a.Name != sp.name || a.Currency != "USD" || a.Status != "active" || a.Version != 1 || !reflect.DeepEqual(a.Billing, sp.want) {
			t.Errorf("account = %+v, want %s in USD, active, version 1, billing %+v", *a, sp.name, sp.want)
		}
		if len(sp.header) > 0 && r.Header.Get("X-Request-ID") != s.requestID {
			t.Errorf("X-Request-ID %q came back as %q", s.requestID, r.Header.Get("X-Request-ID"))
		}
		var got accountJSON
		s.admin.get(t, s.tp("/accounts/%s", a.ID)).wantJSON(t, 200, &got).wantETag(t, 1)
		if !reflect.DeepEqual(got, *a) {
			t.Errorf("GET account = %+v, want what POST returned, %+v", got, *a)
		}
	}

	// Two pages of two, then one: the cursor walks the whole list once.
	var page1, page2 listJSON[accountJSON]
	s.admin.get(t, s.tp("/accounts?limit=2")).wantJSON(t, 200, &page1)
	if len(page1.Items) != 2 || page1.NextCursor == nil {
		t.Fatalf("GET accounts?limit=2 = %+v, want 2 items and a next cursor", page1)
	}
	s.admin.get(t, s.tp("/accounts?limit=2&cursor=%s", *page1.NextCursor)).wantJSON(t, 200, &page2)
	all := append(page1.Items, page2.Items...)
	if got, want := ids(all, func(a accountJSON) string { return a.ID }), s.accountIDs(0, 1, 2); !slices.Equal(got, want) || page2.NextCursor != nil {
		t.Errorf("the pages of accounts hold %v (then cursor %s), want %v and no further cursor", got, deref(page2.NextCursor), want)
	}
}

// accountIDs returns the ids of the scenario's accounts at indexes, sorted.
func (s *scenario) accountIDs(indexes ...int) []string {
	out := make([]string, 0, len(indexes))
	for _, i := range indexes {
		out = append(out, s.accounts[i].ID)
	}
	return sorted(out...)
}

func (s *scenario) grantPartner(t *testing.T) {
	b := runBootstrap(t, s.env, "partner", "Northwind Resellers")
	s.partner = b.ID.String()
	s.partnerAdmin = s.partnerUser("partner admin", b.AdminUserID.String(), b.AdminKey)
	path := s.tp("/partners/%s/access", s.partner)

	var first grantJSON
	r := s.admin.put(t, path, map[string]any{"role": "partner_viewer", "all_accounts": false, "account_ids": []string{s.accounts[0].ID}})
	r.wantJSON(t, 201, &first)
	r.wantETag(t, first.Version)
	s.wantGrant(t, first, "partner_viewer", "active", 0)

	r = s.admin.put(t, path, map[string]any{"role": "partner_operator", "all_accounts": false, "account_ids": []string{s.accounts[0].ID, s.accounts[1].ID}})
	r.wantJSON(t, 200, &s.grant)
	r.wantETag(t, s.grant.Version)
	s.wantGrant(t, s.grant, "partner_operator", "active", 0, 1)
	if s.grant.Version <= first.Version {
		t.Errorf("the changed grant's version %d, want more than %d", s.grant.Version, first.Version)
	}

	for _, c := range []*caller{s.admin, s.partnerAdmin} { // the partner may read its own grant
		var got grantJSON
		c.get(t, path).wantJSON(t, 200, &got).wantETag(t, s.grant.Version)
		if !reflect.DeepEqual(got, s.grant) {
			t.Errorf("GET access as the %s = %+v, want %+v", c.name, got, s.grant)
		}
	}
	var tenantList, partnerList listJSON[grantJSON]
	s.admin.get(t, s.tp("/partners")).wantJSON(t, 200, &tenantList)
	s.partnerAdmin.get(t, "/v1/partners/"+s.partner+"/tenants").wantJSON(t, 200, &partnerList)
	for who, list := range map[string]listJSON[grantJSON]{"the tenant's partners": tenantList, "the partner's tenants": partnerList} {
		if len(list.Items) != 1 || !reflect.DeepEqual(list.Items[0], s.grant) || list.NextCursor != nil {
			t.Errorf("%s = %+v, want only the grant %+v", who, list, s.grant)
		}
	}
}

// wantGrant checks a grant of the tenant to the partner on the accounts
// at indexes, set by the tenant admin.
func (s *scenario) wantGrant(t *testing.T, g grantJSON, role, status string, accounts ...int) {
	t.Helper()
	wantActor(t, "granted_by", g.GrantedBy, s.admin)
	if g.TenantID != s.tenant || g.PartnerID != s.partner || g.Role != role || g.AllAccounts || g.Status != status ||
		!slices.Equal(sorted(g.AccountIDs...), s.accountIDs(accounts...)) || g.Actions != nil || g.ExpiresAt != nil || g.Version < 1 {
		t.Errorf("grant = %v, want %s of %s to %s on %v, %s, actions null (all of the role's), expires_at null", g, role, s.tenant, s.partner, s.accountIDs(accounts...), status)
	}
}

func (s *scenario) addPartnerUsers(t *testing.T) {
	path := "/v1/partners/" + s.partner + "/users"
	for _, u := range []struct {
		name, role string
		dst        **caller
	}{{"Olga Operator", "partner_operator", &s.operator}, {"Victor Viewer", "partner_viewer", &s.viewer}} {
		var got newUserJSON
		s.partnerAdmin.post(t, path, map[string]any{"name": u.name, "role": u.role}).wantJSON(t, 201, &got)
		wantUUID(t, "user id", got.ID)
		if got.Name != u.name || got.Role != u.role || !strings.HasPrefix(got.Key, "lk_") || slices.Contains(s.keys, got.Key) {
			t.Fatalf("new user = %+v, want %s as %s with a fresh lk_ key", got, u.name, u.role)
		}
		*u.dst = s.partnerUser(strings.ReplaceAll(u.role, "_", " "), got.ID, got.Key)
	}
	// Only a partner_admin manages the partner's users.
	s.operator.post(t, path, map[string]any{"name": "Eve", "role": "partner_admin"}).problem(t, 403, "forbidden")
}
