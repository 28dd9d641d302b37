package portal

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// noWriteControl is a script listing the page's write controls: forms
// posting anywhere but sign-out, htmx verbs that write, and the portal's
// action links.
const noWriteControl = `[...document.querySelectorAll("form")]
	.filter(f => f.method === "post" && new URL(f.action).pathname !== "/portal/sign-out")
	.map(f => "form posting to " + new URL(f.action).pathname)
	.concat([...document.querySelectorAll("[hx-post], [hx-put], [hx-patch], [hx-delete], [data-hx-post]")].map(el => el.outerHTML))
	.concat([...document.querySelectorAll("#amend-link, #cancel-link, #new-subscription-link")].map(el => "#" + el.id))`

// TestBrowser runs the portal's user journeys in a real headless Chromium
// (one process shared by the journeys, a browser context per user), two
// at a time. Without Chromium on PATH it skips, unless
// LEDGER_REQUIRE_BROWSER=1; with LEDGER_SCREENSHOTS=1 (make screenshots)
// it saves each role's main page into docs/portal/.
func TestBrowser(t *testing.T) {
	journeys := []struct {
		name string
		run  func(*testing.T)
	}{
		{"ViewerHasNoWriteControl", browserViewerHasNoWriteControl},
		{"OperatorAmendsASubscription", browserOperatorAmendsASubscription},
		{"RevokedPartnerIsRefused", browserRevokedPartnerIsRefused},
		{"AuditorFiltersAndExports", browserAuditorFiltersAndExports},
		{"FormErrorKeepsInput", browserFormErrorKeepsInput},
	}
	for _, j := range journeys {
		t.Run(j.name, func(t *testing.T) {
			t.Parallel()
			browserExecPath(t) // skip (or fail in CI) before building the env
			j.run(t)
		})
	}
}

// browserViewerHasNoWriteControl: a partner viewer, in a real browser,
// finds no way to write on home, the subscriptions list and a
// subscription's page, and every control it sees has a label.
func browserViewerHasNoWriteControl(t *testing.T) {
	e := newEnv(t)
	f := e.fixture(t)
	rig := newBrowserRig(t, e)
	viewer := rig.tab("viewer")
	viewer.signIn(f.viewerKey)
	subs := "/portal/tenants/" + e.tenant.String() + "/subscriptions"
	pages := []struct {
		name, path string
		show       []string
	}{
		{"home", "/portal/", []string{e.tenant.String(), "partner_viewer"}},
		{"subscriptions", subs, []string{f.inScope}},
		{"subscription", subs + "/" + f.inScope, []string{f.inScope, "147.00 USD"}},
	}
	for _, p := range pages {
		viewer.open(p.path)
		if st := viewer.status(); st != 200 {
			t.Fatalf("%s: status %d, want 200\n%s", p.name, st, viewer.describe())
		}
		viewer.wantText(p.show...)
		if found := browserEval[[]string](viewer, noWriteControl); len(found) > 0 {
			t.Errorf("%s: a viewer sees write controls: %v", p.name, found)
		}
		viewer.wantLabelled()
		if p.name == "subscriptions" {
			viewer.screenshot("viewer-subscriptions")
			if strings.Contains(viewer.text("main"), f.outOfScope) {
				t.Errorf("the viewer's list shows the subscription out of its scope")
			}
		}
	}
	viewer.open(subs)
	viewer.wantFocusVisible()
	viewer.clickLink(f.inScope)
	if got, want := viewer.path(), subs+"/"+f.inScope; got != want {
		t.Fatalf("the subscription's link led to %s, want %s", got, want)
	}
}

