package http

import (
	"net/http"
	"strings"
	"testing"
)

func TestRefusalsAreProblems(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	a.documentChecks = false // some requests here are outside the document on purpose
	accounts := a.path("/accounts")
	valid := `{"name":"Globex","currency":"USD","billing":{"contact_name":"Hank","email":"hank@globex.test"}}`
	tests := []struct {
		name, method, path, key, body string
		headers                       []string
		status                        int
		code, field                   string
	}{
		{"no key", "GET", accounts, "", "", nil, 401, "unauthenticated", ""},
		{"not a bearer key", "GET", accounts, "", "", []string{"Authorization", "Basic YTpi"}, 401, "unauthenticated", ""},
		{"malformed JSON", "POST", accounts, a.adminKey, `{"name":`, nil, 400, "bad_request", ""},
		{"two JSON values", "POST", accounts, a.adminKey, valid + valid, nil, 400, "bad_request", ""},
		{"unknown field", "POST", accounts, a.adminKey, `{"name":"G","nmae":"x"}`, nil, 400, "bad_request", "nmae"},
		{"wrong type", "POST", accounts, a.adminKey, `{"name":42}`, nil, 400, "bad_request", "name"},
		{"empty body", "POST", accounts, a.adminKey, ``, nil, 400, "bad_request", ""},
		{"not JSON", "POST", accounts, a.adminKey, valid, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		{"too large", "POST", accounts, a.adminKey, `{"name":"` + strings.Repeat("x", 1<<20) + `"}`, nil, 413, "payload_too_large", ""},
		{"bad If-Match", "PUT", a.path("/accounts/%s/billing", a.tenant), a.adminKey, `{}`, []string{"If-Match", "yesterday"}, 400, "validation_failed", "If-Match"},
		{"bad limit", "GET", accounts + "?limit=501", a.adminKey, "", nil, 400, "validation_failed", "limit"},
		{"bad Ledger-Min-Position", "GET", accounts, a.adminKey, "", []string{"Ledger-Min-Position", "soon"}, 400, "validation_failed", "Ledger-Min-Position"},
		{"id not a UUID", "GET", a.path("/accounts/42"), a.adminKey, "", nil, 404, "not_found", ""},
		{"absent account", "GET", a.path("/accounts/%s", a.partner), a.adminKey, "", nil, 404, "not_found", ""},
		{"another tenant", "GET", "/v1/tenants/" + a.partner.String() + "/accounts", a.adminKey, "", nil, 404, "not_found", ""},
		{"no grant", "GET", accounts, a.partnerKey, "", nil, 404, "not_found", ""},
		{"rule", "POST", accounts, a.adminKey, `{"name":"G","currency":"XXX","billing":{"contact_name":"H","email":"h@g.test"}}`, nil, 400, "validation_failed", "currency"},
		{"unknown route", "GET", "/v1/nothing", a.adminKey, "", nil, 404, "not_found", ""},
		{"wrong method", "PATCH", accounts, a.adminKey, "", nil, 405, "method_not_allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := a.doOnce(t, tt.method, tt.path, tt.key, tt.body, tt.headers...)
			if x.status != tt.status {
				t.Fatalf("status %d, want %d: %s", x.status, tt.status, x.body)
			}
			if code := x.problemCode(t); code != tt.code {
				t.Fatalf("code %s, want %s: %s", code, tt.code, x.body)
			}
			if tt.field != "" && !strings.Contains(string(x.body), `"field":"`+tt.field+`"`) {
				t.Fatalf("problem does not name field %s: %s", tt.field, x.body)
			}
			if x.header.Get("X-Request-ID") == "" {
				t.Fatal("no X-Request-ID")
			}
		})
	}
}

func TestRequestIDs(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	a.documentChecks = false
	tests := []struct{ sent, kept string }{
		{"req-42", "req-42"},
		{"has space", ""},
		{strings.Repeat("x", 129), ""},
		{"", ""},
	}
	for _, tt := range tests {
		x := a.doOnce(t, http.MethodGet, a.path("/accounts"), a.adminKey, "", "X-Request-ID", tt.sent)
		got := x.header.Get("X-Request-ID")
		if tt.kept != "" && got != tt.kept || tt.kept == "" && (got == "" || got == tt.sent) {
			t.Errorf("sent X-Request-ID %q, got back %q", tt.sent, got)
		}
	}
}
