package http

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"ledger/commands"
	"ledger/domain"
)

// fuzzWorld is a server on a fresh database of its own, with a tenant, a
// partner granted partner_admin over every account, an account, a product,
// a subscription with a scheduled change, and a user of each side that the
// DELETE routes may remove. Each fuzz target builds one, so the log head
// it compares moves only with its own requests.
type fuzzWorld struct {
	srv                        *echo.Echo
	pool                       *pgxpool.Pool
	adminKey, partnerKey       string
	tenant, partner            string
	account, product, charge   string
	usageCharge, sub, item     string
	usageItem, change          string
	tenantUser, partnerUser    string
	subscriptionBody, usageRec string
	tb                         testing.TB
}

func newFuzzWorld(tb testing.TB) *fuzzWorld {
	tb.Helper()
	ctx := context.Background()
	pool, _, svc := startLedger(tb, 16) // a connection per projection's lock, and room for requests
	op := commands.Request{Principal: domain.Principal{Type: domain.ActorOperator}}
	tn, err := svc.CreateTenant(ctx, op, commands.CreateTenant{Name: "Acme"})
	if err != nil {
		tb.Fatalf("create tenant: %v", err)
	}
	pt, err := svc.CreatePartner(ctx, op, commands.CreatePartner{Name: "Resell"})
	if err != nil {
		tb.Fatalf("create partner: %v", err)
	}
	w := &fuzzWorld{
		srv:  NewServer(Deps{DB: pool, Pool: pool, Commands: svc, Metrics: prometheus.NewRegistry()}),
		pool: pool, adminKey: tn.AdminKey, partnerKey: pt.AdminKey,
		tenant: tn.ID.String(), partner: pt.ID.String(), tb: tb,
	}
	w.stock(tb)
	w.caughtUp(tb)
	return w
}

