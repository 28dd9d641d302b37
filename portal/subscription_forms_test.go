package portal

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// subFormsEnv is a fixture whose partner holds a partner_operator grant
// on the in-scope subscription's account only, with an operator user.
type subFormsEnv struct {
	*env
	fixture
	operatorKey, operatorID string
	product, charge         string
	inScopeAccount          string
}

// subFormsSetup builds a subFormsEnv.
func subFormsSetup(t *testing.T) subFormsEnv {
	t.Helper()
	return subFormsSetupOn(t, newEnv(t))
}

// subFormsSetupOn builds a subFormsEnv on e.
func subFormsSetupOn(t *testing.T, e *env) subFormsEnv {
	t.Helper()
	f := e.fixture(t)
	s := subFormsEnv{env: e, fixture: f}
	base := "/v1/tenants/" + e.tenant.String()
	sub := e.api(t, "GET", base+"/subscriptions/"+f.inScope, e.adminKey, "", http.StatusOK)
	s.inScopeAccount = sub["account_id"].(string)
	item := sub["items"].([]any)[0].(map[string]any)
	s.product, s.charge = item["product_id"].(string), item["charge_id"].(string)
	e.api(t, "PUT", base+"/partners/"+e.partner.String()+"/access", e.adminKey,
		fmt.Sprintf(`{"role":"partner_operator","all_accounts":false,"account_ids":[%q]}`, s.inScopeAccount), http.StatusOK)
	op := e.api(t, "POST", "/v1/partners/"+e.partner.String()+"/users", e.partnerKey, `{"name":"Op","role":"partner_operator"}`, http.StatusCreated)
	s.operatorKey, s.operatorID = op["key"].(string), op["id"].(string)
	e.caughtUp(t)
	return s
}

// subFormsPath is the portal path of the tenant's subscriptions, and
// further elements.
func (s subFormsEnv) subFormsPath(elems ...string) string {
	return "/portal/tenants/" + s.tenant.String() + "/subscriptions" + strings.Join(elems, "")
}

// subFormsHistory is the API's history of subscription id, read by the
// tenant admin.
func (s subFormsEnv) subFormsHistory(t *testing.T, id string) []map[string]any {
	t.Helper()
	out := s.api(t, "GET", "/v1/tenants/"+s.tenant.String()+"/subscriptions/"+id+"/history", s.adminKey, "", http.StatusOK)
	var items []map[string]any
	for _, it := range out["items"].([]any) {
		items = append(items, it.(map[string]any))
	}
	return items
}

// subFormsLastActor is the type and id of the actor of the last event of
// subscription id's history, and that event's type.
func (s subFormsEnv) subFormsLastActor(t *testing.T, id string) (string, string, string) {
	t.Helper()
	h := s.subFormsHistory(t, id)
	last := h[len(h)-1]
	actor := last["actor"].(map[string]any)
	actorID, _ := actor["id"].(string)
	return last["type"].(string), actor["type"].(string), actorID
}

var (
	subFormsForm   = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)".*?</form>`)
	subFormsInput  = regexp.MustCompile(`<input ([^>]*)>`)
	subFormsAttr   = regexp.MustCompile(`([a-z-]+)(?:="([^"]*)")?`)
	subFormsSelect = regexp.MustCompile(`(?s)<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>`)
	subFormsChosen = regexp.MustCompile(`<option value="([^"]*)" selected>`)
)

