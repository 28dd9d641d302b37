package http

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
)

// TestEveryWriteRouteHasAFuzzTarget fails when a POST, PUT or DELETE
// route is served without a fuzz target in fuzzTargets, or a target names
// a route no longer served.
func TestEveryWriteRouteHasAFuzzTarget(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	var served, fuzzed []string
	for _, r := range a.srv.Routes() {
		if slices.Contains([]string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}, r.Method) {
			served = append(served, r.Method+" "+r.Path)
		}
	}
	for route, target := range fuzzTargets {
		if target == nil {
			t.Errorf("%s: no fuzz target", route)
		}
		fuzzed = append(fuzzed, route)
	}
	slices.Sort(served)
	slices.Sort(fuzzed)
	if !slices.Equal(served, fuzzed) {
		t.Errorf("write routes differ from the fuzzed ones:\nserved %v\nfuzzed %v", served, fuzzed)
	}
}

func tenantIDs(w *fuzzWorld) []string { return []string{w.tenant} }
func subIDs(w *fuzzWorld) []string    { return []string{w.tenant, w.sub} }

// FuzzAddTenantUser fuzzes POST /v1/tenants/{t}/users.
func FuzzAddTenantUser(f *testing.F) {
	fuzzRoute(f, "POST", "/tenants/:tenant_id/users", tenantIDs, func(*fuzzWorld) []string {
		return []string{`{"name":"Fin","role":"finance"}`, `{"name":"Ada","role":"tenant_admin"}`}
	})
}

// FuzzRemoveTenantUser fuzzes DELETE /v1/tenants/{t}/users/{u}.
func FuzzRemoveTenantUser(f *testing.F) {
	fuzzRoute(f, "DELETE", "/tenants/:tenant_id/users/:user_id",
		func(w *fuzzWorld) []string { return []string{w.tenant, w.tenantUser} },
		func(*fuzzWorld) []string { return []string{""} })
}

// FuzzAddPartnerUser fuzzes POST /v1/partners/{p}/users.
func FuzzAddPartnerUser(f *testing.F) {
	fuzzRoute(f, "POST", "/partners/:partner_id/users", func(w *fuzzWorld) []string { return []string{w.partner} },
		func(*fuzzWorld) []string {
			return []string{`{"name":"Op","role":"partner_operator"}`, `{"name":"View","role":"partner_viewer"}`}
		})
}

// FuzzRemovePartnerUser fuzzes DELETE /v1/partners/{p}/users/{u}.
func FuzzRemovePartnerUser(f *testing.F) {
	fuzzRoute(f, "DELETE", "/partners/:partner_id/users/:user_id",
		func(w *fuzzWorld) []string { return []string{w.partner, w.partnerUser} },
		func(*fuzzWorld) []string { return []string{""} })
}

// FuzzPutAccess fuzzes PUT /v1/tenants/{t}/partners/{p}/access.
func FuzzPutAccess(f *testing.F) {
	fuzzRoute(f, "PUT", "/tenants/:tenant_id/partners/:partner_id/access",
		func(w *fuzzWorld) []string { return []string{w.tenant, w.partner} },
		func(w *fuzzWorld) []string {
			return []string{`{"role":"partner_admin","all_accounts":true}`,
				fmt.Sprintf(`{"role":"partner_operator","all_accounts":false,"account_ids":[%q]}`, w.account),
				`{"role":"partner_viewer","all_accounts":true,"expires_at":"2099-01-01T00:00:00Z"}`}
		})
}

// FuzzRevokeAccess fuzzes DELETE /v1/tenants/{t}/partners/{p}/access.
func FuzzRevokeAccess(f *testing.F) {
	fuzzRoute(f, "DELETE", "/tenants/:tenant_id/partners/:partner_id/access",
		func(w *fuzzWorld) []string { return []string{w.tenant, w.partner} },
		func(*fuzzWorld) []string { return []string{""} })
}

// FuzzCreateAccount fuzzes POST /v1/tenants/{t}/accounts.
func FuzzCreateAccount(f *testing.F) {
	fuzzRoute(f, "POST", "/tenants/:tenant_id/accounts", tenantIDs, func(*fuzzWorld) []string {
		return []string{`{"name":"Globex","currency":"USD","billing":{"contact_name":"Hank","email":"hank@globex.test"}}`,
			`{"name":"Initech","currency":"EUR","billing":{"contact_name":"Bill","email":"bill@initech.test","payment_terms_days":30}}`}
	})
}

