package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestFinanceInvoicesByRole(t *testing.T) {
	t.Parallel()
	w := newFinWorld(t)
	notFound := bodyOf(t, w.e.browser().get(t, "/portal/no-such-page"))
	for _, tc := range []struct {
		name       string
		key        string
		seesOther  bool // the invoice of the account outside the viewer's scope
		mayVoid    bool
		seesBillRn bool
	}{
		{"tenant admin", w.e.adminKey, true, true, true},
		{"finance", w.financeKey, true, true, true},
		{"auditor", w.auditKey, true, false, true},
		{"partner viewer", w.f.viewerKey, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := w.finSignIn(t, tc.key)
			list := wantPage(t, b.get(t, w.page+"/invoices"), http.StatusOK, w.inScopeNo, "Download CSV")
			if strings.Contains(list, w.outScopeNo) != tc.seesOther {
				t.Fatalf("list shows %s: %v, want %v", w.outScopeNo, !tc.seesOther, tc.seesOther)
			}
			page := wantPage(t, b.get(t, w.page+"/invoices/"+w.inScope), http.StatusOK, w.inScopeNo, "147.00", "2026-01-01 to 2026-02-01", "1.000000000", "posted")
			voidPath := w.page + "/invoices/" + w.inScope + "/void"
			if strings.Contains(page, voidPath) != tc.mayVoid {
				t.Fatalf("void control shown: %v, want %v", !tc.mayVoid, tc.mayVoid)
			}
			if strings.Contains(page, "/bill-runs/") != tc.seesBillRn {
				t.Fatalf("bill run link shown: %v, want %v", !tc.seesBillRn, tc.seesBillRn)
			}
			other := b.get(t, w.page+"/invoices/"+w.outOfScope)
			if !tc.seesOther {
				if got := wantPage(t, other, http.StatusNotFound); got != notFound {
					t.Fatalf("out-of-scope invoice is not the one 404 page:\n%s", got)
				}
				wantPage(t, b.get(t, w.page+"/invoices?account_id="+finAccountOf(t, w, w.outOfScope)), http.StatusNotFound)
				wantPage(t, b.get(t, w.page+"/bill-runs/"+w.billRun), http.StatusNotFound)
			} else {
				wantPage(t, other, http.StatusOK, w.outScopeNo)
				wantPage(t, b.get(t, w.page+"/bill-runs/"+w.billRun), http.StatusOK, "completed", w.inScopeNo, w.outScopeNo)
			}
			if !tc.mayVoid {
				wantPage(t, b.get(t, voidPath), http.StatusForbidden, "forbidden")
				csrf := csrfOf(t, b.get(t, w.page+"/invoices"))
				wantPage(t, b.do(t, "POST", voidPath, url.Values{csrfField: {csrf}, "reason": {"no"}}), http.StatusForbidden, "forbidden")
				wantPage(t, b.get(t, w.page+"/invoices/"+w.inScope), http.StatusOK, "posted")
			}
		})
	}
}

// finAccountOf is the account of invoice id, as the tenant's admin reads
// it through the API.
func finAccountOf(t *testing.T, w *finWorld, id string) string {
	t.Helper()
	return w.e.api(t, "GET", w.base+"/invoices/"+id, w.e.adminKey, "", http.StatusOK)["account_id"].(string)
}

func TestFinanceVoidInvoice(t *testing.T) {
	t.Parallel()
	w := newFinWorld(t)
	b := w.finSignIn(t, w.financeKey)
	invoice := w.page + "/invoices/" + w.inScope
	page := wantPage(t, b.get(t, invoice), http.StatusOK, "Void this invoice")
	if strings.Contains(page, `action="`+invoice+`/void"`) {
		t.Fatalf("the invoice page voids in one click")
	}
	confirm := wantPage(t, b.get(t, invoice+"/void"), http.StatusOK, "Are you sure", w.inScopeNo)
	res := finPost(t, b, confirm, invoice+"/void", url.Values{"reason": {"wrong seat count"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != invoice {
		t.Fatalf("void: %d to %q, want 303 to %s:\n%s", res.StatusCode, res.Header.Get("Location"), invoice, bodyOf(t, res))
	}
	page = wantPage(t, b.get(t, invoice), http.StatusOK, "<dd>void</dd>")
	if strings.Contains(page, "Void this invoice") {
		t.Fatalf("a void invoice offers to void it again")
	}
	if got := w.e.api(t, "GET", w.base+"/invoices/"+w.inScope, w.e.adminKey, "", http.StatusOK)["status"]; got != "void" {
		t.Fatalf("API status %v, want void", got)
	}

	t.Run("the event's actor is the caller's, as the API records it", func(t *testing.T) {
		voided := finLastEvent(t, w, "InvoiceVoided")
		actor := voided["actor"].(map[string]any)
		if actor["type"] != "tenant_user" || actor["id"] != w.financeID || voided["request_id"] == nil || voided["idempotency_key"] == nil {
			t.Fatalf("InvoiceVoided %v, want the finance user %s, a request id and the form's idempotency key", voided, w.financeID)
		}
	})
	t.Run("voiding again is refused with the API's words", func(t *testing.T) {
		confirm := wantPage(t, b.get(t, invoice+"/void"), http.StatusOK, "Are you sure")
		res := finPost(t, b, confirm, invoice+"/void", url.Values{"reason": {"again"}})
		wantPage(t, res, http.StatusUnprocessableEntity, "invoice_not_voidable", "is already void", ">again</textarea>")
	})
	t.Run("the revenue report leaves the void invoice out", func(t *testing.T) {
		rev := w.e.api(t, "GET", w.base+"/reports/revenue", w.financeKey, "", http.StatusOK)["totals"].([]any)[0].(map[string]any)["amount"].(string)
		wantPage(t, b.get(t, w.page+"/reports"), http.StatusOK, "<td>USD</td><td>"+rev+"</td>")
		if rev != "294.00" {
			t.Fatalf("revenue %s after the void, want 294.00", rev)
		}
	})
}

// finLastEvent is the last audit event of type typ of the tenant, as the
// API's audit log shows it to the tenant's admin.
func finLastEvent(t *testing.T, w *finWorld, typ string) map[string]any {
	t.Helper()
	items := w.e.api(t, "GET", w.base+"/audit/events?type="+typ, w.e.adminKey, "", http.StatusOK)["items"].([]any)
	if len(items) == 0 {
		t.Fatalf("no %s event", typ)
	}
	return items[len(items)-1].(map[string]any)
}
