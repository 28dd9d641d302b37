package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// acctIDs are the ids of the tenant's accounts by name, as the API lists
// them to its admin.
func acctIDs(t *testing.T, e *env) map[string]string {
	t.Helper()
	list := e.api(t, "GET", "/v1/tenants/"+e.tenant.String()+"/accounts", e.adminKey, "", http.StatusOK)
	ids := map[string]string{}
	for _, it := range list["items"].([]any) {
		a := it.(map[string]any)
		ids[a["name"].(string)] = a["id"].(string)
	}
	return ids
}

// acctTenantUser adds a user of the tenant with role through the API and
// returns its key.
func acctTenantUser(t *testing.T, e *env, role string) string {
	t.Helper()
	u := e.api(t, "POST", "/v1/tenants/"+e.tenant.String()+"/users", e.adminKey,
		fmt.Sprintf(`{"name":"%s user","role":%q}`, role, role), http.StatusCreated)
	return u["key"].(string)
}

// acctLastEvent is the newest event of type typ of the tenant's audit log,
// as the API serves it to the tenant admin.
func acctLastEvent(t *testing.T, e *env, typ string) map[string]any {
	t.Helper()
	list := e.api(t, "GET", "/v1/tenants/"+e.tenant.String()+"/audit/events?type="+typ, e.adminKey, "", http.StatusOK)
	items := list["items"].([]any)
	if len(items) == 0 {
		t.Fatalf("no %s event in the audit log", typ)
	}
	return items[len(items)-1].(map[string]any)
}

func TestAccountPagesByRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.fixture(t)
	ids := acctIDs(t, e)
	financeKey := acctTenantUser(t, e, "finance")
	e.caughtUp(t)
	base := "/portal/tenants/" + e.tenant.String() + "/accounts"
	tests := []struct {
		name      string
		key       string
		sees      []string
		hidden    []string
		canCreate bool
		canBill   bool
	}{
		{"tenant admin", e.adminKey, []string{"Globex", "Initech"}, nil, true, true},
		{"finance", financeKey, []string{"Globex", "Initech"}, nil, false, false},
		{"partner viewer", f.viewerKey, []string{"Globex"}, []string{"Initech"}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			b.mustSignIn(t, tc.key)
			list := wantPage(t, b.get(t, base), http.StatusOK, tc.sees...)
			for _, name := range tc.sees {
				if !strings.Contains(list, `<a href="`+base+"/"+ids[name]+`">`+name+`</a>`) {
					t.Errorf("the list does not link %s by its name:\n%s", name, list)
				}
			}
			for _, name := range tc.hidden {
				if strings.Contains(list, name) || strings.Contains(list, ids[name]) {
					t.Errorf("the list shows %s, out of scope", name)
				}
				wantPage(t, b.get(t, base+"/"+ids[name]), http.StatusNotFound)
			}
			if got := strings.Contains(list, base+"/new"); got != tc.canCreate {
				t.Errorf("new customer link shown: %v, want %v", got, tc.canCreate)
			}
			detail := wantPage(t, b.get(t, base+"/"+ids["Globex"]), http.StatusOK, "Globex", "hank@example.test", "Hank",
				"30 days", "by email", `href="/portal/tenants/`+e.tenant.String()+`/subscriptions/`+f.inScope+`"`)
			if strings.Contains(detail, f.outOfScope) {
				t.Error("the account page shows another account's subscription")
			}
			if got, want := strings.Contains(detail, "by tenant_user <code>"), tc.name != "partner viewer"; got != want {
				t.Errorf("the creator's id shown: %v, want %v (as the subscription's history)", got, want)
			}
			if got := strings.Contains(detail, "/billing"); got != tc.canBill {
				t.Errorf("billing link shown: %v, want %v", got, tc.canBill)
			}
			if !tc.canCreate {
				wantPage(t, b.get(t, base+"/new"), http.StatusForbidden, "forbidden")
				res := b.do(t, "POST", base+"/new", url.Values{csrfField: {csrfOf(t, b.get(t, base))},
					"name": {"Sneaky"}, "currency": {"USD"}, "billing.contact_name": {"X"}, "billing.email": {"x@example.test"}})
				wantPage(t, res, http.StatusForbidden, "forbidden")
			}
			if !tc.canBill {
				wantPage(t, b.get(t, base+"/"+ids["Globex"]+"/billing"), http.StatusForbidden, "forbidden")
				res := b.do(t, "POST", base+"/"+ids["Globex"]+"/billing", url.Values{csrfField: {csrfOf(t, b.get(t, base))},
					"contact_name": {"X"}, "email": {"x@example.test"}})
				wantPage(t, res, http.StatusForbidden, "forbidden")
			}
		})
	}
	if _, ok := acctIDs(t, e)["Sneaky"]; ok {
		t.Fatal("a refused POST created an account")
	}
	b := e.browser()
	b.mustSignIn(t, e.adminKey)
	absent := wantPage(t, b.get(t, base+"/"+uuid.NewString()), http.StatusNotFound)
	if other := wantPage(t, b.get(t, "/portal/tenants/"+uuid.NewString()+"/accounts/"+ids["Globex"]), http.StatusNotFound); other != absent {
		t.Error("the 404 page of another tenant's path differs from an absent account's")
	}
}

func TestCreateAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fixture(t)
	b := e.browser()
	b.mustSignIn(t, e.adminKey)
	base := "/portal/tenants/" + e.tenant.String() + "/accounts"
	page := wantPage(t, b.get(t, base+"/new"), http.StatusOK, `name="billing.contact_name"`, `for="f-billing-email"`)
	form := formValues(t, page, base+"/new")
	form.Set("name", "Umbrella")
	form.Set("currency", "EUR")
	form.Set("billing.contact_name", "Alice")
	form.Set("billing.email", "not an email")
	form.Set("billing.payment_terms_days", "45")
	refused := wantPage(t, b.do(t, "POST", base+"/new", form), http.StatusUnprocessableEntity,
		`value="Umbrella"`, `value="Alice"`, `value="45"`, `id="f-billing-email" name="billing.email" type="email" value="not an email" aria-invalid="true"`,
		"Not saved:")
	if strings.Contains(refused, `id="f-name" name="name" value="Umbrella" aria-invalid`) {
		t.Fatal("a field that was fine is marked")
	}
	again := formValues(t, refused, base+"/new")
	form.Set(idempotencyField, again.Get(idempotencyField))
	form.Set("billing.email", "alice@example.test")
	res := b.do(t, "POST", base+"/new", form)
	id := acctIDs(t, e)["Umbrella"]
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != base+"/"+id {
		t.Fatalf("create: %d to %q, want 303 to the account %s", res.StatusCode, res.Header.Get("Location"), id)
	}
	wantPage(t, b.get(t, res.Header.Get("Location")), http.StatusOK, "Umbrella", "alice@example.test", "45 days", "EUR")
	wantPage(t, b.get(t, base), http.StatusOK, ">Umbrella</a>")
	created := acctLastEvent(t, e, "AccountCreated")
	first := e.api(t, "GET", "/v1/tenants/"+e.tenant.String()+"/audit/events?type=AccountCreated", e.adminKey, "", http.StatusOK)["items"].([]any)[0].(map[string]any)
	if fmt.Sprint(created["actor"]) != fmt.Sprint(first["actor"]) || created["request_id"] == nil {
		t.Fatalf("the portal's AccountCreated actor %v (request id %v), the API's %v", created["actor"], created["request_id"], first["actor"])
	}
}

func TestPartnerAdminCreatesAccountInItsScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fixture(t)
	e.api(t, "PUT", "/v1/tenants/"+e.tenant.String()+"/partners/"+e.partner.String()+"/access", e.adminKey,
		fmt.Sprintf(`{"role":"partner_admin","all_accounts":false,"account_ids":[%q]}`, acctIDs(t, e)["Globex"]), http.StatusOK)
	b := e.browser()
	b.mustSignIn(t, e.partnerKey)
	base := "/portal/tenants/" + e.tenant.String() + "/accounts"
	list := wantPage(t, b.get(t, base), http.StatusOK, "Globex", "New customer")
	if strings.Contains(list, "Initech") {
		t.Fatal("the partner sees an account out of its scope")
	}
	form := formValues(t, bodyOf(t, b.get(t, base+"/new")), base+"/new")
	form.Set("name", "Hooli")
	form.Set("currency", "USD")
	form.Set("billing.contact_name", "Gavin")
	form.Set("billing.email", "gavin@example.test")
	res := b.do(t, "POST", base+"/new", form)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", res.StatusCode, bodyOf(t, res))
	}
	wantPage(t, b.get(t, base), http.StatusOK, "Globex", "Hooli")
	actor := acctLastEvent(t, e, "AccountCreated")["actor"].(map[string]any)
	if actor["type"] != "partner_user" || actor["partner_id"] != e.partner.String() {
		t.Fatalf("actor %v, want the partner's user", actor)
	}

	operator := e.api(t, "POST", "/v1/partners/"+e.partner.String()+"/users", e.partnerKey,
		`{"name":"Op","role":"partner_operator"}`, http.StatusCreated)["key"].(string)
	op := e.browser()
	op.mustSignIn(t, operator)
	globex := base + "/" + acctIDs(t, e)["Globex"]
	for path, control := range map[string]string{base: base + "/new", globex: globex + "/billing",
		"/portal/tenants/" + e.tenant.String() + "/products": "/products/new"} {
		if page := wantPage(t, op.get(t, path), http.StatusOK); strings.Contains(page, control) {
			t.Errorf("%s offers the operator %s", path, control)
		}
	}
	wantPage(t, op.get(t, globex+"/billing"), http.StatusForbidden, "forbidden")
	wantPage(t, op.get(t, "/portal/tenants/"+e.tenant.String()+"/products/new"), http.StatusForbidden, "forbidden")
}

func TestBillingForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fixture(t)
	id := acctIDs(t, e)["Globex"]
	b := e.browser()
	b.mustSignIn(t, e.adminKey)
	path := "/portal/tenants/" + e.tenant.String() + "/accounts/" + id + "/billing"
	page := wantPage(t, b.get(t, path), http.StatusOK, `value="Hank"`, `value="hank@example.test"`, `value="30"`,
		`<option value="email" selected>`)
	form := formValues(t, page, path)
	form.Set("contact_name", "Henrietta")
	form.Set("email", "henrietta@example.test")
	form.Set("payment_terms_days", "500")
	form.Set("invoice_delivery", "portal")
	wantPage(t, b.do(t, "POST", path, form), http.StatusUnprocessableEntity, `value="Henrietta"`,
		`value="500" aria-invalid="true"`, `<option value="portal" selected>`, "payment_terms_days")
	form.Set("payment_terms_days", "abc")
	wantPage(t, b.do(t, "POST", path, form), http.StatusUnprocessableEntity, `value="abc" aria-invalid="true"`)
	form.Set("payment_terms_days", "14")
	res := b.do(t, "POST", path, form)
	if res.StatusCode != http.StatusSeeOther || !strings.HasSuffix(res.Header.Get("Location"), "/accounts/"+id) {
		t.Fatalf("update: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	wantPage(t, b.get(t, res.Header.Get("Location")), http.StatusOK, "Henrietta", "henrietta@example.test", "14 days", "by portal")
	updated := acctLastEvent(t, e, "AccountBillingUpdated")
	if actor := updated["actor"].(map[string]any); actor["type"] != "tenant_user" || actor["id"] == nil {
		t.Fatalf("actor %v, want the tenant admin", actor)
	}
	wantPage(t, b.get(t, "/portal/tenants/"+e.tenant.String()+"/accounts/"+uuid.NewString()+"/billing"), http.StatusNotFound)
}
