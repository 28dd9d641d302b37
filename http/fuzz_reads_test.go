package http

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// readIDs are the world's ids by path parameter name.
func (w *fuzzWorld) readIDs() map[string]string {
	return map[string]string{"tenant_id": w.tenant, "partner_id": w.partner, "account_id": w.account,
		"product_id": w.product, "subscription_id": w.sub, "user_id": w.tenantUser, "change_id": w.change}
}

// metricLabel is one label of a series of /metrics.
var metricLabel = regexp.MustCompile(`\b(method|route)="((?:[^"\\]|\\.)*)"`)

// FuzzReadRoutes sends any method, query string and headers (among them
// Ledger-Min-Position, X-Request-ID and Authorization) to the routes the
// server serves, and fails on a 5xx, or when /metrics names a method
// outside the standard ones and "other", or a route that is not one of
// the router's templates: nothing a caller sends may grow a label set.
func FuzzReadRoutes(f *testing.F) {
	w := newFuzzWorld(f)
	routes := w.srv.Routes()
	allowed := map[string]bool{"unmatched": true, "other": true}
	for _, r := range routes {
		allowed[r.Path] = true
	}
	for m := range standardMethods {
		allowed[m] = true
	}
	for i, r := range routes {
		f.Add("", uint8(i), "", "", uint8(i%3), "", "", "", false)
		f.Add(strings.Repeat("X", 2000), uint8(i), "limit=0&cursor=-1", "", uint8(0), "18446744073709551615", "", "", false)
		f.Add(r.Method, uint8(i), "as_of=0001-01-01T00:00:00Z&account_id=x", "nope", uint8(1), "-1", "\xff", "", true)
	}
	for _, q := range []string{"limit=501", "cursor=9223372036854775808", "cursor=%ff", "type=AccessDenied", "group_by=partner",
		"from=2026-01-01&to=2025-01-01", "status=active&status=cancelled", "limit=1&limit=2", "as_of=9999-12-31T23:59:59Z", "%zz"} {
		f.Add("GET", uint8(0), q, "", uint8(0), "1", "req-1", "", false)
	}
	f.Add("PROPFIND", uint8(3), "", "", uint8(3), "", "", "Bearer lk_"+strings.Repeat("0", 64), false)
	f.Fuzz(func(t *testing.T, method string, route uint8, query, pathID string, who uint8, minPos, requestID, auth string, twoAuth bool) {
		r := routes[int(route)%len(routes)]
		ids := w.readIDs()
		var path strings.Builder
		for seg := range strings.SplitSeq(strings.TrimPrefix(r.Path, "/"), "/") {
			path.WriteString("/")
			if name, ok := strings.CutPrefix(seg, ":"); ok {
				seg = ids[name]
				if pathID != "" {
					seg = url.PathEscape(pathID)
				}
			}
			path.WriteString(seg)
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if u, err := url.ParseRequestURI(path.String() + "?" + query); err == nil {
			req.URL, req.RequestURI = u, u.RequestURI()
		}
		if method != "" && validToken(method) {
			req.Method = method
		}
		in := fuzzInput{who: who, auth: auth, requestID: requestID, twoAuth: twoAuth}
		for name, v := range map[string]string{"Authorization": map[uint8]string{0: "Bearer " + w.adminKey,
			1: "Bearer " + w.partnerKey, 3: in.auth}[in.who%4], "X-Request-ID": requestID, "Ledger-Min-Position": minPos} {
			if v != "" && validHeaderValue(v) {
				req.Header.Set(name, v)
			}
		}
		if twoAuth {
			req.Header.Add("Authorization", "Bearer "+w.partnerKey)
		}
		rec := httptest.NewRecorder()
		w.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %s: %d %s", req.Method, req.URL, sentHeaders(req), rec.Code, rec.Body)
		}
		metrics := httptest.NewRecorder()
		w.srv.ServeHTTP(metrics, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		for _, m := range metricLabel.FindAllStringSubmatch(metrics.Body.String(), -1) {
			if !allowed[m[2]] {
				t.Fatalf("after %s %s: /metrics has %s=%q", req.Method, req.URL, m[1], m[2])
			}
		}
	})
}

// validToken reports whether s is an HTTP token, as a method must be.
func validToken(s string) bool {
	for _, r := range s {
		if r > '~' || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return s != ""
}
