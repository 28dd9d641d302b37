package http

import (
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// loadDocument loads and validates OpenAPIDocument.
func loadDocument(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPIDocument)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("validate openapi.yaml: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	t.Parallel()
	doc := loadDocument(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
}

// publicRoutes are the operations routes, served without authentication.
var publicRoutes = []Route{
	{"GET", "/healthz"}, {"GET", "/metrics"}, {"GET", "/openapi.yaml"}, {"GET", "/readyz"},
}

func TestDocumentedRoutesAreTheContract(t *testing.T) {
	t.Parallel()
	want := append([]Route{
		{"POST", "/v1/tenants/:tenant_id/users"},
		{"DELETE", "/v1/tenants/:tenant_id/users/:user_id"},
		{"POST", "/v1/partners/:partner_id/users"},
		{"DELETE", "/v1/partners/:partner_id/users/:user_id"},
		{"GET", "/v1/partners/:partner_id/tenants"},
		{"PUT", "/v1/tenants/:tenant_id/partners/:partner_id/access"},
		{"DELETE", "/v1/tenants/:tenant_id/partners/:partner_id/access"},
		{"GET", "/v1/tenants/:tenant_id/partners/:partner_id/access"},
		{"GET", "/v1/tenants/:tenant_id/partners"},
		{"POST", "/v1/partners/:partner_id/access-requests"},
		{"GET", "/v1/partners/:partner_id/access-requests"},
		{"GET", "/v1/partners/:partner_id/access-requests/:request_id"}, // the Location of a request, beyond api.md
		{"GET", "/v1/tenants/:tenant_id/access-requests"},
		{"POST", "/v1/tenants/:tenant_id/access-requests/:request_id/approve"},
		{"POST", "/v1/tenants/:tenant_id/access-requests/:request_id/reject"},
		{"POST", "/v1/tenants/:tenant_id/accounts"},
		{"GET", "/v1/tenants/:tenant_id/accounts"},
		{"GET", "/v1/tenants/:tenant_id/accounts/:account_id"},
		{"PUT", "/v1/tenants/:tenant_id/accounts/:account_id/billing"},
		{"POST", "/v1/tenants/:tenant_id/products"},
		{"GET", "/v1/tenants/:tenant_id/products"},
		{"GET", "/v1/tenants/:tenant_id/products/:product_id"},
		{"POST", "/v1/tenants/:tenant_id/subscriptions"},
		{"GET", "/v1/tenants/:tenant_id/subscriptions"},
		{"GET", "/v1/tenants/:tenant_id/subscriptions/:subscription_id"},
		{"GET", "/v1/tenants/:tenant_id/subscriptions/:subscription_id/history"},
		{"POST", "/v1/tenants/:tenant_id/subscriptions/:subscription_id/amendments"},
		{"POST", "/v1/tenants/:tenant_id/subscriptions/:subscription_id/cancel"},
		{"DELETE", "/v1/tenants/:tenant_id/subscriptions/:subscription_id/scheduled-changes/:change_id"},
		{"POST", "/v1/tenants/:tenant_id/usage"},
		{"GET", "/v1/tenants/:tenant_id/usage/summary"},
		{"POST", "/v1/tenants/:tenant_id/bill-runs"},
		{"GET", "/v1/tenants/:tenant_id/bill-runs/:bill_run_id"}, // the Location of a bill run, beyond api.md
		{"GET", "/v1/tenants/:tenant_id/invoices"},
		{"GET", "/v1/tenants/:tenant_id/invoices/:invoice_id"},
		{"POST", "/v1/tenants/:tenant_id/invoices/:invoice_id/void"},
		{"GET", "/v1/tenants/:tenant_id/reports/mrr"},
		{"GET", "/v1/tenants/:tenant_id/reports/mrr-movements"},
		{"GET", "/v1/tenants/:tenant_id/reports/revenue"},
		{"GET", "/v1/tenants/:tenant_id/reports/access-review"},
		{"GET", "/v1/tenants/:tenant_id/audit/events"},
		{"GET", "/v1/tenants/:tenant_id/audit/checkpoint"},
		{"GET", "/v1/tenants/:tenant_id/audit/proof"},
		{"GET", "/v1/tenants/:tenant_id/audit/consistency"},
	}, publicRoutes...)
	got, err := DocumentedRoutes()
	if err != nil {
		t.Fatalf("DocumentedRoutes: %v", err)
	}
	for _, r := range want {
		if !slices.Contains(got, r) {
			t.Errorf("api.md route %s %s is not documented", r.Method, r.Path)
		}
	}
	for _, r := range got {
		if !slices.Contains(want, r) {
			t.Errorf("documented route %s %s is not in api.md", r.Method, r.Path)
		}
	}
	if !slices.IsSortedFunc(got, func(a, b Route) int {
		return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method)
	}) {
		t.Errorf("DocumentedRoutes is not sorted by path, then method: %v", got)
	}
}

func TestOperationsAreDescribed(t *testing.T) {
	t.Parallel()
	doc := loadDocument(t)
	if len(doc.Security) == 0 {
		t.Fatal("the document requires no authentication by default")
	}
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			route := Route{Method: method, Path: echoPath(path)}
			if op.OperationID == "" || op.Summary == "" || op.Description == "" || len(op.Tags) == 0 {
				t.Errorf("%s: operationId %q, summary %q, tags %v, description of %d bytes: want all",
					name, op.OperationID, op.Summary, op.Tags, len(op.Description))
			}
			if other, ok := ids[op.OperationID]; ok {
				t.Errorf("%s: operationId %q is %s's too", name, op.OperationID, other)
			}
			ids[op.OperationID] = name
			public := op.Security != nil && len(*op.Security) == 0
			if public != slices.Contains(publicRoutes, route) {
				t.Errorf("%s: public = %v, want %v", name, public, !public)
			}
			if !public {
				checkProtocol(t, name, method, item, op)
			}
		}
	}
}