// subFormsBrowserValues are the values a browser would submit from the
// form posting to action on page, as it stands: hidden and text fields,
// checked boxes and the options selected (no button).
func subFormsBrowserValues(t *testing.T, page, action string) url.Values {
	t.Helper()
	values := url.Values{}
	for _, m := range subFormsForm.FindAllStringSubmatch(page, -1) {
		if m[1] != action {
			continue
		}
		for _, in := range subFormsInput.FindAllStringSubmatch(m[0], -1) {
			attrs := map[string]string{}
			for _, a := range subFormsAttr.FindAllStringSubmatch(in[1], -1) {
				attrs[a[1]] = html.UnescapeString(a[2])
			}
			_, checked := attrs["checked"]
			if attrs["name"] == "" || attrs["type"] == "file" || ((attrs["type"] == "checkbox" || attrs["type"] == "radio") && !checked) {
				continue
			}
			values.Add(attrs["name"], attrs["value"])
		}
		for _, sel := range subFormsSelect.FindAllStringSubmatch(m[0], -1) {
			if c := subFormsChosen.FindStringSubmatch(sel[2]); c != nil {
				values.Set(sel[1], html.UnescapeString(c[1]))
			}
		}
		return values
	}
	t.Fatalf("no form posting to %s on the page:\n%s", action, page)
	return nil
}

// subFormsToday is the portal's date today, as the forms default to.
func subFormsToday() string { return time.Now().UTC().Format("2006-01-02") }

// subFormsLocation matches the page of a subscription a form lands on.
var subFormsLocation = regexp.MustCompile(`^/portal/tenants/[^/]+/subscriptions/([0-9a-f-]{36})$`)

func TestSubscriptionCreateForm(t *testing.T) {
	t.Parallel()
	s := subFormsSetup(t)
	tests := []struct {
		name, key    string
		wantActor    string
		wantAccounts []string // the accounts offered
		notOffered   string
	}{
		{"tenant admin", s.adminKey, "tenant_user", []string{"Globex", "Initech"}, ""},
		{"partner operator", s.operatorKey, "partner_user", []string{"Globex"}, "Initech"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := s.browser()
			b.mustSignIn(t, tc.key)
			wantPage(t, b.get(t, s.subFormsPath()), http.StatusOK, `id="new-subscription-link"`)
			page := wantPage(t, b.get(t, s.subFormsPath("/new")), http.StatusOK, append(tc.wantAccounts, `id="create-submit"`, "Pro: Seat")...)
			if tc.notOffered != "" && strings.Contains(page, tc.notOffered) {
				t.Fatalf("the form offers an account out of the caller's scope")
			}
			if tc.key == s.operatorKey && strings.Contains(page, "unit_price") {
				t.Fatalf("the form offers a price override to a role that may not override")
			}
			values := formValues(t, page, s.subFormsPath())
			values.Set("account_id", s.inScopeAccount)
			values.Set("start_date", "2026-02-01")
			values.Set("term.type", "termed")
			values.Set("term.months", "12")
			values.Set("items[0].charge_id", s.product+"/"+s.charge)
			values.Set("items[0].quantity", "2")
			res := b.do(t, "POST", s.subFormsPath(), values)
			m := subFormsLocation.FindStringSubmatch(res.Header.Get("Location"))
			if res.StatusCode != http.StatusSeeOther || m == nil {
				t.Fatalf("create: %d to %q, want 303 to the new subscription:\n%s", res.StatusCode, res.Header.Get("Location"), bodyOf(t, res))
			}
			wantPage(t, b.get(t, res.Header.Get("Location")), http.StatusOK, `<dd id="mrr">98.00 USD</dd>`, "2026-02-01", "SubscriptionCreated")
			if typ, actor, id := s.subFormsLastActor(t, m[1]); typ != "SubscriptionCreated" || actor != tc.wantActor || id == "" {
				t.Fatalf("last event %s by %s %s, want SubscriptionCreated by %s", typ, actor, id, tc.wantActor)
			}
		})
	}
}

