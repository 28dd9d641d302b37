package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestAPIStrictInput sends, through the real binary, what a careless or
// hostile client would: loose JSON, invalid usage, out-of-range pages, a
// second product with one SKU and names holding control or bidi-override
// characters. Each is refused as api.md's Conventions say, naming the
// field.
func TestAPIStrictInput(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	var sub subscriptionJSON
	runSteps(t, []step{
		{name: "catalog", run: s.buildCatalog},
		{name: "accounts", run: s.openAccounts},
		{name: "subscription", needs: []string{"catalog", "accounts"}, run: func(t *testing.T) {
			body := s.subscriptionBody(s.accounts[0].ID, termed(12, false), orderLine{charge: "seat", qty: 2}, orderLine{charge: "storage", qty: 1})
			s.admin.post(t, s.tp("/subscriptions"), body).wantJSON(t, 201, &sub)
		}},
		{name: "strict JSON", needs: []string{"subscription"}, run: func(t *testing.T) { s.strictJSON(t, sub) }},
		{name: "invalid usage is 422", needs: []string{"subscription"}, run: func(t *testing.T) { s.invalidUsage(t, sub) }},
		{name: "pages", needs: []string{"accounts"}, run: s.pageBounds},
		{name: "duplicate sku", needs: []string{"catalog"}, run: s.duplicateSKU},
		{name: "names", needs: []string{"accounts"}, run: s.hiddenNames},
	})
}

// wantField checks a problem of status and code that names field first.
func wantField(t *testing.T, r *reply, status int, code, field string) {
	t.Helper()
	p := r.problem(t, status, code)
	if len(p.Errors) == 0 || p.Errors[0].Field != field {
		t.Errorf("%s: errors %+v, want the first at %q", r.req, p.Errors, field)
	}
}

func (s *scenario) strictJSON(t *testing.T, sub subscriptionJSON) {
	billing := `{"contact_name":"Ada","email":"ada@example.com"}`
	item := fmt.Sprintf(`{"product_id":%q,"charge_id":%q,"quantity":1}`, s.product.ID, s.charge["seat"].ID)
	storage := sub.item(s.charge["storage"].ID)
	record := func(occurred string) string {
		return fmt.Sprintf(`{"id":%q,"subscription_id":%q,"item_id":%q,"quantity":"1.5","occurred_at":%s}`,
			uuid.NewString(), sub.ID, storage.ID, occurred)
	}
	now := `"` + time.Now().UTC().Add(-time.Hour).Format(time.RFC3339) + `"`
	records := []string{record(now), record(now), record(now), record("1767225600")}
	charge := `{"name":"Seat","type":"recurring","price":"10.00","currency":"USD","billing_period":"month"}`
	tests := []struct {
		name, path, body, field string
	}{
		{"field name in capitals", "/accounts", `{"NAME":"Upper","currency":"USD","billing":` + billing + `}`, "NAME"},
		{"key given twice", "/accounts", `{"name":"x","name":"y","currency":"USD","billing":` + billing + `}`, "name"},
		{"nested key given twice", "/accounts", `{"name":"x","currency":"USD","billing":{"contact_name":"A","contact_name":"B","email":"a@example.com"}}`, "billing.contact_name"},
		{"unknown field", "/accounts", `{"name":"x","currency":"USD","billing":` + billing + `,"status":"closed"}`, "status"},
		{"quantity as a string", "/subscriptions", fmt.Sprintf(`{"account_id":%q,"start_date":%q,"term":{"type":"evergreen"},"items":[%s,{"product_id":%q,"charge_id":%q,"quantity":"2"}]}`,
			s.accounts[0].ID, s.start, item, s.product.ID, s.charge["seat"].ID), "items[1].quantity"},
		{"start date malformed", "/subscriptions", fmt.Sprintf(`{"account_id":%q,"start_date":"01/02/2025","term":{"type":"evergreen"},"items":[%s]}`,
			s.accounts[0].ID, item), "start_date"},
		{"price as a number", "/products", `{"name":"Other","sku":"OTHER-1","charges":[` + charge + `,{"name":"Seat 2","type":"recurring","price":10,"currency":"USD","billing_period":"month"}]}`, "charges[1].price"},
		{"occurred_at as a number", "/usage", `{"records":[` + strings.Join(records, ",") + `]}`, "records[3].occurred_at"},
		{"role given twice", "/users", `{"name":"Eve","role":"auditor","role":"tenant_admin"}`, "role"},
	}
	for _, tt := range tests {
		r := s.admin.post(t, s.tp("%s", tt.path), []byte(tt.body))
		t.Run(tt.name, func(t *testing.T) { wantField(t, r, 400, "bad_request", tt.field) })
	}
}

