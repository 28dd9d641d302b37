package portal

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"ledger/audit"
	"ledger/auditexport"
	"ledger/commands"
	"ledger/domain"
)

// auditWorld is a tenant where two partners (partner_admin grants on all
// accounts) and the tenant's admin have each opened an account, with the
// portal given the audit trees as `ledger serve` gives them.
type auditWorld struct {
	*env
	fx                         fixture
	vkey                       string
	other, otherKey            string // the second partner and its admin's key
	acct0, acct1, acct2        string // opened by the admin, the first partner, the second
	auditorKey, financeKey     string
	actor1                     string // the first partner's admin user
	accountType, grantType     string // the event types of an account opened, a grant
	firstAccountAt, lastAcctAt string // occurred_at of the first and last account opened
}

// newAuditWorld builds the auditWorld, its portal serving the tenant's
// Merkle tree and checkpoints signed with a fresh key.
func newAuditWorld(t *testing.T) *auditWorld {
	t.Helper()
	e := newEnv(t)
	ctx := t.Context()
	skey, vkey, err := note.GenerateKey(rand.Reader, audit.KeyName)
	if err != nil {
		t.Fatal(err)
	}
	key, err := audit.ParseKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = e.server(t, audit.NewStore(e.pool, e.store, key, nil))
	pb, err := commands.New(e.store).CreatePartner(ctx, commands.Request{Principal: domain.Principal{Type: domain.ActorOperator}}, commands.CreatePartner{Name: "Other"})
	if err != nil {
		t.Fatalf("create partner: %v", err)
	}
	w := &auditWorld{env: e, fx: e.fixture(t), vkey: vkey, other: pb.ID.String(), otherKey: pb.AdminKey}
	w.act(t)
	return w
}

// act has the partners and the admin act, and notes what the tests ask.
func (w *auditWorld) act(t *testing.T) {
	t.Helper()
	base := "/v1/tenants/" + w.tenant.String()
	grant := `{"role":"partner_admin","all_accounts":true,"account_ids":[]}`
	w.api(t, "PUT", base+"/partners/"+w.partner.String()+"/access", w.adminKey, grant, http.StatusOK) // the fixture's, changed
	w.api(t, "PUT", base+"/partners/"+w.other+"/access", w.adminKey, grant, http.StatusCreated)
	open := func(key, name string) string {
		return w.api(t, "POST", base+"/accounts", key, fmt.Sprintf(`{"name":%q,"currency":"USD","billing":{"contact_name":"Ann","email":"ann@example.test"}}`, name),
			http.StatusCreated)["id"].(string)
	}
	w.acct0, w.acct1, w.acct2 = open(w.adminKey, "Zero"), open(w.partnerKey, "One"), open(w.otherKey, "Two")
	w.auditorKey = w.api(t, "POST", base+"/users", w.adminKey, `{"name":"Aud","role":"auditor"}`, http.StatusCreated)["key"].(string)
	w.financeKey = w.api(t, "POST", base+"/users", w.adminKey, `{"name":"Fin","role":"finance"}`, http.StatusCreated)["key"].(string)
	w.caughtUp(t)
	first := w.apiEvents(t, w.adminKey, url.Values{"account_id": {w.acct1}})[0]
	w.actor1 = first["actor"].(map[string]any)["id"].(string)
	w.accountType = first["type"].(string)
	w.firstAccountAt = w.apiEvents(t, w.adminKey, url.Values{"account_id": {w.acct0}})[0]["occurred_at"].(string)
	w.lastAcctAt = w.apiEvents(t, w.adminKey, url.Values{"account_id": {w.acct2}})[0]["occurred_at"].(string)
	w.grantType = w.apiEvents(t, w.adminKey, url.Values{"partner_id": {w.other}})[0]["type"].(string)
}

