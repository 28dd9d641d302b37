package portal

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// usageUpload posts a multipart usage form with values and a file
// holding content, as a browser would, keeping the browser's cookies.
func usageUpload(t *testing.T, b *browser, path string, values url.Values, content string) *http.Response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for name, vs := range values {
		for _, v := range vs {
			if err := mw.WriteField(name, v); err != nil {
				t.Fatalf("write field: %v", err)
			}
		}
	}
	part, err := mw.CreateFormFile(usageFileField, "usage.csv")
	if err != nil {
		t.Fatalf("create file part: %v", err)
	}
	if _, err := part.Write([]byte(content)); err != nil {
		t.Fatalf("write file: %v", err)
	}
	if err := mw.Close(); err != nil {
		t.Fatalf("close multipart: %v", err)
	}
	req := httptest.NewRequest(http.MethodPost, path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.e.srv.ServeHTTP(rec, req)
	return rec.Result()
}

// usageSetup is a subFormsEnv with a subscription of the in-scope account
// to a usage charge; it returns that subscription's id and its item's.
func usageSetup(t *testing.T) (subFormsEnv, string, string) {
	t.Helper()
	s := subFormsSetup(t)
	base := "/v1/tenants/" + s.tenant.String()
	product := s.api(t, "POST", base+"/products", s.adminKey, `{"name":"API","sku":"API","charges":[
		{"name":"Calls","type":"usage","price":"0.01","currency":"USD","unit":"call"}]}`, http.StatusCreated)
	charge := product["charges"].([]any)[0].(map[string]any)["id"].(string)
	sub := s.api(t, "POST", base+"/subscriptions", s.adminKey, fmt.Sprintf(`{"account_id":%q,"start_date":"2026-01-01",
		"term":{"type":"evergreen"},"items":[{"product_id":%q,"charge_id":%q,"quantity":1}]}`, s.inScopeAccount, product["id"], charge), http.StatusCreated)
	s.caughtUp(t)
	return s, sub["id"].(string), sub["items"].([]any)[0].(map[string]any)["id"].(string)
}

// usageTotal is the usage recorded on subscription sub, as the API's
// summary sums it.
func usageTotal(t *testing.T, s subFormsEnv, sub string) string {
	t.Helper()
	s.caughtUp(t)
	out := s.api(t, "GET", "/v1/tenants/"+s.tenant.String()+"/usage/summary?subscription_id="+sub, s.adminKey, "", http.StatusOK)
	items := out["items"].([]any)
	if len(items) == 0 {
		return "0"
	}
	return fmt.Sprint(items[0].(map[string]any)["quantity"])
}

func TestUsageUploadRecordsAGoodFile(t *testing.T) {
	t.Parallel()
	s, sub, item := usageSetup(t)
	b := s.browser()
	b.mustSignIn(t, s.operatorKey)
	path := "/portal/tenants/" + s.tenant.String() + "/usage"
	page := wantPage(t, b.get(t, path), http.StatusOK, "occurred_at", "subscription_id", "item_id", `enctype="multipart/form-data"`)
	csv := "id,subscription_id,item_id,quantity,occurred_at\n" +
		fmt.Sprintf("%s,%s,%s,120,2026-06-01T10:00:00Z\n", uuid.NewString(), sub, item) +
		fmt.Sprintf("%s,%s,%s,30.5,2026-06-02T10:00:00Z\n", uuid.NewString(), sub, item)
	res := usageUpload(t, b, path, formValues(t, page, path), csv)
	if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "accepted=2") {
		t.Fatalf("upload: %d to %q:\n%s", res.StatusCode, res.Header.Get("Location"), bodyOf(t, res))
	}
	page = wantPage(t, b.get(t, res.Header.Get("Location")), http.StatusOK, "Recorded 2 new record(s)", "0 duplicate(s)")
	if got := usageTotal(t, s, sub); got != "150.5" {
		t.Fatalf("usage recorded %s, want 150.5", got)
	}
	// The same file again: its records are duplicates.
	res = usageUpload(t, b, path, formValues(t, page, path), csv)
	if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "accepted=0&duplicates=2") {
		t.Fatalf("upload again: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if got := usageTotal(t, s, sub); got != "150.5" {
		t.Fatalf("usage recorded %s after a repeat, want 150.5", got)
	}
}

