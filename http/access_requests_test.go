package http

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"ledger/commands"
	"ledger/domain"
)

// arClock is a clock the test moves: the service's (events, grant expiry)
// and the server's (statuses the reads compute).
type arClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *arClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *arClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// arAPI is newAPI on a clock the test moves, with a second tenant and
// the first tenant's account and auditor.
type arAPI struct {
	*api
	clock          *arClock
	otherTenant    uuid.UUID
	otherTenantKey string
	auditorKey     string
	account        uuid.UUID
}

func newAccessRequestsAPI(t *testing.T) *arAPI {
	t.Helper()
	ctx := t.Context()
	pool, store, _ := startLedger(t, 16)
	clock := &arClock{now: time.Now().UTC()}
	svc := commands.New(store, commands.WithClock(clock.Now))
	op := commands.Request{Principal: domain.Principal{Type: domain.ActorOperator}}
	tb, err := svc.CreateTenant(ctx, op, commands.CreateTenant{Name: "Acme"})
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	other, err := svc.CreateTenant(ctx, op, commands.CreateTenant{Name: "Other"})
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	pb, err := svc.CreatePartner(ctx, op, commands.CreatePartner{Name: "Resell"})
	if err != nil {
		t.Fatalf("create partner: %v", err)
	}
	srv := NewServer(Deps{DB: pool, Pool: pool, Commands: svc, Metrics: prometheus.NewRegistry(), Now: clock.Now})
	a := &arAPI{api: &api{srv: srv, svc: svc, store: store, pool: pool, tenant: tb.ID, partner: pb.ID, adminKey: tb.AdminKey,
		partnerKey: pb.AdminKey, documentChecks: true}, clock: clock, otherTenant: other.ID, otherTenantKey: other.AdminKey}
	var acc struct{ ID uuid.UUID }
	a.want(t, http.StatusCreated, "POST", a.path("/accounts"), a.adminKey,
		`{"name":"Globex","currency":"USD","billing":{"contact_name":"Ann","email":"ann@globex.test"}}`).decode(t, &acc)
	a.account = acc.ID
	var auditor struct{ Key string }
	a.want(t, http.StatusCreated, "POST", a.path("/users"), a.adminKey, `{"name":"Aud","role":"auditor"}`).decode(t, &auditor)
	a.auditorKey = auditor.Key
	return a
}

// want sends a request and fails t unless it is answered status.
func (a *arAPI) want(t *testing.T, status int, method, path, key, body string, headers ...string) exchange {
	t.Helper()
	x := a.do(t, method, path, key, body, headers...)
	if x.status != status {
		t.Fatalf("%s %s: %d %s, want %d", method, path, x.status, x.body, status)
	}
	return x
}

// refused sends a request and fails t unless it is refused with status
// and code.
func (a *arAPI) refused(t *testing.T, status int, code, method, path, key, body string) {
	t.Helper()
	x := a.want(t, status, method, path, key, body)
	if got := x.problemCode(t); got != code {
		t.Fatalf("%s %s: code %s, want %s", method, path, got, code)
	}
}

// arView is what the tests read of an access request.
type arView struct {
	ID           uuid.UUID
	TenantID     uuid.UUID `json:"tenant_id"`
	Role         string
	AllAccounts  bool        `json:"all_accounts"`
	AccountIDs   []uuid.UUID `json:"account_ids"`
	Actions      []string
	DurationDays int `json:"duration_days"`
	Status       string
	Reason       *string
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at"`
	Granted      *struct {
		Role         string
		AccountIDs   []uuid.UUID `json:"account_ids"`
		Actions      []string
		DurationDays int       `json:"duration_days"`
		ExpiresAt    time.Time `json:"expires_at"`
	}
}

