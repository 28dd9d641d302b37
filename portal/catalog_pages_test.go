package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestCatalogPagesByRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.fixture(t)
	financeKey := acctTenantUser(t, e, "finance")
	e.caughtUp(t)
	base := "/portal/tenants/" + e.tenant.String() + "/products"
	tests := []struct {
		name      string
		key       string
		canManage bool
	}{
		{"tenant admin", e.adminKey, true},
		{"finance", financeKey, false},
		{"partner viewer", f.viewerKey, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			b.mustSignIn(t, tc.key)
			list := wantPage(t, b.get(t, base), http.StatusOK, "Pro", "<code>PRO</code>", "Seat", "recurring", "49.00 USD", "per month")
			if got := strings.Contains(list, base+"/new"); got != tc.canManage {
				t.Errorf("new product link shown: %v, want %v", got, tc.canManage)
			}
			if tc.canManage {
				return
			}
			wantPage(t, b.get(t, base+"/new"), http.StatusForbidden, "forbidden")
			form := catForm(t, b, e.adminKey, base)
			form.Set("name", "Sneaky")
			form.Set("sku", "SNEAKY")
			form.Set("charges[0].name", "Fee")
			res := b.do(t, "POST", base+"/new", form)
			wantPage(t, res, http.StatusForbidden, "forbidden")
		})
	}
	list := e.api(t, "GET", "/v1/tenants/"+e.tenant.String()+"/products", e.adminKey, "", http.StatusOK)
	if n := len(list["items"].([]any)); n != 1 {
		t.Fatalf("%d products, want the fixture's only", n)
	}
}

// catForm is the new product form's hidden fields for browser b: the
// CSRF token of b's session, with the idempotency key of a form drawn
// for another session (a user without catalog.manage gets no form).
func catForm(t *testing.T, b *browser, adminKey, base string) url.Values {
	t.Helper()
	admin := b.e.browser()
	admin.mustSignIn(t, adminKey)
	form := formValues(t, bodyOf(t, admin.get(t, base+"/new")), base+"/new")
	form.Set(csrfField, csrfOf(t, b.get(t, base)))
	return form
}

func TestCreateProduct(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fixture(t)
	b := e.browser()
	b.mustSignIn(t, e.adminKey)
	base := "/portal/tenants/" + e.tenant.String() + "/products"
	page := wantPage(t, b.get(t, base+"/new"), http.StatusOK, `name="charges[0].price"`, `for="f-charges-0--price"`)
	if strings.Contains(page, `name="charges[1].name"`) {
		t.Fatal("a fresh form has more than one charge row")
	}
	form := formValues(t, page, base+"/new")
	form.Set("name", "Storage")
	form.Set("sku", "STORE-1")
	form.Set("charges[0].name", "Base")
	form.Set("charges[0].type", "recurring")
	form.Set("charges[0].price", "ten")
	form.Set("charges[0].currency", "USD")
	form.Set("charges[0].billing_period", "month")

	form.Set(addChargeField, "1")
	more := wantPage(t, b.do(t, "POST", base+"/new", form), http.StatusOK, `name="charges[1].name"`, `value="Storage"`, `value="ten"`)
	if strings.Contains(more, "Not saved") {
		t.Fatal("adding a charge row submitted the form")
	}
	form.Del(addChargeField)
	form.Set("charges[1].name", "Traffic")
	form.Set("charges[1].type", "usage")
	form.Set("charges[1].price", "0.05")
	form.Set("charges[1].currency", "USD")
	form.Set("charges[1].unit", "GB")

	refused := wantPage(t, b.do(t, "POST", base+"/new", form), http.StatusUnprocessableEntity, "Not saved:",
		`id="f-charges-0--price" name="charges[0].price" inputmode="decimal" value="ten" aria-invalid="true"`,
		`value="Traffic"`, `value="GB"`, `<option value="usage" selected>`)
	if strings.Contains(refused, `name="charges[1].price" inputmode="decimal" value="0.05" aria-invalid`) {
		t.Fatal("a charge that was fine is marked")
	}
	form.Set(idempotencyField, formValues(t, refused, base+"/new").Get(idempotencyField))
	form.Set("charges[0].price", "10")
	res := b.do(t, "POST", base+"/new", form)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != base {
		t.Fatalf("create: %d to %q\n%s", res.StatusCode, res.Header.Get("Location"), bodyOf(t, res))
	}
	wantPage(t, b.get(t, base), http.StatusOK, "Storage", "STORE-1", "Traffic", "per GB", "0.05 USD", "10.00 USD")
	if actor := acctLastEvent(t, e, "ProductCreated")["actor"].(map[string]any); actor["type"] != "tenant_user" || actor["id"] == nil {
		t.Fatalf("actor %v, want the tenant admin", actor)
	}

	dup := formValues(t, bodyOf(t, b.get(t, base+"/new")), base+"/new")
	for k, v := range map[string]string{"name": "Again", "sku": "PRO", "charges[0].name": "Fee", "charges[0].type": "one_time",
		"charges[0].price": "5", "charges[0].currency": "USD"} {
		dup.Set(k, v)
	}
	wantPage(t, b.do(t, "POST", base+"/new", dup), http.StatusConflict, "Not saved:", `value="Again"`)

	empty := formValues(t, bodyOf(t, b.get(t, base+"/new")), base+"/new")
	empty.Set("name", "Nothing")
	empty.Set("sku", "NONE")
	wantPage(t, b.do(t, "POST", base+"/new", empty), http.StatusUnprocessableEntity, `id="f-charges-error"`, "at least one charge")
}
