package portal

import (
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// finWorld is a tenant with the fixture's two accounts billed once
// through the API (target finBillDate), and a finance user and an
// auditor.
type finWorld struct {
	e                     *env
	f                     fixture
	base                  string // the API's path of the tenant
	page                  string // the portal's path of the tenant
	financeKey, auditKey  string
	financeID             string
	inScope, outOfScope   string // invoice ids: of the viewer's account, of the other
	billRun               string
	inScopeNo, outScopeNo string // their numbers
}

// finBillDate is the target date of the world's bill run: January and
// February billed in advance.
const finBillDate = "2026-02-01"

func newFinWorld(t *testing.T) *finWorld {
	t.Helper()
	e := newEnv(t)
	w := &finWorld{e: e, f: e.fixture(t), base: "/v1/tenants/" + e.tenant.String(), page: "/portal/tenants/" + e.tenant.String()}
	fin := e.api(t, "POST", w.base+"/users", e.adminKey, `{"name":"Fin","role":"finance"}`, http.StatusCreated)
	w.financeKey, w.financeID = fin["key"].(string), fin["id"].(string)
	w.auditKey = e.api(t, "POST", w.base+"/users", e.adminKey, `{"name":"Aud","role":"auditor"}`, http.StatusCreated)["key"].(string)
	run := e.api(t, "POST", w.base+"/bill-runs", e.adminKey, `{"target_date":"`+finBillDate+`"}`, http.StatusCreated)
	w.billRun = run["id"].(string)
	e.caughtUp(t)
	mine := e.api(t, "GET", w.base+"/invoices", w.f.viewerKey, "", http.StatusOK)["items"].([]any)
	if len(mine) != 1 {
		t.Fatalf("the viewer sees %d invoices, want 1", len(mine))
	}
	inv := mine[0].(map[string]any)
	w.inScope, w.inScopeNo = inv["id"].(string), inv["number"].(string)
	for _, x := range run["invoices"].([]any) {
		if x := x.(map[string]any); x["id"] != w.inScope {
			w.outOfScope, w.outScopeNo = x["id"].(string), x["number"].(string)
		}
	}
	if w.outOfScope == "" {
		t.Fatalf("bill run %v issued no second invoice", run)
	}
	return w
}

// finSignIn is a browser signed in with key.
func (w *finWorld) finSignIn(t *testing.T, key string) *browser {
	t.Helper()
	b := w.e.browser()
	b.mustSignIn(t, key)
	return b
}

// finRaw is an API answer's status, headers and body as they are.
func (w *finWorld) finRaw(t *testing.T, path, key, accept string) (int, http.Header, string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	w.e.srv.ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.String()
}

// finCSV reads a CSV download, failing unless it is one.
func finCSV(t *testing.T, res *http.Response) [][]string {
	t.Helper()
	body := bodyOf(t, res)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("download: %d %s:\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download without Content-Disposition: attachment: %q", res.Header.Get("Content-Disposition"))
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("read csv: %v\n%s", err, body)
	}
	return rows
}

var finSVG = regexp.MustCompile(`(?s)<svg .*?</svg>`)

// finChart checks that the page's chart is well-formed XML with an
// accessible name and description and returns the number of its points.
func finChart(t *testing.T, page string) int {
	t.Helper()
	svg := finSVG.FindString(page)
	if svg == "" {
		t.Fatalf("no chart on the page:\n%s", page)
	}
	if strings.Contains(svg, "style=") || !strings.Contains(svg, `role="img"`) {
		t.Fatalf("chart with a style attribute or no role: %s", svg)
	}
	dec := xml.NewDecoder(strings.NewReader(svg))
	dec.Strict = true
	points, names := 0, map[string]int{}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			names[se.Name.Local]++
			if se.Name.Local == "circle" {
				points++
			}
		}
	}
	if names["title"] < 1 || names["desc"] != 1 || names["text"] < 3 {
		t.Fatalf("chart lacks a title, a description or axis labels: %v", names)
	}
	return points
}

var finSeriesRow = regexp.MustCompile(`<tr><td>(\d{4}-\d{2})</td><td>([0-9.\-]+)</td></tr>`)