func TestUsageUploadRefusesABadFile(t *testing.T) {
	t.Parallel()
	s, sub, item := usageSetup(t)
	b := s.browser()
	b.mustSignIn(t, s.operatorKey)
	path := "/portal/tenants/" + s.tenant.String() + "/usage"
	good := fmt.Sprintf("%s,%s,%s,1,2026-06-01T10:00:00Z\n", uuid.NewString(), sub, item)
	tests := []struct {
		name, csv string
		want      []string
	}{
		{"malformed cells", "id,subscription_id,item_id,quantity,occurred_at\n" + good +
			fmt.Sprintf("%s,%s,%s,abc,2026-06-01\n", uuid.NewString(), sub, item) +
			fmt.Sprintf("not-an-id,%s,%s,2,2026-06-01T10:00:00Z\n", sub, item),
			[]string{"<td>3</td><td><code>quantity</code></td>", "<td>3</td><td><code>occurred_at</code></td>", "<td>4</td><td><code>id</code></td>"}},
		{"refused by the ledger", "id,subscription_id,item_id,quantity,occurred_at\n" + good +
			fmt.Sprintf("%s,%s,%s,2,2026-06-01T10:00:00Z\n", uuid.NewString(), sub, uuid.NewString()),
			[]string{"<td>3</td><td><code>item_id</code></td>", "has no item"}},
		{"bad header", "id,subscription,quantity\n" + good,
			[]string{"<code>subscription</code></td><td>is not a column", "<code>occurred_at</code></td><td>is missing"}},
		{"empty file", "", []string{"the file is empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page := bodyOf(t, b.get(t, path))
			res := usageUpload(t, b, path, formValues(t, page, path), tc.csv)
			wantPage(t, res, http.StatusUnprocessableEntity, append(tc.want, "nothing was recorded", `id="usage-errors"`)...)
			if got := usageTotal(t, s, sub); got != "0" {
				t.Fatalf("usage recorded %s from a refused file, want none", got)
			}
		})
	}
}

func TestUsageUploadViewerIsRefused(t *testing.T) {
	t.Parallel()
	s, sub, item := usageSetup(t)
	b := s.browser()
	b.mustSignIn(t, s.fixture.viewerKey)
	path := "/portal/tenants/" + s.tenant.String() + "/usage"
	wantPage(t, b.get(t, path), http.StatusForbidden, "<code>forbidden</code>")
	csrf := csrfOf(t, b.get(t, "/portal/tenants/"+s.tenant.String()+"/subscriptions"))
	csv := "id,subscription_id,item_id,quantity,occurred_at\n" + fmt.Sprintf("%s,%s,%s,1,2026-06-01T10:00:00Z\n", uuid.NewString(), sub, item)
	res := usageUpload(t, b, path, url.Values{csrfField: {csrf}, idempotencyField: {uuid.NewString()}}, csv)
	wantPage(t, res, http.StatusForbidden, "<code>forbidden</code>")
	// Without the CSRF token in the multipart form, the upload is refused too.
	wantPage(t, usageUpload(t, b, path, url.Values{}, csv), http.StatusForbidden, "csrf_token_invalid")
	if got := usageTotal(t, s, sub); got != "0" {
		t.Fatalf("a viewer's upload recorded %s", got)
	}
}