// ask makes a request of the partner for tenant and returns it.
func (a *arAPI) ask(t *testing.T, tenant uuid.UUID, terms string) arView {
	t.Helper()
	x := a.want(t, http.StatusCreated, "POST", "/v1/partners/"+a.partner.String()+"/access-requests", a.partnerKey,
		fmt.Sprintf(`{"tenant_id":%q,%s}`, tenant, terms))
	var v arView
	x.decode(t, &v)
	if want := "/v1/partners/" + a.partner.String() + "/access-requests/" + v.ID.String(); x.header.Get("Location") != want {
		t.Fatalf("Location %q, want %q", x.header.Get("Location"), want)
	}
	if v.Status != "pending" || !v.ExpiresAt.Equal(v.CreatedAt.Add(30*24*time.Hour)) {
		t.Fatalf("new request %s", x.body)
	}
	return v
}

// list reads a list of requests.
func (a *arAPI) list(t *testing.T, path, key string) []arView {
	t.Helper()
	var page struct{ Items []arView }
	a.want(t, http.StatusOK, "GET", path, key, "").decode(t, &page)
	return page.Items
}

func (a *arAPI) partnerRequests() string {
	return "/v1/partners/" + a.partner.String() + "/access-requests"
}

// auditTypes returns the types of the tenant's audit events, in order,
// once the read models hold every event of the log (refusals answer no
// Ledger-Position).
func (a *arAPI) auditTypes(t *testing.T) []string {
	t.Helper()
	head, err := a.store.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	a.lastPosition = strconv.FormatUint(uint64(head), 10)
	var page struct{ Items []struct{ Type string } }
	a.want(t, http.StatusOK, "GET", a.path("/audit/events?limit=500"), a.adminKey, "").decode(t, &page)
	var types []string
	for _, it := range page.Items {
		types = append(types, it.Type)
	}
	return types
}