func TestFinanceReports(t *testing.T) {
	t.Parallel()
	w := newFinWorld(t)
	for _, tc := range []struct {
		name, key string
	}{
		{"tenant admin", w.e.adminKey},
		{"finance", w.financeKey},
		{"auditor", w.auditKey},
		{"partner viewer, its scope only", w.f.viewerKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := w.finSignIn(t, tc.key)
			page := wantPage(t, b.get(t, w.page+"/reports?from=2026-01&to=2026-06&revenue_from=2026-01-01"), http.StatusOK,
				"MRR now", "MRR over time", "MRR movements", "Invoiced revenue", "Download CSV")
			if n := finChart(t, page); n != 6 {
				t.Fatalf("chart has %d points, want one per month (6)", n)
			}
			api := w.e.api(t, "GET", w.base+"/reports/mrr-movements?from=2026-01&to=2026-06", tc.key, "", http.StatusOK)
			var want [][]string
			for _, m := range api["months"].([]any) {
				m := m.(map[string]any)
				want = append(want, []string{m["month"].(string), m["ending_mrr"].(string)})
			}
			var got [][]string
			table := page[strings.Index(page, `id="mrr-series-USD"`):]
			for _, m := range finSeriesRow.FindAllStringSubmatch(table[:strings.Index(table, "</table>")], -1) {
				got = append(got, m[1:])
			}
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("series table %v, want the API's %v", got, want)
			}
			mrr := w.e.api(t, "GET", w.base+"/reports/mrr", tc.key, "", http.StatusOK)["totals"].([]any)[0].(map[string]any)
			rev := w.e.api(t, "GET", w.base+"/reports/revenue?from=2026-01-01", tc.key, "", http.StatusOK)["totals"].([]any)[0].(map[string]any)
			wantPage(t, b.get(t, w.page+"/reports?from=2026-01&to=2026-06&revenue_from=2026-01-01"), http.StatusOK,
				"<td>USD</td><td>"+mrr["mrr"].(string)+"</td><td>"+mrr["arr"].(string)+"</td>",
				"<td>USD</td><td>"+rev["amount"].(string)+"</td>")
		})
	}
	t.Run("the viewer's figures are its scope's", func(t *testing.T) {
		all := w.e.api(t, "GET", w.base+"/reports/mrr", w.e.adminKey, "", http.StatusOK)["totals"].([]any)[0].(map[string]any)["mrr"]
		mine := w.e.api(t, "GET", w.base+"/reports/mrr", w.f.viewerKey, "", http.StatusOK)["totals"].([]any)[0].(map[string]any)["mrr"]
		if all == mine {
			t.Fatalf("viewer's MRR %v = the tenant's %v: the fixture does not tell scopes apart", mine, all)
		}
	})
	t.Run("a filter at fault is marked", func(t *testing.T) {
		b := w.finSignIn(t, w.financeKey)
		for _, q := range []string{"from=2026-13&to=2026-06", "group_by=product", "revenue_from=2026-02-30"} {
			page := wantPage(t, b.get(t, w.page+"/reports?"+q), http.StatusBadRequest, `aria-invalid="true"`, "validation_failed")
			if strings.Contains(page, "<svg") {
				t.Fatalf("%s: figures shown for a refused filter", q)
			}
		}
	})
}

func TestFinanceCSV(t *testing.T) {
	t.Parallel()
	w := newFinWorld(t)
	for _, tc := range []struct {
		name, key string
	}{
		{"finance", w.financeKey},
		{"partner viewer", w.f.viewerKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := w.finSignIn(t, tc.key)
			t.Run("invoices: the API's CSV", func(t *testing.T) {
				status, _, api := w.finRaw(t, w.base+"/invoices?from=2026-01-01", tc.key, "text/csv")
				res := b.get(t, w.page+"/invoices.csv?from=2026-01-01")
				finCSV(t, res)
				if got := bodyOf(t, res); status != http.StatusOK || got != api {
					t.Fatalf("portal CSV:\n%s\nAPI's (%d):\n%s", got, status, api)
				}
			})
			t.Run("mrr movements: the API's rows", func(t *testing.T) {
				rows := finCSV(t, b.get(t, w.page+"/reports/mrr-movements.csv?from=2026-01&to=2026-03&group_by=partner"))
				api := w.e.api(t, "GET", w.base+"/reports/mrr-movements?from=2026-01&to=2026-03&group_by=partner", tc.key, "", http.StatusOK)
				want := [][]string{mrrMovementsCSVHeader}
				for _, m := range api["months"].([]any) {
					want = append(want, finFields(m.(map[string]any), mrrMovementsCSVHeader))
				}
				if !slices.EqualFunc(rows, want, slices.Equal) || len(rows) < 4 {
					t.Fatalf("CSV %v, want %v", rows, want)
				}
			})
			t.Run("revenue: the API's groups and totals", func(t *testing.T) {
				rows := finCSV(t, b.get(t, w.page+"/reports/revenue.csv?group_by=account"))
				api := w.e.api(t, "GET", w.base+"/reports/revenue?group_by=account", tc.key, "", http.StatusOK)
				want := [][]string{revenueCSVHeader}
				for _, g := range api["groups"].([]any) {
					want = append(want, append([]string{"group"}, finFields(g.(map[string]any), revenueCSVHeader[1:])...))
				}
				for _, g := range api["totals"].([]any) {
					g := g.(map[string]any)
					want = append(want, []string{"total", "", "", g["currency"].(string), g["amount"].(string)})
				}
				if !slices.EqualFunc(rows, want, slices.Equal) || len(rows) < 3 {
					t.Fatalf("CSV %v, want %v", rows, want)
				}
			})
		})
	}
	t.Run("a download with a filter at fault is the 400 page", func(t *testing.T) {
		b := w.finSignIn(t, w.financeKey)
		for _, path := range []string{"/reports/revenue.csv?from=2026-02-30", "/reports/mrr-movements.csv?from=2026-01",
			"/reports/mrr-movements.csv?from=2026-01&to=2026-02&group_by=product", "/invoices.csv?account_id=nope"} {
			wantPage(t, b.get(t, w.page+path), http.StatusBadRequest, "validation_failed")
		}
	})
}

