package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// TestAPIBounds sends, through the real binary, the values api.md bounds
// (a far-future date given or derived, a price of 131,080 digits, a name
// of 10,000 characters, a usage quantity of 10^20): each is 422 with the
// code api.md names, the event log's head does not move, and the read
// models go on answering, the far-future subscription included.
func TestAPIBounds(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	head := newLogHead(t, s.env)
	s.buildCatalog(t)
	var account accountJSON
	billing := map[string]any{"contact_name": "Ann Bound", "email": "ann@bound.example"}
	s.admin.post(t, s.tp("/accounts"), accountBody("Bound Co", billing)).wantJSON(t, 201, &account)
	seat := orderLine{charge: "seat", qty: 1}

	// Accepted: an evergreen subscription from 9999-12-15. Its end of
	// term, the next monthly anniversary, would be 10000-01-15.
	far := s.subscriptionBody(account.ID, map[string]any{"type": "evergreen"}, seat)
	far["start_date"] = "9999-12-15"
	var sub subscriptionJSON
	s.admin.post(t, s.tp("/subscriptions"), far).wantJSON(t, 201, &sub)
	if sub.StartDate != "9999-12-15" || sub.CancelDate != nil {
		t.Fatalf("far-future subscription = %+v, want from 9999-12-15, not cancelled", sub)
	}
	withUsage := s.subscriptionBody(account.ID, map[string]any{"type": "evergreen"}, seat, orderLine{charge: "storage", qty: 1})
	var metered subscriptionJSON
	s.admin.post(t, s.tp("/subscriptions"), withUsage).wantJSON(t, 201, &metered)

	huge := strings.Repeat("9", 131_080)
	startTooLate := s.subscriptionBody(account.ID, map[string]any{"type": "evergreen"}, seat)
	startTooLate["start_date"] = "10000-01-01"
	hugeOverride := s.subscriptionBody(account.ID, map[string]any{"type": "evergreen"}, orderLine{charge: "seat", qty: 1, price: huge})
	usage := map[string]any{"records": []any{map[string]any{"id": uuid.NewString(), "subscription_id": metered.ID,
		"item_id": metered.item(s.charge["storage"].ID).ID, "quantity": json.Number("100000000000000000000"),
		"occurred_at": time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)}}}
	refusals := []struct {
		name, path string
		body       any
		code       string
		field      string
	}{
		{"end of term after 9999-12-31", s.tp("/subscriptions/%s/cancel", sub.ID), map[string]any{"policy": "end_of_term"},
			"date_out_of_range", "policy"},
		{"start date 10000-01-01", s.tp("/subscriptions"), startTooLate, "date_out_of_range", ""},
		{"price of 131,080 digits", s.tp("/products"), map[string]any{"name": "Huge", "sku": "HUGE", "charges": []any{
			map[string]any{"name": "Seat", "type": "recurring", "price": huge, "currency": "USD", "billing_period": "month"}}},
			"invalid_price", "charges[0].price"},
		{"unit price of 131,080 digits", s.tp("/subscriptions"), hugeOverride, "invalid_price", "items[0].unit_price"},
		{"name of 10,000 characters", s.tp("/accounts"), accountBody(strings.Repeat("n", 10_000), billing), "value_too_long", "name"},
		{"usage quantity of 10^20", s.tp("/usage"), usage, "invalid_quantity", "records[0].quantity"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			before := head.read(t)
			p := s.admin.post(t, r.path, r.body).problem(t, 422, r.code)
			if r.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != r.field) {
				t.Errorf("errors %+v, want the first at %s", p.Errors, r.field)
			}
			if after := head.read(t); after != before {
				t.Errorf("the log moved from %+v to %+v: the refusal appended", before, after)
			}
		})
	}

	// The read models keep up: the far-future subscription reads back
	// as created, and a write after the refusals is visible.
	var got subscriptionJSON
	s.admin.get(t, s.tp("/subscriptions/%s", sub.ID)).wantJSON(t, 200, &got)
	if got.StartDate != "9999-12-15" || got.Status != "active" || got.CancelDate != nil || got.Version != sub.Version {
		t.Errorf("GET far-future subscription = %+v, want it as created", got)
	}
	var later accountJSON
	s.admin.post(t, s.tp("/accounts"), accountBody(strings.Repeat("n", 200), billing)).wantJSON(t, 201, &later)
	s.admin.get(t, s.tp("/accounts/%s", later.ID)).wantJSON(t, 200, &later)
	if status, body := httpGet(t, s.server.base+"/readyz"); status != 200 {
		t.Errorf("/readyz = %d %s after the refusals, want 200", status, body)
	}
}

// logHead reads the event log's head: how many events it holds and the
// highest position.
type logHead struct {
	conn *pgx.Conn
}

type headOf struct{ events, position int64 }

func newLogHead(t *testing.T, env []string) *logHead {
	t.Helper()
	var url string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "LEDGER_DATABASE_URL="); ok {
			url = v
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &logHead{conn: conn}
}

func (h *logHead) read(t *testing.T) headOf {
	t.Helper()
	var o headOf
	err := h.conn.QueryRow(t.Context(), `SELECT count(*), coalesce(max(position), 0) FROM events`).Scan(&o.events, &o.position)
	if err != nil {
		t.Fatalf("read the log's head: %v", err)
	}
	return o
}