// apiEvents are the audit events the API lists to key for the filters q.
func (w *auditWorld) apiEvents(t *testing.T, key string, q url.Values) []map[string]any {
	t.Helper()
	q = auditCopy(q)
	q.Set("limit", "500")
	res := w.api(t, "GET", "/v1/tenants/"+w.tenant.String()+"/audit/events?"+q.Encode(), key, "", http.StatusOK)
	var out []map[string]any
	for _, it := range res["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// apiEventIDs are the ids of the events the API lists to key for q.
func (w *auditWorld) apiEventIDs(t *testing.T, key string, q url.Values) []string {
	t.Helper()
	var ids []string
	for _, it := range w.apiEvents(t, key, q) {
		ids = append(ids, it["event_id"].(string))
	}
	return ids
}

// apiRaw sends an API GET with key and Accept, and returns the answer.
func (w *auditWorld) apiRaw(t *testing.T, path, key, accept string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", accept)
	rec := httptest.NewRecorder()
	w.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	return rec
}

// auditEventIDPattern finds the event ids of the audit page's rows.
var auditEventIDPattern = regexp.MustCompile(`<dt>Event id</dt><dd><code>([0-9a-f-]{36})</code>`)

// auditPageIDs are the ids of the events an audit page lists.
func auditPageIDs(page string) []string {
	var ids []string
	for _, m := range auditEventIDPattern.FindAllStringSubmatch(page, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func auditCopy(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

// auditPath is the tenant's portal path under /audit.
func (w *auditWorld) auditPath(rest string) string {
	return "/portal/tenants/" + w.tenant.String() + rest
}

// TestAuditPages runs the tests of the auditors' pages on one
// auditWorld. The refusals of the roles' test are recorded in the log
// first; the others then only read it (the trust page signs checkpoints,
// which no other test reads), in parallel.
func TestAuditPages(t *testing.T) {
	t.Parallel()
	w := newAuditWorld(t)
	t.Run("AuditLogRoles", func(t *testing.T) { auditTestAuditLogRoles(t, w) })
	w.caughtUp(t)
	for name, test := range map[string]func(*testing.T, *auditWorld){
		"AuditLogFilters":                        auditTestAuditLogFilters,
		"AuditPartnerAdminSeesItsOwnPartnerOnly": auditTestAuditPartnerAdminSeesItsOwnPartnerOnly,
		"AuditPartnerHistory":                    auditTestAuditPartnerHistory,
		"AuditExports":                           auditTestAuditExports,
		"AuditExportOfNothing":                   auditTestAuditExportOfNothing,
		"AuditBadFilter":                         auditTestAuditBadFilter,
		"AccessReviewPage":                       auditTestAccessReviewPage,
		"AuditTrust":                             auditTestAuditTrust,
		"AuditNextPage":                          auditTestAuditNextPage,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, w)
		})
	}
}

// auditTestAuditLogFilters: each filter of the page narrows the log to exactly
// the events the API lists for the same filter and caller.
func auditTestAuditLogFilters(t *testing.T, w *auditWorld) {
	b := w.browser()
	b.mustSignIn(t, w.auditorKey)
	all := w.apiEventIDs(t, w.auditorKey, nil)
	cases := []struct {
		name   string
		q      url.Values
		has    []string // accounts whose opening is listed
		hasnt  []string
		narrow bool
	}{
		{"partner", url.Values{"partner_id": {w.partner.String()}}, []string{w.acct1}, []string{w.acct0, w.acct2}, true},
		{"other partner", url.Values{"partner_id": {w.other}}, []string{w.acct2}, []string{w.acct0, w.acct1}, true},
		{"actor", url.Values{"actor_id": {w.actor1}}, []string{w.acct1}, []string{w.acct0, w.acct2}, true},
		{"account", url.Values{"account_id": {w.acct0}}, []string{w.acct0}, []string{w.acct1, w.acct2}, true},
		{"subscription", url.Values{"subscription_id": {w.fx.inScope}}, nil, []string{w.acct0, w.acct1, w.acct2}, true},
		{"type", url.Values{"type": {w.accountType}}, []string{w.acct0, w.acct1, w.acct2}, nil, true},
		{"from", url.Values{"from": {w.firstAccountAt}}, []string{w.acct0, w.acct1, w.acct2}, nil, true},
		{"to", url.Values{"to": {w.lastAcctAt}}, []string{w.acct0, w.acct1}, []string{w.acct2}, true},
		{"none", nil, []string{w.acct0, w.acct1, w.acct2}, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			page := wantPage(t, b.get(t, w.auditPath("/audit?limit=500&"+tc.q.Encode())), http.StatusOK,
				`id="audit-filter"`, `id="f-partner-id"`, `id="audit-csv"`, `id="audit-ndjson"`, "/access-review", "/audit/trust")
			got, want := auditPageIDs(page), w.apiEventIDs(t, w.auditorKey, tc.q)
			if !slices.Equal(got, want) {
				t.Fatalf("page lists %v, the API %v", got, want)
			}
			if len(got) == 0 || (tc.narrow && len(got) >= len(all)) {
				t.Fatalf("%d of %d events listed", len(got), len(all))
			}
			for _, a := range tc.has {
				if !strings.Contains(page, "<code>"+a+"</code>") {
					t.Errorf("account %s is not listed", a)
				}
			}
			for _, a := range tc.hasnt {
				if strings.Contains(page, a) {
					t.Errorf("account %s is listed", a)
				}
			}
			for k := range tc.q {
				if !strings.Contains(page, `value="`+auditAttr(tc.q.Get(k))+`"`) {
					t.Errorf("the form does not keep %s", k)
				}
			}
		})
	}
}

// auditAttr escapes s as html/template writes an attribute value.
func auditAttr(s string) string { return strings.ReplaceAll(s, "+", "&#43;") }

// auditTestAuditLogRoles: the tenant's auditor, finance and admin see the
// whole log, as the API lists it to them; a partner_viewer gets the 403
// page with the API's code on every page of the area.
func auditTestAuditLogRoles(t *testing.T, w *auditWorld) {
	for _, key := range []string{w.auditorKey, w.financeKey, w.adminKey} {
		b := w.browser()
		b.mustSignIn(t, key)
		page := wantPage(t, b.get(t, w.auditPath("/audit?limit=500")), http.StatusOK, "Audit log")
		if got, want := auditPageIDs(page), w.apiEventIDs(t, key, nil); !slices.Equal(got, want) || len(got) == 0 {
			t.Fatalf("page lists %d events, the API %d", len(got), len(want))
		}
	}
	res := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/v1/tenants/"+w.tenant.String()+"/audit/events", nil)
	req.Header.Set("Authorization", "Bearer "+w.fx.viewerKey)
	w.srv.ServeHTTP(res, req)
	var problem struct{ Code string }
	if err := json.Unmarshal(res.Body.Bytes(), &problem); err != nil || res.Code != http.StatusForbidden || problem.Code == "" {
		t.Fatalf("API: %d %s", res.Code, res.Body)
	}
	b := w.browser()
	b.mustSignIn(t, w.fx.viewerKey)
	for _, path := range []string{"/audit", "/audit/partners/" + w.partner.String(), "/audit/export.csv", "/audit/export.ndjson",
		"/access-review", "/access-review.csv", "/audit/trust"} {
		wantPage(t, b.get(t, w.auditPath(path)), http.StatusForbidden, "<code>"+problem.Code+"</code>")
	}
	home := wantPage(t, b.get(t, w.auditPath("/subscriptions")), http.StatusOK)
	if strings.Contains(home, "Audit log") {
		t.Fatal("a viewer is offered the audit log")
	}
}

// auditTestAuditPartnerAdminSeesItsOwnPartnerOnly: a partner_admin sees its
// own partner's actions only, whatever filter the URL carries.
func auditTestAuditPartnerAdminSeesItsOwnPartnerOnly(t *testing.T, w *auditWorld) {
	b := w.browser()
	b.mustSignIn(t, w.partnerKey)
	own := w.partner.String()
	page := wantPage(t, b.get(t, w.auditPath("/audit")), http.StatusOK, `name="partner_id" value="`+own+`" readonly`, "/audit/partners/"+own)
	if got, want := auditPageIDs(page), w.apiEventIDs(t, w.partnerKey, nil); !slices.Equal(got, want) || len(got) == 0 {
		t.Fatalf("page lists %v, the API %v", got, want)
	}
	for _, path := range []string{"/audit", "/audit?partner_id=" + w.other, "/audit/partners/" + own,
		"/audit/export.csv?partner_id=" + w.other, "/audit/export.ndjson", "/access-review", "/access-review.csv"} {
		body := wantPage(t, b.get(t, w.auditPath(path)), http.StatusOK)
		for _, other := range []string{w.other, w.acct2, w.acct0} {
			if strings.Contains(body, other) {
				t.Fatalf("%s shows %s, not its partner's", path, other)
			}
		}
	}
	if got, want := auditPageIDs(bodyOf(t, b.get(t, w.auditPath("/audit?partner_id="+w.other)))), w.apiEventIDs(t, w.partnerKey, nil); !slices.Equal(got, want) {
		t.Fatalf("another partner's filter lists %v, not its own partner's %v", got, want)
	}
	wantPage(t, b.get(t, w.auditPath("/audit/partners/"+w.other)), http.StatusNotFound)
	wantPage(t, b.get(t, w.auditPath("/audit/partners/nope")), http.StatusNotFound)
}

// auditTestAuditPartnerHistory: one partner's history lists its users' actions,
// as the log filtered by the partner, and the log's partner column links
// to it.
func auditTestAuditPartnerHistory(t *testing.T, w *auditWorld) {
	b := w.browser()
	b.mustSignIn(t, w.auditorKey)
	history := "/portal/tenants/" + w.tenant.String() + "/audit/partners/" + w.other
	wantPage(t, b.get(t, w.auditPath("/audit?limit=500")), http.StatusOK, `href="`+history+`"`)
	page := wantPage(t, b.get(t, history), http.StatusOK, "Partner history", w.acct2,
		`href="/portal/tenants/`+w.tenant.String()+`/audit/export.csv?partner_id=`+w.other+`"`)
	if got, want := auditPageIDs(page), w.apiEventIDs(t, w.auditorKey, url.Values{"partner_id": {w.other}}); !slices.Equal(got, want) {
		t.Fatalf("history lists %v, the API %v", got, want)
	}
}

// auditTestAuditExports: the downloads are the API's exports, byte for byte,
// for the same filter and caller.
func auditTestAuditExports(t *testing.T, w *auditWorld) {
	for _, key := range []string{w.auditorKey, w.partnerKey} {
		b := w.browser()
		b.mustSignIn(t, key)
		q := url.Values{"partner_id": {w.partner.String()}}.Encode()
		for _, tc := range []struct{ ext, accept string }{{"csv", "text/csv"}, {"ndjson", "application/x-ndjson"}} {
			res := b.get(t, w.auditPath("/audit/export."+tc.ext+"?"+q))
			got := bodyOf(t, res)
			if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), tc.accept) ||
				!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment; filename=") {
				t.Fatalf("%s: %d %v", tc.ext, res.StatusCode, res.Header)
			}
			want := w.apiRaw(t, "/v1/tenants/"+w.tenant.String()+"/audit/events?"+q, key, tc.accept).Body.String()
			if got != want {
				t.Fatalf("%s export:\n%s\nthe API's:\n%s", tc.ext, got, want)
			}
			lines := strings.Split(strings.TrimSpace(got), "\n")
			events := w.apiEventIDs(t, key, url.Values{"partner_id": {w.partner.String()}})
			if tc.ext == "csv" {
				if lines[0] != strings.Join(auditexport.CSVHeader, ",") || len(lines) != 1+len(events) {
					t.Fatalf("csv: %d lines, header %q; %d events", len(lines), lines[0], len(events))
				}
				continue
			}
			for i, line := range lines {
				var it struct {
					EventID string          `json:"event_id"`
					Leaf    json.RawMessage `json:"leaf"`
				}
				if err := json.Unmarshal([]byte(line), &it); err != nil || it.EventID != events[i] {
					t.Fatalf("line %d %q: %v", i, line, err)
				}
				if (key == w.auditorKey) != (it.Leaf != nil) {
					t.Fatalf("line %d: leaf %s", i, it.Leaf)
				}
			}
		}
	}
}