// browserOperatorAmendsASubscription: a partner operator signs in,
// finds its customer among the customers, opens its subscription, amends
// the quantity after a preview, and sees the new MRR.
func browserOperatorAmendsASubscription(t *testing.T) {
	e := newEnv(t)
	f := e.fixture(t)
	key, opID, _ := browserOperator(t, e, f)
	rig := newBrowserRig(t, e)
	op := rig.tab("operator")
	op.signIn(key)
	tenant := "/portal/tenants/" + e.tenant.String()
	op.clickLink(e.tenant.String())
	op.click(`#tenant-nav a[href="` + tenant + `/accounts"]`)
	op.wantText("Globex")
	op.clickLink("Globex")
	op.clickLink(f.inScope)
	if got := op.text("#mrr"); got != "147.00 USD" {
		t.Fatalf("MRR before the amendment: %q, want 147.00 USD", got)
	}
	op.click("#amend-link")
	op.wantLabelled()
	op.fill("#f-items-0--quantity", "5")
	op.click("#amend-preview")
	if got := op.text("#preview-mrr"); got != "245.00 USD" {
		t.Fatalf("previewed MRR: %q, want 245.00 USD\n%s", got, op.describe())
	}
	if got := op.text("#current-mrr"); got != "147.00 USD" {
		t.Fatalf("the preview changed the MRR: %q", got)
	}
	op.click("#amend-submit")
	if got, want := op.path(), tenant+"/subscriptions/"+f.inScope; got != want {
		t.Fatalf("after the amendment: at %s, want %s\n%s", got, want, op.describe())
	}
	if got := op.text("#mrr"); got != "245.00 USD" {
		t.Fatalf("MRR after the amendment: %q, want 245.00 USD\n%s", got, op.describe())
	}
	op.wantText("SubscriptionAmended, by partner_user " + opID + " of partner " + e.partner.String())
	op.wantFocusVisible()
	op.screenshot("partner-operator-subscription")
}

// browserRevokedPartnerIsRefused: a tenant admin revokes the partner
// (confirming), and the partner's browser, still signed in, is refused at
// its next click.
func browserRevokedPartnerIsRefused(t *testing.T) {
	e := newEnv(t)
	f := e.fixture(t)
	key, _, _ := browserOperator(t, e, f)
	rig := newBrowserRig(t, e)
	tenant := "/portal/tenants/" + e.tenant.String()
	op := rig.tab("operator")
	op.signIn(key)
	op.open(tenant + "/subscriptions/" + f.inScope)
	op.wantText(f.inScope)

	admin := rig.tab("admin")
	admin.signIn(e.adminKey)
	admin.open(tenant + "/partners")
	admin.wantLabelled()
	admin.screenshot("tenant-admin-partners")
	admin.open(tenant + "/partners/" + e.partner.String())
	if got := admin.text("#grant-status"); got != "active" {
		t.Fatalf("grant status before: %q, want active", got)
	}
	admin.click("#revoke-link")
	admin.wantText("Are you sure")
	admin.wantLabelled()
	admin.click("#revoke-confirm")
	if got := admin.text("#grant-status"); got != "revoked" {
		t.Fatalf("grant status after revoking: %q, want revoked\n%s", got, admin.describe())
	}

	op.click(`main a[href="` + tenant + `/subscriptions"]`)
	refused := op.status() == 403 && strings.Contains(op.text("main"), "partner_access_revoked")
	if !refused && !op.has(`form[action="/portal/sign-in"]`) {
		t.Fatalf("a revoked partner's next click: status %d, neither refused nor signed out\n%s", op.status(), op.describe())
	}
	op.open(tenant + "/subscriptions/" + f.inScope)
	if op.has("#mrr") {
		t.Fatalf("a revoked partner still sees the subscription\n%s", op.describe())
	}
}