func TestSubscriptionCreateRefusesBadInput(t *testing.T) {
	t.Parallel()
	s := subFormsSetup(t)
	b := s.browser()
	b.mustSignIn(t, s.operatorKey)
	tests := []struct{ name, quantity, wantCode string }{
		{"not a number", "abc", "validation_failed"},
		{"zero", "0", "invalid_quantity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page := bodyOf(t, b.get(t, s.subFormsPath("/new")))
			values := formValues(t, page, s.subFormsPath())
			values.Set("account_id", s.inScopeAccount)
			values.Set("start_date", "2026-03-04")
			values.Set("term.type", "termed")
			values.Set("term.months", "7")
			values.Set("items[0].charge_id", s.product+"/"+s.charge)
			values.Set("items[0].quantity", tc.quantity)
			res := b.do(t, "POST", s.subFormsPath(), values)
			body := wantPage(t, res, http.StatusUnprocessableEntity, tc.wantCode,
				`name="items[0].quantity" value="`+tc.quantity+`" aria-invalid="true"`,
				`id="f-items-0--quantity-error"`, `value="2026-03-04"`, `value="7"`)
			if !strings.Contains(body, `<option value="`+s.product+"/"+s.charge+`" selected>`) ||
				!strings.Contains(body, `<option value="`+s.inScopeAccount+`" selected>`) {
				t.Fatalf("the refused form lost the choices made:\n%s", body)
			}
		})
	}
	list := s.api(t, "GET", "/v1/tenants/"+s.tenant.String()+"/subscriptions", s.adminKey, "", http.StatusOK)
	if n := len(list["items"].([]any)); n != 2 {
		t.Fatalf("%d subscriptions after refused forms, want the fixture's 2", n)
	}
}

// subFormsAmendValues are the amend form's values on page with the first
// item's quantity set to quantity, dated today.
func subFormsAmendValues(t *testing.T, s subFormsEnv, page, id, quantity, action string) url.Values {
	t.Helper()
	values := subFormsBrowserValues(t, page, s.subFormsPath("/", id, "/amend"))
	values.Set("effective_date", subFormsToday())
	values.Set("items[0].quantity", quantity)
	values.Set("action", action)
	return values
}

func TestSubscriptionAmendPreviewThenConfirm(t *testing.T) {
	t.Parallel()
	s := subFormsSetup(t)
	b := s.browser()
	b.mustSignIn(t, s.operatorKey)
	wantPage(t, b.get(t, s.subFormsPath("/", s.inScope)), http.StatusOK, `id="amend-link"`, `id="cancel-link"`, `<dd id="mrr">147.00 USD</dd>`)
	page := wantPage(t, b.get(t, s.subFormsPath("/", s.inScope, "/amend")), http.StatusOK, `id="amend-preview"`, `id="amend-submit"`, "Quantity of Seat")
	before := len(s.subFormsHistory(t, s.inScope))

	preview := wantPage(t, b.do(t, "POST", s.subFormsPath("/", s.inScope, "/amend"), subFormsAmendValues(t, s, page, s.inScope, "5", "preview")),
		http.StatusOK, `<dd id="preview-mrr">245.00 USD</dd>`, `id="proration-total"`, "Proration total", "Proration: what the change adds", `value="5"`)
	s.caughtUp(t)
	if after := len(s.subFormsHistory(t, s.inScope)); after != before {
		t.Fatalf("a preview appended events: history %d, was %d", after, before)
	}
	wantPage(t, b.get(t, s.subFormsPath("/", s.inScope)), http.StatusOK, `<dd id="mrr">147.00 USD</dd>`)

	res := b.do(t, "POST", s.subFormsPath("/", s.inScope, "/amend"), subFormsAmendValues(t, s, preview, s.inScope, "5", "confirm"))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != s.subFormsPath("/", s.inScope) {
		t.Fatalf("amend: %d to %q:\n%s", res.StatusCode, res.Header.Get("Location"), bodyOf(t, res))
	}
	wantPage(t, b.get(t, res.Header.Get("Location")), http.StatusOK, `<dd id="mrr">245.00 USD</dd>`, "SubscriptionAmended")
	if typ, actor, id := s.subFormsLastActor(t, s.inScope); typ != "SubscriptionAmended" || actor != "partner_user" || id != s.operatorID {
		t.Fatalf("last event %s by %s %s, want SubscriptionAmended by partner_user %s", typ, actor, id, s.operatorID)
	}
}