// auditTestAuditNextPage: the next-page link carries the filters and
// the API's cursor; the pages list the filtered events in order.
func auditTestAuditNextPage(t *testing.T, w *auditWorld) {
	b := w.browser()
	b.mustSignIn(t, w.auditorKey)
	q := url.Values{"type": {w.accountType}}
	next := w.auditPath("/audit?limit=2&" + q.Encode())
	var got []string
	for pages := 0; next != ""; pages++ {
		page := wantPage(t, b.get(t, next), http.StatusOK)
		got = append(got, auditPageIDs(page)...)
		next = ""
		if m := regexp.MustCompile(`<a href="([^"]+)" id="audit-next">`).FindStringSubmatch(page); m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
			if !strings.Contains(next, "type="+w.accountType) || !strings.Contains(next, "cursor=") {
				t.Fatalf("next page %s", next)
			}
		}
		if pages > 10 {
			t.Fatal("no end of pages")
		}
	}
	if want := w.apiEventIDs(t, w.auditorKey, q); !slices.Equal(got, want) || len(want) < 3 {
		t.Fatalf("pages list %v, the API %v", got, want)
	}
}

// auditTestAuditExportOfNothing: an export no event matches is the API's:
// the CSV header alone, an empty NDJSON.
func auditTestAuditExportOfNothing(t *testing.T, w *auditWorld) {
	b := w.browser()
	b.mustSignIn(t, w.auditorKey)
	for _, tc := range []struct{ ext, accept, want string }{
		{"csv", "text/csv", strings.Join(auditexport.CSVHeader, ",") + "\n"}, {"ndjson", "application/x-ndjson", ""},
	} {
		q := "?account_id=" + uuid.NewString()
		got := wantPage(t, b.get(t, w.auditPath("/audit/export."+tc.ext+q)), http.StatusOK)
		api := w.apiRaw(t, "/v1/tenants/"+w.tenant.String()+"/audit/events"+q, w.auditorKey, tc.accept).Body.String()
		if got != tc.want || got != api {
			t.Fatalf("%s: %q, the API's %q", tc.ext, got, api)
		}
	}
}

