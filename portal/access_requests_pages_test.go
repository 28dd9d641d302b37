package portal

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

var accessRequestLink = regexp.MustCompile(`/access-requests/([0-9a-f-]{36})"`)

// accessRequestMake has the partner's admin ask the env's tenant (or
// tenant) for access through its portal page, and returns the page after.
func accessRequestMake(t *testing.T, e *env, b *browser, tenant string, fields url.Values) string {
	t.Helper()
	mine := "/portal/partners/" + e.partner.String() + "/access-requests"
	page := wantPage(t, b.get(t, mine), http.StatusOK, "Request access to a tenant")
	fields.Set("tenant_id", tenant)
	res := partnersPost(t, b, page, mine, fields)
	partnersWantRedirect(t, res, mine)
	return wantPage(t, b.get(t, mine), http.StatusOK)
}

// accessRequestOnly is the id of the one request the tenant's list shows.
func accessRequestOnly(t *testing.T, page string) string {
	t.Helper()
	m := accessRequestLink.FindAllStringSubmatch(page, -1)
	if len(m) != 1 {
		t.Fatalf("%d requests listed, want 1:\n%s", len(m), page)
	}
	return m[0][1]
}

func TestAccessRequestApprovedNarrowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	accounts := partnersAccounts(t, e)
	tenant, partner := e.tenant.String(), e.partner.String()
	pa := e.browser()
	pa.mustSignIn(t, e.partnerKey)
	mine := accessRequestMake(t, e, pa, tenant, url.Values{"role": {"partner_operator"},
		"account_ids": {accounts[0] + "\n" + accounts[1]}, "duration_days": {"90"}, "message": {"Please"}})
	wantPage(t, pa.get(t, "/portal/partners/"+partner+"/access-requests"), http.StatusOK, tenant, "pending", "partner_operator")
	// A tenant that does not exist: the same answer.
	ghost := uuid.NewString()
	accessRequestMake(t, e, pa, ghost, url.Values{"role": {"partner_viewer"}, "all_accounts": {"true"}, "duration_days": {"10"}})
	if strings.Contains(mine, "not found") {
		t.Fatal("the request's answer says whether the tenant exists")
	}

	admin := e.browser()
	admin.mustSignIn(t, e.adminKey)
	list := "/portal/tenants/" + tenant + "/access-requests"
	page := wantPage(t, admin.get(t, list), http.StatusOK, partner, "pending", "partner_operator")
	if strings.Contains(page, ghost) {
		t.Fatal("the tenant sees a request made to another tenant")
	}
	id := accessRequestOnly(t, page)
	detail := list + "/" + id
	page = wantPage(t, admin.get(t, detail), http.StatusOK, "Please", "Approve", "Reject", "Globex", "Initech", `value="90"`)

	// Widening is refused with the API's code, keeping the input.
	res := partnersPost(t, admin, page, detail+"/approve", url.Values{"role": {"partner_admin"},
		"account_ids": {accounts[0]}, "duration_days": {"90"}})
	wantPage(t, res, http.StatusUnprocessableEntity, "approval_widens_request", `aria-describedby="`+fieldID("role")+`-error"`,
		`<option value="partner_admin" selected>`)

	// Narrowed: a viewer, one account, 30 days.
	page = wantPage(t, admin.get(t, detail), http.StatusOK)
	res = partnersPost(t, admin, page, detail+"/approve", url.Values{"role": {"partner_viewer"},
		"account_ids": {accounts[0]}, "duration_days": {"30"}})
	partnersWantRedirect(t, res, detail)
	page = wantPage(t, admin.get(t, detail), http.StatusOK, `<dd id="request-status">approved</dd>`, "partner_viewer, 1 account(s)", "30 days")
	if strings.Contains(page, `id="approve-submit"`) {
		t.Fatal("a decided request still offers to approve it")
	}
	grant := e.api(t, "GET", "/v1/tenants/"+tenant+"/partners/"+partner+"/access", e.partnerKey, "", http.StatusOK)
	if grant["role"] != "partner_viewer" || grant["status"] != "active" || grant["all_accounts"] != false || grant["expires_at"] == nil {
		t.Fatalf("the grant after approval: %v", grant)
	}
	e.api(t, "GET", "/v1/tenants/"+tenant+"/accounts/"+accounts[1], e.partnerKey, "", http.StatusNotFound)
	approved := partnersLastEvent(t, e, "AccessRequestApproved")
	if actor := approved["actor"].(map[string]any); actor["id"] != partnersUserID(t, page) {
		t.Fatalf("the approval's actor is %v", actor)
	}
	wantPage(t, pa.get(t, "/portal/partners/"+partner+"/access-requests"), http.StatusOK, "approved", "granted partner_viewer")
	wantPage(t, admin.get(t, list+"?status=bogus"), http.StatusBadRequest, "validation_failed")
	page = wantPage(t, admin.get(t, list+"?status=pending"), http.StatusOK, "No access requests.")
	if strings.Contains(page, id) {
		t.Fatal("the pending filter lists an approved request")
	}
}

