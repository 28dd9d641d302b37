package portal

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// usersKeyField matches the read-only field that shows a new user's key.
var usersKeyField = regexp.MustCompile(`<input id="new-api-key" type="text" readonly value="([^"]+)"`)

// usersAdd adds a user named name with role on the users page at base,
// as browser b, and returns the result page and the key it shows.
func usersAdd(t *testing.T, b *browser, base, name, role string) (string, string) {
	t.Helper()
	form := formValues(t, bodyOf(t, b.get(t, base)), base)
	form.Set("name", name)
	form.Set("role", role)
	res := b.do(t, "POST", base, form)
	if loc := res.Header.Get("Location"); loc != "" {
		t.Fatalf("adding a user redirects to %s: the key would be shown by a GET", loc)
	}
	page := wantPage(t, res, http.StatusCreated, name, role, "will not be shown again", `data-copy="new-api-key"`,
		`<label for="new-api-key">`, `src="/portal/static/copy.js"`)
	m := usersKeyField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no key field on the page:\n%s", page)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("the page of the key may be cached")
	}
	return page, html.UnescapeString(m[1])
}

// usersIDOf is the id of the user named name on a users page.
func usersIDOf(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`/users/([0-9a-f-]{36})/remove">Remove ` + regexp.QuoteMeta(name) + `<`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no remove link of %s on the page:\n%s", name, page)
	}
	return m[1]
}

// usersRemove removes the user id through its confirmation page.
func usersRemove(t *testing.T, b *browser, base, id, name string) {
	t.Helper()
	confirm := wantPage(t, b.get(t, base+"/"+id+"/remove"), http.StatusOK, "Are you sure", name)
	res := b.do(t, "POST", base+"/"+id+"/remove", formValues(t, confirm, base+"/"+id+"/remove"))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != base {
		t.Fatalf("remove: %d to %q\n%s", res.StatusCode, res.Header.Get("Location"), bodyOf(t, res))
	}
}

func TestTenantUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fixture(t)
	b := e.browser()
	b.mustSignIn(t, e.adminKey)
	tenant := "/v1/tenants/" + e.tenant.String()
	base := "/portal/tenants/" + e.tenant.String() + "/users"
	home := wantPage(t, b.get(t, "/portal/"), http.StatusOK)
	if !strings.Contains(home, `href="`+base+`"`) {
		t.Fatal("the tenant admin's sections do not link the users")
	}

	list := bodyOf(t, b.get(t, base))
	if !regexp.MustCompile(`<td>admin \(you\)</td>\s*<td>tenant_admin</td>`).MatchString(list) {
		t.Errorf("the tenant's first admin, added when the tenant was created, is not listed:\n%s", list)
	}
	form := formValues(t, list, base)
	form.Set("name", " ")
	form.Set("role", "auditor")
	wantPage(t, b.do(t, "POST", base, form), http.StatusUnprocessableEntity, "Not saved:",
		`id="f-name" name="name" value=" " aria-invalid="true"`, `<option value="auditor" selected>`)

	page, key := usersAdd(t, b, base, "Fiona", "finance")
	if !strings.Contains(page, `value="`+key+`"`) || len(key) < 20 {
		t.Fatalf("the key %q is not shown whole", key)
	}
	e.api(t, "GET", tenant+"/accounts", key, "", http.StatusOK)
	list = wantPage(t, b.get(t, base), http.StatusOK, "Fiona", "finance", "active")
	if strings.Contains(list, key) {
		t.Fatal("the users list shows the key again")
	}
	if strings.Contains(e.logs.String(), key) {
		t.Fatal("the key is in the logs")
	}
	id := usersIDOf(t, list, "Fiona")
	if actor := acctLastEvent(t, e, "TenantUserAdded")["actor"].(map[string]any); actor["type"] != "tenant_user" || actor["id"] == nil {
		t.Fatalf("actor %v, want the tenant admin", actor)
	}

	script := wantPage(t, b.get(t, "/portal/static/copy.js"), http.StatusOK, `addEventListener("click"`, "data-copy",
		"navigator.clipboard.writeText(field.value)")
	if strings.Contains(script, "innerHTML") || strings.Contains(script, "eval(") {
		t.Fatal("copy.js writes markup or evaluates code")
	}

	wantPage(t, b.get(t, base+"/"+uuid.NewString()+"/remove"), http.StatusNotFound)
	usersRemove(t, b, base, id, "Fiona")
	e.api(t, "GET", tenant+"/accounts", key, "", http.StatusUnauthorized)
	after := wantPage(t, b.get(t, base), http.StatusOK, "Fiona", "removed")
	if strings.Contains(after, "Remove Fiona") {
		t.Fatal("a removed user can be removed again")
	}
	wantPage(t, b.get(t, base+"/"+id+"/remove"), http.StatusNotFound)
	if strings.Contains(e.logs.String(), key) {
		t.Fatal("the key is in the logs")
	}
}

func TestTenantUsersRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.fixture(t)
	finance, auditor := acctTenantUser(t, e, "finance"), acctTenantUser(t, e, "auditor")
	e.caughtUp(t)
	base := "/portal/tenants/" + e.tenant.String() + "/users"
	admin := e.browser()
	admin.mustSignIn(t, e.adminKey)
	adminForm := formValues(t, bodyOf(t, admin.get(t, base)), base)
	for name, key := range map[string]string{"finance": finance, "auditor": auditor, "partner viewer": f.viewerKey} {
		t.Run(name, func(t *testing.T) {
			b := e.browser()
			b.mustSignIn(t, key)
			home := bodyOf(t, b.get(t, "/portal/tenants/"+e.tenant.String()+"/subscriptions"))
			if strings.Contains(home, base) {
				t.Error("the sections link the users to a user who may not manage them")
			}
			wantPage(t, b.get(t, base), http.StatusForbidden, "forbidden")
			form := adminForm
			form.Set(csrfField, csrfOf(t, b.get(t, "/portal/")))
			form.Set("name", "Mallory")
			form.Set("role", "tenant_admin")
			res := b.do(t, "POST", base, form)
			page := wantPage(t, res, http.StatusForbidden, "forbidden")
			if strings.Contains(page, "new-api-key") {
				t.Fatal("a refused add shows a key")
			}
		})
	}
	wantPage(t, admin.get(t, base), http.StatusOK)
	if list := bodyOf(t, admin.get(t, base)); strings.Contains(list, "Mallory") {
		t.Fatal("a refused add added a user")
	}
	wantPage(t, admin.get(t, "/portal/tenants/"+uuid.NewString()+"/users"), http.StatusNotFound)
}

func TestPartnerUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.fixture(t)
	b := e.browser()
	b.mustSignIn(t, e.partnerKey)
	base := "/portal/partners/" + e.partner.String() + "/users"
	list := wantPage(t, b.get(t, base), http.StatusOK, "admin", "partner_admin", "Vi", "partner_viewer", f.viewerID, "(you)")
	if strings.Contains(list, `id="tenant-nav"`) {
		t.Fatal("a partner's page shows a tenant's sections")
	}
	_, key := usersAdd(t, b, base, "Otto", "partner_operator")
	e.api(t, "GET", "/v1/partners/"+e.partner.String()+"/tenants", key, "", http.StatusOK)
	list = wantPage(t, b.get(t, base), http.StatusOK, "Otto", "partner_operator")
	if strings.Contains(list, key) || strings.Contains(e.logs.String(), key) {
		t.Fatal("the key is shown again or logged")
	}
	usersRemove(t, b, base, usersIDOf(t, list, "Otto"), "Otto")
	e.api(t, "GET", "/v1/partners/"+e.partner.String()+"/tenants", key, "", http.StatusUnauthorized)
	wantPage(t, b.get(t, base), http.StatusOK, "Otto", "removed")

	self := usersIDOf(t, list, "admin")
	confirm := wantPage(t, b.get(t, base+"/"+self+"/remove"), http.StatusOK, "since this is you")
	wantPage(t, b.do(t, "POST", base+"/"+self+"/remove", formValues(t, confirm, base+"/"+self+"/remove")),
		http.StatusUnprocessableEntity, "Not saved:", "Are you sure")
	e.api(t, "GET", "/v1/partners/"+e.partner.String()+"/tenants", e.partnerKey, "", http.StatusOK)

	viewer := e.browser()
	viewer.mustSignIn(t, f.viewerKey)
	wantPage(t, viewer.get(t, base), http.StatusForbidden, "forbidden")
	wantPage(t, viewer.get(t, base+"/"+f.viewerID+"/remove"), http.StatusForbidden, "forbidden")
	form := formValues(t, bodyOf(t, b.get(t, base)), base)
	form.Set(csrfField, csrfOf(t, viewer.get(t, "/portal/")))
	form.Set("name", "Mallory")
	form.Set("role", "partner_admin")
	wantPage(t, viewer.do(t, "POST", base, form), http.StatusForbidden, "forbidden")
	wantPage(t, b.get(t, "/portal/partners/"+uuid.NewString()+"/users"), http.StatusNotFound)
	tenantAdmin := e.browser()
	tenantAdmin.mustSignIn(t, e.adminKey)
	wantPage(t, tenantAdmin.get(t, base), http.StatusNotFound)
}
