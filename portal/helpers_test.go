package portal

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/audit"
	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore/postgres"
	ledgerhttp "ledger/http"
	"ledger/internal/pgtest"
	"ledger/projections"
)

// clock is the portal's clock in tests, moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a ledger with the portal mounted as `ledger serve` mounts it
// (the commands with their billing index, one waiter for the server and
// the portal), a tenant and a partner, and a record of every response and
// log line.
type env struct {
	srv        http.Handler
	pool       *pgxpool.Pool
	store      *postgres.Store
	svc        *commands.Service
	waiter     *projections.Waiter
	clock      *clock
	logs       *syncBuffer
	tenant     uuid.UUID
	partner    uuid.UUID
	adminKey   string
	partnerKey string

	mu   sync.Mutex
	seen []*http.Response
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := t.Context()
	pool := pgtest.NewDatabase(t, 16)
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	store := postgres.New(pool)
	t.Cleanup(store.Close)
	if err := projections.Setup(ctx, pool, projections.All()); err != nil {
		t.Fatalf("set up read models: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- projections.NewRunner(pool, store, slog.New(slog.DiscardHandler), projections.All()...).Run(runCtx)
	}()
	t.Cleanup(func() { stop(); <-done })
	index := projections.BillingIndex{Pool: pool, Waiter: projections.NewWaiter(pool, store.Head)}
	svc := commands.New(store, commands.WithBillingIndex(index))
	op := commands.Request{Principal: domain.Principal{Type: domain.ActorOperator}}
	tb, err := svc.CreateTenant(ctx, op, commands.CreateTenant{Name: "Acme"})
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	pb, err := svc.CreatePartner(ctx, op, commands.CreatePartner{Name: "Resell"})
	if err != nil {
		t.Fatalf("create partner: %v", err)
	}
	e := &env{pool: pool, store: store, svc: svc, waiter: index.Waiter, clock: &clock{now: time.Now()}, logs: &syncBuffer{},
		tenant: tb.ID, partner: pb.ID, adminKey: tb.AdminKey, partnerKey: pb.AdminKey}
	e.srv = e.server(t, nil)
	return e
}

// server is the HTTP server of e with the portal mounted as `ledger
// serve` mounts it, serving the checkpoints of trees (none when nil).
func (e *env) server(t testing.TB, trees *audit.Store) http.Handler {
	t.Helper()
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	site, err := New(t.Context(), Config{Pool: e.pool, Commands: e.svc, SessionKey: bytes.Repeat([]byte{7}, SessionKeySize),
		Logger: logger, Now: e.clock.Now, Waiter: e.waiter, Audit: trees})
	if err != nil {
		t.Fatalf("portal: %v", err)
	}
	return ledgerhttp.NewServer(ledgerhttp.Deps{DB: e.pool, Pool: e.pool, Commands: e.svc, Logger: logger, Portal: site,
		Waiter: e.waiter, Audit: trees})
}

// api sends an API request with key and returns the decoded JSON body.
func (e *env) api(t testing.TB, method, path, key, body string, want int) map[string]any {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	if rec.Code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, rec.Code, rec.Body, want)
	}
	var out map[string]any
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, rec.Body, err)
		}
	}
	return out
}

// caughtUp waits until the read models have every event appended.
func (e *env) caughtUp(t testing.TB) {
	t.Helper()
	head, err := e.store.Head(t.Context())
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	if err := projections.NewWaiter(e.pool, e.store.Head).Wait(t.Context(), head, time.Minute); err != nil {
		t.Fatalf("wait for the read models: %v", err)
	}
}

// fixture is a tenant's catalog, two accounts with a subscription each,
// and a partner_viewer of the partner granted the first account only.
type fixture struct {
	inScope, outOfScope string // subscription ids
	viewerKey, viewerID string
}

func (e *env) fixture(t testing.TB) fixture {
	t.Helper()
	base := "/v1/tenants/" + e.tenant.String()
	product := e.api(t, "POST", base+"/products", e.adminKey, `{"name":"Pro","sku":"PRO","charges":[
		{"name":"Seat","type":"recurring","price":"49","currency":"USD","billing_period":"month"}]}`, http.StatusCreated)
	charge := product["charges"].([]any)[0].(map[string]any)["id"].(string)
	var f fixture
	var accounts []string
	for _, name := range []string{"Globex", "Initech"} {
		acc := e.api(t, "POST", base+"/accounts", e.adminKey,
			fmt.Sprintf(`{"name":%q,"currency":"USD","billing":{"contact_name":"Hank","email":"hank@example.test"}}`, name), http.StatusCreated)
		accounts = append(accounts, acc["id"].(string))
		sub := e.api(t, "POST", base+"/subscriptions", e.adminKey, fmt.Sprintf(`{"account_id":%q,"start_date":"2026-01-01",
			"term":{"type":"termed","months":12,"auto_renew":true},"items":[{"product_id":%q,"charge_id":%q,"quantity":3}]}`,
			acc["id"], product["id"], charge), http.StatusCreated)
		if f.inScope == "" {
			f.inScope = sub["id"].(string)
		} else {
			f.outOfScope = sub["id"].(string)
		}
	}
	e.api(t, "PUT", base+"/partners/"+e.partner.String()+"/access", e.adminKey,
		fmt.Sprintf(`{"role":"partner_viewer","all_accounts":false,"account_ids":[%q]}`, accounts[0]), http.StatusCreated)
	viewer := e.api(t, "POST", "/v1/partners/"+e.partner.String()+"/users", e.partnerKey, `{"name":"Vi","role":"partner_viewer"}`, http.StatusCreated)
	f.viewerKey, f.viewerID = viewer["key"].(string), viewer["id"].(string)
	e.caughtUp(t)
	return f
}