// browserAuditorFiltersAndExports: an auditor filters the audit log
// by a partner and sees that partner's events only, on the page and in
// the CSV it downloads; finance's revenue page has labelled controls.
func browserAuditorFiltersAndExports(t *testing.T) {
	e := newEnv(t)
	f := e.fixture(t)
	opKey, _, _ := browserOperator(t, e, f)
	base := "/v1/tenants/" + e.tenant.String()
	sub := e.api(t, "GET", base+"/subscriptions/"+f.inScope, opKey, "", 200)
	item := sub["items"].([]any)[0].(map[string]any)["id"].(string)
	e.api(t, "POST", base+"/subscriptions/"+f.inScope+"/amendments", opKey, fmt.Sprintf(
		`{"effective_date":%q,"changes":[{"type":"change_quantity","item_id":%q,"quantity":4}]}`, time.Now().UTC().Format(time.DateOnly), item), 200)
	e.api(t, "GET", base+"/subscriptions/"+f.outOfScope, opKey, "", 404) // an AccessDenied of the partner
	auditorKey := e.browserTenantUser(t, "Audrey", "auditor")
	financeKey := e.browserTenantUser(t, "Fin", "finance")
	e.caughtUp(t)
	partner := e.partner.String()
	rig := newBrowserRig(t, e)

	auditor := rig.tab("auditor")
	auditor.signIn(auditorKey)
	auditor.open("/portal/tenants/" + e.tenant.String() + "/audit")
	auditor.wantLabelled()
	auditor.screenshot("auditor-audit-log")
	auditor.fill("#f-partner-id", partner)
	auditor.click("#audit-filter")
	cells := browserEval[[]string](auditor, `[...document.querySelectorAll("main table tbody tr")].map(tr => tr.cells[3].innerText.trim())`)
	if len(cells) == 0 {
		t.Fatalf("no events of partner %s on the filtered page\n%s", partner, auditor.describe())
	}
	for _, c := range cells {
		if c != partner {
			t.Fatalf("the filtered page shows an event of partner %q, want only %s", c, partner)
		}
	}
	dir := auditor.allowDownloads()
	rows, err := csv.NewReader(bytes.NewReader(auditor.download("#audit-csv", dir))).ReadAll()
	if err != nil {
		t.Fatalf("read the downloaded CSV: %v", err)
	}
	if strings.Contains(auditor.text("body"), "position,event_id") || !auditor.has("#audit-filter") {
		t.Fatalf("the CSV link replaced the page instead of downloading\n%s", auditor.describe())
	}
	col := slices.Index(rows[0], "actor_partner_id")
	if rows[0][0] != "position" || col < 0 {
		t.Fatalf("CSV header %v", rows[0])
	}
	if len(rows)-1 != len(cells) {
		t.Errorf("CSV has %d events, the page %d", len(rows)-1, len(cells))
	}
	for _, r := range rows[1:] {
		if r[col] != partner {
			t.Fatalf("CSV row of partner %q, want only %s: %v", r[col], partner, r)
		}
	}

	finance := rig.tab("finance")
	finance.signIn(financeKey)
	finance.open("/portal/tenants/" + e.tenant.String() + "/reports")
	if st := finance.status(); st != 200 {
		t.Fatalf("finance's reports page: %d\n%s", st, finance.describe())
	}
	finance.wantLabelled()
	finance.screenshot("finance-reports")
}

// browserFormErrorKeepsInput: a refused new subscription comes back
// (422) with every value typed and the bad field marked.
func browserFormErrorKeepsInput(t *testing.T) {
	e := newEnv(t)
	f := e.fixture(t)
	sub := e.api(t, "GET", "/v1/tenants/"+e.tenant.String()+"/subscriptions/"+f.inScope, e.adminKey, "", 200)
	account := sub["account_id"].(string)
	rig := newBrowserRig(t, e)
	admin := rig.tab("admin")
	admin.signIn(e.adminKey)
	admin.open("/portal/tenants/" + e.tenant.String() + "/subscriptions")
	admin.click("#new-subscription-link")
	admin.wantLabelled()
	charge := browserEval[string](admin, `[...document.querySelector("#f-items-0--charge-id").options].map(o => o.value).find(v => v !== "")`)
	typed := map[string]string{
		"#f-account-id":         account,
		"#f-start-date":         "2026-03-01",
		"#f-term-type":          "termed",
		"#f-term-months":        "12",
		"#f-items-0--charge-id": charge,
	}
	for sel, v := range typed {
		admin.choose(sel, v)
	}
	admin.fill("#f-items-0--quantity", "0")
	typed["#f-items-0--quantity"] = "0"
	admin.click("#create-submit")
	if st := admin.status(); st != 422 {
		t.Fatalf("status %d, want 422\n%s", st, admin.describe())
	}
	for sel, want := range typed {
		if got := browserEval[string](admin, fmt.Sprintf(`document.querySelector(%s).value`, jsString(sel))); got != want {
			t.Errorf("%s: %q after the refusal, want %q as typed", sel, got, want)
		}
	}
	if !admin.has(`#f-items-0--quantity[aria-invalid="true"]`) {
		t.Errorf("the quantity is not marked invalid\n%s", admin.describe())
	}
	if admin.has(`[aria-invalid="true"]:not(#f-items-0--quantity)`) {
		t.Errorf("fields other than the quantity are marked invalid")
	}
	admin.wantLabelled()
}