func TestSubscriptionAmendRefusals(t *testing.T) {
	t.Parallel()
	s := subFormsSetup(t)
	b := s.browser()
	b.mustSignIn(t, s.operatorKey)
	amend := s.subFormsPath("/", s.inScope, "/amend")
	page := bodyOf(t, b.get(t, amend))

	wantPage(t, b.do(t, "POST", amend, subFormsAmendValues(t, s, page, s.inScope, "0", "confirm")),
		http.StatusUnprocessableEntity, "invalid_quantity", `name="items[0].quantity" value="0" aria-invalid="true"`)

	s.api(t, "POST", "/v1/tenants/"+s.tenant.String()+"/subscriptions/"+s.inScope+"/amendments", s.adminKey,
		fmt.Sprintf(`{"effective_date":%q,"changes":[{"type":"add_item","product_id":%q,"charge_id":%q,"quantity":1}]}`,
			subFormsToday(), s.product, s.charge), http.StatusOK)
	s.caughtUp(t)
	stale := wantPage(t, b.do(t, "POST", amend, subFormsAmendValues(t, s, page, s.inScope, "5", "confirm")),
		http.StatusConflict, "precondition_failed", `id="stale-notice"`)
	if !strings.Contains(stale, `name="items[1].id"`) {
		t.Fatalf("the 409 page does not show the subscription as it stands now:\n%s", stale)
	}
	if typ, _, _ := s.subFormsLastActor(t, s.inScope); typ != "SubscriptionAmended" {
		t.Fatalf("last event %s", typ)
	}
	if n := len(s.subFormsHistory(t, s.inScope)); n != 2 {
		t.Fatalf("history has %d events after a stale amendment, want 2", n)
	}
	// Submitted again from the 409 page, it goes through.
	res := b.do(t, "POST", amend, subFormsAmendValues(t, s, stale, s.inScope, "5", "confirm"))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("amend from the 409 page: %d:\n%s", res.StatusCode, bodyOf(t, res))
	}
	wantPage(t, b.get(t, s.subFormsPath("/", s.inScope)), http.StatusOK, `<dd id="mrr">294.00 USD</dd>`)
}

func TestSubscriptionCancelThroughConfirmation(t *testing.T) {
	t.Parallel()
	s := subFormsSetup(t)
	b := s.browser()
	b.mustSignIn(t, s.operatorKey)
	cancel := s.subFormsPath("/", s.inScope, "/cancel")
	page := wantPage(t, b.get(t, cancel), http.StatusOK, "Are you sure", `id="cancel-preview"`, `id="cancel-confirm"`)
	values := formValues(t, page, cancel)
	values.Set("policy", "end_of_term")
	values.Set("reason", "moving on")
	values.Set("action", "preview")
	preview := wantPage(t, b.do(t, "POST", cancel, values), http.StatusOK, `<dd id="preview-cancel-date">2027-01-01</dd>`, `id="proration-total"`, "Credit total", "Credit: what the cancellation adds", `value="moving on"`)
	s.caughtUp(t)
	wantPage(t, b.get(t, s.subFormsPath("/", s.inScope)), http.StatusOK, "<dd>active</dd>")

	values = formValues(t, preview, cancel)
	values.Set("policy", "end_of_term")
	values.Set("reason", "moving on")
	values.Set("action", "confirm")
	res := b.do(t, "POST", cancel, values)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != s.subFormsPath("/", s.inScope) {
		t.Fatalf("cancel: %d to %q:\n%s", res.StatusCode, res.Header.Get("Location"), bodyOf(t, res))
	}
	detail := wantPage(t, b.get(t, res.Header.Get("Location")), http.StatusOK, "pending_cancellation", "2027-01-01", "SubscriptionCancel")
	if strings.Contains(detail, `id="amend-link"`) || strings.Contains(detail, `id="cancel-link"`) {
		t.Fatal("a subscription pending cancellation still offers amend or cancel")
	}
	if _, actor, id := s.subFormsLastActor(t, s.inScope); actor != "partner_user" || id != s.operatorID {
		t.Fatalf("cancelled by %s %s, want the operator", actor, id)
	}
}

