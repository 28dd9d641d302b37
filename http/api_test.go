package http

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore/postgres"
	"ledger/internal/pgtest"
	"ledger/projections"
)

// api is a server on a fresh database, with its projections running, a
// tenant and a partner bootstrapped.
type api struct {
	srv            *echo.Echo
	svc            *commands.Service
	store          *postgres.Store
	pool           *pgxpool.Pool
	tenant         uuid.UUID
	partner        uuid.UUID
	adminKey       string
	partnerKey     string
	lastPosition   string
	documentChecks bool
}

// startLedger runs, on a fresh database with a pool of at most conns
// connections, the event store, the commands and the projections, until
// tb ends.
func startLedger(tb testing.TB, conns int32) (*pgxpool.Pool, *postgres.Store, *commands.Service) {
	tb.Helper()
	pool := pgtest.NewDatabase(tb, conns)
	if err := postgres.Migrate(tb.Context(), pool); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	store := postgres.New(pool)
	tb.Cleanup(store.Close)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- projections.NewRunner(pool, store, slog.New(slog.DiscardHandler), projections.All()...).Run(runCtx)
	}()
	tb.Cleanup(func() { stop(); <-done })
	return pool, store, commands.New(store, withBillingIndex(pool, store))
}

// withBillingIndex gives a service the billing index of the read models
// in pool, as `ledger serve` does, so that bill runs and invoice commands
// work.
func withBillingIndex(pool *pgxpool.Pool, store *postgres.Store) commands.Option {
	return commands.WithBillingIndex(projections.BillingIndex{Pool: pool, Waiter: projections.NewWaiter(pool, store.Head)})
}

func newAPI(t *testing.T) *api {
	t.Helper()
	ctx := t.Context()
	pool, store, svc := startLedger(t, 16)
	op := commands.Request{Principal: domain.Principal{Type: domain.ActorOperator}}
	tb, err := svc.CreateTenant(ctx, op, commands.CreateTenant{Name: "Acme"})
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	pb, err := svc.CreatePartner(ctx, op, commands.CreatePartner{Name: "Resell"})
	if err != nil {
		t.Fatalf("create partner: %v", err)
	}
	srv := NewServer(Deps{DB: pool, Pool: pool, Commands: svc, Metrics: prometheus.NewRegistry()})
	return &api{srv: srv, svc: svc, store: store, pool: pool, tenant: tb.ID, partner: pb.ID, adminKey: tb.AdminKey, partnerKey: pb.AdminKey, documentChecks: true}
}

// exchange is one request and its answer.
type exchange struct {
	status int
	header http.Header
	body   []byte
}

func (x exchange) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(x.body, v); err != nil {
		t.Fatalf("decode %s: %v", x.body, err)
	}
}

func (x exchange) problemCode(t *testing.T) string {
	t.Helper()
	if ct := x.header.Get("Content-Type"); ct != problemContentType {
		t.Fatalf("Content-Type = %q, want %s (body %s)", ct, problemContentType, x.body)
	}
	var p problem
	x.decode(t, &p)
	if p.Status != x.status || p.Type != "urn:ledger:problem:"+p.Code || p.Title == "" {
		t.Fatalf("problem %s does not match its status %d", x.body, x.status)
	}
	return p.Code
}

// do sends a request with key and, for reads, Ledger-Min-Position of the
// last write, and checks the exchange against the OpenAPI document. A read
// answered 503 is retried, as Retry-After asks, for up to a minute: the
// transaction horizon is server-wide, so a long transaction of another
// test package on the same Postgres can hold the projections back.
func (a *api) do(t *testing.T, method, path, key, body string, headers ...string) exchange {
	t.Helper()
	for range 300 {
		x := a.doOnce(t, method, path, key, body, headers...)
		if method != http.MethodGet || x.status != http.StatusServiceUnavailable {
			return x
		}
		t.Logf("GET %s: 503, retrying", path)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("GET %s: still 503 after a minute", path)
	return exchange{}
}

func (a *api) doOnce(t *testing.T, method, path, key, body string, headers ...string) exchange {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if method == http.MethodGet && a.lastPosition != "" {
		req.Header.Set(headerLedgerMinPostion, a.lastPosition)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	sent := req.Clone(context.Background())
	rec := httptest.NewRecorder()
	a.srv.ServeHTTP(rec, req)
	x := exchange{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if pos := x.header.Get(headerLedgerPosition); pos != "" && pos != "0" {
		a.lastPosition = pos
	}
	if a.documentChecks {
		sent.Body = nil
		checkAgainstDocument(t, sent, []byte(body), x.status, x.header, x.body)
	}
	return x
}

func (a *api) path(format string, args ...any) string {
	return "/v1/tenants/" + a.tenant.String() + fmt.Sprintf(format, args...)
}

func TestServedRoutesAreTheDocumentedOnes(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	documented, err := DocumentedRoutes()
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, r := range documented {
		want = append(want, r.Method+" "+r.Path)
	}
	// The portal is mounted as `ledger serve` mounts it, and its routes are
	// left out on purpose: they serve HTML pages (docs/portal.md), not the
	// API, and are not in the OpenAPI document.
	srv := NewServer(Deps{DB: a.pool, Pool: a.pool, Commands: a.svc, Metrics: prometheus.NewRegistry(), Portal: http.NotFoundHandler()})
	for _, r := range srv.Routes() {
		if r.Path == "/portal" || strings.HasPrefix(r.Path, "/portal/") {
			continue
		}
		if slices.Contains([]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}, r.Method) {
			got = append(got, r.Method+" "+r.Path)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("served routes differ from the document:\nserved     %v\ndocumented %v", got, want)
	}
}