func TestAccessRequestApprovedNarrowedThenExpires(t *testing.T) {
	t.Parallel()
	a := newAccessRequestsAPI(t)
	r := a.ask(t, a.tenant, `"role":"partner_operator","all_accounts":true,"account_ids":[],`+
		`"actions":["subscriptions.create","subscriptions.amend"],"duration_days":90,"message":"renewals"`)
	if got := a.list(t, a.partnerRequests(), a.partnerKey); len(got) != 1 || got[0].ID != r.ID {
		t.Fatalf("the partner lists %+v", got)
	}
	if got := a.list(t, a.path("/access-requests?status=pending"), a.adminKey); len(got) != 1 || got[0].ID != r.ID {
		t.Fatalf("the tenant lists %+v as pending", got)
	}
	approve := a.path("/access-requests/%s/approve", r.ID)
	// Scope: another tenant, a partner, a role without partners.manage.
	a.refused(t, http.StatusNotFound, domain.CodeNotFound, "POST", approve, a.otherTenantKey, `{}`)
	a.refused(t, http.StatusNotFound, domain.CodeNotFound, "POST", approve, a.partnerKey, `{}`)
	a.refused(t, http.StatusForbidden, domain.CodeForbidden, "POST", approve, a.auditorKey, `{}`)
	a.refused(t, http.StatusNotFound, domain.CodeNotFound, "GET", a.path("/access-requests"), a.otherTenantKey, "")
	// Never wider than asked.
	for _, body := range []string{`{"role":"partner_admin"}`, `{"actions":["usage.record"]}`, `{"duration_days":91}`} {
		a.refused(t, http.StatusUnprocessableEntity, domain.CodeApprovalWidensRequest, "POST", approve, a.adminKey, body)
	}

	x := a.want(t, http.StatusOK, "POST", approve, a.adminKey,
		fmt.Sprintf(`{"role":"partner_viewer","account_ids":[%q],"actions":["subscriptions.amend"],"duration_days":10}`, a.account))
	var approved arView
	x.decode(t, &approved)
	g := approved.Granted
	if approved.Status != "approved" || g == nil || g.Role != "partner_viewer" || !slices.Equal(g.AccountIDs, []uuid.UUID{a.account}) ||
		!slices.Equal(g.Actions, []string{"subscriptions.amend"}) || g.DurationDays != 10 {
		t.Fatalf("approved %s", x.body)
	}
	if want := a.clock.Now().Add(10 * 24 * time.Hour); !g.ExpiresAt.Equal(want.Truncate(time.Microsecond)) {
		t.Fatalf("the grant expires at %v, want %v", g.ExpiresAt, want)
	}
	var grant struct {
		Role       string
		Status     string
		AccountIDs []uuid.UUID `json:"account_ids"`
		ExpiresAt  time.Time   `json:"expires_at"`
	}
	a.want(t, http.StatusOK, "GET", a.path("/partners/%s/access", a.partner), a.adminKey, "").decode(t, &grant)
	if grant.Status != "active" || grant.Role != "partner_viewer" || !grant.ExpiresAt.Equal(g.ExpiresAt) ||
		!slices.Equal(grant.AccountIDs, []uuid.UUID{a.account}) {
		t.Fatalf("grant %+v after approval %+v", grant, g)
	}
	a.want(t, http.StatusOK, "GET", a.path("/accounts/%s", a.account), a.partnerKey, "")
	// A partner with a grant still sees none of the tenant's requests.
	a.refused(t, http.StatusNotFound, domain.CodeNotFound, "GET", a.path("/access-requests"), a.partnerKey, "")

	// Deciding twice.
	a.refused(t, http.StatusUnprocessableEntity, domain.CodeRequestNotPending, "POST", approve, a.adminKey, `{}`)
	a.refused(t, http.StatusUnprocessableEntity, domain.CodeRequestNotPending, "POST", a.path("/access-requests/%s/reject", r.ID), a.adminKey, `{}`)

	// Past the duration the grant has expired: the partner is refused.
	a.clock.advance(10*24*time.Hour + time.Second)
	a.refused(t, http.StatusForbidden, domain.CodePartnerAccessExpired, "GET", a.path("/accounts/%s", a.account), a.partnerKey, "")
	a.refused(t, http.StatusForbidden, domain.CodePartnerAccessExpired, "GET", a.path("/accounts"), a.partnerKey, "")
	if got := a.list(t, a.partnerRequests(), a.partnerKey); len(got) != 1 || got[0].Status != "approved" {
		t.Fatalf("after expiry the partner lists %+v", got)
	}

	// Each step is in the tenant's audit log, in order, and so are the
	// refusals of the partner and the auditor.
	types := a.auditTypes(t)
	var steps []string
	denied := 0
	for _, typ := range types {
		switch {
		case strings.HasPrefix(typ, "AccessRequest") || strings.HasPrefix(typ, "PartnerAccess"):
			steps = append(steps, typ)
		case typ == "AccessDenied":
			denied++
		}
	}
	if want := []string{"AccessRequested", "AccessRequestApproved", "PartnerAccessGranted"}; !slices.Equal(steps, want) || denied < 3 ||
		types[len(types)-1] != "AccessDenied" {
		t.Fatalf("audit steps %v (%d refusals), want %v (all: %v)", steps, denied, want, types)
	}
}