// auditTestAuditBadFilter: a filter the API refuses re-renders the form with
// 422, keeping the values and marking the field; a download link edited
// so is the 400 page.
func auditTestAuditBadFilter(t *testing.T, w *auditWorld) {
	b := w.browser()
	b.mustSignIn(t, w.auditorKey)
	page := wantPage(t, b.get(t, w.auditPath("/audit?account_id=nope&type=X&from=yesterday")), http.StatusUnprocessableEntity,
		"validation_failed", `id="f-account-id" name="account_id" value="nope" aria-invalid="true"`,
		`id="f-from" name="from" value="yesterday"`, `value="X"`, `id="f-account-id-error"`, `id="f-from-error"`)
	if strings.Contains(page, `id="audit-csv"`) || len(auditPageIDs(page)) != 0 {
		t.Fatal("a refused filter lists events")
	}
	wantPage(t, b.get(t, w.auditPath("/audit?type=NoSuchEvent")), http.StatusUnprocessableEntity, "validation_failed",
		`id="f-type" name="type" value="NoSuchEvent"`, `id="f-type-error"`)
	wantPage(t, b.get(t, w.auditPath("/audit/export.csv?to=soon")), http.StatusBadRequest, "validation_failed")
	wantPage(t, b.get(t, w.auditPath("/audit/export.ndjson?type=NoSuchEvent")), http.StatusBadRequest, "validation_failed")
	wantPage(t, b.get(t, w.auditPath("/audit?cursor=zzz")), http.StatusBadRequest, "validation_failed")
}

