package portal

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestSubscriptionPreviewsShowProration(t *testing.T) {
	t.Parallel()
	s := subFormsSetupOn(t, newEnv(t))
	s.api(t, "POST", "/v1/tenants/"+s.tenant.String()+"/bill-runs", s.adminKey, fmt.Sprintf(`{"target_date":%q}`, subFormsToday()), http.StatusCreated)
	s.caughtUp(t)
	b := s.browser()
	b.mustSignIn(t, s.operatorKey)
	amend := s.subFormsPath("/", s.inScope, "/amend")
	page := bodyOf(t, b.get(t, amend))
	preview := wantPage(t, b.do(t, "POST", amend, subFormsAmendValues(t, s, page, s.inScope, "5", "preview")),
		http.StatusOK, `<dd id="preview-mrr">245.00 USD</dd>`, `id="proration-total"`)
	if strings.Contains(preview, "No invoiced period changes.") || strings.Contains(preview, `id="proration-total">0.00 USD`) {
		t.Fatalf("the amendment's preview shows no proration of the invoiced period:\n%s", preview)
	}
	cancel := s.subFormsPath("/", s.inScope, "/cancel")
	values := formValues(t, bodyOf(t, b.get(t, cancel)), cancel)
	values.Set("policy", "immediate")
	values.Set("action", "preview")
	wantPage(t, b.do(t, "POST", cancel, values), http.StatusOK, `id="proration-total">-`)
	if n := len(s.subFormsHistory(t, s.inScope)); n != 1 {
		t.Fatalf("previews appended events: history has %d", n)
	}
}