// caughtUp waits until the read models hold every seeded event, as serve
// makes sure its read models exist before it listens.
func (w *fuzzWorld) caughtUp(tb testing.TB) {
	tb.Helper()
	var head int64
	if err := w.pool.QueryRow(context.Background(), `SELECT coalesce(max(position), 0) FROM events`).Scan(&head); err != nil {
		tb.Fatalf("read head: %v", err)
	}
	for range 300 {
		req := httptest.NewRequest(http.MethodGet, "/v1/tenants/"+w.tenant+"/accounts", nil)
		req.Header.Set("Authorization", "Bearer "+w.adminKey)
		req.Header.Set(headerLedgerMinPostion, strconv.FormatInt(head, 10))
		rec := httptest.NewRecorder()
		w.srv.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	tb.Fatalf("the read models did not reach position %d in a minute", head)
}

// stock creates what the write routes act on, as the tenant's admin and,
// for the partner's user, the partner's.
func (w *fuzzWorld) stock(tb testing.TB) {
	tb.Helper()
	t := "/v1/tenants/" + w.tenant
	w.seed(tb, w.adminKey, "PUT", t+"/partners/"+w.partner+"/access", `{"role":"partner_admin","all_accounts":true}`, nil)
	var acc, user struct{ ID string }
	w.seed(tb, w.adminKey, "POST", t+"/accounts", `{"name":"Globex","currency":"USD","billing":{"contact_name":"Hank","email":"hank@globex.test"}}`, &acc)
	w.account = acc.ID
	var p struct {
		ID      string
		Charges []struct{ ID string }
	}
	w.seed(tb, w.adminKey, "POST", t+"/products", `{"name":"Pro","sku":"PRO","charges":[
		{"name":"Seat","type":"recurring","price":"49","currency":"USD","billing_period":"month"},
		{"name":"Data","type":"usage","price":"0.10","currency":"USD","unit":"GB"}]}`, &p)
	w.product, w.charge, w.usageCharge = p.ID, p.Charges[0].ID, p.Charges[1].ID
	w.subscriptionBody = fmt.Sprintf(`{"account_id":%q,"start_date":"2026-01-01","term":{"type":"evergreen"},
		"items":[{"product_id":%q,"charge_id":%q,"quantity":3},{"product_id":%[2]q,"charge_id":%[4]q,"quantity":1}]}`,
		w.account, w.product, w.charge, w.usageCharge)
	var s struct {
		ID               string
		Items            []struct{ ID string }
		ScheduledChanges []struct{ ID string } `json:"scheduled_changes"`
	}
	w.seed(tb, w.adminKey, "POST", t+"/subscriptions", w.subscriptionBody, &s)
	w.sub, w.item, w.usageItem = s.ID, s.Items[0].ID, s.Items[1].ID
	w.seed(tb, w.adminKey, "POST", t+"/subscriptions/"+w.sub+"/amendments",
		fmt.Sprintf(`{"effective_date":"2099-01-01","changes":[{"type":"change_quantity","item_id":%q,"quantity":5}]}`, w.item), &s)
	if len(s.ScheduledChanges) != 1 {
		tb.Fatalf("the amendment scheduled %d changes, want 1", len(s.ScheduledChanges))
	}
	w.change = s.ScheduledChanges[0].ID
	w.usageRec = fmt.Sprintf(`{"records":[{"id":"0f8fad5b-d9cb-469f-a165-70867728950e","subscription_id":%q,"item_id":%q,
		"quantity":"2.5","occurred_at":"2026-03-01T10:00:00Z"}]}`, w.sub, w.usageItem)
	w.seed(tb, w.adminKey, "POST", t+"/users", `{"name":"Fin","role":"finance"}`, &user)
	w.tenantUser = user.ID
	w.seed(tb, w.partnerKey, "POST", "/v1/partners/"+w.partner+"/users", `{"name":"Op","role":"partner_operator"}`, &user)
	w.partnerUser = user.ID
}

// invoice runs a bill run of the world's account up to its subscription's
// start and returns the one invoice it issued.
func (w *fuzzWorld) invoice() string {
	w.tb.Helper()
	var run struct {
		Invoices []struct{ ID string }
	}
	w.seed(w.tb, w.adminKey, "POST", "/v1/tenants/"+w.tenant+"/bill-runs", `{"target_date":"2026-01-01"}`, &run)
	if len(run.Invoices) != 1 {
		w.tb.Fatalf("the bill run issued %d invoices, want 1", len(run.Invoices))
	}
	return run.Invoices[0].ID
}

// seed sends a request with key that must succeed, and decodes its
// answer into v unless v is nil.
func (w *fuzzWorld) seed(tb testing.TB, key, method, path, body string, v any) {
	tb.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	w.srv.ServeHTTP(rec, req)
	if rec.Code >= 300 {
		tb.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	if v != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			tb.Fatalf("decode %s: %v", rec.Body, err)
		}
	}
}

// fuzzInput is one request a fuzz target sends: a body, who sends it (0
// the tenant's admin, 1 the partner's admin, 2 nobody, 3 auth as given),
// a replacement for the route's last path id, and the headers, each sent
// only when not empty.
type fuzzInput struct {
	body, pathID                   string
	who                            uint8
	auth, idem, ifMatch, requestID string
	contentType                    string
	twoAuth                        bool
}

// request builds the input's request of method on pattern, whose path
// parameters take ids in order.
func (in fuzzInput) request(w *fuzzWorld, method, pattern string, ids []string) *http.Request {
	if in.pathID != "" {
		ids = slices.Clone(ids)
		ids[len(ids)-1] = url.PathEscape(in.pathID)
	}
	var path strings.Builder
	i := 0
	for seg := range strings.SplitSeq(strings.TrimPrefix(pattern, "/"), "/") {
		path.WriteString("/")
		if strings.HasPrefix(seg, ":") && i < len(ids) {
			seg = ids[i]
			i++
		}
		path.WriteString(seg)
	}
	req := httptest.NewRequest(method, "/", strings.NewReader(in.body))
	if u, err := url.ParseRequestURI(path.String()); err == nil {
		req.URL, req.RequestURI = u, path.String()
	}
	auth := map[uint8]string{0: "Bearer " + w.adminKey, 1: "Bearer " + w.partnerKey, 3: in.auth}[in.who%4]
	contentType := in.contentType
	if contentType == "" {
		contentType = "application/json"
	}
	for _, h := range [][2]string{{"Authorization", auth}, {"Content-Type", contentType}, {"Idempotency-Key", in.idem},
		{"If-Match", in.ifMatch}, {"X-Request-ID", in.requestID}} {
		if h[1] != "" && validHeaderValue(h[1]) {
			req.Header.Set(h[0], h[1])
		}
	}
	if in.twoAuth && auth != "" {
		req.Header.Add("Authorization", "Bearer "+w.partnerKey)
	}
	return req
}

