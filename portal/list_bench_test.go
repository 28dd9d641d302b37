package portal

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkSubscriptionsPage500 renders the subscriptions list of 500
// subscriptions, the API's largest page, for a signed-in tenant admin,
// through the whole server (session, key authentication, authorization,
// the read model's query, the template), and reports the server-side
// latency's p50 and p99 (docs/benchmarks.md).
func BenchmarkSubscriptionsPage500(b *testing.B) {
	e := newEnv(b)
	base := "/v1/tenants/" + e.tenant.String()
	product := e.api(b, "POST", base+"/products", e.adminKey, `{"name":"Pro","sku":"PRO","charges":[
		{"name":"Seat","type":"recurring","price":"49","currency":"USD","billing_period":"month"}]}`, http.StatusCreated)
	charge := product["charges"].([]any)[0].(map[string]any)["id"].(string)
	var account string
	for i := range 500 {
		if i%10 == 0 {
			acc := e.api(b, "POST", base+"/accounts", e.adminKey,
				fmt.Sprintf(`{"name":"Customer %d","currency":"USD","billing":{"contact_name":"Ann","email":"ann@example.test"}}`, i), http.StatusCreated)
			account = acc["id"].(string)
		}
		e.api(b, "POST", base+"/subscriptions", e.adminKey, fmt.Sprintf(`{"account_id":%q,"start_date":"2026-01-01",
			"term":{"type":"evergreen"},"items":[{"product_id":%q,"charge_id":%q,"quantity":%d}]}`, account, product["id"], charge, i%7+1), http.StatusCreated)
	}
	e.caughtUp(b)
	br := e.browser()
	br.mustSignIn(b, e.adminKey)
	path := "/portal/tenants/" + e.tenant.String() + "/subscriptions?limit=500"
	page := func() {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for _, c := range br.cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), "<tr>") != 501 {
			b.Fatalf("page: %d with %d rows, want 200 with 500", rec.Code, strings.Count(rec.Body.String(), "<tr>")-1)
		}
	}
	page()
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		page()
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}
