package http

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// documentRouter finds the documented operation of a request; it parses
// OpenAPIDocument once for every test of the package.
var documentRouter = sync.OnceValues(func() (routers.Router, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPIDocument)
	if err != nil {
		return nil, fmt.Errorf("load openapi document: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("validate openapi document: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi document: %w", err)
	}
	return router, nil
})

// documentFormats checks the string formats that kin-openapi leaves
// unchecked by default.
var documentFormats = map[string]openapi3.StringFormatValidator{
	"uuid":  openapi3.NewRegexpFormatValidator(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`),
	"email": openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForEmail),
}

// checkAgainstDocument fails t unless the exchange matches OpenAPIDocument:
// the request must be a documented operation; a request answered below 400
// must match its parameters, headers and body (one refused on purpose, with
// a 4xx, need not); and the response's status must be documented for the
// operation, with its headers and body. reqBody is the body req carried,
// which the handler has read; header and resBody are the response's, as an
// httptest.ResponseRecorder holds them. Authentication is not checked
// beyond the presence of a bearer key.
func checkAgainstDocument(t *testing.T, req *http.Request, reqBody []byte, status int, header http.Header, resBody []byte) {
	t.Helper()
	if err := documentMismatch(t.Context(), req, reqBody, status, header, resBody); err != nil {
		t.Errorf("%s %s answered %d, against the OpenAPI document: %v", req.Method, req.URL.Path, status, err)
	}
}

// documentMismatch is checkAgainstDocument's verdict: nil when the exchange
// matches the document.
func documentMismatch(ctx context.Context, req *http.Request, reqBody []byte, status int, header http.Header, resBody []byte) error {
	router, err := documentRouter()
	if err != nil {
		return err
	}
	r := req.Clone(ctx)
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(reqBody)), int64(len(reqBody))
	route, pathParams, err := router.FindRoute(r)
	if err != nil {
		return fmt.Errorf("no documented operation: %w", err)
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:      acceptAnyBearer,
		IncludeResponseStatus:   true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidators(documentFormats)},
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: pathParams, Route: route, Options: opts}
	if status < http.StatusBadRequest {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("request: %w", err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: opts}
	out.SetBodyBytes(resBody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	return nil
}

// acceptAnyBearer accepts any request that carries a bearer key: the keys
// themselves are tested elsewhere.
func acceptAnyBearer(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, key, _ := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || key == "" {
		return errors.New("no bearer key in Authorization")
	}
	return nil
}

func TestCheckAgainstDocument(t *testing.T) {
	t.Parallel()
	const (
		base    = "/v1/tenants/0193a1b2-0000-7000-8000-000000000001"
		account = base + "/accounts/0193a1b2-0000-7000-8000-000000000002"
		actor   = `{"type":"tenant_user","id":"0193a1b2-0000-7000-8000-000000000003","partner_id":null}`
		billing = `{"contact_name":"Ada","email":"ada@example.com","address":null,"tax_id":null,` +
			`"payment_terms_days":30,"invoice_delivery":"email"}`
		newAccount = `{"name":"Acme","currency":"EUR","billing":{"contact_name":"Ada","email":"ada@example.com"}}`
	)
	const (
		sub       = base + "/subscriptions/0193a1b2-0000-7000-8000-000000000006"
		amendment = `{"effective_date":"2026-02-01","changes":[` +
			`{"type":"add_item","product_id":"0193a1b2-0000-7000-8000-000000000007","charge_id":"0193a1b2-0000-7000-8000-000000000008","quantity":2},` +
			`{"type":"remove_item","item_id":"0193a1b2-0000-7000-8000-00000000000a"},` +
			`{"type":"change_quantity","item_id":"0193a1b2-0000-7000-8000-00000000000b","quantity":5}]}`
		subscription = `{"id":"0193a1b2-0000-7000-8000-000000000006","account_id":"0193a1b2-0000-7000-8000-000000000002",` +
			`"currency":"EUR","status":"active","start_date":"2026-01-01",` +
			`"term":{"type":"evergreen","months":null,"auto_renew":false,"current_term_end":null},"cancel_date":null,` +
			`"items":[{"id":"0193a1b2-0000-7000-8000-00000000000b","product_id":"0193a1b2-0000-7000-8000-000000000007",` +
			`"charge_id":"0193a1b2-0000-7000-8000-000000000008","name":"Seats","type":"recurring","quantity":5,` +
			`"unit_price":"49.00","billing_period":"month","unit":null,"effective_from":"2026-01-01","effective_to":null}],` +
			`"mrr":"245.00","version":2,"created_by":` + actor + `,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T00:00:00Z",` +
			`"scheduled_changes":[]}`
		usage = `{"records":[` +
			`{"id":"0193a1b2-0000-7000-8000-00000000000c","subscription_id":"0193a1b2-0000-7000-8000-000000000006",` +
			`"item_id":"0193a1b2-0000-7000-8000-00000000000d","quantity":"12.5","occurred_at":"2026-01-05T10:00:00Z"},` +
			`{"id":"0193a1b2-0000-7000-8000-00000000000e","subscription_id":"0193a1b2-0000-7000-8000-000000000006",` +
			`"item_id":"0193a1b2-0000-7000-8000-00000000000d","quantity":3,"occurred_at":"2026-01-05T11:00:00+01:00"}]}`
		grant = `{"tenant_id":"0193a1b2-0000-7000-8000-000000000001","partner_id":"0193a1b2-0000-7000-8000-000000000009",` +
			`"role":"partner_operator","all_accounts":false,"account_ids":["0193a1b2-0000-7000-8000-000000000002"],` +
			`"actions":null,"status":"active","expires_at":null,"granted_by":` + actor + `,"version":1}`
	)
	accountJSON := func(id, version string) string {
		return `{"id":"` + id + `","name":"Acme","currency":"EUR","status":"active","billing":` + billing +
			`,"version":` + version + `,"created_by":` + actor + `,"created_at":"2026-01-02T03:04:05.123Z"}`
	}
	okAccount := accountJSON("0193a1b2-0000-7000-8000-000000000002", "3")
	jsonHeaders := map[string]string{"Content-Type": "application/json", "X-Request-ID": "r1", "ETag": `"3"`}
	created := map[string]string{"Content-Type": "application/json", "X-Request-ID": "r1", "ETag": `"1"`, "Ledger-Position": "7",
		"Location": base + "/accounts/0193a1b2-0000-7000-8000-000000000004"}
	problem := map[string]string{"Content-Type": "application/problem+json", "X-Request-ID": "r1"}
	notFound := func(code string) string {
		return `{"type":"urn:ledger:problem:` + code + `","title":"Not found","status":404,"code":"` + code + `"}`
	}
	cases := []struct {
		name, method, target, body string
		anonymous                  bool
		status                     int
		header                     map[string]string
		resBody                    string
		want                       string // in the mismatch; "" for none
	}{
		{name: "read", method: "GET", target: account, status: 200, header: jsonHeaders, resBody: okAccount},
		{name: "read at the server's address", method: "GET", target: "http://127.0.0.1:8080" + account,
			status: 200, header: jsonHeaders, resBody: okAccount},
		{name: "wrong type in a response field", method: "GET", target: account, status: 200, header: jsonHeaders,
			resBody: accountJSON("0193a1b2-0000-7000-8000-000000000002", `"3"`), want: "response body"},
		{name: "id that is no uuid", method: "GET", target: account, status: 200, header: jsonHeaders,
			resBody: accountJSON("42", "3"), want: "uuid"},
		{name: "missing ETag", method: "GET", target: account, status: 200,
			header: map[string]string{"Content-Type": "application/json", "X-Request-ID": "r1"}, resBody: okAccount, want: "ETag"},
		{name: "undocumented status", method: "GET", target: account, status: 418, header: problem,
			resBody: notFound("not_found"), want: "status"},
		{name: "undocumented problem code", method: "GET", target: account, status: 404, header: problem,
			resBody: notFound("missing"), want: "response body"},
		{name: "undocumented route", method: "GET", target: base + "/payments", status: 200, header: jsonHeaders,
			resBody: `{}`, want: "no documented operation"},
		{name: "create", method: "POST", target: base + "/accounts", body: newAccount, status: 201, header: created,
			resBody: accountJSON("0193a1b2-0000-7000-8000-000000000004", "1")},
		{name: "accepted request with an unknown field", method: "POST", target: base + "/accounts",
			body: newAccount[:len(newAccount)-1] + `,"nickname":"A"}`, status: 201, header: created,
			resBody: accountJSON("0193a1b2-0000-7000-8000-000000000004", "1"), want: "request"},
		{name: "accepted request without a key", method: "POST", target: base + "/accounts", body: newAccount,
			anonymous: true, status: 201, header: created,
			resBody: accountJSON("0193a1b2-0000-7000-8000-000000000004", "1"), want: "request"},
		{name: "malformed request refused", method: "POST", target: base + "/accounts", body: `{"name":`, status: 400,
			header: problem, resBody: `{"type":"urn:ledger:problem:bad_request","title":"Bad request","status":400,` +
				`"detail":"malformed JSON","code":"bad_request"}`},
		{name: "amendment", method: "POST", target: sub + "/amendments", body: amendment, status: 200,
			header:  map[string]string{"Content-Type": "application/json", "X-Request-ID": "r1", "ETag": `"2"`, "Ledger-Position": "9"},
			resBody: subscription},
		{name: "usage", method: "POST", target: base + "/usage", body: usage, status: 200,
			header:  map[string]string{"Content-Type": "application/json", "X-Request-ID": "r1", "Ledger-Position": "11"},
			resBody: `{"accepted":1,"duplicates":1}`},
		{name: "grant", method: "PUT", target: base + "/partners/0193a1b2-0000-7000-8000-000000000009/access",
			body:   `{"role":"partner_operator","all_accounts":false,"account_ids":["0193a1b2-0000-7000-8000-000000000002"],"actions":null}`,
			status: 201, header: created, resBody: grant},
		{name: "delete", method: "DELETE", target: base + "/users/0193a1b2-0000-7000-8000-000000000005", status: 204,
			header: map[string]string{"X-Request-ID": "r1", "Ledger-Position": "42"}},
		{name: "health, unauthenticated", method: "GET", target: "/healthz", anonymous: true, status: 200,
			header: map[string]string{"Content-Type": "application/json", "X-Request-ID": "r1"}, resBody: `{"status":"ok"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if !tc.anonymous {
				req.Header.Set("Authorization", "Bearer lk_test")
			}
			rec := httptest.NewRecorder()
			for k, v := range tc.header {
				rec.Header().Set(k, v)
			}
			rec.WriteHeader(tc.status)
			rec.WriteString(tc.resBody)
			err := documentMismatch(t.Context(), req, []byte(tc.body), rec.Code, rec.Header(), rec.Body.Bytes())
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("mismatch: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("mismatch = %v, want one about %q", err, tc.want)
			case tc.want == "":
				checkAgainstDocument(t, req, []byte(tc.body), rec.Code, rec.Header(), rec.Body.Bytes())
			}
		})
	}
}