// validHeaderValue reports whether net/http's server would pass v on as
// a header value: no control characters but tab. Bytes above 0x7f pass.
func validHeaderValue(v string) bool {
	for i := range len(v) {
		if b := v[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// check sends req and fails on a 5xx, or on any event appended by a 4xx
// but the audit of refusals: AccessDenied on a 403, 404 or 429, and the
// AccessDeniedRepeated that closes a window of repeats.
func (w *fuzzWorld) check(t *testing.T, req *http.Request) {
	t.Helper()
	ctx := context.Background()
	var before int64
	if err := w.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&before); err != nil {
		t.Fatalf("read head: %v", err)
	}
	rec := httptest.NewRecorder()
	w.srv.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s %s %s: %d %s", req.Method, req.URL, sentHeaders(req), rec.Code, rec.Body)
	}
	if rec.Code < 400 {
		return
	}
	rows, err := w.pool.Query(ctx, `SELECT type FROM events WHERE position > $1 ORDER BY position`, before)
	if err != nil {
		t.Fatalf("read appended: %v", err)
	}
	defer rows.Close()
	audited := slices.Contains([]int{http.StatusForbidden, http.StatusNotFound, http.StatusTooManyRequests}, rec.Code)
	for rows.Next() {
		var typ string
		if err := rows.Scan(&typ); err != nil {
			t.Fatalf("scan: %v", err)
		}
		// A refusal's repeats are appended when its window closes,
		// whatever request is then in flight.
		if typ != "AccessDeniedRepeated" && (typ != "AccessDenied" || !audited) {
			t.Fatalf("%s %s %s: %d appended %s: %s", req.Method, req.URL, sentHeaders(req), rec.Code, typ, rec.Body)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read appended: %v", err)
	}
}

// sentHeaders formats req's headers for a failure, keys left out.
func sentHeaders(req *http.Request) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(req.Header)) {
		for _, v := range req.Header[name] {
			if name == "Authorization" {
				v = fmt.Sprintf("<%d bytes>", len(v))
			}
			fmt.Fprintf(&b, "[%s: %q]", name, v)
		}
	}
	return b.String()
}