// browser is one browser's cookie jar on the portal.
type browser struct {
	e       *env
	cookies map[string]*http.Cookie
	tls     bool
}

func (e *env) browser() *browser { return &browser{e: e, cookies: map[string]*http.Cookie{}} }

// do sends a request as the browser would, keeping the cookies set.
func (b *browser) do(t testing.TB, method, path string, form url.Values) *http.Response {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.tls {
		req.TLS = &tls.ConnectionState{}
	}
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.e.srv.ServeHTTP(rec, req)
	res := rec.Result()
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	b.e.mu.Lock()
	b.e.seen = append(b.e.seen, res)
	b.e.mu.Unlock()
	return res
}

func (b *browser) get(t testing.TB, path string) *http.Response {
	t.Helper()
	return b.do(t, http.MethodGet, path, nil)
}

// signIn signs in with key from the sign-in page and returns the answer.
func (b *browser) signIn(t testing.TB, key string) *http.Response {
	t.Helper()
	page := b.get(t, "/portal/sign-in")
	return b.do(t, http.MethodPost, "/portal/sign-in", url.Values{csrfField: {csrfOf(t, page)}, keyField: {key}})
}

// mustSignIn signs in with key and fails the test unless it lands home.
func (b *browser) mustSignIn(t testing.TB, key string) {
	t.Helper()
	res := b.signIn(t, key)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/portal/" {
		t.Fatalf("sign in: %d to %q, want 303 to /portal/; logs:\n%s", res.StatusCode, res.Header.Get("Location"), b.e.logs)
	}
}

var csrfPattern = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrfOf is the CSRF token of the first form of a page.
func csrfOf(t testing.TB, res *http.Response) string {
	t.Helper()
	m := csrfPattern.FindStringSubmatch(bodyOf(t, res))
	if m == nil {
		t.Fatalf("no CSRF token in the page")
	}
	return m[1]
}

// bodyOf is a response's body; it can be read any number of times.
func bodyOf(t testing.TB, res *http.Response) string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(res.Body); err != nil {
		t.Fatalf("read body: %v", err)
	}
	res.Body = readAgain(buf.Bytes())
	return buf.String()
}

// wantPage fails unless res has status and its body holds every one of
// texts.
func wantPage(t testing.TB, res *http.Response, status int, texts ...string) string {
	t.Helper()
	body := bodyOf(t, res)
	if res.StatusCode != status {
		t.Fatalf("status %d, want %d; body:\n%s", res.StatusCode, status, body)
	}
	for _, s := range texts {
		if !strings.Contains(body, s) {
			t.Fatalf("page lacks %q:\n%s", s, body)
		}
	}
	return body
}

// sessionCount is the number of sessions stored.
func (e *env) sessionCount(t testing.TB) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM portal_sessions`).Scan(&n); err != nil {
		t.Fatalf("count sessions: %v", err)
	}
	return n
}

type rereader struct{ *bytes.Reader }

func (rereader) Close() error { return nil }

func readAgain(b []byte) rereader { return rereader{bytes.NewReader(b)} }

// hiddenInput matches a hidden field as the portal's templates write it.
var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// formValues are the hidden fields of the form whose action is action on
// a page (its CSRF token and idempotency key among them), to which a test
// adds the fields a user would fill in. It fails the test when the page
// has no such form.
func formValues(t testing.TB, page, action string) url.Values {
	t.Helper()
	start := strings.Index(page, `action="`+action+`"`)
	if start < 0 {
		t.Fatalf("no form posting to %s on the page:\n%s", action, page)
	}
	end := strings.Index(page[start:], "</form>")
	if end < 0 {
		t.Fatalf("the form posting to %s is not closed", action)
	}
	values := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page[start:start+end], -1) {
		values.Set(m[1], html.UnescapeString(m[2]))
	}
	return values
}