func TestAccessRequestRejectedAndExpired(t *testing.T) {
	t.Parallel()
	a := newAccessRequestsAPI(t)
	terms := `"role":"partner_admin","all_accounts":false,"account_ids":[],"duration_days":730`
	rejected := a.ask(t, a.tenant, terms)
	waiting := a.ask(t, a.tenant, terms)
	reject := a.path("/access-requests/%s/reject", rejected.ID)
	a.refused(t, http.StatusNotFound, domain.CodeNotFound, "POST", reject, a.partnerKey, `{}`)
	a.want(t, http.StatusPreconditionFailed, "POST", reject, a.adminKey, `{}`, "If-Match", `"2"`)
	x := a.want(t, http.StatusOK, "POST", reject, a.adminKey, `{"reason":"we bill these ourselves"}`, "If-Match", `"1"`)
	var v arView
	x.decode(t, &v)
	if v.Status != "rejected" || v.Reason == nil || *v.Reason != "we bill these ourselves" || v.Granted != nil {
		t.Fatalf("rejected %s", x.body)
	}
	a.refused(t, http.StatusUnprocessableEntity, domain.CodeRequestNotPending, "POST", reject, a.adminKey, "")
	a.refused(t, http.StatusUnprocessableEntity, domain.CodeRequestNotPending, "POST", a.path("/access-requests/%s/approve", rejected.ID), a.adminKey, "")
	a.want(t, http.StatusNotFound, "GET", a.path("/partners/%s/access", a.partner), a.adminKey, "")

	tests := []struct {
		status string
		want   []uuid.UUID
	}{
		{"", []uuid.UUID{rejected.ID, waiting.ID}},
		{"rejected", []uuid.UUID{rejected.ID}},
		{"pending", []uuid.UUID{waiting.ID}},
		{"approved", nil},
		{"expired", nil},
	}
	check := func(when string) {
		t.Helper()
		for _, tt := range tests {
			var ids []uuid.UUID
			path := a.path("/access-requests")
			if tt.status != "" {
				path += "?status=" + tt.status
			}
			for _, r := range a.list(t, path, a.adminKey) {
				ids = append(ids, r.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("%s, status %q: %v, want %v", when, tt.status, ids, tt.want)
			}
		}
	}
	check("before expiry")
	a.want(t, http.StatusBadRequest, "GET", a.path("/access-requests?status=lost"), a.adminKey, "")

	// Thirty days on, the undecided request has expired.
	a.clock.advance(30 * 24 * time.Hour)
	tests[2].want, tests[4].want = nil, []uuid.UUID{waiting.ID}
	check("after expiry")
	a.refused(t, http.StatusUnprocessableEntity, domain.CodeRequestNotPending, "POST", a.path("/access-requests/%s/approve", waiting.ID), a.adminKey, `{}`)
	if got := a.list(t, a.partnerRequests(), a.partnerKey); len(got) != 2 || got[0].Status != "rejected" || got[1].Status != "expired" {
		t.Fatalf("the partner lists %+v", got)
	}
	var steps []string
	for _, typ := range a.auditTypes(t) {
		if strings.HasPrefix(typ, "AccessRequest") {
			steps = append(steps, typ)
		}
	}
	if want := []string{"AccessRequested", "AccessRequested", "AccessRequestRejected"}; !slices.Equal(steps, want) {
		t.Fatalf("audit steps %v, want %v", steps, want)
	}
}

func TestAccessRequestForUnknownTenant(t *testing.T) {
	t.Parallel()
	a := newAccessRequestsAPI(t)
	terms := `"role":"partner_viewer","all_accounts":true,"account_ids":[],"duration_days":30`
	unknown := uuid.New()
	x := a.do(t, "POST", a.partnerRequests(), a.partnerKey, fmt.Sprintf(`{"tenant_id":%q,%s}`, unknown, terms),
		"Idempotency-Key", "ask-1")
	known := a.ask(t, a.tenant, terms)
	var ghost arView
	x.decode(t, &ghost)
	if x.status != http.StatusCreated || ghost.Status != "pending" || ghost.TenantID != unknown {
		t.Fatalf("request for an unknown tenant: %d %s", x.status, x.body)
	}
	// The same answer, field for field, as for a tenant that exists.
	if got, want := jsonKeys(t, x.body), jsonKeys(t, a.do(t, "GET", a.partnerRequests()+"/"+known.ID.String(), a.partnerKey, "").body); !slices.Equal(got, want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	again := a.do(t, "POST", a.partnerRequests(), a.partnerKey, fmt.Sprintf(`{"tenant_id":%q,%s}`, unknown, terms), "Idempotency-Key", "ask-1")
	if again.status != http.StatusCreated || string(again.body) != string(x.body) {
		t.Fatalf("replay: %d %s, want %s", again.status, again.body, x.body)
	}
	if got := a.list(t, a.partnerRequests(), a.partnerKey); len(got) != 2 {
		t.Fatalf("the partner lists %+v, want both", got)
	}
	a.want(t, http.StatusOK, "GET", a.partnerRequests()+"/"+ghost.ID.String(), a.partnerKey, "")
	// No tenant sees it, nor can decide it.
	if got := a.list(t, a.path("/access-requests"), a.adminKey); len(got) != 1 || got[0].ID != known.ID {
		t.Fatalf("the tenant lists %+v", got)
	}
	if got := a.list(t, "/v1/tenants/"+a.otherTenant.String()+"/access-requests", a.otherTenantKey); len(got) != 0 {
		t.Fatalf("another tenant lists %+v", got)
	}
	a.refused(t, http.StatusNotFound, domain.CodeNotFound, "POST", a.path("/access-requests/%s/approve", ghost.ID), a.adminKey, `{}`)
	var leaked int
	err := a.pool.QueryRow(t.Context(), `SELECT count(*) FROM readmodel.audit_log WHERE data::text LIKE '%' || $1 || '%' OR stream LIKE '%' || $1`,
		ghost.ID.String()).Scan(&leaked)
	if err != nil || leaked != 0 {
		t.Fatalf("%d audit rows of the request for an unknown tenant (%v)", leaked, err)
	}
}

// jsonKeys returns the top-level keys of a JSON object, sorted.
func jsonKeys(t *testing.T, body []byte) []string {
	t.Helper()
	var m map[string]any
	exchange{body: body}.decode(t, &m)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// arWorldRequest makes a pending request of the fuzz world's partner to
// its tenant and returns its id.
func arWorldRequest(w *fuzzWorld) string {
	w.tb.Helper()
	var r struct{ ID string }
	w.seed(w.tb, w.partnerKey, "POST", "/v1/partners/"+w.partner+"/access-requests",
		fmt.Sprintf(`{"tenant_id":%q,"role":"partner_viewer","all_accounts":true,"account_ids":[],"duration_days":30}`, w.tenant), &r)
	return r.ID
}

// FuzzRequestAccess fuzzes POST /v1/partners/{p}/access-requests.
func FuzzRequestAccess(f *testing.F) {
	fuzzRoute(f, "POST", "/partners/:partner_id/access-requests", func(w *fuzzWorld) []string { return []string{w.partner} },
		func(w *fuzzWorld) []string {
			return []string{
				fmt.Sprintf(`{"tenant_id":%q,"role":"partner_viewer","all_accounts":true,"account_ids":[],"duration_days":30}`, w.tenant),
				fmt.Sprintf(`{"tenant_id":%q,"role":"partner_operator","all_accounts":false,"account_ids":[%q],"actions":["usage.record"],"duration_days":730,"message":"hi"}`,
					uuid.NewString(), w.account)}
		})
}

// FuzzApproveAccessRequest fuzzes POST
// /v1/tenants/{t}/access-requests/{r}/approve.
func FuzzApproveAccessRequest(f *testing.F) {
	fuzzRoute(f, "POST", "/tenants/:tenant_id/access-requests/:request_id/approve",
		func(w *fuzzWorld) []string { return []string{w.tenant, arWorldRequest(w)} },
		func(w *fuzzWorld) []string {
			return []string{`{}`, fmt.Sprintf(`{"role":"partner_viewer","account_ids":[%q],"duration_days":3}`, w.account)}
		})
}

// FuzzRejectAccessRequest fuzzes POST
// /v1/tenants/{t}/access-requests/{r}/reject.
func FuzzRejectAccessRequest(f *testing.F) {
	fuzzRoute(f, "POST", "/tenants/:tenant_id/access-requests/:request_id/reject",
		func(w *fuzzWorld) []string { return []string{w.tenant, arWorldRequest(w)} },
		func(*fuzzWorld) []string { return []string{`{"reason":"no"}`, `{}`} })
}