// finFields are the values of m under names, as text.
func finFields(m map[string]any, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		if v, ok := m[n]; ok {
			out[i] = fmt.Sprint(v)
		}
	}
	return out
}

// finPost posts a form of a page with fields added.
func finPost(t *testing.T, b *browser, page, action string, fields url.Values) *http.Response {
	t.Helper()
	values := formValues(t, page, action)
	for k, v := range fields {
		values[k] = v
	}
	return b.do(t, "POST", action, values)
}

func TestFinanceBillRunForm(t *testing.T) {
	t.Parallel()
	w := newFinWorld(t)
	runs := w.page + "/bill-runs"
	for _, tc := range []struct {
		name, key string
	}{
		{"tenant admin", w.e.adminKey},
		{"finance", w.financeKey},
	} {
		t.Run(tc.name+" runs one", func(t *testing.T) {
			b := w.finSignIn(t, tc.key)
			form := wantPage(t, b.get(t, runs), http.StatusOK, "Run billing", `<label for="f-target-date">`)
			res := finPost(t, b, form, runs, url.Values{"target_date": {"2026-03-01"}})
			loc := res.Header.Get("Location")
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, runs+"/") {
				t.Fatalf("bill run: %d to %q:\n%s", res.StatusCode, loc, bodyOf(t, res))
			}
			api := w.e.api(t, "GET", w.base+"/bill-runs/"+strings.TrimPrefix(loc, runs+"/"), w.e.adminKey, "", http.StatusOK)
			want := []string{"completed", "2026-03-01"}
			for _, inv := range api["invoices"].([]any) {
				want = append(want, inv.(map[string]any)["number"].(string))
			}
			page := wantPage(t, b.get(t, loc), http.StatusOK, want...)
			if tc.key == w.e.adminKey && (len(want) != 4 || !strings.Contains(page, "<dd>2</dd>")) {
				t.Fatalf("the first March run issued %v, want two invoices:\n%s", want, page)
			}
		})
	}
	t.Run("the form keeps the input and marks the field", func(t *testing.T) {
		b := w.finSignIn(t, w.financeKey)
		for _, tc := range []struct {
			name, field, value, accounts, code string
		}{
			{"too far", "target_date", "2031-01-01", "", "target_date_too_far"},
			{"malformed", "target_date", "2026-02-30", "", "validation_failed"},
			{"unknown account", "account_ids", "2026-03-01", "0193a1b2-0000-7000-8000-000000000001", "unknown_account"},
			{"not an id", "account_ids", "2026-03-01", "nope", "validation_failed"},
		} {
			form := wantPage(t, b.get(t, runs), http.StatusOK)
			res := finPost(t, b, form, runs, url.Values{"target_date": {tc.value}, "account_ids": {tc.accounts}})
			page := wantPage(t, res, http.StatusUnprocessableEntity, tc.code, `value="`+tc.value+`"`, `id="`+fieldID(tc.field)+`-error"`)
			if tc.accounts != "" && !strings.Contains(page, ">"+tc.accounts+"</textarea>") {
				t.Fatalf("%s: account ids not kept:\n%s", tc.name, page)
			}
		}
	})
	t.Run("no bill run control for who may not run one", func(t *testing.T) {
		for _, key := range []string{w.auditKey, w.f.viewerKey} {
			b := w.finSignIn(t, key)
			home := wantPage(t, b.get(t, w.page+"/invoices"), http.StatusOK)
			if strings.Contains(home, `href="`+runs+`"`) || strings.Contains(home, "Run billing") {
				t.Fatalf("bill run control shown:\n%s", home)
			}
			wantPage(t, b.get(t, runs), http.StatusForbidden, "forbidden")
			csrf := csrfOf(t, b.get(t, w.page+"/invoices"))
			wantPage(t, b.do(t, "POST", runs, url.Values{csrfField: {csrf}, "target_date": {"2026-03-01"}}), http.StatusForbidden, "forbidden")
		}
		if got := len(w.e.api(t, "GET", w.base+"/invoices?from=2026-03-01", w.e.adminKey, "", http.StatusOK)["items"].([]any)); got != 2 {
			t.Fatalf("%d March invoices, want the 2 of the admin's run", got)
		}
	})
}