func TestSubscriptionWithdrawScheduledChange(t *testing.T) {
	t.Parallel()
	s := subFormsSetup(t)
	future := time.Now().UTC().AddDate(0, 0, 10).Format("2006-01-02")
	s.api(t, "POST", "/v1/tenants/"+s.tenant.String()+"/subscriptions/"+s.inScope+"/amendments", s.adminKey,
		fmt.Sprintf(`{"effective_date":%q,"changes":[{"type":"add_item","product_id":%q,"charge_id":%q,"quantity":2}]}`,
			future, s.product, s.charge), http.StatusOK)
	s.caughtUp(t)
	b := s.browser()
	b.mustSignIn(t, s.operatorKey)
	detail := wantPage(t, b.get(t, s.subFormsPath("/", s.inScope)), http.StatusOK, "Scheduled changes", future)
	m := regexp.MustCompile(`href="(/portal/[^"]+/scheduled-changes/[^"]+/withdraw)"`).FindStringSubmatch(detail)
	if m == nil {
		t.Fatalf("no withdraw link:\n%s", detail)
	}
	page := wantPage(t, b.get(t, m[1]), http.StatusOK, "Are you sure", `id="withdraw-confirm"`)
	res := b.do(t, "POST", m[1], formValues(t, page, m[1]))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("withdraw: %d:\n%s", res.StatusCode, bodyOf(t, res))
	}
	after := wantPage(t, b.get(t, res.Header.Get("Location")), http.StatusOK, "ScheduledChangeWithdrawn")
	if strings.Contains(after, "Scheduled changes") {
		t.Fatal("the withdrawn change is still listed")
	}
}

func TestSubscriptionAsOf(t *testing.T) {
	t.Parallel()
	s := subFormsSetup(t)
	time.Sleep(20 * time.Millisecond)
	before := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	item := s.api(t, "GET", "/v1/tenants/"+s.tenant.String()+"/subscriptions/"+s.inScope, s.adminKey, "", http.StatusOK)["items"].([]any)[0].(map[string]any)["id"].(string)
	s.api(t, "POST", "/v1/tenants/"+s.tenant.String()+"/subscriptions/"+s.inScope+"/amendments", s.adminKey,
		fmt.Sprintf(`{"effective_date":%q,"changes":[{"type":"change_quantity","item_id":%q,"quantity":7}]}`, subFormsToday(), item), http.StatusOK)
	s.caughtUp(t)
	b := s.browser()
	b.mustSignIn(t, s.fixture.viewerKey)
	wantPage(t, b.get(t, s.subFormsPath("/", s.inScope)), http.StatusOK, `<dd id="mrr">343.00 USD</dd>`, "<td>7</td>")
	page := wantPage(t, b.get(t, s.subFormsPath("/", s.inScope)+"?as_of="+url.QueryEscape(before.Format(time.RFC3339Nano))),
		http.StatusOK, "as of", `id="as-of-notice"`, `<dd id="mrr">147.00 USD</dd>`, "<td>3</td>")
	if strings.Contains(page, "<td>7</td>") {
		t.Fatal("the as-of view shows the quantity of after the amendment")
	}
	wantPage(t, b.get(t, s.subFormsPath("/", s.inScope)+"?as_of=yesterday"), http.StatusOK, `id="as_of-error"`, `<dd id="mrr">343.00 USD</dd>`)
	wantPage(t, b.get(t, s.subFormsPath("/", s.inScope)+"?as_of=2000-01-01T00:00"), http.StatusOK, "did not exist yet")
	wantPage(t, b.get(t, s.subFormsPath("/", s.outOfScope)+"?as_of="+url.QueryEscape(before.Format(time.RFC3339))), http.StatusNotFound)
}

