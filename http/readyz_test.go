package http

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/eventstore/postgres"
	"ledger/internal/pgtest"
	"ledger/projections"
)

// readyz fails while a projection lags behind the log more than MaxLag,
// and passes again once the projections have caught up.
func TestReadyzFailsWhileProjectionsLag(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.NewDatabase(t, 16) // a connection per projection's lock, and room for requests
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := projections.Setup(ctx, pool, projections.All()); err != nil {
		t.Fatal(err)
	}
	store := postgres.New(pool)
	t.Cleanup(store.Close)
	svc := commands.New(store, withBillingIndex(pool, store))
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

// readyz fails, naming the session, while a transaction left open holds
// the event log's readers back for longer than MaxLag, and stops failing
// for that once it ends.
func TestReadyzFailsWhileReadersAreHeldBack(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a server of its own")
	}
	ctx := t.Context()
	// A server of its own: the transaction it leaves open would hold back
	// every reader of a shared one.
	pool := pgtest.NewCluster(t).Pool(t, "readyz")
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	store := postgres.New(pool)
	t.Cleanup(store.Close)
	readers := func(ctx context.Context) (time.Duration, string, error) {
		h, err := store.HeldBack(ctx)
		return h.Age(time.Now()), fmt.Sprintf("pid %d", h.PID), err
	}
	srv := NewServer(Deps{DB: pool, MaxLag: 200 * time.Millisecond, Readers: readers})
	open, pid := pgtest.OpenTransaction(t, pool)
	e, err := eventstore.NewEvent("Held", map[string]int{}, eventstore.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, eventstore.To("held", eventstore.NoStream(), e)); err != nil {
		t.Fatal(err)
	}
	readyz := func() (int, statusResponse) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		var st statusResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
			t.Fatal(err)
		}
		return rec.Code, st
	}
	want := fmt.Sprintf("pid %d", pid)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, st := readyz()
		if code == http.StatusServiceUnavailable && st.Reason == "readers_held_back" && st.Holder == want && st.HeldBackSeconds > 0.2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz with readers held back by %s = %d %+v, want 503 readers_held_back naming it", want, code, st)
		}
	}
	if err := open.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, st := readyz(); code == http.StatusOK {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("readyz after the transaction ended = %d %+v, want 200", code, st)
		}
	}
}
