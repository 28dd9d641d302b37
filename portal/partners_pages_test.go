package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// partnersAccounts creates two accounts of the env's tenant through the
// API and returns their ids.
func partnersAccounts(t *testing.T, e *env) []string {
	t.Helper()
	var ids []string
	for _, name := range []string{"Globex", "Initech"} {
		acc := e.api(t, "POST", "/v1/tenants/"+e.tenant.String()+"/accounts", e.adminKey,
			fmt.Sprintf(`{"name":%q,"currency":"USD","billing":{"contact_name":"Hank","email":"hank@example.test"}}`, name), http.StatusCreated)
		ids = append(ids, acc["id"].(string))
	}
	e.caughtUp(t)
	return ids
}

// partnersPost posts the form of page whose action is action, with the
// fields a user fills in, and returns the answer.
func partnersPost(t *testing.T, b *browser, page, action string, fields url.Values) *http.Response {
	t.Helper()
	v := formValues(t, page, action)
	for k, vs := range fields {
		v[k] = vs
	}
	return b.do(t, http.MethodPost, action, v)
}

// partnersWantRedirect fails unless res is a 303 to location.
func partnersWantRedirect(t *testing.T, res *http.Response, location string) {
	t.Helper()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != location {
		t.Fatalf("got %d to %q, want 303 to %q:\n%s", res.StatusCode, res.Header.Get("Location"), location, bodyOf(t, res))
	}
}

var partnersSignedInAs = regexp.MustCompile(`Signed in as tenant_user ([0-9a-f-]{36})`)

// partnersUserID is the id of the tenant user signed in on page.
func partnersUserID(t *testing.T, page string) string {
	t.Helper()
	m := partnersSignedInAs.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no tenant user signed in on the page")
	}
	return m[1]
}

// partnersLastEvent is the latest event of type typ in the tenant's audit
// log, as the API shows it to its admin.
func partnersLastEvent(t *testing.T, e *env, typ string) map[string]any {
	t.Helper()
	out := e.api(t, "GET", "/v1/tenants/"+e.tenant.String()+"/audit/events?type="+typ, e.adminKey, "", http.StatusOK)
	items, _ := out["items"].([]any)
	if len(items) == 0 {
		t.Fatalf("no %s event in the audit log", typ)
	}
	return items[len(items)-1].(map[string]any)
}

func TestPartnersGrantNarrowAndRevoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	accounts := partnersAccounts(t, e)
	tenant, partner := e.tenant.String(), e.partner.String()
	list := "/portal/tenants/" + tenant + "/partners"
	detail := list + "/" + partner
	admin := e.browser()
	admin.mustSignIn(t, e.adminKey)

	page := wantPage(t, admin.get(t, list), http.StatusOK, "No partner has been granted access yet.", "Globex", accounts[1])
	adminID := partnersUserID(t, page)
	res := partnersPost(t, admin, page, list, url.Values{"partner_id": {partner}, "role": {"partner_operator"}, "all_accounts": {"true"}})
	partnersWantRedirect(t, res, detail)
	wantPage(t, admin.get(t, list), http.StatusOK, `href="`+detail+`"`, "partner_operator", "All accounts", "active", "Never")
	granted := partnersLastEvent(t, e, "PartnerAccessGranted")
	if actor := granted["actor"].(map[string]any); actor["type"] != "tenant_user" || actor["id"] != adminID {
		t.Fatalf("the grant's actor is %v, want the signed-in admin %s", actor, adminID)
	}
	// The partner now sees both accounts.
	e.api(t, "GET", "/v1/tenants/"+tenant+"/accounts/"+accounts[1], e.partnerKey, "", http.StatusOK)

	// Narrow: viewer, the first account only, until 2099.
	page = wantPage(t, admin.get(t, detail), http.StatusOK, `id="revoke-link"`, "Change the grant")
	res = partnersPost(t, admin, page, detail+"/access", url.Values{"role": {"partner_viewer"}, "all_accounts": nil,
		"account_ids": {accounts[0]}, "actions": {"usage.record"}, "expires_at": {"2099-01-31T12:00"}})
	partnersWantRedirect(t, res, detail)
	wantPage(t, admin.get(t, detail), http.StatusOK, "partner_viewer", "1 account(s)", accounts[0], "usage.record", "2099-01-31 12:00:00 UTC")
	grant := e.api(t, "GET", "/v1/tenants/"+tenant+"/partners/"+partner+"/access", e.partnerKey, "", http.StatusOK)
	if grant["role"] != "partner_viewer" || grant["all_accounts"] != false || fmt.Sprint(grant["account_ids"]) != "["+accounts[0]+"]" {
		t.Fatalf("the partner's grant after narrowing: %v", grant)
	}
	e.api(t, "GET", "/v1/tenants/"+tenant+"/accounts/"+accounts[1], e.partnerKey, "", http.StatusNotFound)
	e.api(t, "GET", "/v1/tenants/"+tenant+"/accounts/"+accounts[0], e.partnerKey, "", http.StatusOK)

	// A partner's browser session on the tenant, before the revocation.
	partnerBrowser := e.browser()
	partnerBrowser.mustSignIn(t, e.partnerKey)
	wantPage(t, partnerBrowser.get(t, "/portal/tenants/"+tenant+"/subscriptions"), http.StatusOK)

	// Revoke, through the confirmation.
	page = wantPage(t, admin.get(t, detail), http.StatusOK)
	if !strings.Contains(page, `href="`+detail+`/revoke" id="revoke-link"`) {
		t.Fatalf("no revoke link to the confirmation:\n%s", page)
	}
	confirm := wantPage(t, admin.get(t, detail+"/revoke"), http.StatusOK, "Are you sure", "every user of that partner loses access", `id="revoke-confirm"`)
	res = partnersPost(t, admin, confirm, detail+"/revoke", url.Values{"reason": {"contract ended"}})
	partnersWantRedirect(t, res, detail)
	page = wantPage(t, admin.get(t, detail), http.StatusOK, `<dd id="grant-status">revoked</dd>`, "Grant access again")
	if strings.Contains(page, `id="revoke-link"`) {
		t.Fatal("a revoked grant still offers to revoke it")
	}
	if actor := partnersLastEvent(t, e, "PartnerAccessRevoked")["actor"].(map[string]any); actor["id"] != adminID {
		t.Fatalf("the revocation's actor is %v, want %s", actor, adminID)
	}
	out := e.api(t, "GET", "/v1/tenants/"+tenant+"/subscriptions", e.partnerKey, "", http.StatusForbidden)
	if !strings.Contains(fmt.Sprint(out), "partner_access_revoked") {
		t.Fatalf("the partner's key after revocation: %v", out)
	}
	wantPage(t, partnerBrowser.get(t, "/portal/tenants/"+tenant+"/subscriptions"), http.StatusForbidden, "partner_access_revoked")
}

func TestPartnersGrantFormKeepsBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	accounts := partnersAccounts(t, e)
	list := "/portal/tenants/" + e.tenant.String() + "/partners"
	detail := list + "/" + e.partner.String()
	admin := e.browser()
	admin.mustSignIn(t, e.adminKey)
	tests := []struct {
		name, action string
		fields       url.Values
		field, value string
	}{
		{"unreadable expiry", detail + "/access", url.Values{"role": {"partner_viewer"}, "all_accounts": {"true"}, "expires_at": {"next tuesday"}},
			"expires_at", "next tuesday"},
		{"past expiry", detail + "/access", url.Values{"role": {"partner_viewer"}, "all_accounts": {"true"}, "expires_at": {"2001-01-01T00:00"}},
			"expires_at", "2001-01-01T00:00"},
		{"all accounts and a list", detail + "/access", url.Values{"role": {"partner_viewer"}, "all_accounts": {"true"}, "account_ids": {accounts[0]}},
			"account_ids", accounts[0]},
		{"unknown account id", detail + "/access", url.Values{"role": {"partner_viewer"}, "account_ids": {"not-an-account"}},
			"account_ids", ""},
		{"no role", detail + "/access", url.Values{"role": {""}, "all_accounts": {"true"}, "expires_at": {"2099-01-01T00:00"}},
			"role", "2099-01-01T00:00"},
		{"unknown partner", list, url.Values{"partner_id": {"6f1c2a4e-0000-4000-8000-000000000000"}, "role": {"partner_viewer"}},
			"partner_id", "6f1c2a4e-0000-4000-8000-000000000000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from := detail
			if tc.action == list {
				from = list
			}
			page := wantPage(t, admin.get(t, from), http.StatusOK)
			body := wantPage(t, partnersPost(t, admin, page, tc.action, tc.fields), http.StatusUnprocessableEntity,
				"validation_failed", `id="`+fieldID(tc.field)+`-error"`, tc.value)
			if !strings.Contains(body, `aria-invalid="true" aria-describedby="`+fieldID(tc.field)+`-error"`) {
				t.Fatalf("the field %s is not marked:\n%s", tc.field, body)
			}
		})
	}
	e.api(t, "GET", "/v1/tenants/"+e.tenant.String()+"/partners/"+e.partner.String()+"/access", e.adminKey, "", http.StatusNotFound)
}

func TestPartnersPagesRefuseOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant, partner := e.tenant.String(), e.partner.String()
	finance := e.api(t, "POST", "/v1/tenants/"+tenant+"/users", e.adminKey, `{"name":"Fi","role":"finance"}`, http.StatusCreated)
	e.api(t, "PUT", "/v1/tenants/"+tenant+"/partners/"+partner+"/access", e.adminKey, `{"role":"partner_admin","all_accounts":true}`, http.StatusCreated)
	e.caughtUp(t)
	fin := e.browser()
	fin.mustSignIn(t, finance["key"].(string))
	pa := e.browser()
	pa.mustSignIn(t, e.partnerKey)
	base := "/portal/tenants/" + tenant
	for _, path := range []string{base + "/partners", base + "/partners/" + partner, base + "/partners/" + partner + "/revoke",
		base + "/access-requests"} {
		t.Run("finance "+path, func(t *testing.T) {
			page := wantPage(t, fin.get(t, path), http.StatusForbidden, "<code>forbidden</code>")
			if strings.Contains(page, "revoke-confirm") || strings.Contains(page, "<form method=\"post\" action=\""+base) {
				t.Fatal("the refusal shows a form")
			}
		})
	}
	home := wantPage(t, fin.get(t, "/portal/"), http.StatusOK)
	if strings.Contains(home, base+"/partners") {
		t.Fatal("a finance user is offered the partners page")
	}
	res := fin.do(t, http.MethodPost, base+"/partners/"+partner+"/revoke", url.Values{csrfField: {csrfOf(t, fin.get(t, "/portal/"))}})
	wantPage(t, res, http.StatusForbidden, "forbidden")
	e.api(t, "GET", "/v1/tenants/"+tenant+"/subscriptions", e.partnerKey, "", http.StatusOK) // still granted
	wantPage(t, pa.get(t, base+"/partners"), http.StatusForbidden, "<code>forbidden</code>")
	wantPage(t, pa.get(t, base+"/access-requests"), http.StatusNotFound)
}