// FuzzUpdateBilling fuzzes PUT /v1/tenants/{t}/accounts/{a}/billing.
func FuzzUpdateBilling(f *testing.F) {
	fuzzRoute(f, "PUT", "/tenants/:tenant_id/accounts/:account_id/billing",
		func(w *fuzzWorld) []string { return []string{w.tenant, w.account} },
		func(*fuzzWorld) []string {
			return []string{`{"contact_name":"Hank","email":"ap@globex.test","payment_terms_days":45,"invoice_delivery":"portal"}`}
		})
}

// FuzzCreateProduct fuzzes POST /v1/tenants/{t}/products.
func FuzzCreateProduct(f *testing.F) {
	fuzzRoute(f, "POST", "/tenants/:tenant_id/products", tenantIDs, func(*fuzzWorld) []string {
		return []string{`{"name":"Team","sku":"TEAM","charges":[{"name":"Seat","type":"recurring","price":"9.50","currency":"USD","billing_period":"month"}]}`,
			`{"name":"Calls","sku":"CALLS","charges":[{"name":"Min","type":"usage","price":"0.01","currency":"USD","unit":"min"}]}`}
	})
}

// FuzzCreateSubscription fuzzes POST /v1/tenants/{t}/subscriptions.
func FuzzCreateSubscription(f *testing.F) {
	fuzzRoute(f, "POST", "/tenants/:tenant_id/subscriptions", tenantIDs, func(w *fuzzWorld) []string {
		return []string{w.subscriptionBody}
	})
}

// FuzzAmendSubscription fuzzes POST …/subscriptions/{s}/amendments.
func FuzzAmendSubscription(f *testing.F) {
	fuzzRoute(f, "POST", "/tenants/:tenant_id/subscriptions/:subscription_id/amendments", subIDs, func(w *fuzzWorld) []string {
		return []string{fmt.Sprintf(`{"effective_date":"2099-03-01","changes":[{"type":"change_quantity","item_id":%q,"quantity":3}]}`, w.item),
			fmt.Sprintf(`{"effective_date":"2099-02-01","changes":[{"type":"remove_item","item_id":%q}]}`, w.usageItem)}
	})
}

// FuzzCancelSubscription fuzzes POST …/subscriptions/{s}/cancel.
func FuzzCancelSubscription(f *testing.F) {
	fuzzRoute(f, "POST", "/tenants/:tenant_id/subscriptions/:subscription_id/cancel", subIDs, func(*fuzzWorld) []string {
		return []string{`{"policy":"end_of_term","reason":"moving"}`, `{"policy":"immediate"}`}
	})
}

// FuzzWithdrawScheduledChange fuzzes DELETE …/scheduled-changes/{c}.
func FuzzWithdrawScheduledChange(f *testing.F) {
	fuzzRoute(f, "DELETE", "/tenants/:tenant_id/subscriptions/:subscription_id/scheduled-changes/:change_id",
		func(w *fuzzWorld) []string { return []string{w.tenant, w.sub, w.change} },
		func(*fuzzWorld) []string { return []string{""} })
}

// FuzzRecordUsage fuzzes POST /v1/tenants/{t}/usage.
func FuzzRecordUsage(f *testing.F) {
	fuzzRoute(f, "POST", "/tenants/:tenant_id/usage", tenantIDs, func(w *fuzzWorld) []string {
		return []string{w.usageRec}
	})
}

// FuzzRunBill fuzzes POST /v1/tenants/{t}/bill-runs.
func FuzzRunBill(f *testing.F) {
	fuzzRoute(f, "POST", "/tenants/:tenant_id/bill-runs", tenantIDs, func(w *fuzzWorld) []string {
		return []string{`{"target_date":"2026-01-01"}`, fmt.Sprintf(`{"target_date":"2026-02-01","account_ids":[%q]}`, w.account)}
	})
}

// FuzzVoidInvoice fuzzes POST /v1/tenants/{t}/invoices/{i}/void, on the
// invoice of a bill run of the world's subscription.
func FuzzVoidInvoice(f *testing.F) {
	fuzzRoute(f, "POST", "/tenants/:tenant_id/invoices/:invoice_id/void",
		func(w *fuzzWorld) []string { return []string{w.tenant, w.invoice()} },
		func(*fuzzWorld) []string { return []string{`{"reason":"duplicate"}`, `{"reason":""}`} })
}