// auditTestAccessReviewPage: the page names each partner, its grant and users;
// the CSV is the API's, byte for byte.
func auditTestAccessReviewPage(t *testing.T, w *auditWorld) {
	for _, key := range []string{w.auditorKey, w.partnerKey} {
		b := w.browser()
		b.mustSignIn(t, key)
		page := wantPage(t, b.get(t, w.auditPath("/access-review")), http.StatusOK, "Access review", w.partner.String(),
			"partner_admin", "Vi", `id="access-review-csv"`)
		if (key == w.auditorKey) != strings.Contains(page, w.other) {
			t.Fatalf("the other partner shown: %v", strings.Contains(page, w.other))
		}
		res := b.get(t, w.auditPath("/access-review.csv"))
		got := bodyOf(t, res)
		want := w.apiRaw(t, "/v1/tenants/"+w.tenant.String()+"/reports/access-review", key, "text/csv").Body.String()
		if res.StatusCode != http.StatusOK || got != want || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") {
			t.Fatalf("csv %d:\n%s\nthe API's:\n%s", res.StatusCode, got, want)
		}
		if !strings.HasPrefix(got, strings.Join(auditexport.AccessReviewCSVHeader, ",")+"\n") {
			t.Fatalf("csv header: %s", got)
		}
	}
}

// auditTestAuditTrust: the page shows the latest checkpoint, which verifies
// with the server's public key and whose root is the stored tree's; a
// wrong key does not verify; a portal without the trees says so.
func auditTestAuditTrust(t *testing.T, w *auditWorld) {
	b := w.browser()
	b.mustSignIn(t, w.auditorKey)
	path := w.auditPath("/audit/trust")
	page := wantPage(t, b.get(t, path+"?"+url.Values{"public_key": {w.vkey}}.Encode()), http.StatusOK,
		"Latest signed checkpoint", `<dd id="trust-server">Verified</dd>`, `<dd id="trust-pasted">Verified</dd>`, `<dd id="trust-tree">Matches`,
		"ledger audit verify-export", "ledger audit verify --tenant "+w.tenant.String(), "name <code>ledger</code>")
	if !strings.Contains(page, "ledger/"+w.tenant.String()) {
		t.Fatal("the signed note is not shown")
	}
	_, otherKey, err := note.GenerateKey(rand.Reader, audit.KeyName)
	if err != nil {
		t.Fatal(err)
	}
	wantPage(t, b.get(t, path+"?"+url.Values{"public_key": {otherKey}}.Encode()), http.StatusOK,
		`<dd id="trust-pasted">Does not verify: the signature does not verify with this key</dd>`)
	wantPage(t, b.get(t, path+"?public_key=nonsense"), http.StatusUnprocessableEntity, `id="f-public-key-error"`)

	bare := &env{srv: w.server(t, nil), logs: w.logs}
	bb := bare.browser()
	bb.mustSignIn(t, w.auditorKey)
	wantPage(t, bb.get(t, path), http.StatusOK, "Checkpoints are not served here")
}
