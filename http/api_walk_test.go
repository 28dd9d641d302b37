package http

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"ledger/domain"
)

// TestEveryRoute walks every route of api.md once or more, as a tenant
// admin and a partner would, and checks each exchange against the OpenAPI
// document as it goes.
func TestEveryRoute(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	admin, padmin := a.adminKey, a.partnerKey
	var ids struct{ product, charge, account, other, sub, item, usageItem, finance string }
	var key struct{ finance, operator string }

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	step("catalog", func(t *testing.T) {
		x := a.do(t, "POST", a.path("/products"), admin, `{"name":"Pro","sku":"PRO","charges":[
			{"name":"Seat","type":"recurring","price":"49","currency":"USD","billing_period":"month"},
			{"name":"Data","type":"usage","price":"0.10","currency":"USD","unit":"GB"}]}`)
		wantStatus(t, x, http.StatusCreated)
		var p struct {
			ID      string
			Charges []struct{ ID, Price string }
		}
		x.decode(t, &p)
		ids.product, ids.charge = p.ID, p.Charges[0].ID
		if p.Charges[0].Price != "49.00" || x.header.Get("ETag") != `"1"` {
			t.Fatalf("product %s, ETag %s", x.body, x.header.Get("ETag"))
		}
		wantStatus(t, a.do(t, "GET", a.path("/products"), admin, ""), http.StatusOK)
		wantStatus(t, a.do(t, "GET", a.path("/products/%s", ids.product), admin, ""), http.StatusOK)
		usage := strings.Replace(string(x.body), `"type":"usage"`, "", 0)
		_ = usage
		ids.usageItem = p.Charges[1].ID
	})
	step("accounts", func(t *testing.T) {
		body := `{"name":"Globex","currency":"USD","billing":{"contact_name":"Hank","email":"hank@globex.test"}}`
		x := a.do(t, "POST", a.path("/accounts"), admin, body)
		wantStatus(t, x, http.StatusCreated)
		var acc struct{ ID string }
		x.decode(t, &acc)
		ids.account = acc.ID
		x = a.do(t, "POST", a.path("/accounts"), admin, strings.Replace(body, "Globex", "Initech", 1))
		x.decode(t, &acc)
		ids.other = acc.ID
		x = a.do(t, "PUT", a.path("/accounts/%s/billing", ids.account), admin,
			`{"contact_name":"Hank","email":"ap@globex.test","payment_terms_days":45,"invoice_delivery":"portal"}`, "If-Match", `"1"`)
		wantStatus(t, x, http.StatusOK)
		if x.header.Get("ETag") != `"2"` {
			t.Fatalf("ETag after billing update = %s, want \"2\"", x.header.Get("ETag"))
		}
		wantStatus(t, a.do(t, "GET", a.path("/accounts"), admin, ""), http.StatusOK)
		x = a.do(t, "GET", a.path("/accounts/%s", ids.account), admin, "")
		wantStatus(t, x, http.StatusOK)
		if !strings.Contains(string(x.body), `"payment_terms_days":45`) {
			t.Fatalf("account after update = %s", x.body)
		}
	})
	step("users", func(t *testing.T) {
		x := a.do(t, "POST", a.path("/users"), admin, `{"name":"Fin","role":"finance"}`)
		wantStatus(t, x, http.StatusCreated)
		var u struct{ ID, Key string }
		x.decode(t, &u)
		ids.finance, key.finance = u.ID, u.Key
		x = a.do(t, "POST", "/v1/partners/"+a.partner.String()+"/users", padmin, `{"name":"Op","role":"partner_operator"}`)
		wantStatus(t, x, http.StatusCreated)
		x.decode(t, &u)
		key.operator = u.Key
	})
	step("partner access", func(t *testing.T) {
		access := a.path("/partners/%s/access", a.partner)
		x := a.do(t, "PUT", access, admin, fmt.Sprintf(`{"role":"partner_operator","all_accounts":false,"account_ids":[%q]}`, ids.account))
		wantStatus(t, x, http.StatusCreated)
		x = a.do(t, "PUT", access, admin, fmt.Sprintf(`{"role":"partner_admin","all_accounts":false,"account_ids":[%q]}`, ids.account))
		wantStatus(t, x, http.StatusOK)
		wantStatus(t, a.do(t, "GET", access, admin, ""), http.StatusOK)
		wantStatus(t, a.do(t, "GET", access, key.operator, ""), http.StatusOK)
		wantStatus(t, a.do(t, "GET", a.path("/partners"), admin, ""), http.StatusOK)
		wantStatus(t, a.do(t, "GET", "/v1/partners/"+a.partner.String()+"/tenants", key.operator, ""), http.StatusOK)
	})
	step("subscriptions", func(t *testing.T) {
		x := a.do(t, "POST", a.path("/subscriptions"), key.operator, fmt.Sprintf(`{"account_id":%q,"start_date":"2026-01-01",
			"term":{"type":"termed","months":12,"auto_renew":true},"items":[{"product_id":%q,"charge_id":%q,"quantity":3},
			{"product_id":%[2]q,"charge_id":%[4]q,"quantity":1}]}`, ids.account, ids.product, ids.charge, ids.usageItem))
		wantStatus(t, x, http.StatusCreated)
		var s struct {
			ID    string
			MRR   string
			Items []struct{ ID string }
		}
		x.decode(t, &s)
		ids.sub, ids.item = s.ID, s.Items[0].ID
		ids.usageItem = s.Items[1].ID
		if s.MRR != "147.00" {
			t.Fatalf("mrr = %s, want 147.00", s.MRR)
		}
		x = a.do(t, "POST", a.path("/subscriptions/%s/amendments", ids.sub), key.operator,
			fmt.Sprintf(`{"effective_date":"2026-02-01","changes":[{"type":"change_quantity","item_id":%q,"quantity":5}]}`, ids.item), "If-Match", `"1"`)
		wantStatus(t, x, http.StatusOK)
		wantStatus(t, a.do(t, "GET", a.path("/subscriptions?account_id=%s&status=active", ids.account), key.operator, ""), http.StatusOK)
		wantStatus(t, a.do(t, "GET", a.path("/subscriptions/%s", ids.sub), key.operator, ""), http.StatusOK)
		wantStatus(t, a.do(t, "GET", a.path("/subscriptions/%s?as_of=2030-01-01T00:00:00Z", ids.sub), key.operator, ""), http.StatusOK)
		x = a.do(t, "GET", a.path("/subscriptions/%s/history", ids.sub), key.operator, "")
		wantStatus(t, x, http.StatusOK)
		if n := strings.Count(string(x.body), `"event_id"`); n != 2 {
			t.Fatalf("history has %d events, want 2: %s", n, x.body)
		}
	})
	step("usage", func(t *testing.T) {
		body := fmt.Sprintf(`{"records":[{"id":"0f8fad5b-d9cb-469f-a165-70867728950e","subscription_id":%q,"item_id":%q,
			"quantity":"2.5","occurred_at":"2026-03-01T10:00:00Z"}]}`, ids.sub, ids.usageItem)
		x := a.do(t, "POST", a.path("/usage"), key.operator, body)
		wantStatus(t, x, http.StatusOK)
		if got := string(x.body); !strings.Contains(got, `"accepted":1`) || !strings.Contains(got, `"duplicates":0`) {
			t.Fatalf("usage = %s", got)
		}
		x = a.do(t, "POST", a.path("/usage"), key.operator, body)
		if got := string(x.body); !strings.Contains(got, `"accepted":0`) || !strings.Contains(got, `"duplicates":1`) {
			t.Fatalf("usage again = %s", got)
		}
		x = a.do(t, "GET", a.path("/usage/summary?subscription_id=%s&from=2026-03-01&to=2026-04-01", ids.sub), key.operator, "")
		wantStatus(t, x, http.StatusOK)
		if !strings.Contains(string(x.body), `"quantity":"2.5"`) {
			t.Fatalf("summary = %s", x.body)
		}
	})
	step("reports and audit", func(t *testing.T) {
		for _, g := range []string{"none", "partner", "product", "account"} {
			wantStatus(t, a.do(t, "GET", a.path("/reports/mrr?group_by=%s", g), key.finance, ""), http.StatusOK)
		}
		x := a.do(t, "GET", a.path("/audit/events?partner_id=%s&limit=2", a.partner), admin, "")
		wantStatus(t, x, http.StatusOK)
		if !strings.Contains(string(x.body), `"next_cursor":"`) {
			t.Fatalf("audit page of 2 has no next cursor: %s", x.body)
		}
	})
	step("cancel and revoke", func(t *testing.T) {
		x := a.do(t, "POST", a.path("/subscriptions/%s/cancel", ids.sub), key.operator, `{"policy":"end_of_term","reason":"moving"}`)
		wantStatus(t, x, http.StatusOK)
		if !strings.Contains(string(x.body), `"status":"pending_cancellation"`) {
			t.Fatalf("cancelled = %s", x.body)
		}
		x = a.do(t, "DELETE", a.path("/partners/%s/access", a.partner), admin, "")
		wantStatus(t, x, http.StatusOK)
		x = a.do(t, "GET", a.path("/subscriptions/%s", ids.sub), key.operator, "")
		if x.status != http.StatusForbidden || x.problemCode(t) != domain.CodePartnerAccessRevoked {
			t.Fatalf("read after revocation = %d %s", x.status, x.body)
		}
	})
	step("remove users", func(t *testing.T) {
		wantStatus(t, a.do(t, "DELETE", a.path("/users/%s", ids.finance), admin, ""), http.StatusNoContent)
		x := a.do(t, "GET", a.path("/reports/mrr"), key.finance, "")
		if x.status != http.StatusUnauthorized || x.problemCode(t) != domain.CodeUnauthenticated {
			t.Fatalf("removed user's next request = %d %s", x.status, x.body)
		}
		var u struct{ ID string }
		x = a.do(t, "POST", "/v1/partners/"+a.partner.String()+"/users", padmin, `{"name":"Tmp","role":"partner_viewer"}`)
		x.decode(t, &u)
		wantStatus(t, a.do(t, "DELETE", "/v1/partners/"+a.partner.String()+"/users/"+u.ID, padmin, ""), http.StatusNoContent)
	})
}

func wantStatus(t *testing.T, x exchange, want int) {
	t.Helper()
	if x.status != want {
		t.Fatalf("status %d, want %d: %s", x.status, want, x.body)
	}
}
