package http

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"ledger/commands"
	"ledger/domain"
)

// billWorld is a tenant with a 15.00 USD monthly seat, two accounts
// subscribed since 2026-04-01 (A to one seat, B to two), a finance user,
// and a partner viewer whose partner's grant covers A only.
type billWorld struct {
	*api
	finance, viewer, stranger string // keys; stranger's partner has no grant
	product, charge           string
	accountA, accountB        string
	subA, subB, seatA         string
}

func newBillWorld(t *testing.T) *billWorld {
	t.Helper()
	w := &billWorld{api: newAPI(t)}
	admin := w.adminKey
	x := w.do(t, "POST", w.path("/products"), admin, `{"name":"Pro","sku":"PRO","charges":[
		{"name":"Seat","type":"recurring","price":"15","currency":"USD","billing_period":"month"}]}`)
	wantStatus(t, x, http.StatusCreated)
	var p struct {
		ID      string
		Charges []struct{ ID string }
	}
	x.decode(t, &p)
	w.product, w.charge = p.ID, p.Charges[0].ID
	w.accountA, w.accountB = w.account(t, "Globex"), w.account(t, "Initech")
	w.subA, w.seatA = w.subscribe(t, w.accountA, 1)
	w.subB, _ = w.subscribe(t, w.accountB, 2)
	w.finance = w.user(t, w.path("/users"), admin, `{"name":"Fin","role":"finance"}`)
	w.viewer = w.user(t, "/v1/partners/"+w.partner.String()+"/users", w.partnerKey, `{"name":"View","role":"partner_viewer"}`)
	x = w.do(t, "PUT", w.path("/partners/%s/access", w.partner), admin,
		fmt.Sprintf(`{"role":"partner_admin","all_accounts":false,"account_ids":[%q]}`, w.accountA))
	wantStatus(t, x, http.StatusCreated)
	other, err := w.svc.CreatePartner(t.Context(), commands.Request{Principal: domain.Principal{Type: domain.ActorOperator}},
		commands.CreatePartner{Name: "Stranger"})
	if err != nil {
		t.Fatal(err)
	}
	w.stranger = other.AdminKey
	return w
}

func (w *billWorld) account(t *testing.T, name string) string {
	t.Helper()
	x := w.do(t, "POST", w.path("/accounts"), w.adminKey,
		fmt.Sprintf(`{"name":%q,"currency":"USD","billing":{"contact_name":"Hank","email":"hank@example.test","payment_terms_days":14}}`, name))
	wantStatus(t, x, http.StatusCreated)
	var acc struct{ ID string }
	x.decode(t, &acc)
	return acc.ID
}

// subscribe subscribes account to qty seats from 2026-04-01 and returns
// the subscription and its seat item.
func (w *billWorld) subscribe(t *testing.T, account string, qty int) (string, string) {
	t.Helper()
	x := w.do(t, "POST", w.path("/subscriptions"), w.adminKey, fmt.Sprintf(`{"account_id":%q,"start_date":"2026-04-01",
		"term":{"type":"evergreen"},"items":[{"product_id":%q,"charge_id":%q,"quantity":%d}]}`, account, w.product, w.charge, qty))
	wantStatus(t, x, http.StatusCreated)
	var s struct {
		ID    string
		Items []struct{ ID string }
	}
	x.decode(t, &s)
	return s.ID, s.Items[0].ID
}

func (w *billWorld) user(t *testing.T, path, key, body string) string {
	t.Helper()
	x := w.do(t, "POST", path, key, body)
	wantStatus(t, x, http.StatusCreated)
	var u struct{ Key string }
	x.decode(t, &u)
	return u.Key
}

// billRunBody is a bill run as the API answers it.
type billRunBody struct {
	ID         string `json:"id"`
	TargetDate string `json:"target_date"`
	Status     string `json:"status"`
	Invoices   []struct {
		ID        string `json:"id"`
		Number    string `json:"number"`
		AccountID string `json:"account_id"`
		Currency  string `json:"currency"`
		Total     string `json:"total"`
	} `json:"invoices"`
	Totals []struct{ Currency, Total string } `json:"totals"`
}

