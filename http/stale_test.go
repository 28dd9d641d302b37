package http

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"ledger/eventstore/postgres"
	"ledger/internal/pgtest"
	"ledger/projections"
)

// TestStaleReadModelsAreUnavailable answers a read of a read model that
// parked events of what it reads with 503 read_model_stale and
// Retry-After, naming the stream when there is one.
func TestStaleReadModelsAreUnavailable(t *testing.T) {
	t.Parallel()
	const stream = "subscription-0191c1e4-0000-7000-8000-000000000001-0191c1e4-0000-7000-8000-000000000002"
	tests := []struct {
		name   string
		err    error
		detail string
	}{
		{"one resource", fmt.Errorf("get: %w", &projections.StaleError{Projection: "subscriptions", Stream: stream}),
			"the read model lacks events of stream " + stream + " that it could not apply; they are parked until the stream is rebuilt"},
		{"a list", &projections.StaleError{Projection: "subscriptions"},
			"the read model lacks events of this tenant that it could not apply; they are parked until the streams are rebuilt"},
	}
	s := &server{logger: slog.New(slog.DiscardHandler)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/v1/x", nil), rec)
			s.errorHandler(tt.err, c)
			var p problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			want := problem{Type: "urn:ledger:problem:read_model_stale", Title: "Service unavailable", Status: 503,
				Detail: tt.detail, Code: "read_model_stale"}
			if rec.Code != 503 || p.Type != want.Type || p.Title != want.Title || p.Status != want.Status || p.Detail != want.Detail ||
				p.Code != want.Code || rec.Header().Get("Retry-After") == "" {
				t.Fatalf("%v answered %d %+v (Retry-After %q), want 503 %+v with Retry-After", tt.err, rec.Code, p, rec.Header().Get("Retry-After"), want)
			}
		})
	}
}

// readyz stays ready while events are parked, and counts them.
func TestReadyzCountsParkedEvents(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.NewDatabase(t, 4)
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := projections.Setup(ctx, pool, projections.All()); err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Deps{DB: pool, Pool: pool, MaxLag: time.Minute})
	readyz := func() (int, string) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := readyz(); code != 200 || body != "{\"status\":\"ready\"}\n" {
		t.Fatalf("readyz with nothing parked = %d %s", code, body)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO readmodel.parked_events (projection, position, stream, event_type, error)
VALUES ('subscriptions', 7, 's', 'SubscriptionCreated', 'x'), ('audit', 7, 's', 'SubscriptionCreated', 'x'),
       ('subscriptions', 9, 's', 'SubscriptionAmended', 'skipped')`); err != nil {
		t.Fatal(err)
	}
	if code, body := readyz(); code != 200 || body != "{\"status\":\"ready\",\"parked\":3}\n" {
		t.Fatalf("readyz with 3 parked events = %d %s, want ready with the count", code, body)
	}
}