// fuzzRoute is the fuzz target of one write route: ids gives the path
// parameters of the world, valid the bodies the route accepts.
func fuzzRoute(f *testing.F, method, pattern string, ids func(w *fuzzWorld) []string, valid func(w *fuzzWorld) []string) {
	f.Helper()
	w := newFuzzWorld(f)
	bodies := valid(w)
	bodies = append(bodies, "", "{}", "null", "[]", `{"name":"x","name":"y"}`, `{"NAME":"x"}`, "{", `{"quantity":"2"}`,
		strings.Repeat("[", 10000), `{"a":`+strings.Repeat("9", 400)+`}`, "\xff\xfe", `{"name":"\u0000\u202e"}`)
	for _, b := range valid(w) {
		bodies = append(bodies, b[:len(b)/2], strings.ToUpper(b), strings.ReplaceAll(b, `"`, `'`),
			strings.ReplaceAll(b, "USD", "usd"), strings.ReplaceAll(b, `:3`, `:-3`), b+b)
	}
	routeIDs := ids(w)
	for i, b := range bodies {
		in := fuzzInput{body: b, who: uint8(i % 3)}
		f.Add(in.body, in.pathID, in.who, in.auth, in.idem, in.ifMatch, in.requestID, in.contentType, in.twoAuth)
	}
	body := bodies[0]
	for _, in := range []fuzzInput{
		{body: body, idem: "\xff"}, {body: body, idem: "k-1"}, {body: body, idem: strings.Repeat("k", 300)},
		{body: body, ifMatch: `"1"`}, {body: body, ifMatch: `"999"`}, {body: body, ifMatch: "W/\"1\""}, {body: body, ifMatch: "-1"},
		{body: body, ifMatch: "18446744073709551616"}, {body: body, requestID: strings.Repeat("r", 200)},
		{body: body, requestID: "\xff\u202e"}, {body: body, who: 3, auth: "Bearer lk_nope"}, {body: body, who: 3, auth: "Basic x"},
		{body: body, who: 3, auth: "Bearer " + w.adminKey + "x"}, {body: body, who: 2}, {body: body, twoAuth: true},
		{body: body, contentType: "text/plain"}, {body: body, contentType: "application/json; charset=latin1"},
		{body: body, pathID: "not-a-uuid"}, {body: body, pathID: "00000000-0000-0000-0000-000000000000"},
		{body: body, pathID: "ffffffff-ffff-ffff-ffff-ffffffffffff"}, {body: body, pathID: "../../x"},
		{body: body, pathID: routeIDs[0]}, {body: body, pathID: "%00"}, {body: body, who: 1, pathID: w.tenant},
	} {
		f.Add(in.body, in.pathID, in.who, in.auth, in.idem, in.ifMatch, in.requestID, in.contentType, in.twoAuth)
	}
	f.Fuzz(func(t *testing.T, body, pathID string, who uint8, auth, idem, ifMatch, requestID, contentType string, twoAuth bool) {
		in := fuzzInput{body: body, pathID: pathID, who: who, auth: auth, idem: idem, ifMatch: ifMatch,
			requestID: requestID, contentType: contentType, twoAuth: twoAuth}
		w.check(t, in.request(w, method, "/v1"+pattern, routeIDs))
	})
}

// fuzzTargets holds the fuzz target of every write route, by
// "METHOD /v1/path" of the router.
var fuzzTargets = map[string]func(*testing.F){
	"POST /v1/tenants/:tenant_id/users":                                                         FuzzAddTenantUser,
	"DELETE /v1/tenants/:tenant_id/users/:user_id":                                              FuzzRemoveTenantUser,
	"POST /v1/partners/:partner_id/users":                                                       FuzzAddPartnerUser,
	"DELETE /v1/partners/:partner_id/users/:user_id":                                            FuzzRemovePartnerUser,
	"PUT /v1/tenants/:tenant_id/partners/:partner_id/access":                                    FuzzPutAccess,
	"DELETE /v1/tenants/:tenant_id/partners/:partner_id/access":                                 FuzzRevokeAccess,
	"POST /v1/partners/:partner_id/access-requests":                                             FuzzRequestAccess,
	"POST /v1/tenants/:tenant_id/access-requests/:request_id/approve":                           FuzzApproveAccessRequest,
	"POST /v1/tenants/:tenant_id/access-requests/:request_id/reject":                            FuzzRejectAccessRequest,
	"POST /v1/tenants/:tenant_id/accounts":                                                      FuzzCreateAccount,
	"PUT /v1/tenants/:tenant_id/accounts/:account_id/billing":                                   FuzzUpdateBilling,
	"POST /v1/tenants/:tenant_id/products":                                                      FuzzCreateProduct,
	"POST /v1/tenants/:tenant_id/subscriptions":                                                 FuzzCreateSubscription,
	"POST /v1/tenants/:tenant_id/subscriptions/:subscription_id/amendments":                     FuzzAmendSubscription,
	"POST /v1/tenants/:tenant_id/subscriptions/:subscription_id/cancel":                         FuzzCancelSubscription,
	"DELETE /v1/tenants/:tenant_id/subscriptions/:subscription_id/scheduled-changes/:change_id": FuzzWithdrawScheduledChange,
	"POST /v1/tenants/:tenant_id/usage":                                                         FuzzRecordUsage,
	"POST /v1/tenants/:tenant_id/bill-runs":                                                     FuzzRunBill,
	"POST /v1/tenants/:tenant_id/invoices/:invoice_id/void":                                     FuzzVoidInvoice,
}
