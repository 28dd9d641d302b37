package http

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore/postgres"
	"ledger/internal/pgtest"
	"ledger/projections"
)

// readyz fails while a projection lags behind the log more than MaxLag,
// and passes again once the projections have caught up.
func TestReadyzFailsWhileProjectionsLag(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.NewDatabase(t, 8)
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := projections.Setup(ctx, pool, projections.All()); err != nil {
		t.Fatal(err)
	}
	store := postgres.New(pool)
	t.Cleanup(store.Close)
	svc := commands.New(store)
	op := commands.Request{Principal: domain.Principal{Type: domain.ActorOperator}}
	if _, err := svc.CreateTenant(ctx, op, commands.CreateTenant{Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Deps{DB: pool, Pool: pool, Commands: svc, MaxLag: 200 * time.Millisecond})
	readyz := func() (int, string) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	time.Sleep(300 * time.Millisecond)
	if code, body := readyz(); code != http.StatusServiceUnavailable || body != `{"status":"unavailable","reason":"projections"}` {
		t.Fatalf("readyz with projections stopped = %d %s, want 503 projections", code, body)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- projections.NewRunner(pool, store, slog.New(slog.DiscardHandler), projections.All()...).Run(runCtx)
	}()
	t.Cleanup(func() { stop(); <-done })
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := readyz()
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz after the projections ran = %d %s, want 200", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
