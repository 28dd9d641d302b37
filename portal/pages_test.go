package portal

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestPartnerViewerSeesItsScopeOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.fixture(t)
	b := e.browser()
	b.mustSignIn(t, f.viewerKey)
	base := "/portal/tenants/" + e.tenant.String() + "/subscriptions"

	home := wantPage(t, b.get(t, "/portal/"), http.StatusOK, e.tenant.String(), "partner_viewer", "1 account(s)", "Never")
	if !strings.Contains(home, `href="`+base+`"`) {
		t.Fatalf("home links not to the tenant's subscriptions:\n%s", home)
	}
	list := wantPage(t, b.get(t, base), http.StatusOK, f.inScope, "147.00 USD")
	if strings.Contains(list, f.outOfScope) {
		t.Fatal("the list shows a subscription out of the grant's scope")
	}
	detail := wantPage(t, b.get(t, base+"/"+f.inScope), http.StatusOK,
		"147.00 USD", "Seat", "SubscriptionCreated", "by tenant_user", "active", "termed, 12 months")
	if strings.Contains(detail, "by tenant_user <code>") {
		t.Fatal("the history names the tenant's user to a partner, which the API does not")
	}

	outOfScope := wantPage(t, b.get(t, base+"/"+f.outOfScope), http.StatusNotFound)
	absent := wantPage(t, b.get(t, base+"/"+uuid.NewString()), http.StatusNotFound)
	otherTenant := wantPage(t, b.get(t, "/portal/tenants/"+uuid.NewString()+"/subscriptions"), http.StatusNotFound)
	noRoute := wantPage(t, b.get(t, "/portal/nowhere"), http.StatusNotFound)
	for name, page := range map[string]string{"absent": absent, "another tenant": otherTenant, "no such page": noRoute} {
		if !bytes.Equal([]byte(page), []byte(outOfScope)) {
			t.Errorf("404 page of %s differs from that of a subscription out of scope:\n%s\n---\n%s", name, page, outOfScope)
		}
	}
	if strings.Contains(outOfScope, f.outOfScope) {
		t.Fatal("the 404 page names what was asked for")
	}
}

func TestTenantAdminSeesEverySubscription(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.fixture(t)
	b := e.browser()
	b.mustSignIn(t, e.adminKey)
	base := "/portal/tenants/" + e.tenant.String() + "/subscriptions"
	wantPage(t, b.get(t, base), http.StatusOK, f.inScope, f.outOfScope)
	wantPage(t, b.get(t, base+"/"+f.outOfScope), http.StatusOK, "by tenant_user <code>") // the actor in full
	list := wantPage(t, b.get(t, base+"?status=cancelled"), http.StatusOK, "No subscriptions.")
	if strings.Contains(list, f.inScope) {
		t.Fatal("the status filter did not narrow the list")
	}
	wantPage(t, b.get(t, base+"?status=bogus"), http.StatusBadRequest, "validation_failed")
}

func TestLostAccessEndsTheSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// lose takes the access away, through the API.
		lose func(t *testing.T, e *env, f fixture)
		// want is the status and text of the next click.
		wantStatus int
		wantText   string
	}{
		{"grant revoked", func(t *testing.T, e *env, f fixture) {
			e.api(t, "DELETE", "/v1/tenants/"+e.tenant.String()+"/partners/"+e.partner.String()+"/access", e.adminKey, "", http.StatusOK)
		}, http.StatusForbidden, "partner_access_revoked"},
		{"user removed", func(t *testing.T, e *env, f fixture) {
			e.api(t, "DELETE", "/v1/partners/"+e.partner.String()+"/users/"+f.viewerID, e.partnerKey, "", http.StatusNoContent)
		}, http.StatusUnauthorized, "Your session has ended."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			f := e.fixture(t)
			b := e.browser()
			b.mustSignIn(t, f.viewerKey)
			list := "/portal/tenants/" + e.tenant.String() + "/subscriptions"
			wantPage(t, b.get(t, list), http.StatusOK, f.inScope)
			tc.lose(t, e, f)
			wantPage(t, b.get(t, list), tc.wantStatus, tc.wantText)
			if _, ok := b.cookies[sessionCookie]; ok {
				t.Fatal("the session cookie outlived the access")
			}
			if n := e.sessionCount(t); n != 0 {
				t.Fatalf("%d sessions stored, want 0", n)
			}
			wantPage(t, b.get(t, "/portal/"), http.StatusUnauthorized, "Sign in")
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := map[string]string{
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": contentSecurityPolicy,
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"home", "GET", "/portal/", http.StatusOK},
		{"sign-in", "GET", "/portal/sign-in", http.StatusOK},
		{"stylesheet", "GET", "/portal/static/simple.min.css", http.StatusOK},
		{"script", "GET", "/portal/static/htmx.min.js", http.StatusOK},
		{"404", "GET", "/portal/static/nothing.js", http.StatusNotFound},
		{"403", "POST", "/portal/sign-out", http.StatusForbidden},
		{"redirect", "GET", "/portal", http.StatusSeeOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := e.browser()
			b.mustSignIn(t, e.adminKey)
			res := b.do(t, tc.method, tc.path, nil)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			for h, v := range want {
				if got := res.Header.Get(h); got != v {
					t.Errorf("%s = %q, want %q", h, got, v)
				}
			}
		})
	}
	if !strings.Contains(contentSecurityPolicy, "script-src 'self';") || strings.Contains(contentSecurityPolicy, "unsafe") {
		t.Fatalf("the CSP allows more than the portal's own scripts: %s", contentSecurityPolicy)
	}
}