// invoiceBody is an invoice as the API answers it.
type invoiceBody struct {
	ID        string `json:"id"`
	Number    string `json:"number"`
	AccountID string `json:"account_id"`
	Status    string `json:"status"`
	IssueDate string `json:"issue_date"`
	DueDate   string `json:"due_date"`
	Total     string `json:"total"`
	Version   int    `json:"version"`
	Lines     []struct {
		Type            string `json:"type"`
		PeriodFrom      string `json:"period_from"`
		PeriodTo        string `json:"period_to"`
		ProrationFactor string `json:"proration_factor"`
		Amount          string `json:"amount"`
	} `json:"lines"`
}

func (w *billWorld) run(t *testing.T, key, target string, headers ...string) (exchange, billRunBody) {
	t.Helper()
	x := w.do(t, "POST", w.path("/bill-runs"), key, fmt.Sprintf(`{"target_date":%q}`, target), headers...)
	wantStatus(t, x, http.StatusCreated)
	var r billRunBody
	x.decode(t, &r)
	return x, r
}

func TestBilling(t *testing.T) {
	t.Parallel()
	w := newBillWorld(t)
	var (
		first      billRunBody
		invA, invB string
	)
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	step("only billing.run may run", func(t *testing.T) {
		body := `{"target_date":"2026-04-01"}`
		x := w.do(t, "POST", w.path("/bill-runs"), w.partnerKey, body)
		if x.status != http.StatusForbidden || x.problemCode(t) != domain.CodeForbidden {
			t.Fatalf("partner admin's bill run = %d %s, want 403 forbidden", x.status, x.body)
		}
		x = w.do(t, "POST", w.path("/bill-runs"), w.stranger, body)
		if x.status != http.StatusNotFound {
			t.Fatalf("bill run of a partner without a grant = %d %s, want 404", x.status, x.body)
		}
		for _, bad := range []string{`{"target_date":"2026-04-01","extra":1}`, `{"target_date":20260401}`, `{}`} {
			if x := w.do(t, "POST", w.path("/bill-runs"), w.finance, bad); x.status != http.StatusBadRequest {
				t.Fatalf("bill run %s = %d %s, want 400", bad, x.status, x.body)
			}
		}
		x = w.do(t, "POST", w.path("/bill-runs"), w.finance, `{"target_date":"2026-04-01","account_ids":["0193a1b2-0000-7000-8000-000000000001"]}`)
		if x.status != http.StatusUnprocessableEntity || x.problemCode(t) != commands.CodeUnknownAccount {
			t.Fatalf("bill run of an unknown account = %d %s, want 422 unknown_account", x.status, x.body)
		}
	})
	step("bill run", func(t *testing.T) {
		var x exchange
		x, first = w.run(t, w.finance, "2026-04-01", "Idempotency-Key", "april")
		loc := x.header.Get("Location")
		if loc != w.path("/bill-runs/%s", first.ID) || x.header.Get("Ledger-Position") == "" || x.header.Get("ETag") == "" {
			t.Fatalf("bill run headers %v, want Location %s, Ledger-Position and ETag", x.header, w.path("/bill-runs/%s", first.ID))
		}
		if first.Status != "completed" || first.TargetDate != "2026-04-01" || len(first.Invoices) != 2 ||
			len(first.Totals) != 1 || first.Totals[0].Total != "45.00" || first.Totals[0].Currency != "USD" {
			t.Fatalf("bill run = %s, want 2 invoices, 45.00 USD", x.body)
		}
		invA, invB = invoiceOf(first, w.accountA), invoiceOf(first, w.accountB)
		numbers := []string{first.Invoices[0].Number, first.Invoices[1].Number}
		slices.Sort(numbers)
		if !slices.Equal(numbers, []string{"INV-000001", "INV-000002"}) {
			t.Fatalf("invoice numbers %v", numbers)
		}
		got := w.do(t, "GET", loc, w.finance, "")
		wantStatus(t, got, http.StatusOK)
		if !bytes.Equal(got.body, x.body) || got.header.Get("ETag") != x.header.Get("ETag") {
			t.Fatalf("GET Location = %s (ETag %s), want the 201's body %s (ETag %s)", got.body, got.header.Get("ETag"), x.body, x.header.Get("ETag"))
		}
		replay := w.do(t, "POST", w.path("/bill-runs"), w.finance, `{"target_date":"2026-04-01"}`, "Idempotency-Key", "april")
		if replay.status != http.StatusCreated || !bytes.Equal(replay.body, x.body) || replay.header.Get("Location") != loc ||
			replay.header.Get("Ledger-Position") != x.header.Get("Ledger-Position") {
			t.Fatalf("replay = %d %s, want the first answer %s", replay.status, replay.body, x.body)
		}
		if x := w.do(t, "GET", loc, w.viewer, ""); x.status != http.StatusNotFound {
			t.Fatalf("partner's GET of a bill run = %d %s, want 404", x.status, x.body)
		}
		_, again := w.run(t, w.finance, "2026-04-01")
		if again.ID == first.ID || len(again.Invoices) != 0 || len(again.Totals) != 0 {
			t.Fatalf("second run of the same date = %+v, want a run that bills nothing", again)
		}
	})
	step("invoices", func(t *testing.T) {
		x := w.do(t, "GET", w.path("/invoices"), w.finance, "")
		wantStatus(t, x, http.StatusOK)
		var list struct {
			Items      []invoiceBody
			NextCursor *string `json:"next_cursor"`
		}
		x.decode(t, &list)
		if len(list.Items) != 2 || list.NextCursor != nil {
			t.Fatalf("invoices = %s, want 2 on one page", x.body)
		}
		x = w.do(t, "GET", w.path("/invoices/%s", invA), w.finance, "")
		wantStatus(t, x, http.StatusOK)
		var inv invoiceBody
		x.decode(t, &inv)
		if x.header.Get("ETag") != `"1"` || inv.Status != "posted" || inv.Total != "15.00" || inv.IssueDate != "2026-04-01" ||
			inv.DueDate != "2026-04-15" || len(inv.Lines) != 1 || inv.Lines[0].Type != "recurring" || inv.Lines[0].Amount != "15.00" ||
			inv.Lines[0].PeriodFrom != "2026-04-01" || inv.Lines[0].PeriodTo != "2026-05-01" || inv.Lines[0].ProrationFactor != "1.000000000" {
			t.Fatalf("invoice A = %s (ETag %s)", x.body, x.header.Get("ETag"))
		}
		for query, want := range map[string]int{"?account_id=" + w.accountB: 1, "?from=2026-04-02": 0, "?to=2026-04-01": 2, "?from=2026-04-01&to=2026-04-01": 2} {
			x = w.do(t, "GET", w.path("/invoices%s", query), w.finance, "")
			wantStatus(t, x, http.StatusOK)
			x.decode(t, &list)
			if len(list.Items) != want {
				t.Fatalf("invoices%s = %s, want %d", query, x.body, want)
			}
		}
		x = w.do(t, "GET", w.path("/invoices?limit=1"), w.finance, "")
		x.decode(t, &list)
		if len(list.Items) != 1 || list.NextCursor == nil {
			t.Fatalf("a page of 1 = %s, want a next cursor", x.body)
		}
		for _, bad := range []string{"?limit=0", "?from=2026-13-01", "?account_id=nope", "?from=2026-05-01&to=2026-04-01", "?cursor=zzz"} {
			if x := w.do(t, "GET", w.path("/invoices%s", bad), w.finance, ""); x.status != http.StatusBadRequest {
				t.Fatalf("invoices%s = %d %s, want 400", bad, x.status, x.body)
			}
		}
	})
	step("invoices as CSV", func(t *testing.T) {
		x := w.do(t, "GET", w.path("/invoices?limit=1"), w.finance, "", "Accept", "text/csv")
		wantStatus(t, x, http.StatusOK)
		if ct := x.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Fatalf("Content-Type = %q, want text/csv", ct)
		}
		rows, err := csv.NewReader(bytes.NewReader(x.body)).ReadAll()
		if err != nil {
			t.Fatalf("read CSV %s: %v", x.body, err)
		}
		if len(rows) != 3 || rows[0][0] != "invoice_number" {
			t.Fatalf("CSV = %q, want a header and the 2 lines of every page", rows)
		}
		x = w.do(t, "GET", w.path("/invoices?account_id=%s", w.accountA), w.finance, "", "Accept", "text/csv")
		if rows, _ := csv.NewReader(bytes.NewReader(x.body)).ReadAll(); len(rows) != 2 || rows[1][1] != invA {
			t.Fatalf("CSV of account A = %q", rows)
		}
	})
	step("partner scope", func(t *testing.T) {
		x := w.do(t, "GET", w.path("/invoices"), w.viewer, "")
		wantStatus(t, x, http.StatusOK)
		var list struct{ Items []invoiceBody }
		x.decode(t, &list)
		if len(list.Items) != 1 || list.Items[0].ID != invA {
			t.Fatalf("partner's invoices = %s, want A's only", x.body)
		}
		wantStatus(t, w.do(t, "GET", w.path("/invoices/%s", invA), w.viewer, ""), http.StatusOK)
		outside := w.do(t, "GET", w.path("/invoices/%s", invB), w.viewer, "")
		absent := w.do(t, "GET", w.path("/invoices/%s", "0193a1b2-0000-7000-8000-000000000001"), w.viewer, "")
		if outside.status != http.StatusNotFound || !bytes.Equal(outside.body, absent.body) {
			t.Fatalf("invoice outside the scope = %d %s, want the 404 of an absent one, %s", outside.status, outside.body, absent.body)
		}
		if x := w.do(t, "GET", w.path("/invoices?account_id=%s", w.accountB), w.viewer, ""); x.status != http.StatusNotFound {
			t.Fatalf("invoices of an account outside the scope = %d %s, want 404", x.status, x.body)
		}
		if x := w.do(t, "GET", w.path("/invoices"), w.stranger, ""); x.status != http.StatusNotFound {
			t.Fatalf("invoices for a partner without a grant = %d %s, want 404", x.status, x.body)
		}
		x = w.do(t, "POST", w.path("/invoices/%s/void", invA), w.partnerKey, `{"reason":"no"}`)
		if x.status != http.StatusForbidden {
			t.Fatalf("partner admin's void = %d %s, want 403", x.status, x.body)
		}
		if x := w.do(t, "POST", w.path("/invoices/%s/void", invB), w.partnerKey, `{"reason":"no"}`); x.status != http.StatusNotFound {
			t.Fatalf("partner admin's void outside its scope = %d %s, want 404", x.status, x.body)
		}
		x = w.do(t, "GET", w.path("/reports/revenue"), w.viewer, "")
		wantStatus(t, x, http.StatusOK)
		if !strings.Contains(string(x.body), `"totals":[{"currency":"USD","amount":"15.00"}]`) {
			t.Fatalf("partner's revenue = %s, want A's 15.00", x.body)
		}
	})
	step("preview", func(t *testing.T) {
		before := w.do(t, "GET", w.path("/subscriptions/%s/history", w.subA), w.adminKey, "")
		amendment := fmt.Sprintf(`{"effective_date":"2026-04-05","changes":[{"type":"remove_item","item_id":%q},
			{"type":"add_item","product_id":%q,"charge_id":%q,"quantity":1,"unit_price":"30.00"}]}`, w.seatA, w.product, w.charge)
		x := w.do(t, "POST", w.path("/subscriptions/%s/amendments?preview=true", w.subA), w.adminKey, amendment, "Idempotency-Key", "preview")
		wantStatus(t, x, http.StatusOK)
		if x.header.Get("Ledger-Position") == "" || x.header.Get("ETag") != "" {
			t.Fatalf("preview headers %v, want the Ledger-Position of the state it was decided on and no ETag", x.header)
		}
		var p struct {
			ID    string
			MRR   string
			Items []struct {
				UnitPrice string `json:"unit_price"`
			}
			Proration struct {
				Lines []struct {
					SubscriptionID  string `json:"subscription_id"`
					Type            string
					PeriodFrom      string `json:"period_from"`
					PeriodTo        string `json:"period_to"`
					UnitPrice       string `json:"unit_price"`
					ProrationFactor string `json:"proration_factor"`
					Amount          string
				}
				Total string
			}
		}
		x.decode(t, &p)
		got := []string{}
		for _, l := range p.Proration.Lines {
			got = append(got, fmt.Sprintf("%s %s..%s %s × %s = %s", l.Type, l.PeriodFrom, l.PeriodTo, l.UnitPrice, l.ProrationFactor, l.Amount))
		}
		want := []string{"credit 2026-04-05..2026-05-01 15.00 × 0.866666667 = -13.00", "recurring 2026-04-05..2026-05-01 30.00 × 0.866666667 = 26.00"}
		if !slices.Equal(got, want) || p.Proration.Total != "13.00" || p.ID != w.subA || p.MRR != "30.00" || len(p.Items) != 2 {
			t.Fatalf("preview = %s\nlines %q, want %q, total 13.00", x.body, got, want)
		}
		// Cancelled at the end of the term, after today, the subscription
		// leaves April, the one period invoiced, as it is.
		x = w.do(t, "POST", w.path("/subscriptions/%s/cancel?preview=true", w.subA), w.adminKey, `{"policy":"end_of_term"}`)
		wantStatus(t, x, http.StatusOK)
		if !strings.Contains(string(x.body), `"status":"pending_cancellation"`) ||
			!strings.Contains(string(x.body), `"proration":{"lines":[],"total":"0.00"}`) || x.header.Get("Ledger-Position") == "" {
			t.Fatalf("cancellation preview = %s, want pending cancellation and nothing to prorate", x.body)
		}
		for _, bad := range []string{"yes", "1", "TRUE"} {
			x := w.do(t, "POST", w.path("/subscriptions/%s/amendments?preview=%s", w.subA, bad), w.adminKey, amendment)
			if x.status != http.StatusBadRequest || !strings.Contains(string(x.body), `"field":"preview"`) {
				t.Fatalf("preview=%s = %d %s, want 400 naming preview", bad, x.status, x.body)
			}
		}
		if x := w.do(t, "POST", w.path("/subscriptions/%s/amendments?preview=true", w.subB), w.viewer, amendment); x.status != http.StatusNotFound {
			t.Fatalf("viewer's preview outside its scope = %d %s, want 404", x.status, x.body)
		}
		after := w.do(t, "GET", w.path("/subscriptions/%s/history", w.subA), w.adminKey, "")
		if !bytes.Equal(before.body, after.body) {
			t.Fatalf("history after previews = %s, want it unchanged, %s", after.body, before.body)
		}
		if x := w.do(t, "GET", w.path("/subscriptions/%s", w.subA), w.adminKey, ""); x.header.Get("ETag") != `"1"` {
			t.Fatalf("subscription after previews at ETag %s, want \"1\"", x.header.Get("ETag"))
		}
	})
	step("void and bill again", func(t *testing.T) {
		x := w.do(t, "POST", w.path("/invoices/%s/void", invA), w.finance, `{"reason":"wrong seat count"}`)
		wantStatus(t, x, http.StatusOK)
		var inv invoiceBody
		x.decode(t, &inv)
		if inv.Status != "void" || inv.Version != 2 || x.header.Get("ETag") != `"2"` || x.header.Get("Ledger-Position") == "" {
			t.Fatalf("void = %s (ETag %s)", x.body, x.header.Get("ETag"))
		}
		got := w.do(t, "GET", w.path("/invoices/%s", invA), w.finance, "")
		if !jsonEqual(t, got.body, x.body) {
			t.Fatalf("GET after void = %s, want the void's answer %s", got.body, x.body)
		}
		x = w.do(t, "POST", w.path("/invoices/%s/void", invA), w.finance, `{"reason":"again"}`)
		if x.status != http.StatusUnprocessableEntity || x.problemCode(t) != domain.CodeInvoiceNotVoidable {
			t.Fatalf("second void = %d %s, want 422 invoice_not_voidable", x.status, x.body)
		}
		_, again := w.run(t, w.finance, "2026-04-01")
		if len(again.Invoices) != 1 || again.Invoices[0].AccountID != w.accountA || again.Invoices[0].Total != "15.00" ||
			again.Invoices[0].Number != "INV-000003" {
			t.Fatalf("run after the void = %+v, want A billed again, 15.00, INV-000003", again)
		}
	})
	step("reports", func(t *testing.T) {
		x := w.do(t, "GET", w.path("/reports/revenue"), w.finance, "")
		wantStatus(t, x, http.StatusOK)
		if string(bytes.TrimSpace(x.body)) != `{"totals":[{"currency":"USD","amount":"45.00"}],"groups":[]}` {
			t.Fatalf("revenue = %s, want 45.00, the void invoice left out", x.body)
		}
		x = w.do(t, "GET", w.path("/reports/revenue?group_by=account&from=2026-04-01&to=2026-04-30"), w.finance, "")
		var rev struct {
			Groups []struct{ Key, Name, Currency, Amount string }
		}
		x.decode(t, &rev)
		if len(rev.Groups) != 2 || rev.Groups[0].Key != w.accountB || rev.Groups[0].Amount != "30.00" || rev.Groups[1].Amount != "15.00" {
			t.Fatalf("revenue by account = %s", x.body)
		}
		x = w.do(t, "GET", w.path("/reports/mrr-movements?from=2026-03&to=2026-05"), w.finance, "")
		wantStatus(t, x, http.StatusOK)
		var mov struct {
			Months []map[string]string
		}
		x.decode(t, &mov)
		if len(mov.Months) != 3 || mov.Months[1]["month"] != "2026-04" || mov.Months[1]["new"] != "45.00" ||
			mov.Months[1]["ending_mrr"] != "45.00" || mov.Months[2]["starting_mrr"] != "45.00" {
			t.Fatalf("mrr movements = %s, want 45.00 new in April", x.body)
		}
		wantStatus(t, w.do(t, "GET", w.path("/reports/mrr-movements?from=2026-03&to=2026-05&group_by=partner"), w.viewer, ""), http.StatusOK)
		for _, bad := range []string{"/reports/mrr-movements?to=2026-05", "/reports/mrr-movements?from=2026-3&to=2026-05",
			"/reports/mrr-movements?from=2026-03&to=2026-05&group_by=product", "/reports/revenue?group_by=sku",
			"/reports/revenue?from=2026-05-01&to=2026-04-01"} {
			if x := w.do(t, "GET", w.path("%s", bad), w.finance, ""); x.status != http.StatusBadRequest {
				t.Fatalf("%s = %d %s, want 400", bad, x.status, x.body)
			}
		}
		if x := w.do(t, "GET", w.path("/reports/revenue"), w.stranger, ""); x.status != http.StatusNotFound {
			t.Fatalf("revenue for a partner without a grant = %d, want 404", x.status)
		}
	})
}

// invoiceOf returns the id of the invoice of account in bill run r.
func invoiceOf(r billRunBody, account string) string {
	for _, inv := range r.Invoices {
		if inv.AccountID == account {
			return inv.ID
		}
	}
	return ""
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}

func TestAcceptsCSV(t *testing.T) {
	t.Parallel()
	for accept, want := range map[string]bool{
		"":                                      false,
		"application/json":                      false,
		"text/csv":                              true,
		"text/csv; charset=utf-8":               true,
		"text/csv;q=0":                          false,
		"application/json, text/csv":            false,
		"text/csv, application/json":            true,
		"application/json;q=0.5, text/csv":      true,
		"text/csv;q=0.4, application/json;q=.5": false,
		"*/*":                                   false,
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Accept", accept)
		if got := acceptsCSV(echo.New().NewContext(req, httptest.NewRecorder())); got != want {
			t.Errorf("Accept %q: CSV = %v, want %v", accept, got, want)
		}
	}
}