func TestUsageUploadOverTheLimit(t *testing.T) {
	t.Parallel()
	s, sub, item := usageSetup(t)
	b := s.browser()
	b.mustSignIn(t, s.operatorKey)
	path := "/portal/tenants/" + s.tenant.String() + "/usage"
	page := bodyOf(t, b.get(t, path))
	row := fmt.Sprintf("%s,%s,%s,1,2026-06-01T10:00:00Z\n", uuid.NewString(), sub, item)
	csv := "id,subscription_id,item_id,quantity,occurred_at\n" + strings.Repeat(row, (usageMaxBytes/len(row))+10)
	// The server refuses a body over its limit before the portal reads it,
	// as it refuses the API's, and the portal renders the refusal as a page.
	res := usageUpload(t, b, path, formValues(t, page, path), csv)
	wantPage(t, res, http.StatusRequestEntityTooLarge, "payload_too_large", "larger than the ledger accepts")
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want the portal's HTML page", ct)
	}
	if csp := res.Header.Get("Content-Security-Policy"); csp != contentSecurityPolicy {
		t.Errorf("the refusal lacks the portal's security headers: CSP %q", csp)
	}
	if got := usageTotal(t, s, sub); got != "0" {
		t.Fatalf("a file over the limit recorded %s", got)
	}
}

func TestUsageCSVParsing(t *testing.T) {
	t.Parallel()
	sub, item := uuid.NewString(), uuid.NewString()
	tests := []struct {
		name, csv string
		records   int
		faults    []usageRowError
	}{
		{"columns in any order, a BOM, spaces", "\ufeffquantity, occurred_at,id,item_id,subscription_id\n" +
			fmt.Sprintf("2, 2026-06-01T10:00:00Z,%s,%s,%s\n", uuid.NewString(), item, sub), 1, nil},
		{"a row short of fields", "id,subscription_id,item_id,quantity,occurred_at\n" + uuid.NewString() + "," + sub + "\n", 1,
			[]usageRowError{{Line: 2, Message: "has 2 fields, the header 5"}}},
		{"a column twice", "id,id,subscription_id,item_id,quantity,occurred_at\n", 0,
			[]usageRowError{{Line: 1, Column: "id", Message: "is given twice"}}},
		{"no records", "id,subscription_id,item_id,quantity,occurred_at\n", 0,
			[]usageRowError{{Message: "the file has a header but no records"}}},
		{"not CSV", "id,\"subscription_id\n", 0, []usageRowError{{Line: 1, Message: `not well-formed CSV: extraneous or missing " in quoted-field`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, _, faults := parseUsageCSV(strings.NewReader(tc.csv))
			if len(cmd.Records) != tc.records || fmt.Sprint(faults) != fmt.Sprint(tc.faults) {
				t.Fatalf("%d records, faults %v; want %d, %v", len(cmd.Records), faults, tc.records, tc.faults)
			}
		})
	}
}

func TestUsageUploadUnknownSubscriptionIsNotFound(t *testing.T) {
	t.Parallel()
	s, sub, item := usageSetup(t)
	b := s.browser()
	b.mustSignIn(t, s.operatorKey)
	path := "/portal/tenants/" + s.tenant.String() + "/usage"
	good := fmt.Sprintf("%s,%s,%s,1,2026-06-01T10:00:00Z\n", uuid.NewString(), sub, item)
	var pages []string
	for _, other := range []string{uuid.NewString(), s.outOfScope} {
		csv := "id,subscription_id,item_id,quantity,occurred_at\n" + good + fmt.Sprintf("%s,%s,%s,1,2026-06-01T10:00:00Z\n", uuid.NewString(), other, item)
		page := bodyOf(t, b.get(t, path))
		pages = append(pages, wantPage(t, usageUpload(t, b, path, formValues(t, page, path), csv), http.StatusNotFound))
	}
	if pages[0] != pages[1] {
		t.Fatal("an upload tells an absent subscription from one out of scope")
	}
	if got := usageTotal(t, s, sub); got != "0" {
		t.Fatalf("recorded %s from a refused upload", got)
	}
}