// checkProtocol checks that an authenticated operation documents the
// problems and headers every such operation has.
func checkProtocol(t *testing.T, name, method string, item *openapi3.PathItem, op *openapi3.Operation) {
	t.Helper()
	statuses := []string{"400", "401", "403", "404", "500", "503"}
	if op.RequestBody != nil {
		statuses = append(statuses, "413", "415")
	}
	for _, status := range statuses {
		res := op.Responses.Value(status)
		if res == nil || res.Value.Content.Get("application/problem+json") == nil {
			t.Errorf("%s: no %s application/problem+json response", name, status)
		}
	}
	if res := op.Responses.Value("503"); res != nil && res.Value.Headers["Retry-After"] == nil {
		t.Errorf("%s: its 503 response has no Retry-After", name)
	}
	header := func(name string) bool {
		params := append(slices.Clone(item.Parameters), op.Parameters...)
		return slices.ContainsFunc(params, func(p *openapi3.ParameterRef) bool {
			return p.Value.In == openapi3.ParameterInHeader && p.Value.Name == name
		})
	}
	if !header("X-Request-ID") {
		t.Errorf("%s: takes no X-Request-ID", name)
	}
	if method == "GET" {
		if !header("Ledger-Min-Position") {
			t.Errorf("%s: a read must take Ledger-Min-Position", name)
		}
		return
	}
	if !header("Idempotency-Key") {
		t.Errorf("%s: a mutation must take Idempotency-Key", name)
	}
	for status, res := range op.Responses.Map() {
		if strings.HasPrefix(status, "2") && res.Value.Headers["Ledger-Position"] == nil {
			t.Errorf("%s: its %s response has no Ledger-Position", name, status)
		}
	}
	if op.Responses.Value("422") == nil {
		t.Errorf("%s: a mutation must document 422 (idempotency_key_reused at least)", name)
	}
}