func TestSubscriptionViewerHasNoWriteControl(t *testing.T) {
	t.Parallel()
	s := subFormsSetup(t)
	// The viewer's grant is the partner's: back to partner_viewer.
	s.api(t, "PUT", "/v1/tenants/"+s.tenant.String()+"/partners/"+s.partner.String()+"/access", s.adminKey,
		fmt.Sprintf(`{"role":"partner_viewer","all_accounts":false,"account_ids":[%q]}`, s.inScopeAccount), http.StatusOK)
	s.caughtUp(t)
	b := s.browser()
	b.mustSignIn(t, s.fixture.viewerKey)
	list := wantPage(t, b.get(t, s.subFormsPath()), http.StatusOK, s.inScope)
	detail := wantPage(t, b.get(t, s.subFormsPath("/", s.inScope)), http.StatusOK, `<dd id="mrr">`)
	for _, control := range []string{`id="new-subscription-link"`, `id="amend-link"`, `id="cancel-link"`, `/usage"`, `method="post" action="/portal/tenants`} {
		if strings.Contains(list, control) || strings.Contains(detail, control) {
			t.Fatalf("a viewer is offered %s", control)
		}
	}
	csrf := csrfOf(t, b.get(t, s.subFormsPath()))
	for _, path := range []string{"/new", "/" + s.inScope + "/amend", "/" + s.inScope + "/cancel"} {
		wantPage(t, b.get(t, s.subFormsPath(path)), http.StatusForbidden, "<code>forbidden</code>")
	}
	wantPage(t, b.get(t, "/portal/tenants/"+s.tenant.String()+"/usage"), http.StatusForbidden, "<code>forbidden</code>")
	posts := map[string]url.Values{
		s.subFormsPath(): {"account_id": {s.inScopeAccount}, "start_date": {"2026-02-01"}, "term.type": {"evergreen"},
			"items[0].charge_id": {s.product + "/" + s.charge}, "items[0].quantity": {"1"}},
		s.subFormsPath("/", s.inScope, "/amend"):  {"version": {"1"}, "effective_date": {subFormsToday()}, "items[0].id": {uuid.NewString()}, "items[0].was": {"3"}, "items[0].quantity": {"4"}, "action": {"confirm"}},
		s.subFormsPath("/", s.inScope, "/cancel"): {"version": {"1"}, "policy": {"immediate"}, "action": {"confirm"}},
	}
	for path, values := range posts {
		values.Set(csrfField, csrf)
		values.Set(idempotencyField, uuid.NewString())
		wantPage(t, b.do(t, "POST", path, values), http.StatusForbidden, "<code>forbidden</code>")
	}
	if n := len(s.subFormsHistory(t, s.inScope)); n != 1 {
		t.Fatalf("the viewer's posts appended events: history has %d", n)
	}
}

func TestSubscriptionFormsOutOfScopeAreNotFound(t *testing.T) {
	t.Parallel()
	s := subFormsSetup(t)
	b := s.browser()
	b.mustSignIn(t, s.operatorKey)
	absent := wantPage(t, b.get(t, s.subFormsPath("/", uuid.NewString(), "/amend")), http.StatusNotFound)
	for _, path := range []string{"/amend", "/cancel"} {
		page := wantPage(t, b.get(t, s.subFormsPath("/", s.outOfScope, path)), http.StatusNotFound)
		if page != absent {
			t.Fatalf("the 404 page of %s out of scope differs from an absent one's", path)
		}
	}
	wantPage(t, b.get(t, s.subFormsPath("/", s.inScope, "/scheduled-changes/", uuid.NewString(), "/withdraw")), http.StatusNotFound)
	wantPage(t, b.get(t, s.subFormsPath("/not-a-uuid/amend")), http.StatusNotFound)
}