func TestAccessRequestRejected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant, partner := e.tenant.String(), e.partner.String()
	pa := e.browser()
	pa.mustSignIn(t, e.partnerKey)
	accessRequestMake(t, e, pa, tenant, url.Values{"role": {"partner_admin"}, "all_accounts": {"true"}, "duration_days": {"365"}})
	admin := e.browser()
	admin.mustSignIn(t, e.adminKey)
	list := "/portal/tenants/" + tenant + "/access-requests"
	detail := list + "/" + accessRequestOnly(t, wantPage(t, admin.get(t, list), http.StatusOK))
	page := wantPage(t, admin.get(t, detail), http.StatusOK)
	res := partnersPost(t, admin, page, detail+"/reject", url.Values{"reason": {"We do not know you"}})
	partnersWantRedirect(t, res, detail)
	page = wantPage(t, admin.get(t, detail), http.StatusOK, `<dd id="request-status">rejected</dd>`, "We do not know you")
	if strings.Contains(page, `id="reject-submit"`) {
		t.Fatal("a decided request still offers to reject it")
	}
	wantPage(t, pa.get(t, "/portal/partners/"+partner+"/access-requests"), http.StatusOK, "rejected", "We do not know you")
	e.api(t, "GET", "/v1/tenants/"+tenant+"/partners/"+partner+"/access", e.adminKey, "", http.StatusNotFound)
}

func TestAccessRequestPartnerPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	partner := e.partner.String()
	viewer := e.api(t, "POST", "/v1/partners/"+partner+"/users", e.partnerKey, `{"name":"Vi","role":"partner_viewer"}`, http.StatusCreated)
	e.caughtUp(t)
	pa := e.browser()
	pa.mustSignIn(t, e.partnerKey)
	mine := "/portal/partners/" + partner + "/access-requests"

	page := wantPage(t, pa.get(t, mine), http.StatusOK)
	res := partnersPost(t, pa, page, mine, url.Values{"tenant_id": {"acme"}, "role": {"partner_viewer"}, "duration_days": {"900"},
		"account_ids": {"x"}})
	wantPage(t, res, http.StatusUnprocessableEntity, "validation_failed", `value="acme"`, `value="900"`,
		`aria-describedby="`+fieldID("tenant_id")+`-error"`, `aria-describedby="`+fieldID("account_ids")+`-error"`)
	page = wantPage(t, pa.get(t, mine), http.StatusOK)
	res = partnersPost(t, pa, page, mine, url.Values{"tenant_id": {e.tenant.String()}, "role": {"partner_viewer"}, "duration_days": {"900"}})
	wantPage(t, res, http.StatusUnprocessableEntity, "validation_failed", `aria-describedby="`+fieldID("duration_days")+`-error"`)

	// Another partner's requests are the 404 page; a tenant user has none.
	notFound := wantPage(t, pa.get(t, "/portal/partners/"+uuid.NewString()+"/access-requests"), http.StatusNotFound)
	if got := wantPage(t, pa.get(t, "/portal/nowhere"), http.StatusNotFound); got != notFound {
		t.Fatal("the 404 page of another partner's requests differs from that of no page")
	}
	admin := e.browser()
	admin.mustSignIn(t, e.adminKey)
	wantPage(t, admin.get(t, mine), http.StatusNotFound)

	// A viewer of the partner sees the list, and no form.
	vb := e.browser()
	vb.mustSignIn(t, viewer["key"].(string))
	listRes := vb.get(t, mine)
	page = wantPage(t, listRes, http.StatusOK, "made no access requests")
	if strings.Contains(page, `action="`+mine+`"`) {
		t.Fatal("a partner viewer is offered the request form")
	}
	res = vb.do(t, http.MethodPost, mine, url.Values{csrfField: {csrfOf(t, listRes)}, "tenant_id": {e.tenant.String()},
		"role": {"partner_viewer"}, "duration_days": {"9"}})
	wantPage(t, res, http.StatusForbidden, "<code>forbidden</code>")
}