func (s *scenario) invalidUsage(t *testing.T, sub subscriptionJSON) {
	storage := sub.item(s.charge["storage"].ID)
	at := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	record := func(qty string) map[string]any {
		return map[string]any{"id": uuid.NewString(), "subscription_id": sub.ID, "item_id": storage.ID,
			"quantity": json.Number(qty), "occurred_at": at}
	}
	tests := []struct {
		name  string
		bad   map[string]any
		field string
	}{
		{"negative quantity", record("-1"), "records[3].quantity"},
		{"zero quantity", record("0"), "records[3].quantity"},
		{"occurred in the future", func() map[string]any {
			r := record("1")
			r["occurred_at"] = time.Now().UTC().Add(48 * time.Hour).Format(time.RFC3339)
			return r
		}(), "records[3].occurred_at"},
	}
	for _, tt := range tests {
		body := map[string]any{"records": []any{record("1"), record("2"), record("3"), tt.bad}}
		r := s.admin.post(t, s.tp("/usage"), body)
		t.Run(tt.name, func(t *testing.T) { wantField(t, r, 422, "", tt.field) })
	}
}

func (s *scenario) pageBounds(t *testing.T) {
	tests := []struct {
		query string
		want  int
	}{
		{"limit=0", 400}, {"limit=-1", 400}, {"limit=501", 400}, {"limit=ten", 400},
		{"limit=1", 200}, {"limit=500", 200}, {"cursor=%21%21not-a-cursor", 400}, {"cursor=e30", 400},
	}
	for _, list := range []string{"/accounts", "/products", "/subscriptions", "/audit/events"} {
		for _, tt := range tests {
			r := s.admin.get(t, s.tp("%s?%s", list, tt.query))
			t.Run(list+"?"+tt.query, func(t *testing.T) {
				if tt.want == 200 {
					r.want(t, 200)
					return
				}
				r.problem(t, tt.want, "")
			})
		}
	}
}

func (s *scenario) duplicateSKU(t *testing.T) {
	product := func(name, sku string) map[string]any {
		return map[string]any{"name": name, "sku": sku, "charges": []any{map[string]any{
			"name": "Seat", "type": "recurring", "price": "10.00", "currency": "USD", "billing_period": "month"}}}
	}
	r := s.admin.post(t, s.tp("/products"), product("Backup Pro again", "BKP-PRO"))
	wantField(t, r, 409, "duplicate_sku", "sku")
	s.admin.post(t, s.tp("/products"), product("Backup Lite", "BKP-LITE")).want(t, 201)
	s.admin.post(t, s.tp("/products"), product("Backup Lite 2", "BKP-LITE")).problem(t, 409, "duplicate_sku")
	s.otherAdmin.post(t, "/v1/tenants/"+s.otherTenant+"/products", product("Backup Pro", "BKP-PRO")).want(t, 201)
}

func (s *scenario) hiddenNames(t *testing.T) {
	p := runBootstrap(t, s.env, "partner", "Northwind Resellers")
	s.partner = p.ID.String()
	padmin := s.partnerUser("partner admin", p.AdminUserID.String(), p.AdminKey)
	names := map[string]string{
		"NUL": "Eve\x00Admin", "newline": "Eve\nAdmin", "ANSI escape": "Eve\x1b[2JAdmin", "U+202E": "Eve\u202enimdA",
	}
	for what, name := range names {
		tests := []struct {
			name  string
			do    func() *reply
			field string
		}{
			{"tenant user", func() *reply {
				return s.admin.post(t, s.tp("/users"), map[string]any{"name": name, "role": "auditor"})
			}, "name"},
			{"partner user", func() *reply {
				return padmin.post(t, "/v1/partners/"+s.partner+"/users", map[string]any{"name": name, "role": "partner_viewer"})
			}, "name"},
			{"account", func() *reply {
				return s.admin.post(t, s.tp("/accounts"), accountBody(name, map[string]any{"contact_name": "Ada", "email": "ada@example.com"}))
			}, "name"},
			{"contact", func() *reply {
				return s.admin.post(t, s.tp("/accounts"), accountBody("Acme", map[string]any{"contact_name": name, "email": "ada@example.com"}))
			}, "billing.contact_name"},
			{"product", func() *reply {
				return s.admin.post(t, s.tp("/products"), map[string]any{"name": name, "sku": "HIDDEN-" + uuid.NewString()[:8], "charges": []any{
					map[string]any{"name": "Seat", "type": "recurring", "price": "10.00", "currency": "USD", "billing_period": "month"}}})
			}, "name"},
			{"charge", func() *reply {
				return s.admin.post(t, s.tp("/products"), map[string]any{"name": "Plain", "sku": "HIDDEN-" + uuid.NewString()[:8], "charges": []any{
					map[string]any{"name": name, "type": "recurring", "price": "10.00", "currency": "USD", "billing_period": "month"}}})
			}, "charges[0].name"},
		}
		for _, tt := range tests {
			r := tt.do()
			t.Run(tt.name+"/"+what, func(t *testing.T) { wantField(t, r, 422, "invalid_text", tt.field) })
		}
		for _, noun := range []string{"tenant", "partner"} {
			if strings.ContainsRune(name, 0) {
				continue // no command line carries NUL
			}
			cmd, _, stderr := ledgerCmd(t, s.env, noun, "create", "--name", name, "--json")
			if err := cmd.Run(); err == nil {
				t.Errorf("ledger %s create --name %q succeeded, want a refusal", noun, name)
			} else if strings.Contains(stderr.String(), "\x1b") {
				t.Errorf("ledger %s create echoed the escape to stderr", noun)
			}
		}
	}
}
